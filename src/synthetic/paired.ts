/**
 * In-memory paired EEG + eye-movement dataset from the synthetic wearer model (SEED-IV-like: 4 classes,
 * 24 trials per session with the published per-trial labels, 4-s windows at 200 Hz), with EEG features
 * computed from the generated raw 62-channel signal by the runtime's feature code.
 */
import { synthesizeTrial, type EmotionWorld } from '../../firmware-bridge/sim/wearer-model.js';
import { seedDE } from '../../runtime/dsp/seed-de.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';

/** SEED/SEED-IV/SEED-V 62-channel order (datasets.md). */
export const SEED_CHANNELS = [
  'FP1', 'FPZ', 'FP2', 'AF3', 'AF4', 'F7', 'F5', 'F3', 'F1', 'FZ', 'F2', 'F4', 'F6', 'F8', 'FT7', 'FC5', 'FC3', 'FC1', 'FCZ', 'FC2', 'FC4',
  'FC6', 'FT8', 'T7', 'C5', 'C3', 'C1', 'CZ', 'C2', 'C4', 'C6', 'T8', 'TP7', 'CP5', 'CP3', 'CP1', 'CPZ', 'CP2', 'CP4', 'CP6', 'TP8', 'P7',
  'P5', 'P3', 'P1', 'PZ', 'P2', 'P4', 'P6', 'P8', 'PO7', 'PO5', 'PO3', 'POZ', 'PO4', 'PO6', 'PO8', 'CB1', 'O1', 'OZ', 'O2', 'CB2',
] as const;

/** SEED-IV per-trial labels of sessions 1–3 (0 neutral, 1 sad, 2 fear, 3 happy). */
export const SEED_IV_TRIAL_LABELS: readonly (readonly number[])[] = [
  [1, 2, 3, 0, 2, 0, 0, 1, 0, 1, 2, 1, 1, 1, 2, 3, 2, 2, 3, 3, 0, 3, 0, 3],
  [2, 1, 3, 0, 0, 2, 0, 2, 3, 3, 2, 3, 2, 0, 1, 1, 2, 1, 0, 3, 0, 1, 3, 1],
  [1, 2, 2, 1, 3, 3, 3, 1, 1, 2, 1, 0, 2, 3, 3, 0, 2, 3, 0, 0, 2, 0, 1, 0],
];

export interface PairedWindow {
  subject: number;
  session: number;
  trial: number;
  label: number;
  /** DE features, channel-major [channel][band] */
  eeg: Float32Array;
  eye: Float32Array;
}

export interface PairedDataset {
  classes: readonly string[];
  channels: readonly string[];
  bands: readonly string[];
  eyeDims: number;
  fs: number;
  windowSec: number;
  nfft: number;
  windows: PairedWindow[];
}

export interface PairedOptions {
  world: EmotionWorld;
  subjects: readonly number[];
  sessions?: number;
  trialsPerSession?: number;
  windowsPerTrial?: number;
  channels?: readonly string[];
  eyeDims?: number;
  onTrial?: (done: number, total: number) => void;
}

export function generatePairedDataset(o: PairedOptions): PairedDataset {
  const fs = 200;
  const windowSec = 4;
  const nfft = 1024;
  const channels = o.channels ?? SEED_CHANNELS;
  const sessions = o.sessions ?? 1;
  const trials = o.trialsPerSession ?? 24;
  const W = o.windowsPerTrial ?? 8;
  const eyeDims = o.eyeDims ?? 31;
  if (sessions > 3) throw new RangeError('the SEED-IV layout has 3 sessions');
  const windows: PairedWindow[] = [];
  const total = o.subjects.length * sessions * trials;
  let done = 0;
  const L = fs * windowSec;
  for (const subject of o.subjects) {
    for (let session = 0; session < sessions; session++) {
      for (let trial = 0; trial < trials; trial++) {
        const label = SEED_IV_TRIAL_LABELS[session]![trial % 24]!;
        const t = synthesizeTrial({ world: o.world, subject, session, trial, label, windows: W, windowSec, fs, sites: channels, eyeDims });
        for (let w = 0; w < W; w++) {
          const eeg = new Float32Array(channels.length * SEED_BANDS.length);
          channels.forEach((_, c) => eeg.set(seedDE(t.eeg[c]!.subarray(w * L, (w + 1) * L), fs, { nfft }), c * SEED_BANDS.length));
          windows.push({ subject, session, trial, label, eeg, eye: Float32Array.from(t.eye[w]!) });
        }
        o.onTrial?.(++done, total);
      }
    }
  }
  return { classes: o.world.classes, channels, bands: SEED_BANDS.map((b) => b.name), eyeDims, fs, windowSec, nfft, windows };
}
