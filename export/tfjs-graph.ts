/**
 * A checkpoint as a tfjs GraphModel, written directly (export/ never imports tfjs, and there is no JS converter):
 * model.json in the format of `tensorflow_converter` output — `format: 'graph-model'`, `modelTopology` a TensorFlow
 * GraphDef in JSON (Placeholder, Const, MatMul / BatchMatMulV2, BiasAdd, AddV2, Sub, Mul, Relu, Elu, Reshape,
 * Transpose, Softmax), `weightsManifest` listing the Const nodes' values in shard files — which
 * `@tensorflow/tfjs-converter`'s `loadGraphModel` reads, so a phone page runs it on tfjs-core and the small wasm
 * backend. The graph is the exporter's (buildInferenceGraph's IR: same folding, same z-score), translated op by op.
 * With `weights: 'uint8'` the weight matrices are stored as uint8 with an affine `quantization` entry in the
 * manifest (dequantised to float32 at load: 4× smaller download, float compute); biases and the z-score stay float32.
 */
import type { Checkpoint } from './checkpoint.js';
import { buildInferenceGraph } from './onnx-export.js';
import type { GraphIR } from './onnx-graph.js';

export type TfjsWeights = 'float32' | 'uint8';

interface AttrValue {
  type?: string;
  b?: boolean;
  s?: string;
  shape?: { dim: { size: string }[] };
  tensor?: { dtype: string; tensorShape: { dim?: { size: string }[] } };
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: { dtype: 'uint8'; min: number; scale: number; original_dtype: 'float32' };
}

export interface GraphModelJson {
  format: 'graph-model';
  generatedBy: string;
  convertedBy: string;
  modelTopology: { node: TfNode[]; library: Record<string, never>; versions: { producer: number } };
  weightsManifest: { paths: string[]; weights: WeightEntry[] }[];
  signature: {
    inputs: Record<string, { name: string; dtype: string; tensorShape: { dim: { size: string }[] } }>;
    outputs: Record<string, { name: string; dtype: string; tensorShape: { dim: { size: string }[] } }>;
  };
  userDefinedMetadata?: Record<string, unknown>;
}

/** tfjs-converter's default shard size. */
const SHARD_BYTES = 4 * 1024 * 1024;
const FLOAT: AttrValue = { type: 'DT_FLOAT' };
const INT32: AttrValue = { type: 'DT_INT32' };
const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

/**
 * uint8 affine quantisation as tfjs-converter's `--quantize_uint8` does it: range widened to contain 0 and nudged so
 * that 0 is exactly representable; value = q·scale + min.
 */
