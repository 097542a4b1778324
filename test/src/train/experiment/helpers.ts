/** Small in-memory datasets for the training-pipeline tests. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { DatasetName, EmotionDataset, TrialRecord } from '../../../../src/datasets/types.js';
import { SeededRandom } from '../../../../src/train/nets/layers.js';

export async function useWasm(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  if (tf.getBackend() !== 'wasm') throw new Error(`expected the wasm backend, got ${tf.getBackend()}`);
}

export interface TinyOptions {
  layout?: DatasetName;
  subjects?: number;
  sessions?: number;
  windows?: number;
  channels?: number;
  eye?: number;
  seed?: number;
}

/**
 * A SEED-IV/V-shaped dataset with a learnable signal: features = class mean + subject offset + noise.
 * Labels follow a fixed cyclic pattern per session so every class has trials in every third of a session.
 */
export function tinyDataset(o: TinyOptions = {}): EmotionDataset {
  const layout = o.layout ?? 'seed-iv';
  const S = o.subjects ?? 3;
  const sessions = o.sessions ?? 1;
  const W = o.windows ?? 2;
  const C = o.channels ?? 4;
  const B = 5;
  const E = o.eye ?? 3;
  const classes = layout === 'seed-v' ? ['disgust', 'fear', 'sad', 'neutral', 'happy'] : ['neutral', 'sad', 'fear', 'happy'];
  const K = classes.length;
  const trialsPer = layout === 'seed-v' ? 15 : layout === 'seed' ? 15 : 24;
  const rng = new SeededRandom(o.seed ?? 7);
  const eegMean = Array.from({ length: K }, () => Float32Array.from({ length: C * B }, () => rng.normal()));
  const eyeMean = Array.from({ length: K }, () => Float32Array.from({ length: E }, () => 2 * rng.normal()));
  const trials: TrialRecord[] = [];
  for (let s = 1; s <= S; s++) {
    const offset = rng.normal() * 0.3;
    for (let sess = 1; sess <= sessions; sess++) {
      for (let t = 1; t <= trialsPer; t++) {
        const label = (t + sess) % K;
        const eeg = new Float32Array(W * C * B);
        const eye = new Float32Array(W * E);
        for (let w = 0; w < W; w++) {
          for (let j = 0; j < C * B; j++) eeg[w * C * B + j] = eegMean[label]![j]! + offset + rng.normal();
          for (let j = 0; j < E; j++) eye[w * E + j] = eyeMean[label]![j]! + rng.normal() * 0.5;
        }
        trials.push({ subject: String(s), session: sess, trial: t, label, windows: W, eeg, eye: E ? eye : null });
      }
    }
  }
  return {
    meta: {
      dataset: layout,
      synthetic: true,
      root: '(memory)',
      classNames: classes,
      channelNames: ['FP1', 'FP2', 'TP7', 'TP8', 'O1', 'O2', 'CZ', 'PZ'].slice(0, C),
      bandNames: ['delta', 'theta', 'alpha', 'beta', 'gamma'],
      eyeFeatures: E,
      feature: 'de_LDS',
      windowSec: 4,
    },
    trials,
  };
}
