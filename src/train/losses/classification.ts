/** Supervised losses: cross-entropy (every model) and Minimum Class Confusion (the eye-movement teacher). */
import { matMulFast } from '../nets/layers.js';
import * as tf from '@tensorflow/tfjs';
import { entropyWeights, labelsTensor, stopGradient, type Labels } from './util.js';

/**
 * Mean softmax cross-entropy: −(1/B) Σ_i log softmax(logits_i)[y_i].
 * @param logits [B, C] raw scores.
 * @param labels [B] class indices in 0..C−1 (int32 tensor or Int32Array).
 */
export function crossEntropy(logits: tf.Tensor2D, labels: Labels): tf.Scalar {
  return tf.tidy(() => {
    const [b, c] = logits.shape;
    const y = labelsTensor(labels);
    if (y.shape[0] !== b) throw new Error(`crossEntropy: ${b} logits rows but ${y.shape[0]} labels`);
    const onehot = tf.oneHot(tf.cast(y, 'int32'), c);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
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
