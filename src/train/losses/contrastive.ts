/**
 * CRD (Tian et al. 2020) and CMCRD (Kan et al. 2025), method.md "Student: the CMCRD loss".
 *
 * Both hold trainable embedding heads (W_s, b_s, W_t, b_t; add {@link ContrastiveDistiller.trainable} to the
 * optimiser) and two memory banks of l2-normalised embeddings, one row per training sample. Use inside
 * `optimizer.minimize(() => …)`:
 *
 * ```ts
 * const crd = new CMCRD({ nData, dS: 128, dT: 128, labels: trainLabels, seed });
 * optimizer.minimize(() => {
 *   const s = student.forward(x, true), t = teacher.forward(xEm, false);
 *   return tf.add(crossEntropy(s.logits, y), tf.mul(crd.loss(s.f2, t.f2, s.logits, t.logits, y, idx), 0.02));
 * }, false, [...student.trainable, ...crd.trainable]);
 * crd.updateMemory(); // after the step: momentum update of the banks with this batch's embeddings
 * ```
 */
import * as tf from '../tf.js';
import { ParamStore, SeededRandom, linearInit, matMulFast } from '../nets/layers.js';
import type { NamedArray } from '../nets/types.js';
import { BankPair } from './bankKernels.js';
import { assertRank2, entropyWeights, l2Normalize, labelsArray, stopGradient, type Labels } from './util.js';

export interface ContrastiveOptions {
  /** Number of training samples N (rows of each memory bank); dataset indices are 0..N−1. */
  nData: number;
  /** Student feature width (f_s). */
  dS: number;
  /** Teacher feature width (f_t). */
  dT: number;
  /** Label of every training sample, by dataset index (length N): negatives come from other classes. */
  labels: Int32Array;
  seed: number;
  /**
   * Dataset indices that may serve as negatives (default: all of 0..N−1), e.g. only the training rows when a
   * validation split was carved out of the same matrix. Their count is the N of the NCE terms (K/N) and of Z.
   */
  candidates?: Int32Array;
  /** Embedding dimension d (default 128). */
  embedDim?: number;
  /** Negatives per sample K (default 1000; capped at the smallest pool when the data is small). */
  nNeg?: number;
  /**
   * Where negatives come from: 'other-class' (method.md, default) — training samples of other classes; 'any' —
   * any other training sample, as in the original instance-level CRD (an ablation).
   */
  negativePool?: NegativePool;
  /** τ (default 0.07). */
  temperature?: number;
  /** Memory momentum m in M ← l2norm(m·M + (1−m)·z) (default 0.5 for CRD, 0.05 for CMCRD). */
  momentum?: number;
  /** ε in the NCE terms (default 1e-7). */
  eps?: number;
}

export type NegativePool = 'other-class' | 'any';

/** The fixed normalising constants Z_s, Z_t (set from the first batch). */
export interface ContrastNormalisers {
  zS: number;
  zT: number;
}

export abstract class ContrastiveDistiller {
  /** The embedding heads' weights (trainable). */
  readonly trainable: tf.Variable[];
  /** Effective number of negatives per sample. */
  readonly nNeg: number;
  readonly nData: number;
  /** N in K/N and Z: the number of candidate samples. */
  readonly nNoise: number;
  readonly embedDim: number;
  readonly temperature: number;
  readonly momentum: number;
  readonly eps: number;
  readonly negativePool: NegativePool;
  private readonly store: ParamStore;
  private readonly wS: tf.Variable;
  private readonly bS: tf.Variable;
  private readonly wT: tf.Variable;
  private readonly bT: tf.Variable;
  /** Memory banks M_s (0) and M_t (1), row-major [N, d], kept on the host (see nceLoss for why). */
  private readonly banks: BankPair;
  private readonly labels: Int32Array;
  /** For each class, the dataset indices of all samples of other classes. */
  private readonly otherClass = new Map<number, Int32Array>();
  /** All candidate indices (the 'any' pool; the sample itself is redrawn). */
  private readonly candidates: Int32Array;
  private readonly negRng: SeededRandom;
  private norm: ContrastNormalisers | null = null;
  private pending: { zS: Float32Array; zT: Float32Array; indices: Int32Array } | null = null;

