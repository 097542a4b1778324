/**
 * The training methods: single-modality baselines, the fusion upper bound, and the eight distillation methods
 * as "extra loss" plug-ins for {@link fit}: student loss = CE + λ·L_method, with the frozen teacher's outputs
 * precomputed once per fold (eval mode) and looked up by training-matrix row.
 */
import * as tf from '../tf.js';
import {
  CMCRD,
  CRD,
  LAMBDA_DEFAULTS,
  LinearRegressor,
  fitnet,
  kd,
  nst,
  pkt,
  rkd,
  sp,
  type ContrastiveDistiller,
  type DistillMethod,
  type NegativePool,
} from '../losses/index.js';
import type { Network, NetOutput } from '../nets/types.js';
import type { Matrix } from '../trainer.js';

export type BaselineMethod = 'eeg-only' | 'eye-only' | 'fusion';
export type MethodName = BaselineMethod | DistillMethod;
export const DISTILL_METHODS: readonly DistillMethod[] = ['kd', 'fitnet', 'nst', 'sp', 'rkd', 'pkt', 'crd', 'cmcrd'];
export const METHOD_NAMES: readonly MethodName[] = ['eeg-only', 'eye-only', 'fusion', ...DISTILL_METHODS];

export function isDistillMethod(m: MethodName): m is DistillMethod {
  return (DISTILL_METHODS as readonly string[]).includes(m);
}

/** A network's outputs on every row of a matrix (eval mode), row-major. */
export interface NetOutputs {
  n: number;
  classes: number;
  logits: Float32Array;
  f1: Float32Array;
  f1Dim: number;
  f2: Float32Array;
  f2Dim: number;
}

/** Forward every row in eval mode, in batches (frozen-teacher outputs, or feature widths of a network). */
export function forwardAll(net: Network, m: Matrix, batch = 512): NetOutputs {
  const C = net.spec.classes;
  let f1: Float32Array | null = null;
  let f2: Float32Array | null = null;
  let f1Dim = 0;
  let f2Dim = 0;
  const logits = new Float32Array(m.n * C);
  for (let s = 0; s < m.n; s += batch) {
    const e = Math.min(m.n, s + batch);
    const out = tf.tidy(() => {
      const o = net.forward(tf.tensor2d(m.x.subarray(s * m.d, e * m.d), [e - s, m.d]), false);
      return [o.logits, o.f1, o.f2] as const;
    });
    if (!f1 || !f2) {
      f1Dim = out[1].shape[1];
      f2Dim = out[2].shape[1];
      f1 = new Float32Array(m.n * f1Dim);
      f2 = new Float32Array(m.n * f2Dim);
    }
    logits.set(out[0].dataSync() as Float32Array, s * C);
    f1.set(out[1].dataSync() as Float32Array, s * f1Dim);
    f2.set(out[2].dataSync() as Float32Array, s * f2Dim);
    tf.dispose([...out]);
  }
  return { n: m.n, classes: C, logits, f1: f1 ?? new Float32Array(0), f1Dim, f2: f2 ?? new Float32Array(0), f2Dim };
}

/** Widths of a network's f1 and f2 (one eval-mode forward on two zero rows). */
export function featureDims(net: Network): { f1: number; f2: number } {
  const d = net.spec.input.channels * net.spec.input.bands;
  return tf.tidy(() => {
    const o = net.forward(tf.zeros([2, d]) as tf.Tensor2D, false);
    return { f1: o.f1.shape[1], f2: o.f2.shape[1] };
  });
}

function rowsOf(values: Float32Array, dim: number, rows: Int32Array): tf.Tensor2D {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(values.subarray(r * dim, (r + 1) * dim), i * dim));
  return tf.tensor2d(out, [rows.length, dim]);
}

export interface DistillerOptions {
  method: DistillMethod;
  /** λ (β for CMCRD); default LAMBDA_DEFAULTS[method]. */
  lambda?: number;
  /** Frozen teacher outputs on every row of the student's training matrix (same row order). */
  teacher: NetOutputs;
  /** Student feature widths. */
  student: { f1: number; f2: number };
  /** Label of every row of the training matrix. */
  labels: Int32Array;
  /** Rows that the optimiser trains on (the contrastive losses draw negatives only from these). */
  trainRows: Int32Array;
  seed: number;
  /** CRD/CMCRD negatives per sample (default 1000, capped by the data). */
  nNeg?: number;
  /** CRD/CMCRD negative pool (default 'other-class', method.md). */
  negativePool?: NegativePool;
  /** CMCRD's unimodal-supervision sign (default on, method.md; off is an ablation). */
  cmcrdSign?: boolean;
  /** KD temperature (default 4). */
  kdTemperature?: number;
}