export function quantizeUint8(data: Float32Array): { q: Uint8Array; min: number; scale: number } {
  let lo = 0;
  let hi = 0;
  for (const v of data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (hi === lo) return { q: new Uint8Array(data.length), min: lo, scale: 1 };
  const scale = (hi - lo) / 255;
  const min = -Math.round(-lo / scale) * scale;
  const q = Uint8Array.from(data, (v) => Math.max(0, Math.min(255, Math.round((v - min) / scale))));
  return { q, min, scale };
}

interface TranslatedWeight {
  entry: WeightEntry;
  data: Float32Array | Int32Array;
  /** A MatMul / Gemm weight matrix (uint8 candidate). */
  matrix: boolean;
}

/** GraphIR (ONNX ops as the exporter records them) → GraphDef nodes and the weights they read. */
function translate(ir: GraphIR): { nodes: TfNode[]; weights: TranslatedWeight[] } {
  const nodes: TfNode[] = [];
  const weights: TranslatedWeight[] = [];
  const rank = new Map<string, number>();
  const matrices = new Set<string>(); // float initializers used as MatMul operands (the uint8 candidates)
  for (const n of ir.nodes)
    if (n.opType === 'MatMul' || n.opType === 'Gemm')
      for (const i of n.inputs.slice(0, 2)) if (ir.floats.get(i)?.dims.length === 2) matrices.add(i);
  for (const i of ir.inputs) {
    nodes.push({ name: i.name, op: 'Placeholder', attr: { dtype: FLOAT, shape: { shape: dims([-1, ...i.dims]) } } });
    rank.set(i.name, 1 + i.dims.length);
  }
  for (const [name, t] of ir.floats) {
    nodes.push({ name, op: 'Const', attr: { dtype: FLOAT, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(t.dims) } } } });
    weights.push({ entry: { name, shape: t.dims, dtype: 'float32' }, data: t.data, matrix: matrices.has(name) });
    rank.set(name, t.dims.length);
  }
  const intConst = (name: string, values: number[]) => {
    nodes.push({ name, op: 'Const', attr: { dtype: INT32, value: { tensor: { dtype: 'DT_INT32', tensorShape: dims([values.length]) } } } });
    weights.push({ entry: { name, shape: [values.length], dtype: 'int32' }, data: Int32Array.from(values), matrix: false });
    return name;
  };
  const T = { T: FLOAT };
  for (const n of ir.nodes) {
    const [a, b, c] = n.inputs;
    const r = Math.max(...n.inputs.map((i) => rank.get(i) ?? 0));
    switch (n.opType) {
      case 'Sub':
      case 'Mul':
        nodes.push({ name: n.output, op: n.opType, input: [a!, b!], attr: T });
        rank.set(n.output, r);
        break;
      case 'Add':
        nodes.push({ name: n.output, op: 'AddV2', input: [a!, b!], attr: T });
        rank.set(n.output, r);
        break;
      case 'Relu':
      case 'Elu':
        nodes.push({ name: n.output, op: n.opType, input: [a!], attr: T });
        rank.set(n.output, r);
        break;
      case 'Softmax': {
        const axis = n.attrs.axis ?? -1;
        if (axis !== -1 && axis !== (rank.get(a!) ?? 0) - 1)
          throw new Error(`tfjs writer: Softmax over axis ${String(axis)} (only the last axis maps to tf Softmax)`);
        nodes.push({ name: n.output, op: 'Softmax', input: [a!], attr: T });
        rank.set(n.output, r);
        break;
      }
      case 'MatMul': {
        const two = rank.get(a!) === 2 && rank.get(b!) === 2;
        nodes.push({
          name: n.output,
          op: two ? 'MatMul' : 'BatchMatMulV2',
          input: [a!, b!],
          attr: two ? { ...T, transpose_a: { b: false }, transpose_b: { b: false } } : { ...T, adj_x: { b: false }, adj_y: { b: false } },
        });
        rank.set(n.output, r);
        break;
      }
      case 'Gemm': {
        if (n.attrs.transA || n.attrs.transB || (n.attrs.alpha ?? 1) !== 1 || (n.attrs.beta ?? 1) !== 1)
          throw new Error('tfjs writer: only plain Gemm (no transpose, alpha = beta = 1) is translated');
        const mm = `${n.output}/MatMul`;
        nodes.push({ name: mm, op: 'MatMul', input: [a!, b!], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } });
        nodes.push(
          c ? { name: n.output, op: 'BiasAdd', input: [mm, c], attr: T } : { name: n.output, op: 'Identity', input: [mm], attr: T },
        );
        rank.set(n.output, 2);
        break;
      }
      case 'Reshape': {
        const shape = ir.ints.get(b!);
        if (!shape) throw new Error(`tfjs writer: Reshape ${n.output} needs a constant shape`);
        nodes.push({
          name: n.output,
          op: 'Reshape',
          input: [a!, intConst(`${n.output}/shape`, shape.values)],
          attr: { ...T, Tshape: INT32 },
        });
        rank.set(n.output, shape.values.length);
        break;
      }
      case 'Transpose': {
        const perm = n.attrs.perm;
        if (!Array.isArray(perm)) throw new Error(`tfjs writer: Transpose ${n.output} needs perm`);
        nodes.push({ name: n.output, op: 'Transpose', input: [a!, intConst(`${n.output}/perm`, perm)], attr: { ...T, Tperm: INT32 } });
        rank.set(n.output, r);
        break;
      }
      default:
        throw new Error(`tfjs writer: ONNX op ${n.opType} has no translation`);
    }
  }
  return { nodes, weights };
}

export interface GraphModelFiles {
  /** model.json text. */
  modelJson: string;
  /** Weight shards by file name (relative to model.json). */
  shards: Map<string, Uint8Array>;
  /** Which weights were stored as uint8. */
  quantised: string[];
}

/** The tfjs GraphModel of a checkpoint; `metadata` goes to model.json's userDefinedMetadata. */
export function exportGraphModel(
  ck: Checkpoint,
  opts: { weights?: TfjsWeights; metadata?: Record<string, unknown>; generatedBy?: string } = {},
): GraphModelFiles {
  const ir = buildInferenceGraph(ck).ir;
  const { nodes, weights } = translate(ir);
  const quantised: string[] = [];
  const parts: Uint8Array[] = [];
  const entries: WeightEntry[] = [];
  for (const { entry, data, matrix } of weights) {
    if (opts.weights === 'uint8' && matrix && data instanceof Float32Array) {
      const { q, min, scale } = quantizeUint8(data);
      entries.push({ ...entry, quantization: { dtype: 'uint8', min, scale, original_dtype: 'float32' } });
      parts.push(q);
      quantised.push(entry.name);
    } else {
      entries.push(entry);
      parts.push(new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
    }
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const count = Math.max(1, Math.ceil(total / SHARD_BYTES));
  const shards = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++)
    shards.set(`group1-shard${i + 1}of${count}.bin`, all.slice(i * SHARD_BYTES, Math.min(total, (i + 1) * SHARD_BYTES)));
  const output = (name: string, n: number) => ({ name: `${name}:0`, dtype: 'DT_FLOAT', tensorShape: dims([-1, n]) });
  const model: GraphModelJson = {
    format: 'graph-model',
    generatedBy: opts.generatedBy ?? 'cmcrd-edge',
    convertedBy: 'cmcrd-edge export (written from the checkpoint)',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: [...shards.keys()], weights: entries }],
    signature: {
      inputs: Object.fromEntries(
        ir.inputs.map((i) => [i.name, { name: `${i.name}:0`, dtype: 'DT_FLOAT', tensorShape: dims([-1, ...i.dims]) }]),
      ),
      outputs: Object.fromEntries(ir.outputs.map((o) => [o.name, output(o.name, o.dims[0]!)])),
    },
    ...(opts.metadata ? { userDefinedMetadata: opts.metadata } : {}),
  };
  return { modelJson: JSON.stringify(model), shards, quantised };
}