  protected constructor(opts: ContrastiveOptions, defaultMomentum: number) {
    const { nData, dS, dT, labels } = opts;
    if (!Number.isInteger(nData) || nData < 2) throw new Error(`contrastive loss: nData must be an integer ≥ 2, got ${nData}`);
    if (labels.length !== nData) throw new Error(`contrastive loss: labels has ${labels.length} entries but nData is ${nData}`);
    this.nData = nData;
    this.labels = labels;
    this.embedDim = opts.embedDim ?? 128;
    this.temperature = opts.temperature ?? 0.07;
    this.momentum = opts.momentum ?? defaultMomentum;
    this.eps = opts.eps ?? 1e-7;
    this.negativePool = opts.negativePool ?? 'other-class';
    if (this.negativePool !== 'other-class' && this.negativePool !== 'any') {
      throw new Error(`contrastive loss: negativePool must be 'other-class' or 'any', got ${String(this.negativePool)}`);
    }

    const cand = opts.candidates ?? Int32Array.from({ length: nData }, (_, i) => i);
    for (const i of cand) {
      if (!Number.isInteger(i) || i < 0 || i >= nData) throw new Error(`contrastive loss: candidate index ${i} outside 0..${nData - 1}`);
    }
    this.nNoise = cand.length;
    this.candidates = Int32Array.from(cand);
    const byClass = new Map<number, number>();
    for (const i of cand) byClass.set(labels[i]!, (byClass.get(labels[i]!) ?? 0) + 1);
    if (byClass.size < 2) throw new Error('contrastive loss: needs samples of at least two classes (negatives come from other classes)');
    let smallestPool = Infinity;
    for (const c of new Set(labels)) {
      const pool = Int32Array.from(Array.from(cand).filter((i) => labels[i] !== c));
      this.otherClass.set(c, pool);
      if (byClass.has(c)) smallestPool = Math.min(smallestPool, pool.length);
    }
    this.nNeg = Math.min(opts.nNeg ?? 1000, this.negativePool === 'any' ? cand.length - 1 : smallestPool);
    if (this.nNeg < 1) throw new Error(`contrastive loss: nNeg must be ≥ 1, got ${opts.nNeg}`);

    // Init order is part of the determinism contract: heads (PyTorch Linear default U(±1/√fan_in)), then banks.
    this.store = new ParamStore(new SeededRandom(opts.seed));
    const d = this.embedDim;
    this.wS = this.store.add('embedS.weight', [dS, d], linearInit(dS));
    this.bS = this.store.add('embedS.bias', [d], linearInit(dS));
    this.wT = this.store.add('embedT.weight', [dT, d], linearInit(dT));
    this.bT = this.store.add('embedT.bias', [d], linearInit(dT));
    const sigma = 1 / Math.sqrt(d / 3);
    this.banks = new BankPair(nData, d);
    for (const k of [0, 1] as const) {
      const bank = this.banks.bank(k);
      for (let i = 0; i < bank.length; i++) bank[i] = this.store.rng.uniform(-sigma, sigma);
    }
    this.trainable = this.store.trainable;
    this.negRng = new SeededRandom((opts.seed ^ 0x5bd1e995) >>> 0);
  }

  /** Z_s, Z_t once the first batch has fixed them. */
  get normalisers(): ContrastNormalisers | null {
    return this.norm ? { ...this.norm } : null;
  }
  set normalisers(z: ContrastNormalisers | null) {
    this.norm = z ? { ...z } : null;
  }

  /**
   * K negatives for each sample, drawn uniformly with replacement from the training samples of other classes
   * (or, with negativePool 'any', from all training samples but the sample itself).
   * Returns a row-major [B, K] array of dataset indices.
   */
  sampleNegatives(indices: Int32Array): Int32Array {
    const k = this.nNeg;
    const out = new Int32Array(indices.length * k);
    if (this.negativePool === 'any') {
      const pool = this.candidates;
      for (let i = 0; i < indices.length; i++) {
        for (let j = 0; j < k; j++) {
          let n: number;
          do n = pool[this.negRng.int(pool.length)]!;
          while (n === indices[i]);
          out[i * k + j] = n;
        }
      }
      return out;
    }
    for (let i = 0; i < indices.length; i++) {
      const pool = this.otherClass.get(this.labels[indices[i]!]!)!;
      for (let j = 0; j < k; j++) out[i * k + j] = pool[this.negRng.int(pool.length)]!;
    }
    return out;
  }

  /** Embedding heads: z = l2norm(f W + b). */
  embed(fs: tf.Tensor2D, ft: tf.Tensor2D): { zS: tf.Tensor2D; zT: tf.Tensor2D } {
    return {
      zS: l2Normalize(tf.add(matMulFast(fs, this.wS), this.bS) as tf.Tensor2D, 1),
      zT: l2Normalize(tf.add(matMulFast(ft, this.wT), this.bT) as tf.Tensor2D, 1),
    };
  }

