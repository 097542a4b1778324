/** Checkpoints back to tfjs networks: to evaluate a supplied teacher, and as the reference an export is checked against. */
import * as tf from '../tf.js';
import type { Checkpoint } from '../../../export/checkpoint.js';
import { buildNetwork } from '../nets/index.js';
import type { Network } from '../nets/types.js';
import { ExperimentConfigError } from '../errors.js';

/** Rebuild the tfjs network of a checkpoint with its weights. */
export function networkFromCheckpoint(ck: Checkpoint): Network {
  const net = buildNetwork({ ...ck.arch, input: { ...ck.arch.input }, params: { ...ck.arch.params } }, 0);
  try {
    net.setWeights(ck.weights);
  } catch (e) {
    net.dispose();
    throw new ExperimentConfigError(`checkpoint weights do not fit a ${ck.arch.arch} network: ${(e as Error).message}`);
  }
  return net;
}

const BATCH = 512;

/**
 * The checkpoint's class probabilities for raw feature rows, as tfjs computes them in eval mode after the
 * checkpoint's z-score: the reference an exported model must reproduce (export/parity.ts).
 */
export function checkpointProbabilities(ck: Checkpoint, rows: readonly Float32Array[]): Float32Array[] {
  const { mean, std } = ck.normalisation;
  const d = mean.length;
  const x = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    if (r.length !== d) throw new RangeError(`feature row ${i} has ${r.length} values, the checkpoint takes ${d}`);
    for (let j = 0; j < d; j++) x[i * d + j] = (r[j]! - mean[j]!) / std[j]!;
  });
  const net = networkFromCheckpoint(ck);
  const C = ck.arch.classes;
  const out: Float32Array[] = [];
  try {
    // In batches, so a few thousand held-out windows through a DGCNN do not make one huge tensor.
    for (let i = 0; i < rows.length; i += BATCH) {
      const b = Math.min(BATCH, rows.length - i);
      const p = tf.tidy(
        () => tf.softmax(net.forward(tf.tensor2d(x.slice(i * d, (i + b) * d), [b, d]), false).logits).dataSync() as Float32Array,
      );
      for (let k = 0; k < b; k++) out.push(p.slice(k * C, (k + 1) * C));
    }
    return out;
  } finally {
    net.dispose();
  }
}
