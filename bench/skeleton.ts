/**
 * End-to-end path figures: MLP training throughput (tfjs, the backend in use), SEED-lab DE per 4-s window for
 * a 4-channel headband, and ONNX inference per window (onnxruntime-node, one thread).
 */
import * as tf from '../src/train/tf.js';
import type { BenchSuite, BenchResult } from './harness.js';
import { timeIt } from './harness.js';
import { initBackend } from '../src/train/backend.js';
import { Mlp, mlpSpec } from '../src/train/nets/mlp.js';
import { fit } from '../src/train/trainer.js';
import { seedDE } from '../runtime/dsp/seed-de.js';
import { exportOnnx } from '../export/onnx-export.js';
import type { Checkpoint } from '../export/checkpoint.js';
import { loadOnnxClassifier } from '../runtime/infer/onnx.node.js';
import { SEED_BANDS } from '../runtime/dsp/bands.js';

export const skeletonSuite: BenchSuite = {
  name: 'skeleton',
  async run(ctx) {
    const out: BenchResult[] = [];
    const backend = await initBackend(undefined, ctx.log);
    // Training throughput: 310 → 4 classes MLP, AdamW, batch 32.
    const n = ctx.quick ? 1024 : 4096;
    const d = 310;
    const x = new Float32Array(n * d).map(() => Math.random() * 2 - 1);
    const y = Int32Array.from({ length: n }, (_, i) => i % 4);
    const net = new Mlp(mlpSpec({ channels: 62, bands: 5 }, 4), 1);
    const t0 = performance.now();
    const epochs = ctx.quick ? 1 : 2;
    await fit(net, { x, n, d }, y, { epochs, batchSize: 32, lr: 1e-3, weightDecay: 1e-3, warmupEpochs: 0, seed: 1, valFraction: 0 });
    const secs = (performance.now() - t0) / 1000;
    out.push({ name: 'train.mlp310.batch32', value: (n * epochs) / secs, unit: 'samples/s', detail: { backend, samples: n, epochs } });

    // Feature extraction: 4 channels × 4-s window at 200 Hz.
    const win = Array.from({ length: 4 }, () => Float64Array.from({ length: 800 }, () => Math.random() * 20 - 10));
    const fe = await timeIt(
      () => {
        for (const c of win) seedDE(c, 200, { nfft: 1024 });
      },
      ctx.quick ? 200 : 1000,
    );
    out.push({
      name: 'features.seed-de.4ch.4s',
      value: fe.msPerCall * 1000,
      unit: 'µs/window',
      detail: { realTimeFactor: Math.round(4000 / fe.msPerCall) },
    });

    // Inference: the exported MLP on a 4-channel × 5-band input, batch 1.
    const small = new Mlp(mlpSpec({ channels: 4, bands: 5 }, 4), 2);
    const ck: Checkpoint = {
      format: 'cmcrd-checkpoint',
      version: 1,
      modality: 'eeg',
      arch: small.spec,
      weights: small.getWeights(),
      classes: ['neutral', 'sad', 'fear', 'happy'],
      channels: ['TP7', 'FP1', 'FP2', 'TP8'],
      features: {
        method: 'seed-de',
        fs: 200,
        windowSec: 4,
        hopSec: 4,
        nfft: 1024,
        bands: SEED_BANDS.map((b) => ({ ...b })),
        smoothing: 'none',
      },
      normalisation: { mean: new Array(20).fill(0), std: new Array(20).fill(1) },
      provenance: {},
    };
    small.dispose();
    net.dispose();
    const clf = await loadOnnxClassifier(exportOnnx(ck));
    const row = [Float32Array.from({ length: 20 }, () => Math.random())];
    const inf = await timeIt(() => clf.run(row), ctx.quick ? 200 : 1000);
    out.push({ name: 'inference.onnx-node.mlp20.batch1', value: inf.msPerCall * 1000, unit: 'µs/window', detail: { threads: 1 } });
    await clf.dispose();
    tf.disposeVariables();
    return out;
  },
};
