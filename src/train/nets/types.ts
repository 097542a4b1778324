/**
 * The contract every network (MLP, EEGNet-mini, DGCNN) follows, for either modality.
 * Networks are written with plain tfjs ops and `tf.variable`s (no Layers API), so the wasm backend can
 * differentiate them, and their weights are plain named arrays that `export/` can turn into ONNX without tfjs.
 */
import type * as tf from '@tensorflow/tfjs';

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
  /** All weights, trainable and not (BN running statistics), by stable names. */
  getWeights(): Record<string, NamedArray>;
  setWeights(weights: Record<string, NamedArray>): void;
  dispose(): void;
}
