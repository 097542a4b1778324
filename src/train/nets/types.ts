/**
 * The contract every network (MLP, EEGNet-mini, DGCNN) follows, for either modality.
 * Networks are written with plain tfjs ops and `tf.variable`s (no Layers API), so the wasm backend can
 * differentiate them, and their weights are plain named arrays that `export/` can turn into ONNX without tfjs.
 */
import type * as tf from '../tf.js';

export type ArchName = 'mlp' | 'eegnet' | 'dgcnn';

/** JSON-serialisable description that rebuilds the same network (stored in checkpoints). */
export interface ArchSpec {
  arch: ArchName;
  /** Input layout: `channels × bands` for EEG (e.g. 62×5, or 4×5 for a headband), `1 × d` for eye features. */
  input: { channels: number; bands: number };
  classes: number;
  /** Architecture-specific sizes (hidden width, filters, …). */
  params: Record<string, number>;
}

/** Output of a forward pass: logits and the feature levels the distillation losses use. */
export interface NetOutput {
  logits: tf.Tensor2D;
  /** penultimate feature (what CMCRD, CRD, KD-family losses align). */
  f2: tf.Tensor2D;
  /** the feature level before the penultimate (SP uses it; NST uses all levels). */
  f1: tf.Tensor2D;
}

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

/** Host copies of a training-mode forward run by a {@link TrainEngine}, row-major. */
export interface HostForward {
  n: number;
  logits: Float32Array;
  f1: Float32Array;
  f1Dim: number;
  f2: Float32Array;
  f2Dim: number;
}

/**
 * A network's training-mode forward and backward run outside tfjs (e.g. the MLP or DGCNN on onnxruntime's native
 * kernels), one batch at a time: {@link TrainEngine.forward}, then the loss (in tfjs) gives dL/d(logits, f1, f2),
 * then {@link TrainEngine.backward} returns the gradients of {@link Network.trainable}; a loss of cross-entropy
 * alone is one {@link TrainEngine.crossEntropyStep}. The weights stay in the
 * network's variables; the engine reads them at each forward. BatchNorm statistics are queued on the network as
 * `forward(x, true)` does, for {@link Network.commitStats}.
 */
export interface TrainEngine {
  /** What runs the steps, for logs and provenance (e.g. "onnxruntime-node 1.30.0 (cpu, 1 thread)"). */
  readonly name: string;
  forward(x: Float32Array, n: number): Promise<HostForward>;
  /** Gradients of the trainable variables (in {@link Network.trainable} order) for the last forward; null = 0. */
  backward(d: { logits: Float32Array; f1: Float32Array | null; f2: Float32Array | null }): Promise<Float32Array[]>;
  /**
   * A step whose loss is the mean cross-entropy alone, forward and backward in one call (nothing leaves the engine
   * but the logits and the gradients). Same results as forward, then backward with the cross-entropy gradient of
   * the logits.
   */
  crossEntropyStep(x: Float32Array, y: Int32Array, n: number): Promise<{ logits: Float32Array; grads: Float32Array[] }>;
}

export interface Network {
  readonly spec: ArchSpec;
  /** Trainable variables (those the optimiser updates). */
  readonly trainable: tf.Variable[];
  /**
   * Forward pass on x: [batch, channels·bands] (row-major channel-major flattening).
   * `training` uses batch statistics in BatchNorm and dropout; the running-statistics updates are queued and
   * applied by {@link Network.commitStats} after the optimiser step (kept out of the gradient tape).
   */
  forward(x: tf.Tensor2D, training: boolean): NetOutput;
  commitStats(): void;
  /** A faster engine for training steps where one is available here (else null: train with {@link forward}). */
  createTrainEngine?(): Promise<TrainEngine | null>;
  /** All weights, trainable and not (BN running statistics), by stable names. */
  getWeights(): Record<string, NamedArray>;
  setWeights(weights: Record<string, NamedArray>): void;
  dispose(): void;
}
