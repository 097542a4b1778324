/**
 * `cmcrd inspect`: what an ONNX model or a model directory holds — the model card, inputs and outputs with shapes,
 * operators with counts, opset and IR version, initializer sizes, the quantisation summary. Pure functions on bytes
 * (the CLI reads the files). Models come from anywhere, so nothing in them is trusted: a corrupt, truncated or
 * foreign file, or metadata_props that are too many or too large, is an Error naming the source, and metadata is
 * kept in null-prototype records (a key "__proto__" is just a key).
 */
import type { onnx as OnnxNs } from 'onnx-proto';
import { onnx } from './onnx-graph.js';
import { MODEL_DIR_FORMAT, type PackageCard } from './model-dir.js';

/** Limits on what a model's metadata_props may hold before it is refused as hostile or broken. */
export const METADATA_LIMITS = { entries: 256, keyBytes: 256, valueBytes: 1 << 20, totalBytes: 4 << 20 } as const;
/** Largest model file inspected (a model of this toolkit is well under a megabyte). */
export const MAX_MODEL_BYTES = 256 << 20;

const DTYPES: Record<number, { name: string; bytes: number }> = {
  1: { name: 'float32', bytes: 4 },
  2: { name: 'uint8', bytes: 1 },
  3: { name: 'int8', bytes: 1 },
  4: { name: 'uint16', bytes: 2 },
  5: { name: 'int16', bytes: 2 },
  6: { name: 'int32', bytes: 4 },
  7: { name: 'int64', bytes: 8 },
  9: { name: 'bool', bytes: 1 },
  10: { name: 'float16', bytes: 2 },
  11: { name: 'float64', bytes: 8 },
  12: { name: 'uint32', bytes: 4 },
  13: { name: 'uint64', bytes: 8 },
};

export interface TensorInfo {
  name: string;
  dtype: string;
  /** Dimensions; symbolic ones by name (e.g. "N"), unknown ones as "?". */
  shape: (number | string)[];
}

export interface OnnxInspection {
  source: string;
  bytes: number;
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  graph: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Operator → node count ("domain.Op" outside the default domain), most frequent first. */
  operators: [string, number][];
  initializers: { name: string; dtype: string; dims: number[]; bytes: number }[];
  initializerBytes: number;
  quantisation: {
    quantizeLinear: number;
    dequantizeLinear: number;
    int8Tensors: number;
    int32Tensors: number;
    /** DequantizeLinear nodes with a per-axis (per-channel) scale. */
    perChannel: number;
    /** What the exporter recorded (metadata "cmcrd.quantisation"), if anything. */
    recorded: unknown;
  } | null;
  /** metadata_props (the model card), in file order. */
  metadata: [string, string][];
}

const utf8 = new TextEncoder();
const num = (v: unknown) => Number(v ?? 0);

function checkMetadata(props: OnnxNs.IStringStringEntryProto[], source: string): [string, string][] {
  if (props.length > METADATA_LIMITS.entries)
    throw new Error(
      `${source}: metadata_props has ${props.length} entries (more than ${METADATA_LIMITS.entries}): refused as hostile or broken`,
    );
  let total = 0;
  return props.map((p, i) => {
    const key = p.key ?? '';
    const value = p.value ?? '';
    const kb = utf8.encode(key).length;
    const vb = utf8.encode(value).length;
    total += kb + vb;
    if (kb > METADATA_LIMITS.keyBytes)
      throw new Error(
        `${source}: metadata_props entry ${i} has a key of ${kb} bytes (more than ${METADATA_LIMITS.keyBytes}): refused as hostile or broken`,
      );
    if (vb > METADATA_LIMITS.valueBytes)
      throw new Error(
        `${source}: metadata_props "${printable(key)}" has a value of ${vb} bytes (more than ${METADATA_LIMITS.valueBytes}): refused as hostile or broken`,
      );
    if (total > METADATA_LIMITS.totalBytes)
      throw new Error(`${source}: metadata_props hold more than ${METADATA_LIMITS.totalBytes} bytes: refused as hostile or broken`);
    return [key, value];
  });
}

/** A string safe to print on a terminal: control characters escaped, at most `max` characters. */
export function printable(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const esc = s.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return esc.length > max ? `${esc.slice(0, max)}… (${esc.length} characters)` : esc;
}

