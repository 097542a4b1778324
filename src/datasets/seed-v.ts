/**
 * SEED-V reader. Layout (datasets.md):
 *   EEG_DE_features/{subject}_123.npz        members 'data', 'label': pickled dicts (0-d byte strings in the npz)
 *   Eye_movement_features/{subject}_123.npz  same structure
 * Dict keys 0..44 are global trial ids (session = k // 15 + 1, trial = k % 15 + 1); data[k] is windows × 310
 * (EEG) or windows × 33 (eye); label[k] is (windows,). The order of the 310 EEG columns is undocumented:
 * `columnOrder` makes it explicit (default channel-major: column = channel·5 + band).
 */
import { DataFormatError, withFile } from '../io/errors.js';
import { toFloat64, type NdArray } from '../io/ndarray.js';
import { npzBytesMember, readNpz } from '../io/npy.js';
import { unpickle, type PyValue } from '../io/pickle.js';
import { pairingError, requireFinite, windowsByColumns, type CommonLoadOptions } from './common.js';
import { exists, join, listFiles, readBytes, requireDir } from './fsutil.js';
import {
  BAND_NAMES,
  CHANNELS_62,
  SEED_V_CLASSES,
  SEED_V_EYE_FEATURES,
  SEED_V_LABELS,
  SEED_V_TRIALS,
  SEED_V_WINDOW_SEC,
  SYNTHETIC_MANIFEST,
} from './layouts.js';
import type { EmotionDataset, TrialRecord } from './types.js';
import { option, optionText, renderMessage, type MessagePart, type NamesOptions } from '../train/errors.js';

export type SeedVColumnOrder = 'channel-major' | 'band-major';

export interface SeedVLoadOptions extends CommonLoadOptions {
  /** How the 310 EEG columns map to (channel, band). Default 'channel-major' (column = c·5 + b). */
  columnOrder?: SeedVColumnOrder;
  /** Load Eye_movement_features: true = required, false = skip, undefined = when the folder exists. */
  eye?: boolean;
  /** Check that each trial's per-window labels are constant and equal datasets.md's list (default true). */
  checkLabels?: boolean;
}

const FILE_NAME = /^([^_]+)_(.+)\.npz$/i;
const SESSIONS = 3;

interface PickledPair {
  data: Map<number, NdArray>;
  label: Map<number, NdArray>;
}

function readPair(path: string): PickledPair {
  return withFile(path, () => {
    const npz = readNpz(readBytes(path), path);
    const asDict = (member: 'data' | 'label'): Map<number, NdArray> => {
      const v: PyValue = unpickle(npzBytesMember(npz, member, path), { file: path, key: member });
      if (!(v instanceof Map)) throw new DataFormatError('expected a pickled dict', path, member);
      const out = new Map<number, NdArray>();
      for (const [k, a] of v) {
        if (typeof k !== 'number' || !Number.isInteger(k))
          throw new DataFormatError(`dict key ${String(k)} is not an integer trial id`, path, member);
        if (k < 0 || k >= SESSIONS * SEED_V_TRIALS)
          throw new DataFormatError(`trial id ${k} outside 0..${SESSIONS * SEED_V_TRIALS - 1}`, path, `${member}[${k}]`);
        if (a === null || typeof a !== 'object' || !('dtype' in a) || !('shape' in a))
          throw new DataFormatError('expected a numpy array', path, `${member}[${k}]`);
        out.set(k, a as NdArray);
      }
      return out;
    };
    return { data: asDict('data'), label: asDict('label') };
  });
}

