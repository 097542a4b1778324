/**
 * The MLP's training steps on onnxruntime-node (a {@link TrainEngine}): forward and backward are two ONNX graphs
 * written out here (and, for a loss of cross-entropy alone, one graph chaining forward, the loss gradient and
 * backward, so the saved activations never leave onnxruntime), with the weights as graph inputs, run by onnxruntime's native CPU kernels (MLAS GEMM with
 * the host's AVX2/AVX-512 FMA). On tfjs-wasm the MLP step is bound by matrix products that run single-threaded
 * with 128-bit SIMD and no FMA (docs/training-speed.md); the same products here are several times faster.
 *
 * Same maths as the tfjs path (nets/mlp.ts with layers.ts `denseBnRelu`), i.e. PyTorch's Linear–BatchNorm1d
 * (training mode: batch mean and biased variance, eps) –ReLU blocks and a linear head, and the same backward:
 *   da = dy·[y > 0];  dγ = Σ da·x̂;  dβ = Σ da;  dz = γ·rstd·(da − mean(da) − x̂·mean(da·x̂));
 *   dW = hᵀ·dz;  db = Σ dz;  dh = dz·Wᵀ.
 * Results agree with the tfjs path to float32 rounding (not bit for bit: the sums run in another order), and
 * are deterministic: one intra-op thread, fixed kernels.
 *
 * Node only (native binding). The graphs do not depend on the weights, so sessions are cached per shape.
 */
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder } from '../../../export/onnx-graph.js';
import { hostValues } from '../simd.js';
import type { BatchNorm, Dense } from './layers.js';
import type { HostForward, TrainEngine } from './types.js';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

export interface MlpLayers {
  blocks: Array<{ dense: Dense; bn: BatchNorm }>;
  head: Dense;
  /** Index of the block whose output is f1 (f2 is the last block's). */
  f1Block: number;
}

interface Shape {
  inDim: number;
  hidden: number;
  classes: number;
  blocks: number;
  f1Block: number;
  eps: number;
}

/**
 * Training-mode forward into `g`: logits, and per block the batch mean_i and var_i (for the running statistics);
 * with `saved`, also what the backward needs as graph outputs: a_i (f1 and f2 among them), x̂_i and rstd_i.
 */
function addForward(g: GraphBuilder, s: Shape, saved: boolean): void {
  const eps = g.initializer('eps', [], Float32Array.of(s.eps));
  let h = g.input('x', [s.inDim]);
  for (let i = 0; i < s.blocks; i++) {
    const inDim = i === 0 ? s.inDim : s.hidden;
    const z = g.node('Gemm', [h, g.input(`W${i}`, [inDim, s.hidden], false), g.input(`b${i}`, [s.hidden], false)]);
    const mean = g.node('ReduceMean', [z], { axes: [0], keepdims: 1 }, `mean${i}`);
    const zc = g.node('Sub', [z, mean]);
    const variance = g.node('ReduceMean', [g.node('Mul', [zc, zc])], { axes: [0], keepdims: 1 }, `var${i}`);
    const rstd = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, eps])])], {}, `rstd${i}`);
    const xhat = g.node('Mul', [zc, rstd], {}, `xhat${i}`);
    const y = g.node('Add', [g.node('Mul', [xhat, g.input(`g${i}`, [s.hidden], false)]), g.input(`be${i}`, [s.hidden], false)]);
    h = g.node('Relu', [y], {}, `a${i}`);
    const outs = saved ? ([[`a${i}`, true], [`xhat${i}`, true], [`mean${i}`, false], [`var${i}`, false], [`rstd${i}`, false]] as const) : ([[`mean${i}`, false], [`var${i}`, false]] as const);
    for (const [name, batch] of outs) g.output(name, batch ? [s.hidden] : [1, s.hidden], batch);
  }
  g.node('Gemm', [h, g.input('Wh', [s.hidden, s.classes], false), g.input('bh', [s.classes], false)], {}, 'logits');
  g.output('logits', [s.classes]);
}

