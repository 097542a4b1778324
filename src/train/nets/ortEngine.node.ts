/**
 * What the networks' onnxruntime-node training engines share (MLP: ./mlpOrt.node.ts, DGCNN: ./dgcnnOrt.node.ts):
 * loading the native binding, one session set per network shape, and the {@link TrainEngine} that runs three
 * ONNX graphs a network writes out:
 * - forward (training mode): logits, the feature levels f1 and f2, the BatchNorm batch statistics, and what the
 *   backward needs;
 * - backward: the gradients of the network's trainable variables (in `trainable` order) from dL/dlogits, dL/df1,
 *   dL/df2 and what the forward saved;
 * - a cross-entropy step: forward, the mean cross-entropy's dL/dlogits ({@link addCrossEntropyGradient}) and
 *   backward in one graph, so the saved activations never leave onnxruntime.
 * The weights are graph inputs (read from the network's tfjs variables at each forward), so the graphs do not
 * depend on them and the sessions are built once per shape.
 *
 * Node only (native binding).
 */
import type * as tf from '../tf.js';
import type { GraphBuilder } from '../../../export/onnx-graph.js';
import { hostValues } from '../simd.js';
import type { BatchNorm } from './layers.js';
import type { HostForward, TrainEngine } from './types.js';

export type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

let ortModule: Promise<Ort | null> | null = null;
/** onnxruntime-node, or null where its native binding does not load. */
export function loadOrt(): Promise<Ort | null> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as unknown as { default?: Ort }).default ?? m) as Ort,
    () => null,
  );
  return ortModule;
}

/** The engines' name here (as {@link TrainEngine.name}), or null where onnxruntime-node does not load. */
export async function ortEngineName(): Promise<string | null> {
  const ort = await loadOrt();
  return ort ? engineName(ort) : null;
}

function engineName(ort: Ort): string {
  return `onnxruntime-node ${ort.env.versions.node ?? '?'} (cpu, 1 thread)`;
}

/**
 * dL/dlogits of the mean cross-entropy into `g`, from the value `logits` and the input `yw`: the one-hot label
 * matrix divided by the batch size (a row of zeros: no gradient from that row, as crossEntropyValues does for a
 * label outside the classes), so dL/dlogits = softmax(logits)·Σ_c yw − yw.
 */
export function addCrossEntropyGradient(g: GraphBuilder, logits: string, classes: number): string {
  const yw = g.input('yw', [classes]);
  const rowWeight = g.node('ReduceSum', [yw, g.int64Initializer('axis1', [1], [1])], { keepdims: 1 });
  return g.node('Sub', [g.node('Mul', [g.node('Softmax', [logits], { axis: 1 }), rowWeight]), yw]);
}

export interface EngineGraphs {
  forward: Uint8Array;
  backward: Uint8Array;
  crossEntropyStep: Uint8Array;
}

/** How a network's graphs are wired, for {@link createOrtEngine}. */
export interface EngineLayout {
  /** For error messages, e.g. "MLP engine". */
  label: string;
  /** Session-cache key: everything the graphs depend on. */
  key: string;
  graphs: () => EngineGraphs;
  /** Width of an input row (graph input `x`, [n, inDim]). */
  inDim: number;
  classes: number;
  /** Forward outputs that are f1 and f2, with their widths. */
  f1: { output: string; dim: number };
  f2: { output: string; dim: number };
  /** Whether the backward graph has the input `df1` (false where f1 is f2: its gradient comes as df2). */
  df1Input: boolean;
  /** Graph-input name → the variable fed there, read at every forward. */
  weights: Record<string, tf.Variable>;
  /** Forward feeds and forward outputs the backward graph takes as inputs. */
  savedFeeds: string[];
  savedOutputs: string[];
  /** Backward outputs, in `trainable` order. */
  grads: string[];
  /** BatchNorm layers with the outputs holding their batch mean and biased variance, over `rows(n)` rows. */
  stats: Array<{ bn: BatchNorm; mean: string; variance: string; rows: (n: number) => number }>;
}

interface Sessions {
  fwd: Session;
  bwd: Session;
  ceStep: Session;
}
const sessions = new Map<string, Promise<Sessions>>();

function sessionsFor(ort: Ort, layout: EngineLayout): Promise<Sessions> {
  let p = sessions.get(layout.key);
  if (!p) {
    // One intra-op thread: deterministic, and on the 2-core machines we measured faster than two at these sizes.
    const opts: import('onnxruntime-node').InferenceSession.SessionOptions = {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    };
    const make = (graph: Uint8Array) => ort.InferenceSession.create(graph, opts);
    const g = layout.graphs();
    p = Promise.all([make(g.forward), make(g.backward), make(g.crossEntropyStep)]).then(([fwd, bwd, ceStep]) => ({ fwd, bwd, ceStep }));
    sessions.set(layout.key, p);
    p.catch(() => sessions.delete(layout.key));
  }
  return p;
}

