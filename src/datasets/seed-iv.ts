/**
 * SEED-IV reader. Layout (datasets.md):
 *   eeg_feature_smooth/{1,2,3}/{subject}_{date}.mat   de_LDS1..24, de_movingAve1..24, psd_LDS1..24, psd_movingAve1..24
 *                                                      (62 channels × W windows × 5 bands each)
 *   eye_feature_smooth/{1,2,3}/{subject}_{date}.mat   eye_1..24 (31 × W)
 *   eeg_raw_data/{1,2,3}/{subject}_{date}.mat          <initials>_eeg1..24 (62 × samples, 200 Hz)
 * The folder name is the session; the subject id is the file-name prefix before "_"; labels per session
 * and trial are fixed (SEED_IV_LABELS). Anything unexpected (missing folder/file/key, unknown key, wrong
 * shape, EEG/eye window mismatch) is an error naming the file and key.
 */
import { DataFormatError, withFile } from '../io/errors.js';
import { matNumeric, readMat, type MatFile } from '../io/mat.js';
import { toFloat64 } from '../io/ndarray.js';
import { eegFromChannelsWindowsBands, eyeFromFeaturesWindows, pairingError, requireFinite, type CommonLoadOptions } from './common.js';
import { exists, join, listFiles, readBytes, requireDir } from './fsutil.js';
import {
  BAND_NAMES,
  CHANNELS_62,
  SEED_IV_CLASSES,
  SEED_IV_EYE_FEATURES,
  SEED_IV_FEATURES,
  SEED_IV_FS,
  SEED_IV_LABELS,
  SEED_IV_TRIALS,
  SEED_IV_WINDOW_SEC,
  SYNTHETIC_MANIFEST,
  type SeedIVFeature,
} from './layouts.js';
import { rawTrialFeature, type RawFeatureOptions } from './raw-features.js';
import type { SmoothingName } from '../../runtime/dsp/smooth.js';
import type { EmotionDataset, TrialRecord } from './types.js';

export interface SeedIVLoadOptions extends CommonLoadOptions {
  /** EEG feature family (default de_LDS). */
  feature?: SeedIVFeature;
  /**
   * 'features' (default): read eeg_feature_smooth. 'raw': compute the feature from eeg_raw_data with the
   * runtime's feature code (4-s windows at 200 Hz).
   */
  source?: 'features' | 'raw';
  /** Load eye_feature_smooth: true = required, false = skip, undefined = load when the folder exists. */
  eye?: boolean;
  /** Options for raw → feature computation (nfft, bands, LDS parameters). */
  raw?: Partial<RawFeatureOptions>;
  /**
   * Source 'raw' only: smooth the feature family of `feature` (de or psd) with this form instead of the one its
   * name says, per trial from its start (e.g. 'lds-causal', which the device reproduces; docs/smoothing.md).
   */
  smooth?: SmoothingName;
}

const FEATURE_KEY = /^(de_LDS|de_movingAve|psd_LDS|psd_movingAve)(\d+)$/;
const EYE_KEY = /^eye_(\d+)$/;
const RAW_KEY = /_eeg(\d+)$/;
const FILE_NAME = /^([^_]+)_(.+)\.mat$/i;

interface SubjectFile {
  subject: string;
  session: number;
  path: string;
}

/** Subject files of one top-level folder, keyed "session/subject". */
function scanFolder(root: string, folder: string, sessions: readonly number[], subjects?: readonly string[]): Map<string, SubjectFile> {
  const base = join(root, folder);
  requireDir(base, `SEED-IV ${folder}/ with session folders 1, 2, 3`);
  const out = new Map<string, SubjectFile>();
  for (const session of sessions) {
    const dir = join(base, String(session));
    requireDir(dir, `session ${session} of ${folder}`);
    const files = listFiles(dir, '.mat');
    if (files.length === 0) throw new DataFormatError(`no .mat files in session folder`, dir);
    for (const name of files) {
      const m = FILE_NAME.exec(name);
      if (!m) throw new DataFormatError(`file name does not match {subject}_{date}.mat`, join(dir, name));
      const subject = m[1]!;
      if (subjects && !subjects.includes(subject)) continue;
      const key = `${session}/${subject}`;
      if (out.has(key))
        throw new DataFormatError(`two files for subject ${subject} in session ${session} (also ${out.get(key)!.path})`, join(dir, name));
      out.set(key, { subject, session, path: join(dir, name) });
    }
  }
  return out;
}