/** Training-mode forward: logits, every block's output a_i (f1, f2 among them), x̂_i, rstd_i, batch mean_i and var_i. */
export function mlpForwardGraph(s: Shape): Uint8Array {
  const g = new GraphBuilder();
  addForward(g, s, true);
  return g.build('mlp_train_forward', {});
}

/** Where the backward reads a value: a graph input (separate backward graph) or a value of the same graph. */
type Source = (name: string, dims: number[], batch?: boolean) => string;

/**
 * Backward into `g`: gradients of [W_i, b_i, γ_i, β_i]… and [W_head, b_head] (the network's trainable order) as
 * graph outputs, from dL/dlogits (the value `dLogits`), dL/df1 and dL/df2 (inputs df1, df2, when `featureGrads`)
 * and what the forward saved (read through `src`). No gradient to the input (it is data).
 */
function addBackward(g: GraphBuilder, s: Shape, src: Source, dLogits: string, featureGrads: boolean): void {
  const axis0 = g.int64Initializer('axis0', [1], [0]);
  const zero = g.initializer('zero', [], Float32Array.of(0));
  const colSum = (t: string, out?: string) => g.node('ReduceSum', [t, axis0], { keepdims: 0 }, out);
  const colMean = (t: string) => g.node('ReduceMean', [t], { axes: [0], keepdims: 1 });
  const x = src('x', [s.inDim]);
  const a = Array.from({ length: s.blocks }, (_, i) => src(`a${i}`, [s.hidden]));
  const last = s.blocks - 1;
  g.node('Gemm', [a[last]!, dLogits], { transA: 1 }, 'dWh');
  colSum(dLogits, 'dbh');
  let da = g.node('Gemm', [dLogits, src('Wh', [s.hidden, s.classes], false)], { transB: 1 });
  if (featureGrads) da = g.node('Add', [da, g.input('df2', [s.hidden])]);
  for (let i = last; i >= 0; i--) {
    const xhat = src(`xhat${i}`, [s.hidden]);
    const k = g.node('Mul', [src(`g${i}`, [s.hidden], false), src(`rstd${i}`, [1, s.hidden], false)]);
    const dy = g.node('Where', [g.node('Greater', [a[i]!, zero]), da, zero]);
    const dyXhat = g.node('Mul', [dy, xhat]);
    colSum(dyXhat, `dg${i}`);
    colSum(dy, `dbe${i}`);
    const dz = g.node('Mul', [g.node('Sub', [g.node('Sub', [dy, colMean(dy)]), g.node('Mul', [xhat, colMean(dyXhat)])]), k]);
    g.node('Gemm', [i === 0 ? x : a[i - 1]!, dz], { transA: 1 }, `dW${i}`);
    colSum(dz, `db${i}`);
    if (i > 0) {
      da = g.node('Gemm', [dz, src(`W${i}`, [s.hidden, s.hidden], false)], { transB: 1 });
      if (featureGrads && i - 1 === s.f1Block && s.f1Block !== last) da = g.node('Add', [da, g.input('df1', [s.hidden])]);
    }
  }
  gradNames(s).forEach((name, i) => g.output(name, gradShapes(s)[i]!, false));
}

/** Backward graph: the gradients from dL/dlogits, dL/df1, dL/df2 and what the forward graph saved (all inputs). */
export function mlpBackwardGraph(s: Shape): Uint8Array {
  const g = new GraphBuilder();
  addBackward(g, s, (name, dims, batch = true) => g.input(name, dims, batch), g.input('dlogits', [s.classes]), true);
  return g.build('mlp_train_backward', {});
}

/**
 * A whole cross-entropy step's gradients in one graph: forward, dL/dlogits of the mean cross-entropy, backward.
 * Input `yw` is the one-hot label matrix divided by the batch size (a row of zeros: no gradient from that row, as
 * crossEntropyValues does for a label outside the classes), so dL/dlogits = softmax(logits)·Σ_c yw − yw. Outputs
 * the gradients, the logits (the caller computes the loss and accuracy from them) and the batch statistics; the
 * saved activations never leave onnxruntime.
 */
