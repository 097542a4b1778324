/**
 * DGCNN's training steps on onnxruntime-node (a {@link TrainEngine}, via ./ortEngine.node.ts): the same network as
 * ./dgcnn.ts, written out as ONNX graphs with a hand-written backward. On tfjs-wasm a DGCNN step is ~170 small
 * kernels at ~10–20 µs of dispatch each (docs/training-speed.md); here the cross-entropy step is one graph of 90
 * nodes (39 forward, 50 backward, one for the loss gradient; fewer after onnxruntime's graph optimisations),
 * each dispatched in native code.
 *
 * Shapes: n rows, N nodes, F features per node, H hidden, C classes. Forward (training mode):
 *   X = x as [n·N, F];  BatchNorm over its rows: x̂ = (X − mean)·rstd,  Xn = γ·x̂ + β       → f1 = Xn as [n, N·F]
 *   Â = ((ReLU(A) + ReLU(A)ᵀ)/2)⊙(1 − I);  u = (rowsum(Â) + 1e-10)^(−1/2);  L̃ = Â⊙(u uᵀ)
 *   LX = L̃·Xn per sample (one [N, N] × [N, n·F] product on node-major data)
 *   H = ReLU(Xn·W₀ + LX·W₁)                                                              → f2 = H as [n, N·H]
 *   logits = f2·W_h + b_h
 * Backward, from dL/dlogits (and dL/df1, dL/df2):
 *   dW_h = f2ᵀ·dlogits;  db_h = Σ dlogits;  dH = dlogits·W_hᵀ (+ df2);  dP = dH⊙[H > 0]
 *   dW₀ = Xnᵀ·dP;  dW₁ = LXᵀ·dP;  dLX = dP·W₁ᵀ;  dXn = dP·W₀ᵀ + L̃ᵀ·dLX (per sample) (+ df1)
 *   dγ = Σ dXn⊙x̂;  dβ = Σ dXn   (no gradient to the input: it is data)
 *   G = dL̃ = Σ_samples dLX·Xnᵀ;  dÂ = G⊙(u uᵀ) + (−½u³⊙((G⊙Â)u + (G⊙Â)ᵀu)) 1ᵀ
 *   dA = ½(dÂ⊙(1 − I) + (dÂ⊙(1 − I))ᵀ)⊙[A > 0]
 * Checked against PyTorch (test/fixtures/train/nets.json) and the tfjs path in test/src/train/dgcnn-engine.test.ts.
 */
import type * as tf from '../tf.js';
import { GraphBuilder } from '../../../export/onnx-graph.js';
import type { BatchNorm, Dense } from './layers.js';
import { addCrossEntropyGradient, createOrtEngine } from './ortEngine.node.js';
import type { TrainEngine } from './types.js';

export interface DgcnnLayers {
  bn: BatchNorm;
  adj: tf.Variable;
  w0: tf.Variable;
  w1: tf.Variable;
  head: Dense;
}

interface Shape {
  nodes: number;
  feats: number;
  hidden: number;
  classes: number;
  eps: number;
}

/** Node-major copy of a [n·N, F] (sample-major) value: [N, n·F]. */
function toNodeMajor(g: GraphBuilder, s: Shape, v: string): string {
  const t = g.node('Transpose', [g.node('Reshape', [v, g.int64Initializer(`nmIn_${v}`, [3], [-1, s.nodes, s.feats])])], {
    perm: [1, 0, 2],
  });
  return g.node('Reshape', [t, g.int64Initializer(`nmOut_${v}`, [2], [s.nodes, -1])]);
}

/** The inverse of {@link toNodeMajor}: [N, n·F] → [n·N, F]. */
function toSampleMajor(g: GraphBuilder, s: Shape, v: string): string {
  const t = g.node('Transpose', [g.node('Reshape', [v, g.int64Initializer(`smIn_${v}`, [3], [s.nodes, -1, s.feats])])], {
    perm: [1, 0, 2],
  });
  return g.node('Reshape', [t, g.int64Initializer(`smOut_${v}`, [2], [-1, s.feats])]);
}

/** A new graph with the constants both passes use: `half` (0.5) and `offDiagonal` (1 − I, [N, N]). */
function newGraph(s: Shape): GraphBuilder {
  const g = new GraphBuilder();
  const n = s.nodes;
  g.initializer('half', [], Float32Array.of(0.5));
  g.initializer(
    'offDiagonal',
    [n, n],
    Float32Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 0 : 1)),
  );
  return g;
}

function rowsOf(g: GraphBuilder, v: string, width: number, name: string): string {
  return g.node('Reshape', [v, g.int64Initializer(`rows_${name}`, [2], [-1, width])]);
}

/**
 * Training-mode forward into `g`: logits, f1, f2, the BatchNorm batch statistics (bnMean, bnVar) and, for the
 * backward, x̂ and LX (as [n, N·F]), Â, u (as [N, 1]) and L̃.
 */
