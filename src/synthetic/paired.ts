/**
 * An in-memory paired EEG + eye-movement dataset from the synthetic wearer model, in the SEED-IV layout the
 * experiment code trains on (4 classes, 24 trials per session with the published per-trial labels, 4-s windows
 * at 200 Hz). EEG features are SEED-lab DE computed from the generated raw 62-channel signal by the runtime's
 * feature code (nfft 1024, no smoothing), so training and the device compute them alike.
 * `cmcrd dataset synth` writes the same kind of data to MAT / npz files instead.
 */
import { synthesizeTrial, type EmotionWorld } from '../../firmware-bridge/sim/wearer-model.js';
import { seedDE } from '../../runtime/dsp/seed-de.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';
import { SEED_62_CHANNELS } from '../../firmware-bridge/montage/index.js';
import { SEED_IV_LABELS, SEED_IV_TRIALS } from '../datasets/layouts.js';
import type { EmotionDataset, TrialRecord } from '../datasets/types.js';

export interface PairedOptions {
  world: EmotionWorld;
  /** The wearer model's subject indices; subject ids are their decimal strings ("0", "1", …). */
  subjects: readonly number[];
  /** 1..3, default 1. */
  sessions?: number;
  /** Default 24 (SEED-IV). */
  trialsPerSession?: number;
  /** Default 8. */
  windowsPerTrial?: number;
  /** Eye features per window, default 31 (SEED-IV). */
  eyeDims?: number;
  onTrial?: (done: number, total: number) => void;
}

/** Sampling rate, window length and FFT length of the features. */
export const PAIRED_FS = 200;
export const PAIRED_WINDOW_SEC = 4;
export const PAIRED_NFFT = 1024;

export function syntheticPairedDataset(o: PairedOptions): EmotionDataset {
  const fs = PAIRED_FS;
  const windowSec = PAIRED_WINDOW_SEC;
  const channels = SEED_62_CHANNELS;
  const B = SEED_BANDS.length;
  const sessions = o.sessions ?? 1;
  const trials = o.trialsPerSession ?? SEED_IV_TRIALS;
  const W = o.windowsPerTrial ?? 8;
  const eyeDims = o.eyeDims ?? 31;
  if (!(Number.isInteger(sessions) && sessions >= 1 && sessions <= 3))
    throw new RangeError(`the SEED-IV layout has 1 to 3 sessions, got ${sessions}`);
  const records: TrialRecord[] = [];
  const total = o.subjects.length * sessions * trials;
  let done = 0;
  const L = fs * windowSec;
  for (const subject of o.subjects) {
    for (let session = 0; session < sessions; session++) {
      for (let trial = 0; trial < trials; trial++) {
        const label = SEED_IV_LABELS[session]![trial % 24]!;
        const t = synthesizeTrial({ world: o.world, subject, session, trial, label, windows: W, windowSec, fs, sites: channels, eyeDims });
        const eeg = new Float32Array(W * channels.length * B);
        const eye = new Float32Array(W * eyeDims);
        for (let w = 0; w < W; w++) {
          channels.forEach((_, c) =>
            eeg.set(seedDE(t.eeg[c]!.subarray(w * L, (w + 1) * L), fs, { nfft: PAIRED_NFFT }), (w * channels.length + c) * B),
          );
          eye.set(t.eye[w]!, w * eyeDims);
        }
        records.push({ subject: String(subject), session: session + 1, trial: trial + 1, label, windows: W, eeg, eye });
        o.onTrial?.(++done, total);
      }
    }
  }
  return {
    meta: {
      dataset: 'seed-iv',
      synthetic: true,
      root: '(in memory)',
      classNames: [...o.world.classes],
      channelNames: [...channels],
      bandNames: SEED_BANDS.map((b) => b.name),
      eyeFeatures: eyeDims,
      feature: 'de',
      windowSec,
    },
    trials: records,
  };
}
