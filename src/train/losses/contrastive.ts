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
import * as tf from '@tensorflow/tfjs';
import { ParamStore, SeededRandom, matMulFast } from '../nets/layers.js';
import type { NamedArray } from '../nets/types.js';
import { BankPair } from './bankKernels.js';
import { assertRank2, entropyWeights, l2Normalize, labelsArray, maskedStopGradient, stopGradient, type Labels } from './util.js';

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
  /** Memory banks M_s (0) and M_t (1), row-major [N, d], kept on the host (see {@link bankScores} for why). */
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
    const lin = (fanIn: number) => (rng: SeededRandom) => rng.uniform(-1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
    this.wS = this.store.add('embedS.weight', [dS, d], lin(dS));
    this.bS = this.store.add('embedS.bias', [d], lin(dS));
    this.wT = this.store.add('embedT.weight', [dT, d], lin(dT));
    this.bT = this.store.add('embedT.bias', [d], lin(dT));
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
        if (!Number.isInteger(i) || i < 0 || i >= this.nData) throw new Error(`contrastive loss: negative index ${i} outside 0..${this.nData - 1}`);
      }
    }
    const y = labelsArray(labels);
    if (y.length !== b) throw new Error(`contrastive loss: ${y.length} labels for a batch of ${b}`);
    for (let i = 0; i < b; i++) {
      if (y[i] !== this.labels[indices[i]!]) {
        throw new Error(`contrastive loss: batch label ${y[i]} of dataset index ${indices[i]} differs from the label ${this.labels[indices[i]!]} given at construction`);
      }
    }

    return tf.tidy(() => {
      const mods = this.modifiers(studentLogits, teacherLogits, y);
      const emb = this.embed(fs, stopGradient(ft));
      // Values for the memory update after the optimiser step.
      this.pending = { zS: Float32Array.from(emb.zS.dataSync()), zT: Float32Array.from(emb.zT.dataSync()), indices: Int32Array.from(indices) };
      const zS = mods.keepS ? maskedStopGradient(emb.zS, mods.keepS) : emb.zS;
      const zT = mods.keepT ? maskedStopGradient(emb.zT, mods.keepT) : emb.zT;

      const idx = new Int32Array(b * (k + 1));
      for (let i = 0; i < b; i++) {
        idx[i * (k + 1)] = indices[i]!;
        idx.set(neg.subarray(i * k, (i + 1) * k), i * (k + 1) + 1);
      }
      // exp(⟨z_i, M[k]⟩ / τ) for the positive (column 0) and the K negatives: [B, K+1].
      const scores = (z: tf.Tensor2D, bank: 0 | 1) =>
        tf.exp(tf.div(bankScores(z, this.banks, bank, idx, k + 1), this.temperature)) as tf.Tensor2D;
      const outS = scores(zS, 1); // student embedding vs teacher memory
      const outT = scores(zT, 0); // teacher embedding vs student memory
      if (!this.norm) {
        // Z fixed at the first batch (CRD): mean score times N.
        this.norm = {
          zS: tf.mean(outS).dataSync()[0]! * this.nNoise,
          zT: tf.mean(outT).dataSync()[0]! * this.nNoise,
        };
      }
      return tf.add(this.nce(tf.div(outS, this.norm.zS), mods), this.nce(tf.div(outT, this.norm.zT), mods)) as tf.Scalar;
    });
  }

  /** L_x = −(1/B) Σ_i s_i [log(P̃_i0/(P̃_i0 + K/N + ε)) + Σ_k log((K/N)/(P̃_ik + K/N + ε))]. */
  private nce(p: tf.Tensor2D, mods: Modifiers): tf.Scalar {
    const [b, k1] = p.shape;
    const c = (k1 - 1) / this.nNoise;
    const pw = mods.weights ? tf.mul(p, tf.expandDims(mods.weights, 1)) : p;
    const pos = tf.slice(pw, [0, 0], [b, 1]);
    const negs = tf.slice(pw, [0, 1], [b, k1 - 1]);
    const logPos = tf.log(tf.div(pos, tf.add(pos, c + this.eps)));
    const logNeg = tf.sum(tf.neg(tf.log(tf.div(tf.add(negs, c + this.eps), c))), 1, true);
    let per = tf.reshape(tf.add(logPos, logNeg), [b]);
    if (mods.sign) per = tf.mul(per, tf.tensor1d(mods.sign));
    return tf.neg(tf.mean(per)) as tf.Scalar;
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
    for (const [mem, z] of [[this.banks.bank(0), p.zS], [this.banks.bank(1), p.zT]] as const) {
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

/**
 * ⟨z_i, M[idx_ij]⟩ for a [B, d] batch of embeddings against rows of a host-side bank: [B, J], J = idx.length / B.
 * tfjs-backend-wasm's gather is far too slow for B·(K+1) ≈ 32k rows per step (≈0.6 s measured), and a gathered
 * [B, K+1, d] tensor is 16 MB per direction; computing the dot products and their gradient (dz_i = Σ_j g_ij M[idx_ij])
 * on the host avoids both. The bank is a constant here (it only changes in updateMemory, after the step).
 */
function bankScores(z: tf.Tensor2D, banks: BankPair, bank: 0 | 1, idx: Int32Array, j: number): tf.Tensor2D {
  const op = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const zt = inputs[0] as tf.Tensor2D;
    const b = zt.shape[0];
    const zv = Float64Array.from(zt.dataSync());
    return {
      value: tf.tensor2d(banks.rowDots(bank, zv, idx, b, j), [b, j]),
      gradFunc: (dy: tf.Tensor) => tf.tensor2d(banks.rowAccumulate(bank, Float64Array.from(dy.dataSync()), idx, b, j), [b, banks.d]),
    };
  });
  return op(z) as tf.Tensor2D;
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
  constructor(opts: ContrastiveOptions) {
    super(opts, 0.05);
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
      sign[i] = tRight ? 1 : -1;
      keepS[i] = sRight && !tRight ? 0 : 1;
      keepT[i] = tRight && !sRight ? 0 : 1;
    }
    const weights = stopGradient(entropyWeights(tf.softmax(stopGradient(teacherLogits)) as tf.Tensor2D));
    return { weights, sign, keepS, keepT };
  }
}