function addForward(g: GraphBuilder, s: Shape, saved: boolean): void {
  const { nodes: N, feats: F, hidden: H } = s;
  // BatchNorm over every (sample, node) row.
  const x = rowsOf(g, g.input('x', [N * F]), F, 'x');
  const mean = g.node('ReduceMean', [x], { axes: [0], keepdims: 1 }, 'bnMean');
  const xc = g.node('Sub', [x, mean]);
  const variance = g.node('ReduceMean', [g.node('Mul', [xc, xc])], { axes: [0], keepdims: 1 }, 'bnVar');
  const rstd = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, g.initializer('eps', [], Float32Array.of(s.eps))])])]);
  const xhat = g.node('Mul', [xc, rstd]);
  const xn = g.node('Add', [g.node('Mul', [xhat, g.input('gamma', [F], false)]), g.input('beta', [F], false)]);
  g.node('Reshape', [xn, g.int64Initializer('flatF', [2], [-1, N * F])], {}, 'f1');
  // L̃ from the learnable adjacency.
  const r = g.node('Relu', [g.input('adj', [N, N], false)]);
  const a = g.node('Mul', [g.node('Mul', [g.node('Add', [r, g.node('Transpose', [r])]), 'half']), 'offDiagonal'], {}, 'adjA');
  const deg = g.node('Add', [
    g.node('ReduceSum', [a, g.int64Initializer('degAxis', [1], [1])], { keepdims: 1 }),
    g.initializer('degEps', [], Float32Array.of(1e-10)),
  ]);
  const u = g.node('Reciprocal', [g.node('Sqrt', [deg])], {}, 'dinv');
  const lap = g.node('Mul', [g.node('Mul', [a, u]), g.node('Transpose', [u])], {}, 'lap');
  // Graph convolution (Chebyshev, K = 2) and ReLU.
  const lx = toSampleMajor(g, s, g.node('Gemm', [lap, toNodeMajor(g, s, xn)]));
  const pre = g.node('Add', [g.node('MatMul', [xn, g.input('W0', [F, H], false)]), g.node('MatMul', [lx, g.input('W1', [F, H], false)])]);
  g.node('Reshape', [g.node('Relu', [pre]), g.int64Initializer('flatH', [2], [-1, N * H])], {}, 'f2');
  g.node('Gemm', ['f2', g.input('Wh', [N * H, s.classes], false), g.input('bh', [s.classes], false)], {}, 'logits');
  g.output('logits', [s.classes]);
  g.output('f1', [N * F]);
  g.output('f2', [N * H]);
  g.output('bnMean', [1, F], false);
  g.output('bnVar', [1, F], false);
  // Flat copies for the backward (in the fused step graph too: its backward reads the same names).
  g.node('Reshape', [xhat, 'flatF'], {}, 'xhat');
  g.node('Reshape', [lx, 'flatF'], {}, 'lx');
  if (saved) {
    g.output('xhat', [N * F]);
    g.output('lx', [N * F]);
    g.output('adjA', [N, N], false);
    g.output('dinv', [N, 1], false);
    g.output('lap', [N, N], false);
  }
}

type Source = (name: string, dims: number[], batch?: boolean) => string;

