/**
 * int8 quantisation of the exporter's fp32 ONNX graphs, in the QDQ format (QuantizeLinear / DequantizeLinear
 * pairs that onnxruntime fuses into QGemm / QLinearMatMul / MatMulIntegerToFloat at optimisation level 'extended'
 * or 'all'). Written here because onnxruntime's quantiser is Python only; its QDQ output is the structural
 * reference:
 *   - weights (the initializer operands of MatMul and Gemm): symmetric int8 per output channel, zero point 0,
 *     range [-127, 127], stored int8 with a DequantizeLinear;
 *   - static: every activation a MatMul or Gemm reads gets one shared QuantizeLinear → DequantizeLinear pair
 *     with an int8 (S8S8) scale and zero point from its calibrated range (zero always representable), and
 *     biases become int32 with scale s_x·s_w[c] (Gemm's C, and an initializer added to a MatMul's output);
 *   - dynamic: weights only; activations and biases stay float32.
 * BatchNorm is folded by the exporter. The z-score (Sub/Mul) stays float ahead of the first quantised tensor, the
 * normalised features: folding it into the MLP's first Gemm was measured to cost several points of arg-max
 * agreement even weight-only (x·diag(1/σ)W on raw features of ~15 cancelled by a bias of the same size amplifies
 * the weights' rounding), and EEGNet-mini / DGCNN share their first weights across bands or nodes, so cannot take it.
 * The softmax stays float.
 * Rounding is half to even, as ONNX QuantizeLinear and numpy do.
 */
import type { onnx as OnnxNs } from 'onnx-proto';
import { onnx } from './onnx-graph.js';

export type QuantMode = 'static' | 'dynamic';
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** A calibrated activation range (before zero is added to it). */
export interface Range {
  lo: number;
  hi: number;
}

export interface QuantizeOptions {
  mode: QuantMode;
  /** static: the calibrated range of every tensor `planQuantization` lists. */
  ranges?: Record<string, Range>;
  /** static: activation tensors to leave in float (as onnxruntime's nodes_to_exclude). */
  exclude?: string[];
  /** Recorded in the summary (static). */
  calibration?: { method: CalibrationMethod; samples: number; percentile?: number };
}

/** What the quantiser did, for the model card, parity.json and `cmcrd inspect`. */
export interface QuantSummary {
  scheme: 'QDQ S8S8' | 'QDQ int8 weights';
  mode: QuantMode;
  opset: number;
  calibration?: { method: CalibrationMethod; samples: number; percentile?: number };
  /** int8 weights: name, shape, channel axis (null: per tensor). */
  weights: { name: string; dims: number[]; axis: number | null }[];
  /** Quantised activations with their int8 scale and zero point. */
  activations: { name: string; scale: number; zeroPoint: number; lo: number; hi: number }[];
  /** int32 biases: name and the tensors whose scales make theirs. */
  biases: { name: string; input: string; weight: string }[];
  /** ReLUs dropped because the int8 output range [0, max] (zero point −128) already clamps at zero. */
  removedRelus: string[];
  /** Float initializers left as they were (z-score statistics, shapes are int64 and not listed). */
  floatInitializers: string[];
  nodes: { QuantizeLinear: number; DequantizeLinear: number };
}

type Node = OnnxNs.INodeProto;
type Tensor = OnnxNs.ITensorProto;
const DT = onnx.TensorProto.DataType;

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Round half to even (ONNX QuantizeLinear, numpy.round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Float32 contents of a FLOAT initializer (raw_data or float_data). */
export function floatData(t: Tensor): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new Error(`initializer ${t.name} is not float32`);
  if (t.rawData && t.rawData.length) {
    if (!LE) throw new Error('reading raw_data assumes a little-endian host');
    return new Float32Array(Uint8Array.from(t.rawData).buffer); // a copy: decoded bytes may be a view into the model's buffer
  }
  return Float32Array.from(t.floatData ?? []);
}

export const dimsOf = (t: Tensor): number[] => (t.dims ?? []).map(Number);