function tensorInfo(v: OnnxNs.IValueInfoProto): TensorInfo {
  const t = v.type?.tensorType;
  return {
    name: v.name ?? '',
    dtype: DTYPES[t?.elemType ?? 0]?.name ?? `type ${t?.elemType ?? '?'}`,
    shape: (t?.shape?.dim ?? []).map((d) =>
      d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? num(d.dimValue) : '?',
    ),
  };
}

function initializerBytes(t: OnnxNs.ITensorProto): number {
  if (t.rawData && t.rawData.length) return t.rawData.length;
  const n = (t.dims ?? []).reduce<number>((a, b) => a * num(b), 1);
  return n * (DTYPES[t.dataType ?? 0]?.bytes ?? 0);
}

/** Inspect ONNX model bytes; throws an Error naming `source` for anything that is not a readable ONNX model. */
export function inspectOnnx(bytes: Uint8Array, source = 'model'): OnnxInspection {
  if (bytes.length === 0) throw new Error(`${source}: empty file, not an ONNX model`);
  if (bytes.length > MAX_MODEL_BYTES) throw new Error(`${source}: ${bytes.length} bytes, more than the ${MAX_MODEL_BYTES} inspected`);
  let m: OnnxNs.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`${source}: not a readable ONNX model (${(e as Error).message}; truncated or not ONNX?)`);
  }
  const g = m.graph;
  if (!g || !num(m.irVersion) || !(m.opsetImport ?? []).length || !((g.node ?? []).length || (g.output ?? []).length)) {
    throw new Error(
      `${source}: not an ONNX model (no ${!g ? 'graph' : !num(m.irVersion) ? 'ir_version' : !(m.opsetImport ?? []).length ? 'opset_import' : 'nodes or outputs'})`,
    );
  }
  const metadata = checkMetadata(m.metadataProps ?? [], source);
  const ops = new Map<string, number>();
  let perChannel = 0;
  for (const n of g.node ?? []) {
    const op = `${n.domain ? `${n.domain}.` : ''}${n.opType ?? '?'}`;
    ops.set(op, (ops.get(op) ?? 0) + 1);
    if (n.opType === 'DequantizeLinear' && (n.attribute ?? []).some((a) => a.name === 'axis')) perChannel++;
  }
  const inits = (g.initializer ?? []).map((t) => ({
    name: t.name ?? '',
    dtype: DTYPES[t.dataType ?? 0]?.name ?? `type ${t.dataType}`,
    dims: (t.dims ?? []).map(num),
    bytes: initializerBytes(t),
  }));
  const ql = ops.get('QuantizeLinear') ?? 0;
  const dql = ops.get('DequantizeLinear') ?? 0;
  const recordedText = metadata.find(([k]) => k === 'cmcrd.quantisation')?.[1];
  let recorded: unknown = null;
  if (recordedText !== undefined) {
    try {
      recorded = JSON.parse(recordedText);
    } catch {
      recorded = `(not JSON) ${printable(recordedText)}`;
    }
  }
  return {
    source,
    bytes: bytes.length,
    irVersion: num(m.irVersion),
    opsets: (m.opsetImport ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: num(o.version) })),
    producer: `${m.producerName ?? ''} ${m.producerVersion ?? ''}`.trim(),
    graph: g.name ?? '',
    inputs: (g.input ?? []).filter((i) => !inits.some((t) => t.name === i.name)).map(tensorInfo),
    outputs: (g.output ?? []).map(tensorInfo),
    operators: [...ops].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
    initializers: inits.sort((a, b) => b.bytes - a.bytes),
    initializerBytes: inits.reduce((s, t) => s + t.bytes, 0),
    quantisation:
      ql || dql || recorded !== null
        ? {
            quantizeLinear: ql,
            dequantizeLinear: dql,
            int8Tensors: inits.filter((t) => t.dtype === 'int8').length,
            int32Tensors: inits.filter((t) => t.dtype === 'int32').length,
            perChannel,
            recorded,
          }
        : null,
    metadata,
  };
}

