/** Small building blocks shared by the networks: dense and BatchNorm with queued running-stat updates. */
import * as tf from '../tf.js';
import { columnSquaredDeviations, columnSumAndDot, columnSums, hostValues, tensorFrom, transposed } from '../simd.js';
import { bnReluBackward, bnReluForward } from './bnHost.js';
import type { NamedArray } from './types.js';

/** Deterministic initialiser source: a seeded PRNG so the same seed gives the same weights on any backend. */
export class SeededRandom {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** mulberry32 */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

export class ParamStore {
  readonly trainable: tf.Variable[] = [];
  readonly all = new Map<string, tf.Variable>();
  constructor(readonly rng: SeededRandom) {}

  add(name: string, shape: number[], init: (rng: SeededRandom, i: number) => number, trainable = true): tf.Variable {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = init(this.rng, i);
    const v = tf.variable(tf.tensor(data, shape), trainable, `${name}_${nextId++}`);
    this.all.set(name, v);
    if (trainable) this.trainable.push(v);
    return v;
  }

  getWeights(): Record<string, NamedArray> {
    const out: Record<string, NamedArray> = {};
    for (const [name, v] of this.all) out[name] = { shape: v.shape.slice(), data: Float32Array.from(v.dataSync() as Float32Array) };
    return out;
  }

  setWeights(weights: Record<string, NamedArray>): void {
    for (const [name, v] of this.all) {
      const w = weights[name];
      if (!w) throw new Error(`missing weight "${name}"`);
      if (w.shape.length !== v.shape.length || w.shape.some((d, i) => d !== v.shape[i])) {
        throw new Error(`weight "${name}" has shape [${w.shape}] but the network expects [${v.shape}]`);
      }
      v.assign(tf.tensor(w.data, v.shape));
    }
  }