  /**
   * The contrastive loss of one batch (L_s + L_t, unweighted: multiply by β / λ yourself).
   * @param fs student feature [B, dS]; @param ft teacher feature [B, dT] (treated as a constant).
   * @param studentLogits, teacherLogits [B, C] (CRD ignores them).
   * @param labels [B] class of each sample.
   * @param indices [B] dataset indices of the batch's samples (distinct; they are the positives).
   * @param negatives optional [B·K] row-major negative indices (default: sampled with the seeded RNG).
   */
  loss(
    fs: tf.Tensor2D,
    ft: tf.Tensor2D,
    studentLogits: tf.Tensor2D | null,
    teacherLogits: tf.Tensor2D | null,
    labels: Labels,
    indices: Int32Array,
    negatives?: Int32Array,
  ): tf.Scalar {
    assertRank2('fs', fs);
    assertRank2('ft', ft);
    const b = fs.shape[0];
    if (ft.shape[0] !== b || indices.length !== b) {
      throw new Error(`contrastive loss: batch sizes differ (fs ${b}, ft ${ft.shape[0]}, indices ${indices.length})`);
    }
    const seen = new Set<number>();
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.nData) throw new Error(`contrastive loss: index ${i} outside 0..${this.nData - 1}`);
      if (seen.has(i)) throw new Error(`contrastive loss: index ${i} appears twice in one batch`);
      seen.add(i);
    }
    const k = this.nNeg;
    const neg = negatives ?? this.sampleNegatives(indices);
    if (neg.length !== b * k) throw new Error(`contrastive loss: negatives has ${neg.length} entries, expected ${b}·${k}`);
    if (negatives) {
      for (const i of negatives) {
        if (!Number.isInteger(i) || i < 0 || i >= this.nData)
          throw new Error(`contrastive loss: negative index ${i} outside 0..${this.nData - 1}`);
      }
    }
    const y = labelsArray(labels);
    if (y.length !== b) throw new Error(`contrastive loss: ${y.length} labels for a batch of ${b}`);
    for (let i = 0; i < b; i++) {
      if (y[i] !== this.labels[indices[i]!]) {
        throw new Error(
          `contrastive loss: batch label ${y[i]} of dataset index ${indices[i]} differs from the label ${this.labels[indices[i]!]} given at construction`,
        );
      }
    }

    return tf.tidy(() => {
      const mods = this.modifiers(studentLogits, teacherLogits, y);
      const emb = this.embed(fs, stopGradient(ft));
      // Values for the memory update after the optimiser step.
      this.pending = {
        zS: Float32Array.from(emb.zS.dataSync()),
        zT: Float32Array.from(emb.zT.dataSync()),
        indices: Int32Array.from(indices),
      };
      const idx = new Int32Array(b * (k + 1));
      for (let i = 0; i < b; i++) {
        idx[i * (k + 1)] = indices[i]!;
        idx.set(neg.subarray(i * k, (i + 1) * k), i * (k + 1) + 1);
      }
      const weights = mods.weights ? Float64Array.from(mods.weights.dataSync()) : null;
      // Z fixed at the first batch (CRD): mean exp score times N, per direction.
      const norm = this.norm ?? { zS: NaN, zT: NaN };
      const term = (z: tf.Tensor2D, bank: 0 | 1, keep: Float32Array | undefined, which: 'zS' | 'zT') =>
        nceLoss(z, this.banks, bank, idx, k + 1, {
          tau: this.temperature,
          c: k / this.nNoise,
          eps: this.eps,
          weights,
          sign: mods.sign ?? null,
          keep: keep ?? null,
          z: (meanExp) => (Number.isNaN(norm[which]) ? (norm[which] = meanExp * this.nNoise) : norm[which]),
        });
      const lS = term(emb.zS, 1, mods.keepS, 'zS'); // student embedding vs teacher memory
      const lT = term(emb.zT, 0, mods.keepT, 'zT'); // teacher embedding vs student memory
      this.norm = norm;
      return tf.add(lS, lT) as tf.Scalar;
    });
  }

  /** Method-specific per-sample weights, signs and stop-gradient masks (none for CRD). */
  protected abstract modifiers(studentLogits: tf.Tensor2D | null, teacherLogits: tf.Tensor2D | null, labels: Int32Array): Modifiers;

  /**
   * Momentum update of both banks with the embeddings of the last {@link loss} call:
   * M_x[i] ← l2norm(m·M_x[i] + (1−m)·z_x,i). Call once after each optimiser step; no-op if no loss is pending.
   */
  updateMemory(): void {
    const p = this.pending;
    if (!p) return;
    const d = this.embedDim;
    const m = this.momentum;
    for (const [mem, z] of [
      [this.banks.bank(0), p.zS],
      [this.banks.bank(1), p.zT],
    ] as const) {
      p.indices.forEach((row, i) => {
        const o = row * d;
        let ss = 0;
        for (let t = 0; t < d; t++) {
          const v = m * mem[o + t]! + (1 - m) * z[i * d + t]!;
          mem[o + t] = v;
          ss += v * v;
        }
        const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
        for (let t = 0; t < d; t++) mem[o + t]! *= inv;
      });
    }
    this.pending = null;
  }

  /** Heads and banks by name: embedS.weight [dS, d], embedS.bias, embedT.weight [dT, d], embedT.bias, memoryS/T [N, d]. */
  getWeights(): Record<string, NamedArray> {
    const shape = [this.nData, this.embedDim];
    return {
      ...this.store.getWeights(),
      memoryS: { shape: shape.slice(), data: this.banks.bank(0).slice() },
      memoryT: { shape: shape.slice(), data: this.banks.bank(1).slice() },
    };
  }
  setWeights(w: Record<string, NamedArray>): void {
    for (const name of ['memoryS', 'memoryT'] as const) {
      const src = w[name];
      if (!src) throw new Error(`missing weight "${name}"`);
      if (src.shape.length !== 2 || src.shape[0] !== this.nData || src.shape[1] !== this.embedDim) {
        throw new Error(`weight "${name}" has shape [${src.shape}] but the loss expects [${this.nData},${this.embedDim}]`);
      }
    }
    this.store.setWeights(w);
    this.banks.bank(0).set(w.memoryS!.data);
    this.banks.bank(1).set(w.memoryT!.data);
    this.pending = null;
  }
  dispose(): void {
    this.pending = null;
    this.store.dispose();
  }
}