const size = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MB` : b >= 1024 ? `${(b / 1024).toFixed(1)} kB` : `${b} B`);
const shape = (t: TensorInfo) => `${printable(t.name)} ${t.dtype} [${t.shape.map((d) => printable(String(d), 40)).join(', ')}]`;

/** Card entries worth a line each in text output (values are JSON; long ones are summarised). */
function cardLines(metadata: [string, string][]): string[] {
  return metadata.map(([k, v]) => {
    let shown = v;
    try {
      const j = JSON.parse(v) as unknown;
      if (Array.isArray(j) && j.every((x) => typeof x === 'string')) shown = j.join(', ');
      else if (j && typeof j === 'object' && !Array.isArray(j) && 'mean' in j)
        shown = `{ mean: [${(j as { mean: unknown[] }).mean.length} values], std: […] }`;
    } catch {
      /* plain text */
    }
    return `  ${printable(k, 60)}: ${printable(shown, 160)}`;
  });
}

export function formatOnnxInspection(r: OnnxInspection, initializersShown = 12): string {
  const out = [
    `${printable(r.source)} (${size(r.bytes)}): ONNX IR ${r.irVersion}, opset ${r.opsets.map((o) => `${printable(o.domain, 40)} ${o.version}`).join(', ')}, producer ${printable(r.producer, 60) || '?'}, graph ${printable(r.graph, 60) || '?'}`,
    `inputs:  ${r.inputs.map(shape).join('; ') || '(none)'}`,
    `outputs: ${r.outputs.map(shape).join('; ') || '(none)'}`,
    `operators (${r.operators.reduce((s, [, n]) => s + n, 0)} nodes): ${r.operators.map(([op, n]) => `${printable(op, 60)} ×${n}`).join(', ')}`,
    `initializers: ${r.initializers.length}, ${size(r.initializerBytes)}`,
    ...r.initializers
      .slice(0, initializersShown)
      .map((t) => `  ${printable(t.name, 60)} ${t.dtype} [${t.dims.join(', ')}] ${size(t.bytes)}`),
    ...(r.initializers.length > initializersShown ? [`  … ${r.initializers.length - initializersShown} more`] : []),
  ];
  const q = r.quantisation;
  out.push(
    q
      ? `quantisation: ${q.quantizeLinear} QuantizeLinear, ${q.dequantizeLinear} DequantizeLinear (${q.perChannel} per-channel), ${q.int8Tensors} int8 and ${q.int32Tensors} int32 initializers${q.recorded !== null ? `; recorded: ${printable(JSON.stringify(q.recorded), 300)}` : ''}`
      : 'quantisation: none (float model)',
  );
  out.push(r.metadata.length ? 'card:' : 'card: none (no metadata_props)', ...cardLines(r.metadata));
  return out.join('\n');
}

export interface ModelDirInspection {
  source: string;
  card: PackageCard;
  /** Per file listed in card.json: present, size and hash as recorded. */
  files: { name: string; bytes: number; present: boolean; sizeOk: boolean; hashOk: boolean | null }[];
  models: OnnxInspection[];
  tfjs: { file: string; nodes: number; operators: [string, number][]; weights: number; weightBytes: number; uint8Weights: number } | null;
}

/**
 * Inspect a model directory through `read` (a file's bytes by its name in the directory, null when absent) and
 * `sha256` (hex digest; the CLI passes node:crypto's). Throws an Error naming the file for a missing or broken
 * card.json, or a broken model file.
 */
export function inspectModelDir(
  source: string,
  read: (name: string) => Uint8Array | null,
  sha256: (b: Uint8Array) => string,
): ModelDirInspection {
  const cardBytes = read('card.json');
  if (!cardBytes) throw new Error(`${source}: no card.json (not a model directory written by \`cmcrd export --out\`)`);
  if (cardBytes.length > METADATA_LIMITS.totalBytes)
    throw new Error(`${source}/card.json: ${cardBytes.length} bytes, too large for a card`);
  let card: PackageCard;
  try {
    card = JSON.parse(new TextDecoder().decode(cardBytes)) as PackageCard;
  } catch (e) {
    throw new Error(`${source}/card.json: not valid JSON (${(e as Error).message})`);
  }
  if (
    !card ||
    typeof card !== 'object' ||
    card.format !== MODEL_DIR_FORMAT ||
    !Array.isArray(card.files) ||
    !Array.isArray(card.variants)
  ) {
    throw new Error(`${source}/card.json: field "format" must be "${MODEL_DIR_FORMAT}" with "variants" and "files" arrays`);
  }
  const safeName = (n: unknown): n is string =>
    typeof n === 'string' && n.length > 0 && !n.startsWith('/') && !n.split(/[\\/]/).includes('..');
  const files = card.files.map((f) => {
    if (!safeName(f?.name))
      throw new Error(`${source}/card.json: file name ${JSON.stringify(f?.name)} is not a relative path inside the directory`);
    const b = read(f.name);
    return {
      name: f.name,
      bytes: b?.length ?? 0,
      present: !!b,
      sizeOk: !!b && b.length === f.bytes,
      hashOk: b ? sha256(b) === f.sha256 : null,
    };
  });
  const models: OnnxInspection[] = [];
  let tfjs: ModelDirInspection['tfjs'] = null;
  for (const v of card.variants) {
    if (!safeName(v?.file))
      throw new Error(`${source}/card.json: variant file ${JSON.stringify(v?.file)} is not a relative path inside the directory`);
    const b = read(v.file);
    if (!b) continue;
    if (v.format === 'onnx') models.push(inspectOnnx(b, `${source}/${v.file}`));
    else if (v.format === 'tfjs') {
      let j: {
        modelTopology?: { node?: { op?: string }[] };
        weightsManifest?: { weights?: { shape?: number[]; dtype?: string; quantization?: { dtype?: string } }[] }[];
      };
      try {
        j = JSON.parse(new TextDecoder().decode(b)) as typeof j;
      } catch (e) {
        throw new Error(`${source}/${v.file}: not valid JSON (${(e as Error).message})`);
      }
      const nodes = j.modelTopology?.node ?? [];
      const ops = new Map<string, number>();
      for (const n of nodes) ops.set(String(n.op), (ops.get(String(n.op)) ?? 0) + 1);
      const weights = (j.weightsManifest ?? []).flatMap((g) => g.weights ?? []);
      const wBytes = weights.reduce(
        (s, w) => s + (w.shape ?? []).reduce((a, c) => a * c, 1) * (w.quantization?.dtype === 'uint8' ? 1 : 4),
        0,
      );
      tfjs = {
        file: v.file,
        nodes: nodes.length,
        operators: [...ops].sort((a, c) => c[1] - a[1]),
        weights: weights.length,
        weightBytes: wBytes,
        uint8Weights: weights.filter((w) => w.quantization?.dtype === 'uint8').length,
      };
    }
  }
  return { source, card, files, models, tfjs };
}