export function loadSeedV(root: string, opts: SeedVLoadOptions = {}): EmotionDataset {
  const order = opts.columnOrder ?? 'channel-major';
  if (order !== 'channel-major' && order !== 'band-major')
    throw new DataFormatError(`unknown SEED-V column order "${String(order)}" (channel-major or band-major)`);
  const checkLabels = opts.checkLabels ?? true;
  const sessions = opts.sessions ?? [1, 2, 3];
  requireDir(root, 'SEED-V root');
  const eegDir = join(root, 'EEG_DE_features');
  requireDir(eegDir, 'SEED-V EEG_DE_features/ with {subject}_123.npz files');
  const eyeDir = join(root, 'Eye_movement_features');
  const wantEye = opts.eye ?? exists(eyeDir);
  if (wantEye) requireDir(eyeDir, 'SEED-V Eye_movement_features/');

  const subjectFiles: { subject: string; name: string }[] = [];
  for (const name of listFiles(eegDir, '.npz')) {
    const m = FILE_NAME.exec(name);
    if (!m) throw new DataFormatError('file name does not match {subject}_123.npz', join(eegDir, name));
    if (opts.subjects && !opts.subjects.includes(m[1]!)) continue;
    subjectFiles.push({ subject: m[1]!, name });
  }
  if (subjectFiles.length === 0)
    throw new DataFormatError(`no subject .npz files${opts.subjects ? ` for subjects ${opts.subjects.join(', ')}` : ''}`, eegDir);
  const eyeNames = wantEye ? new Map(listFiles(eyeDir, '.npz').map((n) => [FILE_NAME.exec(n)?.[1] ?? n, n])) : null;

  const C = CHANNELS_62.length;
  const B = BAND_NAMES.length;
  const cols = C * B;
  const trials: TrialRecord[] = [];
  const total = subjectFiles.length * (wantEye ? 2 : 1);
  let done = 0;
  for (const { subject, name } of subjectFiles) {
    const eegPath = join(eegDir, name);
    const eeg = readPair(eegPath);
    opts.onProgress?.(++done, total, eegPath);
    let eye: PickledPair | null = null;
    let eyePath = '';
    if (eyeNames) {
      const eyeName = eyeNames.get(subject);
      if (!eyeName) throw new DataFormatError(`no Eye_movement_features file for subject ${subject}`, eyeDir);
      eyePath = join(eyeDir, eyeName);
      eye = readPair(eyePath);
      opts.onProgress?.(++done, total, eyePath);
    }
    for (const session of sessions) {
      for (let t = 1; t <= SEED_V_TRIALS; t++) {
        const k = (session - 1) * SEED_V_TRIALS + (t - 1);
        const a = eeg.data.get(k);
        if (!a) throw new DataFormatError(`trial ${k} (session ${session}, trial ${t}) missing`, eegPath, `data[${k}]`);
        const { data, windows } = windowsByColumns(a, cols, eegPath, `data[${k}]`);
        const label = trialLabel(eeg.label.get(k), windows, session, t, eegPath, k, checkLabels);
        const out = new Float32Array(windows * cols);
        for (let w = 0; w < windows; w++) {
          for (let c = 0; c < C; c++) {
            for (let b = 0; b < B; b++) {
              const col = order === 'channel-major' ? c * B + b : b * C + c;
              out[(w * C + c) * B + b] = data[w * cols + col]!;
            }
          }
        }
        const where = `subject ${subject}, session ${session}, trial ${t}`;
        requireFinite(out, eegPath, `data[${k}]`, where, (i) => {
          const w = Math.floor(i / cols);
          const c = Math.floor(i / B) % C;
          const b = i % B;
          return `window ${w + 1}, column ${(order === 'channel-major' ? c * B + b : b * C + c) + 1} (channel ${c + 1}, band ${b + 1}; row ${w}, column ${order === 'channel-major' ? c * B + b : b * C + c} 0-based)`;
        });
        let eyeData: Float32Array | null = null;
        if (eye) {
          const ea = eye.data.get(k);
          if (!ea) throw new DataFormatError(`trial ${k} (session ${session}, trial ${t}) missing`, eyePath, `data[${k}]`);
          const ew = windowsByColumns(ea, SEED_V_EYE_FEATURES, eyePath, `data[${k}]`);
          if (ew.windows !== windows) throw pairingError(subject, session, t, windows, ew.windows, eegPath, eyePath);
          const eyeLabel = trialLabel(eye.label.get(k), ew.windows, session, t, eyePath, k, checkLabels);
          if (eyeLabel !== label)
            throw new DataFormatError(
              `eye label ${eyeLabel} differs from EEG label ${label} for subject ${subject}, session ${session}, trial ${t}`,
              eyePath,
              `label[${k}]`,
            );
          eyeData = Float32Array.from(ew.data);
          requireFinite(
            eyeData,
            eyePath,
            `data[${k}]`,
            where,
            (i) =>
              `window ${Math.floor(i / SEED_V_EYE_FEATURES) + 1}, eye feature ${(i % SEED_V_EYE_FEATURES) + 1} (row ${Math.floor(i / SEED_V_EYE_FEATURES)}, column ${i % SEED_V_EYE_FEATURES} 0-based)`,
          );
        }
        trials.push({ subject, session, trial: t, label, windows, eeg: out, eye: eyeData });
      }
    }
  }
  return {
    meta: {
      dataset: 'seed-v',
      synthetic: exists(join(root, SYNTHETIC_MANIFEST)),
      root,
      classNames: SEED_V_CLASSES,
      channelNames: CHANNELS_62,
      bandNames: BAND_NAMES,
      eyeFeatures: wantEye ? SEED_V_EYE_FEATURES : 0,
      feature: 'de_LDS',
      windowSec: SEED_V_WINDOW_SEC,
    },
    trials,
  };
}

/** The documented-label check failed: a data error whose hint names the option that turns the check off. */
class LabelCheckError extends DataFormatError implements NamesOptions {
  readonly parts: readonly MessagePart[];
  constructor(text: string, hint: readonly MessagePart[], file: string, key: string) {
    super(text + renderMessage(hint), file, key);
    this.parts = [this.message.slice(0, this.message.length - renderMessage(hint).length), ...hint];
  }
}

function trialLabel(
  a: NdArray | undefined,
  windows: number,
  session: number,
  trial: number,
  file: string,
  k: number,
  check: boolean,
): number {
  const key = `label[${k}]`;
  if (!a) throw new DataFormatError(`label for trial ${k} (session ${session}, trial ${trial}) missing`, file, key);
  const v = toFloat64(a);
  if (v.length !== windows) throw new DataFormatError(`${v.length} labels for ${windows} windows`, file, key);
  const first = v[0]!;
  for (let i = 1; i < v.length; i++)
    if (v[i] !== first) throw new DataFormatError(`labels change within the trial (window ${i}: ${v[i]} vs ${first})`, file, key);
  if (!Number.isInteger(first) || first < 0 || first >= SEED_V_CLASSES.length)
    throw new DataFormatError(`label ${first} is not a class index 0..${SEED_V_CLASSES.length - 1}`, file, key);
  const expected = SEED_V_LABELS[session - 1]![trial - 1]!;
  if (check && first !== expected) {
    throw new LabelCheckError(
      `label ${first} differs from the documented label ${expected} for session ${session}, trial ${trial} `,
      optionText`(${option('checkLabels')} turns this check off)`,
      file,
      key,
    );
  }
  return first;
}