interface NceConstants {
  tau: number;
  /** K/N */
  c: number;
  eps: number;
  /** w_i multiplying every score of sample i (detached), or none */
  weights: Float64Array | null;
  /** s_i ∈ {+1, −1}, or none */
  sign: Float32Array | null;
  /** 1 where gradients flow into z_i, 0 where z_i is detached (per-row stop-gradient), or none */
  keep: Float32Array | null;
  /** Z from the mean exp score of this batch (used when Z is not fixed yet), else the fixed Z */
  z: (meanExp: number) => number;
}

/**
 * One NCE direction from the l2-normalised embeddings z [B, d] against a host-side memory bank, as one op:
 *   e_ij = exp(⟨z_i, M[idx_ij]⟩/τ), P̃_ij = w_i·e_ij/Z, column 0 the positive, then K negatives (J = K+1),
 *   L = −(1/B) Σ_i s_i [log(P̃_i0/(P̃_i0 + c + ε)) + Σ_k log(c/(P̃_ik + c + ε))], c = K/N;
 * backward: dL/dP̃_i0 = −(s_i/B)·(c+ε)/(P̃_i0·(P̃_i0+c+ε)), dL/dP̃_ik = (s_i/B)/(P̃_ik+c+ε), dP̃/d⟨·⟩ = P̃/τ,
 * dz_i = keep_i·Σ_j g_ij M[idx_ij].
 * Why on the host: tfjs-backend-wasm's gather is far too slow for B·(K+1) ≈ 32k rows per step (≈0.6 s measured),
 * a gathered [B, K+1, d] tensor is 16 MB per direction, and the [B, K+1] element-wise chain is ~40 tfjs kernels
 * each way. The products run in ./bankKernels.ts; the rest is float64 here. The bank is a constant (it only
 * changes in updateMemory, after the step).
 */
