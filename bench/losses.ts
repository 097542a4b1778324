/**
 * The feature-distillation losses' cost: forward + backward (gradient with respect to the student's features) of
 * each pure loss at batch 32 on tfjs-wasm, for penultimate widths 128 (the MLP) and 992 (DGCNN), against a 528-wide
 * teacher feature (EEGNet-mini's eye teacher). Reported in ms per step and as a multiple of cross-entropy's step on
 * the same batch, measured in the same run, so a loss whose cost grows with the batch's cube or the width's square
 * shows up here (RKD's angle term and NST's kernel used to: docs/training-speed.md). Each step ends by reading one
 * number (the gradient's sum), as training does: it never reads gradients back, and reading a [32, 992] tensor
 * from tfjs-wasm costs several ms by itself.
 */
import * as tf from '../src/train/tf.js';
import { crossEntropy, fitnet, kd, nst, pkt, rkd, sp } from '../src/train/losses/index.js';
import { timeIt, type BenchResult, type BenchSuite } from './harness.js';

const B = 32;
const TEACHER = 528;

export const lossesSuite: BenchSuite = {
  name: 'losses',
  async run(ctx) {
    const previous = tf.getBackend();
    await tf.setBackend('wasm');
    await tf.ready();
    const minMs = ctx.quick ? 200 : 1000;
    const results: BenchResult[] = [];
    try {
      const labels = Int32Array.from({ length: B }, (_, i) => i % 4);
      const logitsT = tf.randomNormal([B, 4], 0, 2, 'float32', 3) as tf.Tensor2D;
      const logitsS = tf.randomNormal([B, 4], 0, 2, 'float32', 4) as tf.Tensor2D;
      const ceStep = tf.grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, labels));
      const ce = await timeIt(() => tf.tidy(() => tf.sum(ceStep(logitsS)).dataSync()), minMs);
      for (const width of [128, 992]) {
        const fs = tf.relu(tf.randomNormal([B, width], 0, 1, 'float32', 1)) as tf.Tensor2D;
        const ft = tf.relu(tf.randomNormal([B, TEACHER], 0, 1, 'float32', 2)) as tf.Tensor2D;
        const ftSame = tf.relu(tf.randomNormal([B, width], 0, 1, 'float32', 5)) as tf.Tensor2D;
        const cases: Array<[string, (x: tf.Tensor2D) => tf.Scalar]> = [
          ['kd', (x) => kd(x, logitsT)],
          ['fitnet', (x) => fitnet(x, ftSame)],
          ['nst', (x) => nst([x], [ft])],
          ['sp', (x) => sp(x, ft)],
          ['rkd', (x) => rkd(x, ft)],
          ['pkt', (x) => pkt(x, ft)],
        ];
        for (const [name, f] of cases) {
          if (name === 'kd' && width !== 128) continue; // on logits: independent of the width
          const step = tf.grad((x: tf.Tensor) => f(x as tf.Tensor2D));
          const input = name === 'kd' ? logitsS : fs;
          const t = await timeIt(() => tf.tidy(() => tf.sum(step(input)).dataSync()), minMs);
          const label = name === 'kd' ? `losses.kd.b${B}` : `losses.${name}.b${B}.d${width}`;
          results.push({
            name: label,
            value: Number(t.msPerCall.toFixed(3)),
            unit: 'ms/step',
            detail: {
              backend: 'wasm',
              batch: B,
              width: name === 'kd' ? 4 : width,
              teacherWidth: name === 'fitnet' ? width : TEACHER,
              overCrossEntropy: Number((t.msPerCall / ce.msPerCall).toFixed(1)),
              iters: t.iters,
            },
          });
          ctx.log(`${label}: ${t.msPerCall.toFixed(2)} ms per forward + backward`);
        }
        tf.dispose([fs, ft, ftSame]);
      }
      tf.dispose([logitsS, logitsT]);
    } finally {
      if (previous && previous !== 'wasm') await tf.setBackend(previous);
    }
    return results;
  },
};
