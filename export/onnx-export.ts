/**
 * Checkpoint → fp32 ONNX. The graph takes raw features [N, channels·bands] (channel-major), applies the
 * training z-score, runs the network with BatchNorm folded into the preceding linear layers, and returns
 * `logits` and `probabilities`. The model card goes into metadata_props.
 */
import type { Checkpoint, WeightArray } from './checkpoint.js';
import { GraphBuilder } from './onnx-graph.js';
import { modelCard } from './model-card.js';

const BN_EPS = 1e-5;

function weight(ck: Checkpoint, name: string): WeightArray {
  const w = ck.weights[name];
  if (!w) throw new Error(`checkpoint has no weight "${name}" (arch ${ck.arch.arch})`);
  return w;
}

/** Fold y = BN(x·W + b) into x·W' + b' (W: [in, out]). */
export function foldBatchNorm(W: WeightArray, b: WeightArray | undefined, gamma: WeightArray, beta: WeightArray, mean: WeightArray, variance: WeightArray, eps = BN_EPS): { W: Float32Array; b: Float32Array } {
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

export function exportOnnx(ck: Checkpoint): Uint8Array {
  const { channels, bands } = ck.arch.input;
  const d = channels * bands;
  const g = new GraphBuilder();
  const x = g.input('features', [d]);
  const mean = g.initializer('norm_mean', [d], Float32Array.from(ck.normalisation.mean));
  const scale = g.initializer('norm_scale', [d], Float32Array.from(ck.normalisation.std, (s) => 1 / s));
  let h = g.node('Mul', [g.node('Sub', [x, mean]), scale], {}, 'normalised');
  if (ck.arch.arch !== 'mlp') throw new Error(`ONNX export of arch "${ck.arch.arch}" is not implemented yet (mlp only)`);
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
  const hw = weight(ck, 'head.weight');
  const logits = g.node('Gemm', [h, g.initializer('head.W', hw.shape, hw.data), g.initializer('head.b', [ck.arch.classes], weight(ck, 'head.bias').data)], {}, 'logits');
  g.node('Softmax', [logits], { axis: 1 }, 'probabilities');
  g.output('logits', [ck.arch.classes]);
  g.output('probabilities', [ck.arch.classes]);
  return g.build(`cmcrd-${ck.modality}-${ck.arch.arch}`, modelCard(ck));
}
