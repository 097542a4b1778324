/**
 * The runtime tests' model: a Muse-montage MLP (TP9, AF7, AF8, TP10 on cap channels TP7, FP1, FP2, TP8; SEED DE,
 * 5 bands) with random weights, exported to ONNX the way `cmcrd export` writes it.
 */
import { initBackend } from '../../src/train/backend.js';
import { Mlp, mlpSpec } from '../../src/train/nets/mlp.js';
import { exportOnnx } from '../../export/onnx-export.js';
import type { Checkpoint, FeatureSpec } from '../../export/checkpoint.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';

export interface MuseModelOptions {
  /** Weight seed (default 1). */
  seed?: number;
  /** The z-score statistics every feature gets (defaults 20 and 2). */
  mean?: number;
  std?: number;
  windowSec?: number;
  smoothing?: FeatureSpec['smoothing'];
  sites?: string[];
}

export async function museMlpModel(o: MuseModelOptions = {}): Promise<Uint8Array> {
  await initBackend('wasm', () => undefined);
  const net = new Mlp(mlpSpec({ channels: 4, bands: 5 }, 4), o.seed ?? 1);
  const capChannels = ['TP7', 'FP1', 'FP2', 'TP8'];
  const ck: Checkpoint = {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: 'eeg',
    arch: net.spec,
    weights: net.getWeights(),
    classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: capChannels,
    montage: { device: 'muse', sites: o.sites ?? ['TP9', 'AF7', 'AF8', 'TP10'], capChannels },
    features: {
      method: 'seed-de',
      fs: 200,
      windowSec: o.windowSec ?? 4,
      hopSec: o.windowSec ?? 4,
      nfft: 1024,
      bands: SEED_BANDS.map((b) => ({ ...b })),
      smoothing: o.smoothing ?? 'none',
    },
    normalisation: { mean: new Array(20).fill(o.mean ?? 20), std: new Array(20).fill(o.std ?? 2) },
    provenance: {},
  };
  try {
    return exportOnnx(ck);
  } finally {
    net.dispose();
  }
}
