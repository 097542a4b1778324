/** Small differentiable helpers shared by the losses. All of them run (forward and gradient) on tfjs-backend-wasm. */
import * as tf from '../tf.js';

/** Labels as an int32 tensor or a plain array (a tensor is returned as is). */
export type Labels = tf.Tensor1D | Int32Array;

export function labelsTensor(labels: Labels): tf.Tensor1D {
  return labels instanceof Int32Array ? tf.tensor1d(labels, 'int32') : labels;
}

export function labelsArray(labels: Labels): Int32Array {
  return labels instanceof Int32Array ? labels : Int32Array.from(labels.dataSync());
}

// tfjs has no stop-gradient op: an identity whose gradient is zero does the job on every backend.
const stopGradientOp = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => ({
  value: (inputs[0] as tf.Tensor).clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

/** Identity in the forward pass, zero gradient in the backward pass (PyTorch's `.detach()`). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stopGradientOp(x) as T;
}

/**
 * Per-row stop-gradient: rows where `keep[i] = 0` are detached, rows with `keep[i] = 1` pass gradients.
 * The value is exactly `x` (x·1 + x·0), only the gradient is masked. `keep` has shape [B].
 */
export function maskedStopGradient(x: tf.Tensor2D, keep: Float32Array): tf.Tensor2D {
  const k = tf.tensor2d(keep, [keep.length, 1]);
  return tf.add(tf.mul(x, k), tf.mul(stopGradient(x), tf.sub(1, k))) as tf.Tensor2D;
}

/**
 * x / max(‖x‖₂, 1e-12) along `axis` (PyTorch's F.normalize). Written as sqrt(max(Σx², 1e-24)) so an all-zero
 * vector gives 0 with a finite gradient instead of NaN.
 */
export function l2Normalize<T extends tf.Tensor>(x: T, axis: number): T {
  const ss = tf.sum(tf.square(x), axis, true);
  return tf.div(x, tf.sqrt(tf.maximum(ss, 1e-24))) as T;
}

/**
 * MCC / CMCRD sample weights from class probabilities p [B, C]:
 * H_i = −Σ_j p_ij log(p_ij + 1e-5), w_i = B·(1 + e^{−H_i}) / Σ_k (1 + e^{−H_k}). Returns [B].
 */
export function entropyWeights(probs: tf.Tensor2D): tf.Tensor1D {
  const b = probs.shape[0];
  const h = tf.neg(tf.sum(tf.mul(probs, tf.log(tf.add(probs, 1e-5))), 1));
  const u = tf.add(1, tf.exp(tf.neg(h)));
  return tf.div(tf.mul(u, b), tf.sum(u)) as tf.Tensor1D;
}

/** Mean of the smooth-L1 (Huber, β = 1) loss between two tensors of the same shape. */
export function smoothL1Mean(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  // 0.5·min(|d|,1)² + (|d| − min(|d|,1)): equal to the usual piecewise form, but without a comparison op on the
  // tape (tfjs has no gradient for Less, so tf.where(tf.less(…)) cannot be differentiated).
  const ad = tf.abs(tf.sub(a, b));
  const m = tf.minimum(ad, 1);
  return tf.mean(tf.add(tf.mul(tf.square(m), 0.5), tf.sub(ad, m))) as tf.Scalar;
}

export function assertRank2(name: string, t: tf.Tensor): asserts t is tf.Tensor2D {
  if (t.rank !== 2) throw new Error(`${name} must be a [batch, features] tensor, got shape [${t.shape}]`);
}

export function assertSameBatch(a: tf.Tensor, b: tf.Tensor, what: string): void {
  if (a.shape[0] !== b.shape[0]) {
    throw new Error(`${what}: student batch ${a.shape[0]} and teacher batch ${b.shape[0]} differ`);
  }
}
