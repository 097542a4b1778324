/**
 * SEED reader (EEG only). Layout (datasets.md):
 *   ExtractedFeatures/{subject}_{date}.mat   de_LDS1..15, de_movingAve1..15, psd_…, and the asymmetry
 *                                            families (dasm_, rasm_, asm_, dcau_) with fewer channels
 *   label.mat                                 'label' = 15 values in {−1, 0, 1} (in ExtractedFeatures/ or the root)
 * Sessions are not in file names: a subject's files sorted by date are sessions 1, 2, 3. Windows are 1 s.
 */
import { DataFormatError, withFile } from '../io/errors.js';
import { matNumeric, readMat } from '../io/mat.js';
import { toFloat64 } from '../io/ndarray.js';
import { eegFromChannelsWindowsBands, type CommonLoadOptions } from './common.js';
import { exists, join, listFiles, readBytes, requireDir } from './fsutil.js';
import { BAND_NAMES, CHANNELS_62, SEED_CLASSES, SEED_TRIALS, SEED_WINDOW_SEC, SYNTHETIC_MANIFEST } from './layouts.js';
import type { EmotionDataset, TrialRecord } from './types.js';

export const SEED_FEATURES = ['de_LDS', 'de_movingAve', 'psd_LDS', 'psd_movingAve'] as const;
export type SeedFeature = (typeof SEED_FEATURES)[number];

export interface SeedLoadOptions extends CommonLoadOptions {
  feature?: SeedFeature;
}

const FILE_NAME = /^([^_]+)_(\d{8})\.mat$/;
// Feature families of the released ExtractedFeatures files; anything else is an unknown key.
const KNOWN_KEY = /^(de|psd|dasm|rasm|asm|dcau)_(LDS|movingAve)(\d+)$/;

export function loadSeed(root: string, opts: SeedLoadOptions = {}): EmotionDataset {
  const feature = opts.feature ?? 'de_LDS';
  if (!SEED_FEATURES.includes(feature))
    throw new DataFormatError(`unknown SEED feature "${feature}" (available: ${SEED_FEATURES.join(', ')})`);
  requireDir(root, 'SEED root');
  const dir = join(root, 'ExtractedFeatures');
  requireDir(dir, 'SEED ExtractedFeatures/');
  const labelPath = [join(dir, 'label.mat'), join(root, 'label.mat')].find(exists);
  if (!labelPath) throw new DataFormatError('label.mat not found (looked in ExtractedFeatures/ and the root)', root);
  const labelMat = withFile(labelPath, () => readMat(readBytes(labelPath), { file: labelPath }));
  const raw = toFloat64(matNumeric(labelMat, 'label', labelPath));
  if (raw.length !== SEED_TRIALS) throw new DataFormatError(`expected ${SEED_TRIALS} labels, found ${raw.length}`, labelPath, 'label');
  const labels = Array.from(raw, (v, i) => {
    if (v !== -1 && v !== 0 && v !== 1) throw new DataFormatError(`label ${v} of trial ${i + 1} is not −1, 0 or 1`, labelPath, 'label');
    return v + 1;
  });

  const bySubject = new Map<string, { date: string; name: string }[]>();
  for (const name of listFiles(dir, '.mat')) {
    if (name.toLowerCase() === 'label.mat') continue;
    const m = FILE_NAME.exec(name);
    if (!m) throw new DataFormatError('file name does not match {subject}_{yyyymmdd}.mat', join(dir, name));
    if (opts.subjects && !opts.subjects.includes(m[1]!)) continue;
    const list = bySubject.get(m[1]!) ?? [];
    list.push({ date: m[2]!, name });
    bySubject.set(m[1]!, list);
  }
  if (bySubject.size === 0)
    throw new DataFormatError(`no subject files${opts.subjects ? ` for subjects ${opts.subjects.join(', ')}` : ''}`, dir);

  const jobs: { subject: string; session: number; path: string }[] = [];
  for (const [subject, files] of [...bySubject].sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true }))) {
    files.sort((a, b) => a.date.localeCompare(b.date));
    for (let i = 1; i < files.length; i++) {
      if (files[i]!.date === files[i - 1]!.date)
        throw new DataFormatError(`two files of subject ${subject} have the same date; cannot order sessions`, join(dir, files[i]!.name));
    }
    files.forEach((f, i) => {
      if (!opts.sessions || opts.sessions.includes(i + 1)) jobs.push({ subject, session: i + 1, path: join(dir, f.name) });
    });
  }
  const C = CHANNELS_62.length;
  const B = BAND_NAMES.length;
  const trials: TrialRecord[] = [];
  let done = 0;
  for (const job of jobs) {
    const mat = withFile(job.path, () =>
      readMat(readBytes(job.path), { file: job.path, only: (n) => n.startsWith(feature) && /^\d+$/.test(n.slice(feature.length)) }),
    );
    for (const n of mat.names) {
      const m = KNOWN_KEY.exec(n);
      if (!m) throw new DataFormatError('unknown key (expected de_/psd_/dasm_/rasm_/asm_/dcau_ + LDS/movingAve + trial)', job.path, n);
      const t = Number(m[3]);
      if (!(t >= 1 && t <= SEED_TRIALS)) throw new DataFormatError(`trial number ${t} outside 1..${SEED_TRIALS}`, job.path, n);
    }
    for (let t = 1; t <= SEED_TRIALS; t++) {
      const { eeg, windows } = eegFromChannelsWindowsBands(
        mat,
        `${feature}${t}`,
        job.path,
        C,
        B,
        `subject ${job.subject}, session ${job.session}, trial ${t}`,
      );
      trials.push({ subject: job.subject, session: job.session, trial: t, label: labels[t - 1]!, windows, eeg, eye: null });
    }
    opts.onProgress?.(++done, jobs.length, job.path);
  }
  return {
    meta: {
      dataset: 'seed',
      synthetic: exists(join(root, SYNTHETIC_MANIFEST)),
      root,
      classNames: SEED_CLASSES,
      channelNames: CHANNELS_62,
      bandNames: BAND_NAMES,
      eyeFeatures: 0,
      feature,
      windowSec: SEED_WINDOW_SEC,
    },
    trials,
  };
}