/** Backward into `g`: the gradients in `trainable` order ({@link GRADS}) as outputs. */
function addBackward(g: GraphBuilder, s: Shape, src: Source, dLogits: string, featureGrads: boolean): void {
  const { nodes: N, feats: F, hidden: H } = s;
  const axis0 = g.int64Initializer('axis0', [1], [0]);
  const zero = g.initializer('zero', [], Float32Array.of(0));
  const colSum = (t: string, out: string) => g.node('ReduceSum', [t, axis0], { keepdims: 0 }, out);
  const f1 = src('f1', [N * F]);
  const f2 = src('f2', [N * H]);
  g.node('Gemm', [f2, dLogits], { transA: 1 }, 'dWh');
  colSum(dLogits, 'dbh');
  let dh = g.node('Gemm', [dLogits, src('Wh', [N * H, s.classes], false)], { transB: 1 });
  if (featureGrads) dh = g.node('Add', [dh, g.input('df2', [N * H])]);
  const dp = g.node('Where', [g.node('Greater', [rowsOf(g, f2, H, 'h'), zero]), rowsOf(g, dh, H, 'dh'), zero]);
  const xn = rowsOf(g, f1, F, 'xn');
  g.node('Gemm', [xn, dp], { transA: 1 }, 'dW0');
  g.node('Gemm', [rowsOf(g, src('lx', [N * F]), F, 'lx'), dp], { transA: 1 }, 'dW1');
  const dlxT = toNodeMajor(g, s, g.node('Gemm', [dp, src('W1', [F, H], false)], { transB: 1 }));
  const lap = src('lap', [N, N], false);
  let dxn = g.node('Add', [
    g.node('Gemm', [dp, src('W0', [F, H], false)], { transB: 1 }),
    toSampleMajor(g, s, g.node('Gemm', [lap, dlxT], { transA: 1 })),
  ]);
  if (featureGrads) dxn = g.node('Add', [dxn, rowsOf(g, g.input('df1', [N * F]), F, 'df1')]);
  colSum(g.node('Mul', [dxn, rowsOf(g, src('xhat', [N * F]), F, 'xhat')]), 'dgamma');
  colSum(dxn, 'dbeta');
  // Through L̃ = Â⊙(u uᵀ) to the adjacency.
  const gl = g.node('Gemm', [dlxT, toNodeMajor(g, s, xn)], { transB: 1 });
  const a = src('adjA', [N, N], false);
  const u = src('dinv', [N, 1], false);
  const ga = g.node('Mul', [gl, a]);
  const du = g.node('Add', [g.node('MatMul', [ga, u]), g.node('Gemm', [ga, u], { transA: 1 })]);
  const u3 = g.node('Mul', [g.node('Mul', [u, u]), u]);
  const ddeg = g.node('Mul', [g.node('Mul', [du, u3]), g.initializer('minusHalf', [], Float32Array.of(-0.5))]);
  const da = g.node('Add', [g.node('Mul', [gl, g.node('Mul', [u, g.node('Transpose', [u])])]), ddeg]);
  const ds = g.node('Mul', [da, 'offDiagonal']);
  const dr = g.node('Mul', [g.node('Add', [ds, g.node('Transpose', [ds])]), 'half']);
  g.node('Where', [g.node('Greater', [src('adj', [N, N], false), zero]), dr, zero], {}, 'dadj');
  const dims: Record<string, number[]> = {
    dgamma: [F],
    dbeta: [F],
    dadj: [N, N],
    dW0: [F, H],
    dW1: [F, H],
    dWh: [N * H, s.classes],
    dbh: [s.classes],
  };
  for (const k of GRADS) g.output(k, dims[k]!, false);
}

/** Backward outputs in the network's `trainable` order: bn.gamma, bn.beta, adj, cheb0, cheb1, head.weight, head.bias. */
const GRADS = ['dgamma', 'dbeta', 'dadj', 'dW0', 'dW1', 'dWh', 'dbh'];

export function dgcnnForwardGraph(s: Shape): Uint8Array {
  const g = newGraph(s);
  addForward(g, s, true);
  return g.build('dgcnn_train_forward', {});
}

export function dgcnnBackwardGraph(s: Shape): Uint8Array {
  const g = newGraph(s);
  addBackward(g, s, (name, dims, batch = true) => g.input(name, dims, batch), g.input('dlogits', [s.classes]), true);
  return g.build('dgcnn_train_backward', {});
}

export function dgcnnCrossEntropyStepGraph(s: Shape): Uint8Array {
  const g = newGraph(s);
  addForward(g, s, false);
  addBackward(g, s, (name) => name, addCrossEntropyGradient(g, 'logits', s.classes), false);
  return g.build('dgcnn_train_ce_step', {});
}

/** The engine for a DGCNN, or null where onnxruntime-node is unavailable. */
export function createDgcnnOrtEngine(layers: DgcnnLayers): Promise<TrainEngine | null> {
  const [feats, hidden] = layers.w0.shape as [number, number];
  const nodes = layers.adj.shape[0]!;
  const s: Shape = { nodes, feats, hidden, classes: layers.head.w.shape[1]!, eps: layers.bn.eps };
  if (!layers.head.b) return Promise.resolve(null);
  return createOrtEngine({
    label: 'DGCNN engine',
    key: `dgcnn ${JSON.stringify(s)}`,
    graphs: () => ({ forward: dgcnnForwardGraph(s), backward: dgcnnBackwardGraph(s), crossEntropyStep: dgcnnCrossEntropyStepGraph(s) }),
    inDim: nodes * feats,
    classes: s.classes,
    f1: { output: 'f1', dim: nodes * feats },
    f2: { output: 'f2', dim: nodes * hidden },
    df1Input: true,
    weights: {
      gamma: layers.bn.gamma,
      beta: layers.bn.beta,
      adj: layers.adj,
      W0: layers.w0,
      W1: layers.w1,
      Wh: layers.head.w,
      bh: layers.head.b,
    },
    savedFeeds: ['adj', 'W0', 'W1', 'Wh'],
    savedOutputs: ['f1', 'f2', 'xhat', 'lx', 'adjA', 'dinv', 'lap'],
    grads: GRADS,
    stats: [{ bn: layers.bn, mean: 'bnMean', variance: 'bnVar', rows: (n) => n * nodes }],
  });
}