export function mlpCrossEntropyStepGraph(s: Shape): Uint8Array {
  const g = new GraphBuilder();
  addForward(g, s, false);
  const yw = g.input('yw', [s.classes]);
  const rowWeight = g.node('ReduceSum', [yw, g.int64Initializer('axis1', [1], [1])], { keepdims: 1 });
  const dLogits = g.node('Sub', [g.node('Mul', [g.node('Softmax', ['logits'], { axis: 1 }), rowWeight]), yw]);
  addBackward(g, s, (name) => name, dLogits, false);
  return g.build('mlp_train_ce_step', {});
}

function gradShapes(s: Shape): number[][] {
  const shapes: number[][] = [];
  for (let i = 0; i < s.blocks; i++) shapes.push([i === 0 ? s.inDim : s.hidden, s.hidden], [s.hidden], [s.hidden], [s.hidden]);
  return [...shapes, [s.hidden, s.classes], [s.classes]];
}

function gradNames(s: Shape): string[] {
  const names: string[] = [];
  for (let i = 0; i < s.blocks; i++) names.push(`dW${i}`, `db${i}`, `dg${i}`, `dbe${i}`);
  return [...names, 'dWh', 'dbh'];
}

let ortModule: Promise<Ort | null> | null = null;
/** onnxruntime-node, or null where its native binding does not load. */
export function loadOrt(): Promise<Ort | null> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as unknown as { default?: Ort }).default ?? m) as Ort,
    () => null,
  );
  return ortModule;
}

/** The engine's name here (as {@link TrainEngine.name}), or null where onnxruntime-node does not load. */
export async function mlpOrtEngineName(): Promise<string | null> {
  const ort = await loadOrt();
  return ort ? engineName(ort) : null;
}

function engineName(ort: Ort): string {
  return `onnxruntime-node ${ort.env.versions.node ?? '?'} (cpu, 1 thread)`;
}

interface Sessions {
  fwd: Session;
  bwd: Session;
  ceStep: Session;
}
const sessions = new Map<string, Promise<Sessions>>();

async function sessionsFor(ort: Ort, s: Shape): Promise<Sessions> {
  const key = JSON.stringify(s);
  let p = sessions.get(key);
  if (!p) {
    // One intra-op thread: deterministic, and on the 2-core machines we measured faster than two at these sizes.
    const opts: import('onnxruntime-node').InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
    const make = (graph: Uint8Array) => ort.InferenceSession.create(graph, opts);
    p = Promise.all([make(mlpForwardGraph(s)), make(mlpBackwardGraph(s)), make(mlpCrossEntropyStepGraph(s))]).then(([fwd, bwd, ceStep]) => ({ fwd, bwd, ceStep }));
    sessions.set(key, p);
    p.catch(() => sessions.delete(key));
  }
  return p;
}

/** The engine for an MLP, or null where onnxruntime-node is unavailable. */
export async function createMlpOrtEngine(layers: MlpLayers): Promise<TrainEngine | null> {
  const ort = await loadOrt();
  if (!ort) return null;
  const first = layers.blocks[0]!;
  const shape: Shape = {
    inDim: first.dense.w.shape[0]!,
    hidden: first.dense.w.shape[1]!,
    classes: layers.head.w.shape[1]!,
    blocks: layers.blocks.length,
    f1Block: layers.f1Block,
    eps: first.bn.eps,
  };
  if (layers.blocks.some((b) => !b.dense.b || b.bn.eps !== shape.eps) || !layers.head.b) return null;
  return new MlpOrtEngine(ort, await sessionsFor(ort, shape), layers, shape);
}

class MlpOrtEngine implements TrainEngine {
  readonly name: string;
  private saved: Record<string, OrtTensor> | null = null;
  private n = 0;

  constructor(private readonly ort: Ort, private readonly sessions: Sessions, private readonly layers: MlpLayers, private readonly s: Shape) {
    this.name = engineName(ort);
  }

  private tensor(data: Float32Array, dims: number[]): OrtTensor {
    return new this.ort.Tensor('float32', data, dims);
  }

  /** A copy of a variable's values: a wasm-heap view is only valid until tfjs next allocates. */
  private weight(v: tf.Variable): OrtTensor {
    return this.tensor(hostValues(v).slice(), v.shape);
  }

