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
 * Node only (native binding). The engine around the graphs is shared with DGCNN's (./ortEngine.node.ts).
 */
import type * as tf from '../tf.js';
import { GraphBuilder } from '../../../export/onnx-graph.js';
import type { BatchNorm, Dense } from './layers.js';
import { addCrossEntropyGradient, createOrtEngine } from './ortEngine.node.js';
import type { TrainEngine } from './types.js';

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
    const outs = saved
      ? ([
          [`a${i}`, true],
          [`xhat${i}`, true],
          [`mean${i}`, false],
          [`var${i}`, false],
          [`rstd${i}`, false],
        ] as const)
      : ([
          [`mean${i}`, false],
          [`var${i}`, false],
        ] as const);
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
 * A whole cross-entropy step's gradients in one graph: forward, dL/dlogits of the mean cross-entropy
 * (./ortEngine.node.ts `addCrossEntropyGradient`), backward. Outputs the gradients, the logits (the caller computes
 * the loss and accuracy from them) and the batch statistics; the saved activations never leave onnxruntime.
 */
export function mlpCrossEntropyStepGraph(s: Shape): Uint8Array {
  const g = new GraphBuilder();
  addForward(g, s, false);
  addBackward(g, s, (name) => name, addCrossEntropyGradient(g, 'logits', s.classes), false);
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

/** The engine for an MLP, or null where onnxruntime-node is unavailable. */
export function createMlpOrtEngine(layers: MlpLayers): Promise<TrainEngine | null> {
  const first = layers.blocks[0]!;
  const s: Shape = {
    inDim: first.dense.w.shape[0]!,
    hidden: first.dense.w.shape[1]!,
    classes: layers.head.w.shape[1]!,
    blocks: layers.blocks.length,
    f1Block: layers.f1Block,
    eps: first.bn.eps,
  };
  if (layers.blocks.some((b) => !b.dense.b || b.bn.eps !== s.eps) || !layers.head.b) return Promise.resolve(null);
  const weights: Record<string, tf.Variable> = {};
  const savedFeeds = ['x', 'Wh'];
  const savedOutputs: string[] = [];
  layers.blocks.forEach(({ dense, bn }, i) => {
    Object.assign(weights, { [`W${i}`]: dense.w, [`b${i}`]: dense.b!, [`g${i}`]: bn.gamma, [`be${i}`]: bn.beta });
    savedFeeds.push(`g${i}`);
    if (i > 0) savedFeeds.push(`W${i}`);
    savedOutputs.push(`a${i}`, `xhat${i}`, `rstd${i}`);
  });
  weights.Wh = layers.head.w;
  weights.bh = layers.head.b!;
  const last = s.blocks - 1;
  return createOrtEngine({
    label: 'MLP engine',
    key: `mlp ${JSON.stringify(s)}`,
    graphs: () => ({ forward: mlpForwardGraph(s), backward: mlpBackwardGraph(s), crossEntropyStep: mlpCrossEntropyStepGraph(s) }),
    inDim: s.inDim,
    classes: s.classes,
    f1: { output: `a${s.f1Block}`, dim: s.hidden },
    f2: { output: `a${last}`, dim: s.hidden },
    df1Input: s.f1Block !== last,
    weights,
    savedFeeds,
    savedOutputs,
    grads: gradNames(s),
    stats: layers.blocks.map(({ bn }, i) => ({ bn, mean: `mean${i}`, variance: `var${i}`, rows: (n: number) => n })),
  });
}