function floatTensor(name: string, dims: number[], data: ArrayLike<number>): Tensor {
  return { name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(Float32Array.from(data).buffer) };
}
function int8Tensor(name: string, dims: number[], data: Int8Array): Tensor {
  return { name, dims, dataType: DT.INT8, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}
function int32Tensor(name: string, dims: number[], data: Int32Array): Tensor {
  return { name, dims, dataType: DT.INT32, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

/**
 * Symmetric int8 weights: scale = max|w|/127 per channel along `axis`, or one for the tensor (`axis` null); 1 where
 * a channel is all zeros.
 */
export function quantizeWeight(data: Float32Array, dims: number[], axis: number | null): { q: Int8Array; scale: Float32Array } {
  const C = axis === null ? 1 : dims[axis]!;
  const inner = axis === null ? data.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const absmax = new Float64Array(C);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % C;
    absmax[c] = Math.max(absmax[c]!, Math.abs(data[i]!));
  }
  const scale = Float32Array.from(absmax, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % C;
    q[i] = Math.max(-127, Math.min(127, roundHalfEven(data[i]! / scale[c]!)));
  }
  return { q, scale };
}

/** int8 (S8) asymmetric activation parameters for a range; zero is always inside it (onnxruntime does the same). */
export function activationParams(r: Range): { scale: number; zeroPoint: number } {
  const lo = Math.min(r.lo, 0);
  const hi = Math.max(r.hi, 0);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error(`activation range [${r.lo}, ${r.hi}] is not finite`);
  if (hi === lo) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  const zeroPoint = Math.max(-128, Math.min(127, roundHalfEven(-128 - lo / scale)));
  return { scale, zeroPoint };
}

/** int32 bias with scale s_x·s_w[c] along the last axis; zero point 0. */
export function quantizeBias(data: Float32Array, scale: Float32Array): Int32Array {
  const C = scale.length;
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = roundHalfEven(data[i]! / scale[i % C]!);
    out[i] = Math.max(-2147483648, Math.min(2147483647, v));
  }
  return out;
}

interface Weighted {
  /** Index of the initializer operand and its channel axis (null: one scale for the tensor). */
  index: number;
  axis: number | null;
}

/** Which operand of a node is a quantisable weight (a rank-2 float initializer of MatMul or Gemm), if any. */
function weightOperands(n: Node, inits: Map<string, Tensor>): Weighted[] {
  const isW = (name: string | undefined) => {
    const t = name !== undefined ? inits.get(name) : undefined;
    return !!t && t.dataType === DT.FLOAT && dimsOf(t).length === 2;
  };
  const ins = n.input ?? [];
  if (n.opType === 'MatMul') {
    const out: Weighted[] = [];
    if (isW(ins[1])) out.push({ index: 1, axis: 1 }); // [K, N]: one scale per output column
    // [M, K] on the left (DGCNN's L̃): one scale, since MatMulIntegerToFloat / QLinearMatMul take a scalar a_scale.
    if (isW(ins[0])) out.push({ index: 0, axis: null });
    return out;
  }
  if (n.opType === 'Gemm') {
    const transB = (n.attribute ?? []).find((a) => a.name === 'transB');
    return isW(ins[1]) ? [{ index: 1, axis: Number(transB?.i ?? 0) ? 0 : 1 }] : [];
  }
  return [];
}

/**
 * The activation tensors a static quantisation needs ranges for (the non-initializer operands of MatMul / Gemm),
 * in graph order.
 */
export function planQuantization(model: Uint8Array): { activations: string[] } {
  const m = decode(model);
  const inits = new Map((m.graph!.initializer ?? []).map((t) => [t.name!, t]));
  const seen = new Set<string>();
  for (const n of m.graph!.node ?? []) {
    if (n.opType !== 'MatMul' && n.opType !== 'Gemm') continue;
    const data = n.opType === 'Gemm' ? [n.input![0]!] : n.input!.slice(0, 2);
    for (const name of data) if (!inits.has(name)) seen.add(name);
  }
  return { activations: [...seen] };
}

function decode(model: Uint8Array): OnnxNs.ModelProto {
  const m = onnx.ModelProto.decode(model);
  if (!m.graph) throw new Error('model has no graph');
  return m;
}

/** fp32 ONNX (as the exporter writes it) → int8 QDQ ONNX; `extraMetadata` is merged into its metadata_props. */
export function quantizeOnnx(
  model: Uint8Array,
  opts: QuantizeOptions,
  extraMetadata: Record<string, string> = {},
): { bytes: Uint8Array; summary: QuantSummary } {
  const m = decode(model);
  const g = m.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const producer = new Map<string, Node>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const statik = opts.mode === 'static';
  const plan = statik ? planQuantization(model).activations.filter((a) => !opts.exclude?.includes(a)) : [];
  const toQuantize = new Set(plan);
  for (const t of plan) if (!opts.ranges?.[t]) throw new Error(`static quantisation needs the calibrated range of tensor "${t}"`);

  const newInits: Tensor[] = [];
  const nodes: Node[] = [];
  const summary: QuantSummary = {
    scheme: statik ? 'QDQ S8S8' : 'QDQ int8 weights',
    mode: opts.mode,
    opset: Number(m.opsetImport?.find((o) => !o.domain)?.version ?? 0),
    ...(opts.calibration && statik ? { calibration: opts.calibration } : {}),
    weights: [],
    activations: [],
    biases: [],
    removedRelus: [],
    floatInitializers: [],
    nodes: { QuantizeLinear: 0, DequantizeLinear: 0 },
  };
  const replaced = new Set<string>(); // float initializers now stored quantised
  const weightScale = new Map<string, Float32Array>(); // weight → per-channel scale
  const dqOf = new Map<string, string>(); // tensor (weight, bias or activation) → its DequantizeLinear output
  const actScale = new Map<string, number>();

  const dq = (base: string, q: string, scale: string, zp: string | null, axis?: number) => {
    const out = `${base}.dq`;
    nodes.push({
      opType: 'DequantizeLinear',
      input: zp === null ? [q, scale] : [q, scale, zp],
      output: [out],
      attribute: axis === undefined ? [] : [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis }],
    });
    summary.nodes.DequantizeLinear++;
    return out;
  };

  /** One all-zero int8 zero point per shape, shared by the weights of that many channels. */
  const zeros = (dims: number[]): string => {
    const name = `zero_point.${dims.length ? dims[0] : 'scalar'}`;
    if (!newInits.some((t) => t.name === name)) newInits.push(int8Tensor(name, dims, new Int8Array(dims[0] ?? 1)));
    return name;
  };

  const quantWeight = (name: string, axis: number | null): string => {
    const hit = dqOf.get(name);
    if (hit) return hit;
    const t = inits.get(name)!;
    const dims = dimsOf(t);
    const { q, scale } = quantizeWeight(floatData(t), dims, axis);
    const sdims = axis === null ? [] : [scale.length];
    newInits.push(int8Tensor(`${name}.q`, dims, q), floatTensor(`${name}.s`, sdims, scale));
    const out = dq(name, `${name}.q`, `${name}.s`, zeros(sdims), axis ?? undefined);
    weightScale.set(name, scale);
    dqOf.set(name, out);
    replaced.add(name);
    summary.weights.push({ name, dims, axis });
    return out;
  };

  /** Q/DQ for activation `name`; the QuantizeLinear reads `source` (a dropped ReLU's input) when given. */
  const quantAct = (name: string, source = name) => {
    if (!toQuantize.has(name) || dqOf.has(name)) return;
    const r = opts.ranges![name]!;
    const { scale, zeroPoint } = activationParams(r);
    newInits.push(floatTensor(`${name}.s`, [], [scale]), int8Tensor(`${name}.z`, [], Int8Array.of(zeroPoint)));
    const qOut = `${name}.q`;
    nodes.push({ opType: 'QuantizeLinear', input: [source, `${name}.s`, `${name}.z`], output: [qOut], attribute: [] });
    summary.nodes.QuantizeLinear++;
    dqOf.set(name, dq(name, qOut, `${name}.s`, `${name}.z`));
    actScale.set(name, scale);
    summary.activations.push({ name, scale, zeroPoint, lo: r.lo, hi: r.hi });
  };

  /** The int32 bias scale of a MatMul's output (s_x · s_w, per output column), following Adds of MatMuls. */
  const accumulator = (tensor: string): { scale: Float32Array; input: string; weight: string } | null => {
    const p = producer.get(tensor);
    if (!p) return null;
    if (p.opType === 'MatMul') {
      const [a, b] = p.input as [string, string];
      const sw = weightScale.get(b);
      const sx = actScale.get(a);
      if (!sw || sx === undefined) return null;
      return { scale: Float32Array.from(sw, (s) => Math.fround(s * sx)), input: a, weight: b };
    }
    if (p.opType === 'Add' && p.input!.every((i) => !inits.has(i))) return accumulator(p.input![0]!) ?? accumulator(p.input![1]!);
    return null;
  };

  const quantBias = (name: string, acc: { scale: Float32Array; input: string; weight: string }): string | null => {
    const t = inits.get(name)!;
    const dims = dimsOf(t);
    if (!dims.length || dims[dims.length - 1] !== acc.scale.length) return null;
    const q = quantizeBias(floatData(t), acc.scale);
    const base = `${name}.q`;
    // No zero-point input: it is optional in DequantizeLinear and 0 for int32 (saves 4 bytes per channel).
    newInits.push(int32Tensor(base, dims, q), floatTensor(`${name}.s`, [acc.scale.length], acc.scale));
    replaced.add(name);
    summary.biases.push({ name, input: acc.input, weight: acc.weight });
    return dq(name, base, `${name}.s`, null, dims.length - 1);
  };

  const consumers = new Map<string, number>();
  for (const n of g.node ?? []) for (const i of n.input ?? []) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name!));
  /**
   * A ReLU whose output is quantised with zero point −128 (its range starts at 0) and whose input is a linear op's
   * output read by nothing else: onnxruntime's quantiser drops it (QDQRemovableActivation), and the linear op then
   * fuses with the QuantizeLinear into QGemm / QLinearMatMul.
   */
  const removableRelu = (n: Node): boolean => {
    const [t] = n.input as [string];
    const o = n.output![0]!;
    const p = producer.get(t);
    return (
      n.opType === 'Relu' &&
      toQuantize.has(o) &&
      !!p &&
      ['Gemm', 'MatMul', 'Add'].includes(p.opType!) &&
      consumers.get(t) === 1 &&
      !graphOutputs.has(t) &&
      !graphOutputs.has(o) &&
      activationParams(opts.ranges![o]!).zeroPoint === -128
    );
  };

  for (const i of g.input ?? []) quantAct(i.name!);
  for (const n of g.node ?? []) {
    if (statik && removableRelu(n)) {
      quantAct(n.output![0]!, n.input![0]!);
      summary.removedRelus.push(n.name ?? n.output![0]!);
      continue;
    }
    const ins = [...(n.input ?? [])];
    const weighted = weightOperands(n, inits);
    for (const w of weighted) ins[w.index] = quantWeight(ins[w.index]!, w.axis);
    if (statik) {
      for (let k = 0; k < ins.length; k++) {
        const dqName = dqOf.get(n.input![k]!);
        if (!weighted.some((w) => w.index === k) && dqName && toQuantize.has(n.input![k]!)) ins[k] = dqName;
      }
      if (n.opType === 'Gemm' && ins.length > 2 && inits.has(n.input![2]!) && weighted.length) {
        const sx = actScale.get(n.input![0]!);
        const sw = weightScale.get(n.input![1]!);
        if (sx !== undefined && sw) {
          const out = quantBias(n.input![2]!, {
            scale: Float32Array.from(sw, (s) => Math.fround(s * sx)),
            input: n.input![0]!,
            weight: n.input![1]!,
          });
          if (out) ins[2] = out;
        }
      }
      if (n.opType === 'Add' && ins.length === 2) {
        const k = inits.has(n.input![1]!) ? 1 : inits.has(n.input![0]!) ? 0 : -1;
        const acc = k >= 0 ? accumulator(n.input![1 - k]!) : null;
        if (acc) {
          const out = quantBias(n.input![k]!, acc);
          if (out) ins[k] = out;
        }
      }
    }
    nodes.push({ ...n, input: ins });
    for (const o of n.output ?? []) quantAct(o);
  }

  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const kept = (g.initializer ?? []).filter((t) => !replaced.has(t.name!) || used.has(t.name!));
  summary.floatInitializers = kept.filter((t) => t.dataType === DT.FLOAT).map((t) => t.name!);
  const out = onnx.ModelProto.create({
    ...m,
    graph: { ...g, node: nodes, initializer: [...kept, ...newInits] },
    metadataProps: mergeMetadata(m.metadataProps ?? [], extraMetadata),
  });
  return { bytes: onnx.ModelProto.encode(out).finish(), summary };
}

function mergeMetadata(props: OnnxNs.IStringStringEntryProto[], extra: Record<string, string>): OnnxNs.IStringStringEntryProto[] {
  const merged = new Map(props.map((p) => [p.key ?? '', p.value ?? '']));
  for (const [k, v] of Object.entries(extra)) merged.set(k, v);
  return [...merged].map(([key, value]) => ({ key, value }));
}

/** The same model with entries added to (or replaced in) its metadata_props. */
export function withMetadata(model: Uint8Array, extra: Record<string, string>): Uint8Array {
  const m = decode(model);
  return onnx.ModelProto.encode(onnx.ModelProto.create({ ...m, metadataProps: mergeMetadata(m.metadataProps ?? [], extra) })).finish();
}