  /** The input batch and every weight, as the forward graphs' feeds. */
  private feeds(x: Float32Array, n: number): Record<string, OrtTensor> {
    const { s, layers } = this;
    if (x.length !== n * s.inDim) throw new Error(`MLP engine: ${x.length} input values for ${n} rows of ${s.inDim}`);
    const feeds: Record<string, OrtTensor> = { x: this.tensor(x, [n, s.inDim]) };
    layers.blocks.forEach(({ dense, bn }, i) => {
      feeds[`W${i}`] = this.weight(dense.w);
      feeds[`b${i}`] = this.weight(dense.b!);
      feeds[`g${i}`] = this.weight(bn.gamma);
      feeds[`be${i}`] = this.weight(bn.beta);
    });
    feeds.Wh = this.weight(layers.head.w);
    feeds.bh = this.weight(layers.head.b!);
    return feeds;
  }

  private queueStats(out: Record<string, OrtTensor>, n: number): void {
    this.layers.blocks.forEach(({ bn }, i) => bn.queueHostStats(out[`mean${i}`]!.data as Float32Array, out[`var${i}`]!.data as Float32Array, n));
  }

  async forward(x: Float32Array, n: number): Promise<HostForward> {
    const { s } = this;
    const feeds = this.feeds(x, n);
    const out = await this.sessions.fwd.run(feeds);
    const data = (name: string) => out[name]!.data as Float32Array;
    this.queueStats(out, n);
    const saved: Record<string, OrtTensor> = { x: feeds.x!, Wh: feeds.Wh };
    for (let i = 0; i < s.blocks; i++) {
      for (const k of [`a${i}`, `xhat${i}`, `rstd${i}`]) saved[k] = out[k]!;
      saved[`g${i}`] = feeds[`g${i}`]!;
      if (i > 0) saved[`W${i}`] = feeds[`W${i}`]!;
    }
    this.saved = saved;
    this.n = n;
    const last = s.blocks - 1;
    return { n, logits: data('logits'), f1: data(`a${s.f1Block}`), f1Dim: s.hidden, f2: data(`a${last}`), f2Dim: s.hidden };
  }

  async backward(d: { logits: Float32Array; f1: Float32Array | null; f2: Float32Array | null }): Promise<Float32Array[]> {
    const { s, n } = this;
    if (!this.saved) throw new Error('MLP engine: backward without a forward');
    const rows = (v: Float32Array | null, cols: number, what: string) => {
      if (v && v.length !== n * cols) throw new Error(`MLP engine: ${what} gradient has ${v.length} values for ${n}×${cols}`);
      return this.tensor(v ?? new Float32Array(n * cols), [n, cols]);
    };
    const feeds: Record<string, OrtTensor> = { ...this.saved, dlogits: rows(d.logits, s.classes, 'logits'), df2: rows(d.f2, s.hidden, 'f2') };
    if (s.f1Block !== s.blocks - 1) feeds.df1 = rows(d.f1, s.hidden, 'f1');
    else if (d.f1) throw new Error('MLP engine: f1 is the last block here; pass its gradient as f2');
    this.saved = null;
    const out = await this.sessions.bwd.run(feeds);
    return gradNames(s).map((k) => out[k]!.data as Float32Array);
  }

  async crossEntropyStep(x: Float32Array, y: Int32Array, n: number): Promise<{ logits: Float32Array; grads: Float32Array[] }> {
    const { s } = this;
    if (y.length !== n) throw new Error(`MLP engine: ${y.length} labels for ${n} rows`);
    const feeds = this.feeds(x, n);
    const yw = new Float32Array(n * s.classes);
    y.forEach((c, i) => {
      if (c >= 0 && c < s.classes) yw[i * s.classes + c] = 1 / n;
    });
    feeds.yw = this.tensor(yw, [n, s.classes]);
    this.saved = null; // a backward() after this has nothing to differentiate
    const out = await this.sessions.ceStep.run(feeds);
    this.queueStats(out, n);
    return { logits: out.logits!.data as Float32Array, grads: gradNames(s).map((k) => out[k]!.data as Float32Array) };
  }
}
