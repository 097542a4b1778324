/**
 * In-memory paired EEG + eye-movement dataset from the synthetic wearer model (SEED-IV-like: 4 classes,
 * 24 trials per session with the published per-trial labels, 4-s windows at 200 Hz), with EEG features
 * computed from the generated raw 62-channel signal by the runtime's feature code.
 */
import { synthesizeTrial, type EmotionWorld } from '../../firmware-bridge/sim/wearer-model.js';
import { seedDE } from '../../runtime/dsp/seed-de.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';
import { SEED_62_CHANNELS } from '../../firmware-bridge/montage/index.js';
import { SEED_IV_LABELS } from '../datasets/layouts.js';

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
  const channels = o.channels ?? SEED_62_CHANNELS;
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
        const label = SEED_IV_LABELS[session]![trial % 24]!;
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