  dispose(): void {
    for (const v of this.all.values()) v.dispose();
  }
}
let nextId = 0;

/**
 * PyTorch's nn.Linear default for weight and bias: U(±1/√fanIn) (kaiming-uniform with a = √5). method.md's
 * networks and training defaults come from the authors' PyTorch code, whose learning rate and weight decay were
 * chosen with this scale; Glorot's is 1.7–2.4× larger at the MLP's sizes, which under AdamW (steps of about lr,
 * whatever the weight's size) makes every relative update smaller.
 */
export function linearInit(fanIn: number): (rng: SeededRandom) => number {
  const limit = 1 / Math.sqrt(fanIn);
  return (rng) => rng.uniform(-limit, limit);
}

/** Glorot-uniform (Keras's default) for a [fanIn, fanOut] kernel. */
export function glorot(fanIn: number, fanOut: number): (rng: SeededRandom) => number {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return (rng) => rng.uniform(-limit, limit);
}

/**
 * x·W with a hand-written gradient. tfjs-wasm runs matMul with a transpose flag several times slower than a
 * plain matMul after an explicit tf.transpose (measured 1.3–2.0 ms vs 0.3–0.7 ms for 32×310·310×128), and the
 * built-in matMul gradient uses the flags; this one transposes explicitly. Same maths as tf.matMul.
 */
export const matMulFast = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, transpose2d(sb)), tf.matMul(transpose2d(sa), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** Whether data reads are memory copies (wasm, cpu), so small host-side kernels beat tfjs kernel dispatch. */
export const hostIsCheap = (): boolean => tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';

/** Transpose of a 2-D tensor, on the host (../simd.ts) where reads are cheap: tfjs-wasm's Transpose is slower. */
export function transpose2d(m: tf.Tensor2D): tf.Tensor2D {
  if (!hostIsCheap()) return tf.transpose(m);
  const [r, c] = m.shape;
  return tensorFrom(transposed(hostValues(m), r, c), [c, r]) as tf.Tensor2D;
}

/**
 * Column sums of a [n, k] matrix as [k], on the host (../simd.ts). tfjs-wasm reduces over axis 0 by transposing
 * first, and a ones·M product packs M for XNNPACK: each ~100 µs for 256×128, against ~15 µs here.
 */
export function colSum(m: tf.Tensor2D): tf.Tensor1D {
  if (!hostIsCheap()) return tf.sum(m, 0);
  return tf.tensor1d(columnSums(hostValues(m), m.shape[0], m.shape[1]));
}

/**
 * x·W + b as one op with a hand-written gradient: a fused matMul+bias forward, and a backward of explicit
 * transposes (see matMulFast) and a column-sum product for the bias instead of tfjs's reduction over axis 0.
 */
const linearOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return [tf.matMul(g, transpose2d(sw)), tf.matMul(transpose2d(sx), g), colSum(g)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

export class Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable | null;
  constructor(store: ParamStore, name: string, inDim: number, outDim: number, bias = true) {
    this.w = store.add(`${name}.weight`, [inDim, outDim], linearInit(inDim));
    this.b = bias ? store.add(`${name}.bias`, [outDim], linearInit(inDim)) : null;
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return this.b ? linearOp(x, this.w, this.b) : matMulFast(x, this.w);
  }
}

/** BatchNorm over the last axis (PyTorch semantics: momentum 0.1 on running stats, unbiased running var, eps 1e-5). */
export class BatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
  private pending: Array<{ mean: tf.Tensor; variance: tf.Tensor; n: number }> = [];
  private pendingHost: Array<{ mean: Float32Array; variance: Float32Array; n: number }> = [];
  constructor(
    store: ParamStore,
    name: string,
    dim: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    this.gamma = store.add(`${name}.gamma`, [dim], () => 1);
    this.beta = store.add(`${name}.beta`, [dim], () => 0);
    this.mean = store.add(`${name}.running_mean`, [dim], () => 0, false);
    this.variance = store.add(`${name}.running_var`, [dim], () => 1, false);
  }
  /** x: [..., dim]; batch statistics are taken over every axis but the last. */
  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    if (!training) {
      return tf.add(tf.mul(tf.div(tf.sub(x, this.mean), tf.sqrt(tf.add(this.variance, this.eps))), this.gamma), this.beta);
    }
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    const n = x.size / x.shape[x.shape.length - 1]!;
    this.queueStats(mean, variance, n);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps))), this.gamma), this.beta);
  }
  /**
   * Queue batch statistics (biased variance over n rows) for the running-stat update. Values only: the update
   * happens in {@link commit}, after the optimiser step, outside the tape.
   */
  queueStats(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    // reshape shares the data (no copy) and outlives the tidy that owns mean and variance.
    this.pending.push({ mean: tf.keep(tf.reshape(mean, [-1])), variance: tf.keep(tf.reshape(variance, [-1])), n });
  }
  /** {@link queueStats} with host values (the fused block's statistics): no tfjs kernels here or in commit. */
  queueHostStats(mean: Float32Array, variance: Float32Array, n: number): void {
    this.pendingHost.push({ mean, variance, n });
  }
  commit(): void {
    if (this.pendingHost.length) {
      // Same float32 operations as the tensor path below, on the host; the variables are written once.
      const f = Math.fround;
      const rm = Float32Array.from(hostValues(this.mean));
      const rv = Float32Array.from(hostValues(this.variance));
      const m = f(this.momentum);
      const keep = f(1 - this.momentum);
      for (const p of this.pendingHost) {
        const c = f(p.n / (p.n - 1));
        for (let j = 0; j < rm.length; j++) {
          const unbiased = p.n > 1 ? f(p.variance[j]! * c) : p.variance[j]!;
          rm[j] = f(f(rm[j]! * keep) + f(p.mean[j]! * m));
          rv[j] = f(f(rv[j]! * keep) + f(unbiased * m));
        }
      }
      tf.tidy(() => {
        this.mean.assign(tensorFrom(rm, this.mean.shape));
        this.variance.assign(tensorFrom(rv, this.variance.shape));
      });
      this.pendingHost = [];
    }
    for (const p of this.pending) {
      tf.tidy(() => {
        const unbiased = p.n > 1 ? tf.mul(p.variance, p.n / (p.n - 1)) : p.variance;
        this.mean.assign(tf.add(tf.mul(this.mean, 1 - this.momentum), tf.mul(p.mean, this.momentum)));
        this.variance.assign(tf.add(tf.mul(this.variance, 1 - this.momentum), tf.mul(unbiased, this.momentum)));
      });
      p.mean.dispose();
      p.variance.dispose();
    }
    this.pending = [];
  }
}

