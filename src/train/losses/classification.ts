/** Supervised losses: cross-entropy (every model) and Minimum Class Confusion (the eye-movement teacher). */
import { hostIsCheap, matMulFast } from '../nets/layers.js';
import { hostValues, tensorFrom } from '../simd.js';
import * as tf from '../tf.js';
import { entropyWeights, labelsArray, labelsTensor, stopGradient, type Labels } from './util.js';

/**
 * Mean softmax cross-entropy: −(1/B) Σ_i log softmax(logits_i)[y_i].
 * @param logits [B, C] raw scores.
 * @param labels [B] class indices in 0..C−1 (int32 tensor or Int32Array).
 */
export function crossEntropy(logits: tf.Tensor2D, labels: Labels): tf.Scalar {
  if (hostIsCheap()) {
    const [b, c] = logits.shape;
    const y = labelsArray(labels);
    if (y.length !== b) throw new Error(`crossEntropy: ${b} logits rows but ${y.length} labels`);
    return crossEntropyHost(logits, y, c);
  }
  return tf.tidy(() => {
    const [b, c] = logits.shape;
    const y = labelsTensor(labels);
    if (y.shape[0] !== b) throw new Error(`crossEntropy: ${b} logits rows but ${y.shape[0]} labels`);
    const onehot = tf.oneHot(tf.cast(y, 'int32'), c);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/**
 * {@link crossEntropy} as one op computed on the host, forward and backward ((softmax − onehot)/B): ~20 fewer
 * tfjs kernels per step, each costing more in dispatch than its arithmetic at [B, C] = [32, 4]. Like the tensor
 * path (a one-hot row of zeros), a label outside 0..C−1 contributes nothing to the loss or the gradient.
 */
function crossEntropyHost(logits: tf.Tensor2D, y: Int32Array, c: number): tf.Scalar {
  const op = tf.customGrad((...a: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const { loss, grad } = crossEntropyValues(hostValues(a[0] as tf.Tensor), y, c);
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor) => {
        const k = hostValues(dy)[0]!;
        return tensorFrom(k === 1 ? grad : grad.map((g) => g * k), [y.length, c]);
      },
    };
  }) as (t: tf.Tensor) => tf.Scalar;
  return op(logits);
}

/**
 * {@link crossEntropy} on host values: the mean loss (float64 sums) and its gradient (softmax − onehot)/B as
 * float32, for logits z [B, C] row-major and labels y [B]. A label outside 0..C−1 contributes nothing.
 */
export function crossEntropyValues(z: Float32Array, y: Int32Array, c: number): { loss: number; grad: Float32Array } {
  const b = y.length;
  if (z.length !== b * c) throw new Error(`crossEntropy: ${z.length / c} logits rows but ${b} labels`);
  const prob = new Float64Array(b * c);
  let total = 0;
  for (let i = 0; i < b; i++) {
    const o = i * c;
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, z[o + j]!);
    let s = 0;
    for (let j = 0; j < c; j++) s += prob[o + j] = Math.exp(z[o + j]! - m);
    for (let j = 0; j < c; j++) prob[o + j]! /= s;
    const yi = y[i]!;
    if (yi >= 0 && yi < c) total -= z[o + yi]! - m - Math.log(s);
    else prob.fill(0, o, o + c); // no gradient either
  }
  const grad = new Float32Array(b * c);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < c; j++) grad[i * c + j] = (prob[i * c + j]! - (y[i] === j ? 1 : 0)) / b;
  }
  return { loss: total / b, grad };
}

export interface MccOptions {
  /** Softmax temperature (default 2.5). */
  T?: number;
}

/**
 * Minimum Class Confusion (Jin et al., ECCV 2020), method.md "Teacher":
 * Ŷ = softmax(Z/T); w = entropy weights of Ŷ; C = Ŷᵀ diag(w) Ŷ; columns normalised to sum 1;
 * L = (Σ C̃ − trace C̃) / C. The entropy weights are treated as constants (detached), as in Jin et al.'s
 * reference implementation: gradients flow only through the class-correlation matrix.
 * @param logits [B, C] logits of the labelled batch or of unlabelled target data (transductive mode).
 */
export function mcc(logits: tf.Tensor2D, opts: MccOptions = {}): tf.Scalar {
  const T = opts.T ?? 2.5;
  return tf.tidy(() => {
    const c = logits.shape[1];
    const p = tf.softmax(tf.div(logits, T)) as tf.Tensor2D;
    const w = stopGradient(entropyWeights(p));
    const corr = matMulFast(tf.transpose(p), tf.mul(p, tf.expandDims(w, 1))); // [C, C]
    const norm = tf.div(corr, tf.sum(corr, 0, true));
    const trace = tf.sum(tf.mul(norm, tf.eye(c)));
    return tf.div(tf.sub(tf.sum(norm), trace), c) as tf.Scalar;
  });
}