/** The engine for a network's graphs, or null where onnxruntime-node is unavailable. */
export async function createOrtEngine(layout: EngineLayout): Promise<TrainEngine | null> {
  const ort = await loadOrt();
  if (!ort) return null;
  return new OrtEngine(ort, await sessionsFor(ort, layout), layout);
}

class OrtEngine implements TrainEngine {
  readonly name: string;
  private saved: Record<string, OrtTensor> | null = null;
  private n = 0;

  constructor(
    private readonly ort: Ort,
    private readonly sessions: Sessions,
    private readonly layout: EngineLayout,
  ) {
    this.name = engineName(ort);
  }

  private tensor(data: Float32Array, dims: number[]): OrtTensor {
    return new this.ort.Tensor('float32', data, dims);
  }

  /** The input batch and every weight, as the forward graphs' feeds. */
  private feeds(x: Float32Array, n: number): Record<string, OrtTensor> {
    const { inDim, label, weights } = this.layout;
    if (x.length !== n * inDim) throw new Error(`${label}: ${x.length} input values for ${n} rows of ${inDim}`);
    const feeds: Record<string, OrtTensor> = { x: this.tensor(x, [n, inDim]) };
    // A copy of each variable's values: a wasm-heap view is only valid until tfjs next allocates.
    for (const [name, v] of Object.entries(weights)) feeds[name] = this.tensor(hostValues(v).slice(), v.shape);
    return feeds;
  }

  private queueStats(out: Record<string, OrtTensor>, n: number): void {
    for (const s of this.layout.stats)
      s.bn.queueHostStats(out[s.mean]!.data as Float32Array, out[s.variance]!.data as Float32Array, s.rows(n));
  }

  async forward(x: Float32Array, n: number): Promise<HostForward> {
    const { f1, f2, savedFeeds, savedOutputs } = this.layout;
    const feeds = this.feeds(x, n);
    const out = await this.sessions.fwd.run(feeds);
    this.queueStats(out, n);
    const saved: Record<string, OrtTensor> = {};
    for (const k of savedFeeds) saved[k] = feeds[k]!;
    for (const k of savedOutputs) saved[k] = out[k]!;
    this.saved = saved;
    this.n = n;
    const data = (name: string) => out[name]!.data as Float32Array;
    return { n, logits: data('logits'), f1: data(f1.output), f1Dim: f1.dim, f2: data(f2.output), f2Dim: f2.dim };
  }

  async backward(d: { logits: Float32Array; f1: Float32Array | null; f2: Float32Array | null }): Promise<Float32Array[]> {
    const { n } = this;
    const { label, classes, f1, f2, df1Input, grads } = this.layout;
    if (!this.saved) throw new Error(`${label}: backward without a forward`);
    const rows = (v: Float32Array | null, cols: number, what: string) => {
      if (v && v.length !== n * cols) throw new Error(`${label}: ${what} gradient has ${v.length} values for ${n}×${cols}`);
      return this.tensor(v ?? new Float32Array(n * cols), [n, cols]);
    };
    const feeds: Record<string, OrtTensor> = { ...this.saved, dlogits: rows(d.logits, classes, 'logits'), df2: rows(d.f2, f2.dim, 'f2') };
    if (df1Input) feeds.df1 = rows(d.f1, f1.dim, 'f1');
    else if (d.f1) throw new Error(`${label}: f1 is f2 here; pass its gradient as f2`);
    this.saved = null;
    const out = await this.sessions.bwd.run(feeds);
    return grads.map((k) => out[k]!.data as Float32Array);
  }

  async crossEntropyStep(x: Float32Array, y: Int32Array, n: number): Promise<{ logits: Float32Array; grads: Float32Array[] }> {
    const { label, classes, grads } = this.layout;
    if (y.length !== n) throw new Error(`${label}: ${y.length} labels for ${n} rows`);
    const feeds = this.feeds(x, n);
    const yw = new Float32Array(n * classes);
    y.forEach((c, i) => {
      if (c >= 0 && c < classes) yw[i * classes + c] = 1 / n;
    });
    feeds.yw = this.tensor(yw, [n, classes]);
    this.saved = null; // a backward() after this has nothing to differentiate
    const out = await this.sessions.ceStep.run(feeds);
    this.queueStats(out, n);
    return { logits: out.logits!.data as Float32Array, grads: grads.map((k) => out[k]!.data as Float32Array) };
  }
}