/**
 * relu(BatchNorm(x·W + b)) for a [B, in] batch, as `relu(bn.apply(dense.apply(x), training))` computes it, but in
 * training mode as one op with a hand-written backward: ~13 kernels forward and ~20 backward instead of ~100
 * (tfjs's per-op gradients, reductions over axis 0 that tfjs-wasm runs as transpose + reduce, and a copy of
 * every saved tensor), since on tfjs-wasm each kernel costs more in dispatch than in arithmetic at these sizes.
 * Same maths as PyTorch's BatchNorm1d in training mode (biased batch variance in the normalisation, running
 * statistics queued on `bn`).
 * With `inputGrad` false no gradient flows to x (use it when x is data: it saves the dx product).
 */
export function denseBnRelu(dense: Dense, bn: BatchNorm, x: tf.Tensor2D, training: boolean, inputGrad = true): tf.Tensor2D {
  if (!training || !dense.b) return tf.relu(bn.apply(dense.apply(x), training)) as tf.Tensor2D;
  // The host path wins at the default batch 32 (fewer kernels) but loses at 256, where its copies in and out of
  // the kernels' memory (~2 MB per layer and step) cost more than tfjs-wasm's in-heap element-wise kernels
  // (scratch A/B, same runs: b256 11.4–12.2 ms/step tensor path vs 13.0–13.8 host path).
  if (hostIsCheap() && x.shape[0] <= HOST_BN_MAX_ROWS) return denseBnReluHost(dense, bn, x, inputGrad);
  const n = x.shape[0];
  const h = dense.w.shape[1]!;
  const eps = bn.eps;
  const f = Math.fround;
  const row = (v: Float32Array) => tf.tensor2d(v, [1, h]);
  const block = (xIn: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const z = tf.fused.matMul({ a: xIn, b: w, bias: b });
    // Batch mean and biased variance (what BatchNorm1d normalises with), two-pass, on the host.
    const mean = columnSums(hostValues(z), n, h).map((s) => f(s / n));
    const variance = columnSquaredDeviations(hostValues(z), n, h, mean).map((s) => f(s / n));
    const rstd = variance.map((v) => 1 / Math.sqrt(v + eps));
    const g = Float32Array.from(hostValues(gamma));
    const meanT = row(mean);
    bn.queueStats(meanT, row(variance), n);
    const xhat = tf.mul(tf.sub(z, meanT), row(rstd));
    const y = tf.relu(tf.add(tf.mul(xhat, gamma), beta)) as tf.Tensor2D;
    save([xIn, w, xhat, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sxhat, sy] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const da = tf.mul(dy, tf.step(sy)); // ReLU: y > 0 exactly where its input is
        const [dbeta, dgamma] = columnSumAndDot(hostValues(da), hostValues(sxhat), n, h); // Σ da, Σ da·x̂
        // dL/dz = k·(da − mean(da) − x̂·mean(da·x̂)) with k = γ·rstd, computed as da·k − x̂·(k·dγ/n) − k·dβ/n.
        const k = g.map((gj, j) => gj * rstd[j]!);
        const dz = tf.sub(
          tf.sub(tf.mul(da, row(k)), tf.mul(sxhat, row(k.map((kj, j) => (kj * dgamma[j]!) / n)))),
          row(k.map((kj, j) => (kj * dbeta[j]!) / n)),
        ) as tf.Tensor2D;
        const grads = [tf.matMul(transpose2d(sx), dz), colSum(dz), tf.tensor1d(dgamma), tf.tensor1d(dbeta)];
        return inputGrad ? [tf.matMul(dz, transpose2d(sw)), ...grads] : grads;
      },
    };
  };
  if (inputGrad) {
    const op = tf.customGrad((...a: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xIn, w, b, g, be, save] = a as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
      return block(xIn, w, b, g, be, save);
    }) as (...t: tf.Tensor[]) => tf.Tensor2D;
    return op(x, dense.w, dense.b, bn.gamma, bn.beta);
  }
  const op = tf.customGrad((...a: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [w, b, g, be, save] = a as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    return block(x, w, b, g, be, save);
  }) as (...t: tf.Tensor[]) => tf.Tensor2D;
  return op(dense.w, dense.b, bn.gamma, bn.beta);
}

