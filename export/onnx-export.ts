/**
 * Checkpoint → fp32 ONNX for the MLP, EEGNet-mini and DGCNN. The graph takes raw features [N, channels·bands] (channel-major), applies the
 * training z-score, runs the network with BatchNorm folded into the preceding linear layers, and returns
 * `logits` and `probabilities`. The model card goes into metadata_props.
 */
import type { Checkpoint, WeightArray } from './checkpoint.js';
import { GraphBuilder } from './onnx-graph.js';
import { modelCard } from './model-card.js';

const BN_EPS = 1e-5;

/** A named weight, checked against the shape the network needs (a malformed checkpoint names the weight). */
function weight(ck: Checkpoint, name: string, shape?: number[]): WeightArray {
  const w = ck.weights[name];
  if (!w) throw new Error(`checkpoint has no weight "${name}" (arch ${ck.arch.arch})`);
  if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`checkpoint weight "${name}" has shape [${w.shape}], arch ${ck.arch.arch} needs [${shape}]`);
  }
  return w;
}

/** Eval-mode BatchNorm as y = x·scale + shift, per feature, in float64. */
function bnAffine(ck: Checkpoint, name: string, dim: number, eps = BN_EPS): { scale: Float64Array; shift: Float64Array } {
  const gamma = weight(ck, `${name}.gamma`, [dim]).data;
  const beta = weight(ck, `${name}.beta`, [dim]).data;
  const mean = weight(ck, `${name}.running_mean`, [dim]).data;
  const variance = weight(ck, `${name}.running_var`, [dim]).data;
  const scale = new Float64Array(dim);
  const shift = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    scale[i] = gamma[i]! / Math.sqrt(variance[i]! + eps);
    shift[i] = beta[i]! - mean[i]! * scale[i]!;
  }
  return { scale, shift };
}