function nceLoss(z: tf.Tensor2D, banks: BankPair, bank: 0 | 1, idx: Int32Array, j: number, k: NceConstants): tf.Scalar {
  const op = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const zt = inputs[0] as tf.Tensor2D;
    const b = zt.shape[0];
    const dots = banks.rowDots(bank, Float64Array.from(zt.dataSync()), idx, b, j);
    const e = new Float64Array(b * j);
    let sum = 0;
    for (let q = 0; q < e.length; q++) sum += e[q] = Math.exp(dots[q]! / k.tau);
    const zNorm = k.z(sum / e.length);
    const ce = k.c + k.eps;
    let total = 0;
    const g = new Float64Array(b * j); // dL/d⟨·⟩ for a unit upstream gradient
    for (let i = 0; i < b; i++) {
      const o = i * j;
      const scale = (k.weights ? k.weights[i]! : 1) / zNorm;
      const s = k.sign ? k.sign[i]! : 1;
      const pos = e[o]! * scale;
      let per = Math.log(pos / (pos + ce));
      g[o] = (((-s / b) * ce) / (pos * (pos + ce))) * (pos / k.tau);
      for (let q = o + 1; q < o + j; q++) {
        const p = e[q]! * scale;
        per += Math.log(k.c / (p + ce));
        g[q] = (s / b / (p + ce)) * (p / k.tau);
      }
      total -= s * per;
    }
    return {
      value: tf.scalar(total / b),
      gradFunc: (dy: tf.Tensor) => {
        const up = dy.dataSync()[0]!;
        if (up !== 1) for (let q = 0; q < g.length; q++) g[q]! *= up;
        if (k.keep) for (let i = 0; i < b; i++) if (k.keep[i] === 0) g.fill(0, i * j, (i + 1) * j);
        return tf.tensor2d(banks.rowAccumulate(bank, g, idx, b, j), [b, banks.d]);
      },
    };
  });
  return op(z) as tf.Scalar;
}

interface Modifiers {
  /** w_i multiplying every score of sample i. */
  weights?: tf.Tensor1D;
  /** s_i ∈ {+1, −1}. */
  sign?: Float32Array;
  /** 1 where gradients flow into z_s,i, 0 where z_s,i is detached. */
  keepS?: Float32Array;
  keepT?: Float32Array;
}

/** CRD: the NCE contrastive loss without weights, signs or stop-gradients; momentum 0.5. */
export class CRD extends ContrastiveDistiller {
  constructor(opts: ContrastiveOptions) {
    super(opts, 0.5);
  }
  protected modifiers(): Modifiers {
    return {};
  }
}

function argmaxRows(logits: tf.Tensor2D): Int32Array {
  return tf.tidy(() => Int32Array.from(tf.argMax(logits, 1).dataSync()));
}

/**
 * CMCRD: CRD plus (5) entropy weights from the teacher's softmax (no temperature), (6) the unimodal-supervision
 * sign s_i = +1 if the teacher is right, −1 otherwise, and the stop-gradient rules: z_s,i is detached when the
 * student is right and the teacher wrong, z_t,i when the teacher is right and the student wrong. Momentum 0.05.
 * Correctness is read from argmax of the logits on the host (it is not differentiable anyway).
 */
export class CMCRD extends ContrastiveDistiller {
  /** Whether the unimodal-supervision sign is applied (method.md; off only as an ablation: s_i = +1 for all). */
  readonly unimodalSign: boolean;
  constructor(opts: ContrastiveOptions & { unimodalSign?: boolean }) {
    super(opts, 0.05);
    this.unimodalSign = opts.unimodalSign ?? true;
  }
  protected modifiers(studentLogits: tf.Tensor2D | null, teacherLogits: tf.Tensor2D | null, labels: Int32Array): Modifiers {
    if (!studentLogits || !teacherLogits) throw new Error('CMCRD.loss needs the student and teacher logits');
    const b = labels.length;
    if (studentLogits.shape[0] !== b || teacherLogits.shape[0] !== b) {
      throw new Error(`CMCRD.loss: logits have ${studentLogits.shape[0]} / ${teacherLogits.shape[0]} rows but there are ${b} labels`);
    }
    const ps = argmaxRows(studentLogits);
    const pt = argmaxRows(teacherLogits);
    const sign = new Float32Array(b);
    const keepS = new Float32Array(b);
    const keepT = new Float32Array(b);
    for (let i = 0; i < b; i++) {
      const sRight = ps[i] === labels[i];
      const tRight = pt[i] === labels[i];
      sign[i] = tRight || !this.unimodalSign ? 1 : -1;
      keepS[i] = sRight && !tRight ? 0 : 1;
      keepT[i] = tRight && !sRight ? 0 : 1;
    }
    const weights = stopGradient(entropyWeights(tf.softmax(stopGradient(teacherLogits)) as tf.Tensor2D));
    return { weights, sign, keepS, keepT };
  }
}