/** What {@link fit} needs to add a distillation term. */
export interface Distiller {
  method: DistillMethod;
  lambda: number;
  extraLoss: (out: NetOutput, rows: Int32Array, labels: tf.Tensor1D) => tf.Scalar;
  extraTrainable: tf.Variable[];
  afterStep?: (rows: Int32Array) => void;
  /** Effective CRD/CMCRD negatives (for the report). */
  negatives?: number;
  dispose(): void;
}

export function makeDistiller(o: DistillerOptions): Distiller {
  const lambda = o.lambda ?? LAMBDA_DEFAULTS[o.method];
  const t = o.teacher;
  if (t.n !== o.labels.length) throw new Error(`teacher outputs cover ${t.n} rows but the training matrix has ${o.labels.length}`);
  const T = {
    logits: (rows: Int32Array) => rowsOf(t.logits, t.classes, rows),
    f1: (rows: Int32Array) => rowsOf(t.f1, t.f1Dim, rows),
    f2: (rows: Int32Array) => rowsOf(t.f2, t.f2Dim, rows),
  };
  const weighted =
    (f: (out: NetOutput, rows: Int32Array, y: tf.Tensor1D) => tf.Scalar) => (out: NetOutput, rows: Int32Array, y: tf.Tensor1D) =>
      tf.mul(f(out, rows, y), lambda) as tf.Scalar;
  const base = { method: o.method, lambda, extraTrainable: [] as tf.Variable[], dispose: () => {} };
  switch (o.method) {
    case 'kd':
      return { ...base, extraLoss: weighted((out, rows) => kd(out.logits, T.logits(rows), { T: o.kdTemperature ?? 4 })) };
    case 'fitnet': {
      // A regressor only when the widths differ (method.md); the MLP's 128 → 128 needs none.
      const reg = o.student.f2 !== t.f2Dim ? new LinearRegressor(o.student.f2, t.f2Dim, o.seed ^ 0x3c6ef372) : null;
      return {
        ...base,
        extraTrainable: reg ? reg.trainable : [],
        extraLoss: weighted((out, rows) => fitnet(out.f2, T.f2(rows), reg ? (x) => reg.apply(x) : undefined)),
        dispose: () => reg?.dispose(),
      };
    }
    case 'nst':
      return { ...base, extraLoss: weighted((out, rows) => nst([out.f1, out.f2], [T.f1(rows), T.f2(rows)])) };
    case 'sp':
      return { ...base, extraLoss: weighted((out, rows) => sp(out.f1, T.f1(rows))) };
    case 'rkd':
      return { ...base, extraLoss: weighted((out, rows) => rkd(out.f2, T.f2(rows))) };
    case 'pkt':
      return { ...base, extraLoss: weighted((out, rows) => pkt(out.f2, T.f2(rows))) };
    case 'crd':
    case 'cmcrd': {
      const opts = {
        nData: o.labels.length,
        dS: o.student.f2,
        dT: t.f2Dim,
        labels: o.labels,
        candidates: o.trainRows,
        seed: o.seed ^ 0x2545f491,
        ...(o.nNeg !== undefined ? { nNeg: o.nNeg } : {}),
        ...(o.negativePool !== undefined ? { negativePool: o.negativePool } : {}),
      };
      const c: ContrastiveDistiller =
        o.method === 'crd' ? new CRD(opts) : new CMCRD({ ...opts, ...(o.cmcrdSign !== undefined ? { unimodalSign: o.cmcrdSign } : {}) });
      return {
        ...base,
        extraTrainable: c.trainable,
        negatives: c.nNeg,
        extraLoss: weighted((out, rows, y) => c.loss(out.f2, T.f2(rows), out.logits, T.logits(rows), y, rows)),
        afterStep: () => c.updateMemory(),
        dispose: () => c.dispose(),
      };
    }
    default:
      throw new Error(`unknown distillation method "${String(o.method)}"`);
  }
}