function param(ck: Checkpoint, key: string, fallback: number): number {
  const v = ck.arch.params[key] ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`checkpoint arch.params.${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Fold y = BN(x·W + b) into x·W' + b' (W: [in, out]). */
export function foldBatchNorm(
  W: WeightArray,
  b: WeightArray | undefined,
  gamma: WeightArray,
  beta: WeightArray,
  mean: WeightArray,
  variance: WeightArray,
  eps = BN_EPS,
): { W: Float32Array; b: Float32Array } {
  const [inDim, outDim] = W.shape as [number, number];
  const Wf = new Float32Array(inDim * outDim);
  const bf = new Float32Array(outDim);
  for (let o = 0; o < outDim; o++) {
    const s = gamma.data[o]! / Math.sqrt(variance.data[o]! + eps);
    for (let i = 0; i < inDim; i++) Wf[i * outDim + o] = W.data[i * outDim + o]! * s;
    bf[o] = ((b?.data[o] ?? 0) - mean.data[o]!) * s + beta.data[o]!;
  }
  return { W: Wf, b: bf };
}

/** MLP: four Linear–BN–ReLU blocks (BN folded into the Gemm), then the head. Returns the `h` it ends on. */
function mlpGraph(g: GraphBuilder, ck: Checkpoint, x: string): string {
  let h = x;
  for (const block of ['fc1', 'fc2', 'fc3', 'fc4']) {
    const f = foldBatchNorm(
      weight(ck, `${block}.weight`),
      ck.weights[`${block}.bias`],
      weight(ck, `${block}.bn.gamma`),
      weight(ck, `${block}.bn.beta`),
      weight(ck, `${block}.bn.running_mean`),
      weight(ck, `${block}.bn.running_var`),
    );
    const [inDim, outDim] = weight(ck, `${block}.weight`).shape as [number, number];
    const W = g.initializer(`${block}.W`, [inDim, outDim], f.W);
    const B = g.initializer(`${block}.b`, [outDim], f.b);
    h = g.node('Relu', [g.node('Gemm', [h, W, B])], {}, `${block}.out`);
  }
  return h;
}

/**
 * EEGNet-mini in eval mode (dropout off). Its layers are per-band linear maps, so each pair of them folds into one
 * matrix applied to every band (the layout and names are those of src/train/nets/eegnet.ts):
 *   conv1 (per map f) – BN1, replicated to maps g (f = ⌊g/D⌋), depthwise over channels – BN2 → W1 [channels, maps], b1
 *   sep_dw (per map) – BN3, pointwise – BN4                                                  → W2 [maps, F2], b2
 * Graph: [N, ch·bands] → [N, bands, ch] → ·W1 + b1 → Elu → ·W2 + b2 → Elu → [N, F2, bands] → flatten → head.
 */
function eegnetGraph(g: GraphBuilder, ck: Checkpoint, x: string): string {
  const { channels, bands } = ck.arch.input;
  const F1 = param(ck, 'F1', 8);
  const D = param(ck, 'D', 2);
  const F2 = param(ck, 'F2', 16);
  const maps = F1 * D;
  const conv1 = weight(ck, 'conv1.weight', [F1]).data;
  const dw = weight(ck, 'dw.weight', [channels, maps]).data;
  const sepDw = weight(ck, 'sep_dw.weight', [maps]).data;
  const sepPw = weight(ck, 'sep_pw.weight', [maps, F2]).data;
  const bn = [bnAffine(ck, 'bn1', F1), bnAffine(ck, 'bn2', maps), bnAffine(ck, 'bn3', maps), bnAffine(ck, 'bn4', F2)] as const;
  const W1 = new Float32Array(channels * maps);
  const b1 = new Float32Array(maps);
  for (let m = 0; m < maps; m++) {
    const f = Math.floor(m / D);
    const a = conv1[f]! * bn[0].scale[f]!; // BN1(x·conv1) = x·a + shift1
    let dwSum = 0;
    for (let c = 0; c < channels; c++) {
      W1[c * maps + m] = dw[c * maps + m]! * a * bn[1].scale[m]!;
      dwSum += dw[c * maps + m]!;
    }
    b1[m] = bn[0].shift[f]! * dwSum * bn[1].scale[m]! + bn[1].shift[m]!;
  }
  const W2 = new Float32Array(maps * F2);
  const b2 = new Float32Array(F2);
  for (let k = 0; k < F2; k++) {
    let shift = 0;
    for (let m = 0; m < maps; m++) {
      W2[m * F2 + k] = sepDw[m]! * bn[2].scale[m]! * sepPw[m * F2 + k]! * bn[3].scale[k]!;
      shift += bn[2].shift[m]! * sepPw[m * F2 + k]!;
    }
    b2[k] = shift * bn[3].scale[k]! + bn[3].shift[k]!;
  }
  const cube = g.node('Reshape', [x, g.int64Initializer('eegnet.in_shape', [3], [-1, channels, bands])]);
  const perBand = g.node('Transpose', [cube], { perm: [0, 2, 1] }); // [N, bands, channels]
  const a1 = g.node(
    'Elu',
    [
      g.node('Add', [
        g.node('MatMul', [perBand, g.initializer('eegnet.W1', [channels, maps], W1)]),
        g.initializer('eegnet.b1', [maps], b1),
      ]),
    ],
    {},
    'f1',
  );
  const a2 = g.node(
    'Elu',
    [g.node('Add', [g.node('MatMul', [a1, g.initializer('eegnet.W2', [maps, F2], W2)]), g.initializer('eegnet.b2', [F2], b2)])],
    {},
    'f2',
  );
  const mapMajor = g.node('Transpose', [a2], { perm: [0, 2, 1] }); // [N, F2, bands]: flatten index k·bands + b
  return g.node('Reshape', [mapMajor, g.int64Initializer('eegnet.flat_shape', [2], [-1, F2 * bands])]);
}

/**
 * DGCNN in eval mode. The learned adjacency is fixed after training, so its normalised form L̃ is computed here
 * (as in src/train/nets/dgcnn.ts, in float64) and stored; the input BatchNorm folds into the two Chebyshev weights:
 *   H = ReLU(X·W0' + L̃X·W1' + bias),  W' = diag(scale)·W,  bias[v] = shift·W0 + (Σ_u L̃[v,u])·shift·W1.
 */
function dgcnnGraph(g: GraphBuilder, ck: Checkpoint, x: string): string {
  const { channels, bands } = ck.arch.input;
  const nodes = param(ck, 'nodes', channels);
  const feats = param(ck, 'nodeFeatures', bands);
  const hidden = param(ck, 'hidden', 16);
  if (nodes * feats !== channels * bands) {
    throw new Error(`checkpoint arch.params: nodes (${nodes}) × nodeFeatures (${feats}) must equal the input size ${channels}×${bands}`);
  }
  const adj = weight(ck, 'adj', [nodes, nodes]).data;
  const w0 = weight(ck, 'cheb0.weight', [feats, hidden]).data;
  const w1 = weight(ck, 'cheb1.weight', [feats, hidden]).data;
  const { scale, shift } = bnAffine(ck, 'bn', feats);
  // L̃ = D^{-1/2} Â D^{-1/2}, Â = sym(ReLU(A)) with a zero diagonal, degrees + 1e-10 (as in training).
  const sym = new Float64Array(nodes * nodes);
  for (let v = 0; v < nodes; v++) {
    for (let u = 0; u < nodes; u++)
      if (u !== v) sym[v * nodes + u] = (Math.max(adj[v * nodes + u]!, 0) + Math.max(adj[u * nodes + v]!, 0)) / 2;
  }
  const dInv = new Float64Array(nodes);
  for (let v = 0; v < nodes; v++) {
    let deg = 0;
    for (let u = 0; u < nodes; u++) deg += sym[v * nodes + u]!;
    dInv[v] = 1 / Math.sqrt(deg + 1e-10);
  }
  const L = new Float32Array(nodes * nodes);
  const rowSum = new Float64Array(nodes);
  for (let v = 0; v < nodes; v++) {
    for (let u = 0; u < nodes; u++) {
      const l = sym[v * nodes + u]! * dInv[v]! * dInv[u]!;
      L[v * nodes + u] = l;
      rowSum[v] += l;
    }
  }
  const W0 = new Float32Array(feats * hidden);
  const W1 = new Float32Array(feats * hidden);
  const shift0 = new Float64Array(hidden);
  const shift1 = new Float64Array(hidden);
  for (let f = 0; f < feats; f++) {
    for (let h = 0; h < hidden; h++) {
      W0[f * hidden + h] = scale[f]! * w0[f * hidden + h]!;
      W1[f * hidden + h] = scale[f]! * w1[f * hidden + h]!;
      shift0[h] += shift[f]! * w0[f * hidden + h]!;
      shift1[h] += shift[f]! * w1[f * hidden + h]!;
    }
  }
  const bias = new Float32Array(nodes * hidden);
  for (let v = 0; v < nodes; v++) for (let h = 0; h < hidden; h++) bias[v * hidden + h] = shift0[h]! + rowSum[v]! * shift1[h]!;
  const X = g.node('Reshape', [x, g.int64Initializer('dgcnn.in_shape', [3], [-1, nodes, feats])]);
  // [nodes, nodes] · [N, nodes, feats]: MatMul broadcasts L̃ over the batch.
  const LX = g.node('MatMul', [g.initializer('dgcnn.laplacian', [nodes, nodes], L), X]);
  const sum = g.node('Add', [
    g.node('MatMul', [X, g.initializer('dgcnn.W0', [feats, hidden], W0)]),
    g.node('MatMul', [LX, g.initializer('dgcnn.W1', [feats, hidden], W1)]),
  ]);
  const H = g.node('Relu', [g.node('Add', [sum, g.initializer('dgcnn.bias', [nodes, hidden], bias)])], {}, 'f2');
  return g.node('Reshape', [H, g.int64Initializer('dgcnn.flat_shape', [2], [-1, nodes * hidden])]); // node-major
}

const GRAPHS = { mlp: mlpGraph, eegnet: eegnetGraph, dgcnn: dgcnnGraph } as const;

/**
 * The fp32 inference graph of a checkpoint (z-score, network with BatchNorm folded, head, softmax), recorded in a
 * GraphBuilder: `build()` gives the ONNX model, `ir` feeds the other formats' writers.
 */
export function buildInferenceGraph(ck: Checkpoint): GraphBuilder {
  const { channels, bands } = ck.arch.input;
  const d = channels * bands;
  const build = GRAPHS[ck.arch.arch];
  if (!build) throw new Error(`checkpoint arch "${String(ck.arch.arch)}" is not one of ${Object.keys(GRAPHS).join(', ')}`);
  const g = new GraphBuilder();
  const x = g.input('features', [d]);
  const mean = g.initializer('norm_mean', [d], Float32Array.from(ck.normalisation.mean));
  const scale = g.initializer(
    'norm_scale',
    [d],
    Float32Array.from(ck.normalisation.std, (s) => 1 / s),
  );
  const h = build(g, ck, g.node('Mul', [g.node('Sub', [x, mean]), scale], {}, 'normalised'));
  const flat = weight(ck, 'head.weight').shape[0]!;
  const hw = weight(ck, 'head.weight', [flat, ck.arch.classes]);
  const logits = g.node(
    'Gemm',
    [
      h,
      g.initializer('head.W', hw.shape, hw.data),
      g.initializer('head.b', [ck.arch.classes], weight(ck, 'head.bias', [ck.arch.classes]).data),
    ],
    {},
    'logits',
  );
  g.node('Softmax', [logits], { axis: 1 }, 'probabilities');
  g.output('logits', [ck.arch.classes]);
  g.output('probabilities', [ck.arch.classes]);
  return g;
}

/** The ONNX graph name of a checkpoint's model. */
export function graphName(ck: Checkpoint): string {
  return `cmcrd-${ck.modality}-${ck.arch.arch}`;
}

/** Checkpoint → fp32 ONNX bytes, for any of the three networks; `extraMetadata` is added to the model card's entries. */
export function exportOnnx(ck: Checkpoint, extraMetadata: Record<string, string> = {}): Uint8Array {
  return buildInferenceGraph(ck).build(graphName(ck), { ...modelCard(ck), ...extraMetadata });
}