export function formatModelDirInspection(r: ModelDirInspection): string {
  const c = r.card;
  const out = [`${printable(r.source)}: model directory (${c.format} v${c.version})`, 'variants:'];
  for (const v of c.variants)
    out.push(
      `  ${printable(String(v.name), 40)} ${printable(String(v.format), 20)} ${printable(String(v.file), 80)} ${size(Number(v.bytes))}${v.quantisation ? ` — ${printable(JSON.stringify(v.quantisation), 200)}` : ''}`,
    );
  if (Array.isArray(c.runtimes) && c.runtimes.length) {
    out.push('runtimes (batch-1 latency; the variant each loads):');
    for (const rt of c.runtimes)
      out.push(
        `  ${printable(String(rt.runtime), 40)}: ${(rt.latency ?? []).map((l) => `${printable(String(l.variant), 30)} p50 ${Number(l.p50Us).toFixed(0)} µs / p99 ${Number(l.p99Us).toFixed(0)} µs`).join(', ')}; load ${printable(String(rt.load), 30)}`,
      );
  }
  out.push('files:');
  for (const f of r.files)
    out.push(
      `  ${printable(f.name, 80)} ${f.present ? size(f.bytes) : 'MISSING'}${f.present && (!f.sizeOk || !f.hashOk) ? ' — DIFFERS from card.json (size or SHA-256)' : f.present ? ' ok' : ''}`,
    );
  for (const m of r.models) out.push('', formatOnnxInspection(m));
  if (r.tfjs)
    out.push(
      '',
      `${printable(r.tfjs.file)}: tfjs GraphModel, ${r.tfjs.nodes} nodes (${r.tfjs.operators.map(([o, n]) => `${printable(o, 40)} ×${n}`).join(', ')}), ${r.tfjs.weights} weights, ${size(r.tfjs.weightBytes)}${r.tfjs.uint8Weights ? ` (${r.tfjs.uint8Weights} uint8)` : ''}`,
    );
  return out.join('\n');
}
