/**
 * Running exported models on onnxruntime-node (Node only): the values of intermediate tensors on calibration
 * windows (the fp32 model with those tensors added as graph outputs, as onnxruntime's own calibrators do), and
 * the probabilities of a model on feature rows. One thread, spinning off (edge.md): the same settings as the device.
 */
import * as ort from 'onnxruntime-node';
import { onnx } from './onnx-graph.js';
import { calibrationRange, DEFAULT_PERCENTILE } from './calibrate.js';
import { planQuantization, type CalibrationMethod, type Range } from './quantize.js';

const BATCH = 256;

export const ORT_NODE_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

/** The model with `names` added as float outputs. */
function exposing(model: Uint8Array, names: string[]): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  const have = new Set((m.graph!.output ?? []).map((o) => o.name));
  const extra = names
    .filter((n) => !have.has(n))
    .map((name) => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }));
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({ ...m, graph: { ...m.graph!, output: [...(m.graph!.output ?? []), ...extra] } }),
  ).finish();
}

/** Run `model` on rows [n, d] in batches; every requested output, concatenated over the rows. */
export async function runOnnx(model: Uint8Array, rows: Float32Array, d: number, outputs: string[]): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(model, ORT_NODE_OPTIONS);
  try {
    const n = rows.length / d;
    const parts: Record<string, Float32Array[]> = Object.fromEntries(outputs.map((o) => [o, []]));
    for (let i = 0; i < n; i += BATCH) {
      const b = Math.min(BATCH, n - i);
      const res = await session.run({ features: new ort.Tensor('float32', rows.slice(i * d, (i + b) * d), [b, d]) }, outputs);
      for (const o of outputs) parts[o]!.push(Float32Array.from(res[o]!.data as Float32Array));
    }
    const out: Record<string, Float32Array> = {};
    for (const o of outputs) {
      const total = parts[o]!.reduce((s, p) => s + p.length, 0);
      const cat = new Float32Array(total);
      let off = 0;
      for (const p of parts[o]!) {
        cat.set(p, off);
        off += p.length;
      }
      out[o] = cat;
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Class probabilities of a model on raw feature rows [n, d] (row-major). */
export async function onnxProbabilities(model: Uint8Array, rows: Float32Array, d: number): Promise<Float32Array> {
  return (await runOnnx(model, rows, d, ['probabilities'])).probabilities!;
}

/** Calibrated ranges of every tensor a static quantisation of `model` needs, from raw feature rows [n, d]. */
export async function calibrate(
  model: Uint8Array,
  rows: Float32Array,
  d: number,
  method: CalibrationMethod,
  percentile = DEFAULT_PERCENTILE,
): Promise<Record<string, Range>> {
  const { activations } = planQuantization(model);
  const values = await runOnnx(exposing(model, activations), rows, d, activations);
  return Object.fromEntries(activations.map((a) => [a, calibrationRange(values[a]!, method, percentile)]));
}