function checkKeys(mat: MatFile, file: string, pattern: RegExp, what: string): void {
  for (const name of mat.names) {
    const m = pattern.exec(name);
    if (!m) throw new DataFormatError(`unknown key (expected ${what})`, file, name);
    const t = Number(m[m.length - 1]);
    if (!(t >= 1 && t <= SEED_IV_TRIALS)) throw new DataFormatError(`trial number ${t} outside 1..${SEED_IV_TRIALS}`, file, name);
  }
}

export function loadSeedIV(root: string, opts: SeedIVLoadOptions = {}): EmotionDataset {
  const feature = opts.feature ?? 'de_LDS';
  if (!SEED_IV_FEATURES.includes(feature)) {
    throw new DataFormatError(`unknown SEED-IV feature "${feature}" (available: ${SEED_IV_FEATURES.join(', ')})`);
  }
  const source = opts.source ?? 'features';
  if (opts.smooth !== undefined && source !== 'raw') {
    throw new DataFormatError(
      `smoothing "${opts.smooth}" is computed from the raw EEG (eeg_raw_data, source "raw"); eeg_feature_smooth holds only the released offline forms (_LDS, _movingAve)`,
    );
  }
  const sessions = opts.sessions ?? [1, 2, 3];
  for (const s of sessions)
    if (!(s >= 1 && s <= 3 && Number.isInteger(s))) throw new DataFormatError(`SEED-IV session must be 1, 2 or 3, got ${s}`);
  requireDir(root, 'SEED-IV root');
  const eegFolder = source === 'raw' ? 'eeg_raw_data' : 'eeg_feature_smooth';
  const eegFiles = scanFolder(root, eegFolder, sessions, opts.subjects);
  const wantEye = opts.eye ?? exists(join(root, 'eye_feature_smooth'));
  const eyeFiles = wantEye ? scanFolder(root, 'eye_feature_smooth', sessions, opts.subjects) : null;
  if (eegFiles.size === 0)
    throw new DataFormatError(`no subject files${opts.subjects ? ` for subjects ${opts.subjects.join(', ')}` : ''}`, join(root, eegFolder));
  if (eyeFiles) {
    for (const [k, f] of eegFiles)
      if (!eyeFiles.has(k))
        throw new DataFormatError(
          `no eye_feature_smooth file for subject ${f.subject}, session ${f.session}`,
          join(root, 'eye_feature_smooth', String(f.session)),
        );
    for (const [k, f] of eyeFiles)
      if (!eegFiles.has(k))
        throw new DataFormatError(`no ${eegFolder} file for subject ${f.subject}, session ${f.session} (eye file exists)`, f.path);
  }

  const C = CHANNELS_62.length;
  const B = BAND_NAMES.length;
  const trials: TrialRecord[] = [];
  const jobs = [...eegFiles.values()].sort((a, b) => a.session - b.session || a.subject.localeCompare(b.subject, 'en', { numeric: true }));
  const total = jobs.length * (eyeFiles ? 2 : 1);
  let done = 0;
  for (const job of jobs) {
    const labels = SEED_IV_LABELS[job.session - 1]!;
    const perTrial: { eeg: Float32Array; windows: number }[] = [];
    if (source === 'features') {
      const mat = withFile(job.path, () =>
        readMat(readBytes(job.path), { file: job.path, only: (n) => new RegExp(`^${feature}\\d+$`).test(n) }),
      );
      checkKeys(mat, job.path, FEATURE_KEY, 'de_LDS1..24, de_movingAve1..24, psd_LDS1..24 or psd_movingAve1..24');
      for (let t = 1; t <= SEED_IV_TRIALS; t++)
        perTrial.push(
          eegFromChannelsWindowsBands(mat, `${feature}${t}`, job.path, C, B, `subject ${job.subject}, session ${job.session}, trial ${t}`),
        );
    } else {
      const mat = withFile(job.path, () => readMat(readBytes(job.path), { file: job.path }));
      const byTrial = new Map<number, string>();
      for (const name of mat.names) {
        const m = RAW_KEY.exec(name);
        if (!m) throw new DataFormatError('unknown key (expected <initials>_eeg1..24)', job.path, name);
        const t = Number(m[1]);
        if (!(t >= 1 && t <= SEED_IV_TRIALS)) throw new DataFormatError(`trial number ${t} outside 1..${SEED_IV_TRIALS}`, job.path, name);
        if (byTrial.has(t)) throw new DataFormatError(`two raw keys for trial ${t} (also ${byTrial.get(t)})`, job.path, name);
        byTrial.set(t, name);
      }
      for (let t = 1; t <= SEED_IV_TRIALS; t++) {
        const key = byTrial.get(t);
        if (!key) throw new DataFormatError(`missing raw trial ${t} (no key matching /_eeg${t}$/)`, job.path);
        const a = matNumeric(mat, key, job.path);
        if (a.shape.length !== 2 || a.shape[0] !== C)
          throw new DataFormatError(`expected ${C} channels × samples, found ${a.shape.join(' × ')}`, job.path, key);
        const flat = toFloat64(a);
        const n = a.shape[1]!;
        requireFinite(
          flat,
          job.path,
          key,
          `subject ${job.subject}, session ${job.session}, trial ${t}`,
          (i) => `channel ${Math.floor(i / n) + 1}, sample ${(i % n) + 1} (index [${Math.floor(i / n) + 1}, ${(i % n) + 1}], 1-based)`,
        );
        const chans = Array.from({ length: C }, (_, c) => flat.subarray(c * n, (c + 1) * n));
        const [kind, family] = feature.split('_') as ['de' | 'psd', 'LDS' | 'movingAve'];
        const smoothing = opts.smooth ?? (family === 'LDS' ? 'lds' : 'moving-average');
        const { data: src, windows } = rawTrialFeature(
          chans,
          { fs: SEED_IV_FS, windowSec: SEED_IV_WINDOW_SEC, ...opts.raw },
          kind,
          smoothing,
        );
        if (windows === 0)
          throw new DataFormatError(`raw trial shorter than one ${SEED_IV_WINDOW_SEC}-s window (${n} samples)`, job.path, key);
        const eeg = new Float32Array(windows * C * B);
        for (let c = 0; c < C; c++)
          for (let w = 0; w < windows; w++) for (let b = 0; b < B; b++) eeg[(w * C + c) * B + b] = src[(c * windows + w) * B + b]!;
        perTrial.push({ eeg, windows });
      }
    }
    opts.onProgress?.(++done, total, job.path);
    let eyes: { eye: Float32Array; windows: number }[] | null = null;
    const eyeFile = eyeFiles?.get(`${job.session}/${job.subject}`);
    if (eyeFile) {
      const mat = withFile(eyeFile.path, () => readMat(readBytes(eyeFile.path), { file: eyeFile.path }));
      checkKeys(mat, eyeFile.path, EYE_KEY, 'eye_1..24');
      eyes = [];
      for (let t = 1; t <= SEED_IV_TRIALS; t++)
        eyes.push(
          eyeFromFeaturesWindows(
            mat,
            `eye_${t}`,
            eyeFile.path,
            SEED_IV_EYE_FEATURES,
            `subject ${job.subject}, session ${job.session}, trial ${t}`,
          ),
        );
      opts.onProgress?.(++done, total, eyeFile.path);
    }
    for (let t = 1; t <= SEED_IV_TRIALS; t++) {
      const e = perTrial[t - 1]!;
      const y = eyes?.[t - 1];
      if (y && y.windows !== e.windows) throw pairingError(job.subject, job.session, t, e.windows, y.windows, job.path, eyeFile!.path);
      trials.push({
        subject: job.subject,
        session: job.session,
        trial: t,
        label: labels[t - 1]!,
        windows: e.windows,
        eeg: e.eeg,
        eye: y?.eye ?? null,
      });
    }
  }
  return {
    meta: {
      dataset: 'seed-iv',
      synthetic: exists(join(root, SYNTHETIC_MANIFEST)),
      root,
      classNames: SEED_IV_CLASSES,
      channelNames: CHANNELS_62,
      bandNames: BAND_NAMES,
      eyeFeatures: eyeFiles ? SEED_IV_EYE_FEATURES : 0,
      feature:
        source === 'raw'
          ? opts.smooth
            ? `${feature.split('_')[0]!} (${opts.smooth}, from eeg_raw_data)`
            : `${feature} (from eeg_raw_data)`
          : feature,
      windowSec: SEED_IV_WINDOW_SEC,
      ...(opts.smooth ? { smoothing: opts.smooth } : {}),
    },
    trials,
  };
}