/** Largest batch for which {@link denseBnRelu} runs BatchNorm+ReLU on the host (measured at 32 and 256 only). */
export const HOST_BN_MAX_ROWS = 64;

/**
 * {@link denseBnRelu} where host reads are cheap: only the two matrix products per direction are tfjs kernels.
 * Everything between them (batch statistics, normalisation, affine, ReLU; and backward the ReLU mask, Σ da,
 * Σ da·x̂, dz, Σ dz) runs on the host (./bnHost.ts), and what the backward needs is kept as host arrays in the
 * closure rather than saved tensors (customGrad's save clones each one: an Identity kernel apiece).
 */
function denseBnReluHost(dense: Dense, bn: BatchNorm, x: tf.Tensor2D, inputGrad: boolean): tf.Tensor2D {
  const [n, inDim] = x.shape;
  const h = dense.w.shape[1]!;
  const block = (xIn: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, gamma: tf.Tensor1D, beta: tf.Tensor1D) => {
    // Copies (slice): a heap view is only valid until the next tfjs allocation.
    const xv = hostValues(xIn).slice();
    const wv = hostValues(w).slice();
    const g = hostValues(gamma).slice();
    const be = hostValues(beta).slice();
    const z = tf.fused.matMul({ a: xIn, b: w, bias: b });
    const fw = bnReluForward(hostValues(z), n, h, g, be, bn.eps);
    bn.queueHostStats(fw.mean, fw.variance, n);
    return {
      value: tensorFrom(fw.y, [n, h]) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor) => {
        const bw = bnReluBackward(hostValues(dy), fw.y, fw.xhat, g, fw.rstd, n, h);
        const dz = tensorFrom(bw.dz, [n, h]) as tf.Tensor2D;
        const grads = [
          tf.matMul(tensorFrom(transposed(xv, n, inDim), [inDim, n]) as tf.Tensor2D, dz),
          tf.tensor1d(bw.dbias),
          tf.tensor1d(bw.dgamma),
          tf.tensor1d(bw.dbeta),
        ];
        return inputGrad ? [tf.matMul(dz, tensorFrom(transposed(wv, inDim, h), [h, inDim]) as tf.Tensor2D), ...grads] : grads;
      },
    };
  };
  if (inputGrad) {
    const op = tf.customGrad((...a: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xIn, w, b, g, be] = a as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
      return block(xIn, w, b, g, be);
    }) as (...t: tf.Tensor[]) => tf.Tensor2D;
    return op(x, dense.w, dense.b!, bn.gamma, bn.beta);
  }
  const op = tf.customGrad((...a: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [w, b, g, be] = a as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
    return block(x, w, b, g, be);
  }) as (...t: tf.Tensor[]) => tf.Tensor2D;
  return op(dense.w, dense.b!, bn.gamma, bn.beta);
}

/**
 * A module whose parameters all live in one ParamStore: weights by name, trainable variables, disposal.
 * Networks and trainable loss heads extend it.
 */
export abstract class StoredModule {
  protected readonly store: ParamStore;
  readonly trainable: tf.Variable[];

  constructor(seedOrRng: number | SeededRandom) {
    this.store = new ParamStore(typeof seedOrRng === 'number' ? new SeededRandom(seedOrRng) : seedOrRng);
    this.trainable = this.store.trainable; // filled as layers register their parameters
  }
  getWeights(): Record<string, NamedArray> {
    return this.store.getWeights();
  }
  setWeights(w: Record<string, NamedArray>): void {
    this.store.setWeights(w);
  }
  dispose(): void {
    this.store.dispose();
  }
}
