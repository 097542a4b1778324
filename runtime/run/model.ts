/**
 * What a model directory offers the runtime: its variants, which one the card says is faster on this runtime,
 * and whether the model expects per-user calibration. Browser-safe (the caller reads the files); the Node loader
 * is model-dir.node.ts.
 *
 * A card.json with a "format" is the exporter's (`cmcrd export --out <dir>`, format "cmcrd-model-dir"): it is read
 * exactly as written (./model-dir-card.ts), and the faster variant is the one its `runtimes[]` entry for this
 * runtime says to `load` (the fastest variant that meets the quality bar), when that is not model.onnx.
 *
 * Any other card.json (hand-written, or from before the exporter) is read tolerantly: either the metadata map,
 * string → string with JSON inside, or a structured object. Fields read, at the top level or as "cmcrd.<name>":
 *  - `variants`: [{ name, file, … }] or { <name>: { file, … } | "<file>" };
 *  - the faster variant per runtime: `faster` / `fasterVariant` / `fastest` = { "<runtime>": "<variant>" }, or per
 *    variant `faster` / `fasterOn` = ["<runtime>", …], or per variant `latencyMs` = { "<runtime>": number | { p50 } }
 *    (the lowest wins);
 *  - `user_calibration` / `userCalibration`: "required" | "optional" | "none" (also read from the ONNX card).
 * Runtimes: "onnxruntime-node" (aliases "ort-node", "node"), "onnxruntime-web" ("ort-web", "web", "wasm").
 */
import type { ModelCard } from '../model-card.js';
import { isModelDirCard, parseModelDirCard, type ModelDirCard } from './model-dir-card.js';

export type OnnxRuntimeName = 'onnxruntime-node' | 'onnxruntime-web';
export type UserCalibration = 'required' | 'optional' | 'none';

export interface ModelVariantRef {
  name: string;
  /** File name inside the model directory. */
  file: string;
}

export interface ModelDirectoryInfo {
  variants: ModelVariantRef[];
  /** The variant the richest modes run (model.onnx). */
  defaultVariant: ModelVariantRef;
  /** The variant the card says is faster on this runtime, or null (then model.onnx runs in every mode). */
  fastVariant: ModelVariantRef | null;
  /** Why fastVariant is what it is. */
  fastReason: string;
  userCalibration: UserCalibration | null;
  /** The exporter's card.json, validated (null for other cards): the loader checks the model files against it. */
  exported: ModelDirCard | null;
}

const RUNTIME_ALIASES: Record<OnnxRuntimeName, string[]> = {
  'onnxruntime-node': ['onnxruntime-node', 'ort-node', 'node'],
  'onnxruntime-web': ['onnxruntime-web', 'ort-web', 'web', 'wasm'],
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A card field, top-level or "cmcrd.<name>", with JSON strings parsed. */
function field(card: Obj, ...names: string[]): unknown {
  for (const n of names) {
    for (const k of [n, `cmcrd.${n}`]) {
      if (!(k in card)) continue;
      const v = card[k];
      if (typeof v === 'string') {
        try {
          return JSON.parse(v) as unknown;
        } catch {
          return v;
        }
      }
      return v;
    }
  }
  return undefined;
}

function runtimeValue<T>(m: unknown, runtime: OnnxRuntimeName): T | undefined {
  if (!isObj(m)) return undefined;
  for (const a of RUNTIME_ALIASES[runtime]) if (a in m) return m[a] as T;
  return undefined;
}

function parseVariants(v: unknown, source: string): ModelVariantRef[] {
  const out: (ModelVariantRef & { meta: Obj })[] = [];
  const add = (name: string, entry: unknown, where: string) => {
    const file = typeof entry === 'string' ? entry : isObj(entry) && typeof entry.file === 'string' ? entry.file : null;
    if (!file) throw new Error(`${source}: ${where} has no "file"`);
    if (file.includes('..') || file.startsWith('/') || file.includes('\\'))
      throw new Error(`${source}: ${where} names the file ${JSON.stringify(file)}, which is not inside the model directory`);
    out.push({ name, file, meta: isObj(entry) ? entry : {} });
  };
  if (Array.isArray(v)) {
    v.forEach((e, i) => {
      const name = isObj(e) && typeof e.name === 'string' ? e.name : isObj(e) && typeof e.file === 'string' ? e.file : `variant ${i}`;
      add(name, e, `variants[${i}]`);
    });
  } else if (isObj(v)) for (const [k, e] of Object.entries(v)) add(k, e, `variants.${k}`);
  else if (v !== undefined) throw new Error(`${source}: "variants" must be a list or an object`);
  return out;
}

/**
 * Interpret a model directory: card.json (parsed JSON, or null when absent) and the file names present; `bytesOf`
 * gives a file's size (undefined when missing; also for files in subfolders, e.g. tfjs/model.json), which the
 * exporter's card.json lists. Without it, sizes are not checked.
 */
export function describeModelDirectory(
  cardJson: unknown,
  files: readonly string[],
  runtime: OnnxRuntimeName,
  source: string,
  bytesOf?: (name: string) => number | undefined,
): ModelDirectoryInfo {
  if (cardJson !== null && !isObj(cardJson)) throw new Error(`${source}: card.json must hold a JSON object`);
  if (isModelDirCard(cardJson)) {
    // Without sizes: files of the top folder must be present, their sizes are taken as listed.
    const present = new Set(files);
    const asListed = (n: string) =>
      n.includes('/') || present.has(n)
        ? (cardJson as { files?: { name?: unknown; bytes?: unknown }[] }).files?.find((f) => f?.name === n)?.bytes
        : undefined;
    const pkg = parseModelDirCard(
      cardJson,
      `${source}/card.json`,
      bytesOf ??
        ((n) => {
          const b = asListed(n);
          return typeof b === 'number' ? b : undefined;
        }),
    );
    return describeExported(pkg, runtime, source);
  }
  const card: Obj = isObj(cardJson) ? cardJson : {};
  const raw = field(card, 'variants');
  let variants = parseVariants(raw, `${source}/card.json`) as (ModelVariantRef & { meta?: Obj })[];
  if (!variants.length) {
    variants = [{ name: 'fp32', file: 'model.onnx' }];
    if (files.includes('model.int8.onnx')) variants.push({ name: 'int8', file: 'model.int8.onnx' });
  }
  for (const v of variants) {
    if (!v.file.endsWith('.onnx')) continue;
    if (!files.includes(v.file))
      throw new Error(`${source}: card.json lists variant "${v.name}" in ${v.file}, which is not in the directory`);
  }
  const onnx = variants.filter((v) => v.file.endsWith('.onnx'));
  if (!onnx.length) throw new Error(`${source}: no ONNX model (model.onnx) in the directory`);
  const defaultVariant = onnx.find((v) => v.file === 'model.onnx') ?? onnx[0]!;

  let fast: ModelVariantRef | undefined;
  let fastReason = '';
  const byName = (n: unknown) => (typeof n === 'string' ? onnx.find((v) => v.name === n || v.file === n) : undefined);
  const map = runtimeValue<unknown>(field(card, 'faster', 'fasterVariant', 'fastest', 'faster_variant'), runtime);
  if (map !== undefined) {
    fast = byName(map);
    fastReason = fast
      ? `card.json names ${fast.name} the faster variant on ${runtime}`
      : `card.json names ${JSON.stringify(map)} the faster variant on ${runtime}, which is not an ONNX variant here`;
  }
  if (!fast) {
    const flagged = onnx.find((v) => {
      const f = (v as { meta?: Obj }).meta?.faster ?? (v as { meta?: Obj }).meta?.fasterOn;
      return Array.isArray(f) && f.some((r) => RUNTIME_ALIASES[runtime].includes(String(r)));
    });
    if (flagged) {
      fast = flagged;
      fastReason = `card.json marks ${flagged.name} faster on ${runtime}`;
    }
  }
  if (!fast) {
    let best: { v: ModelVariantRef; ms: number } | null = null;
    for (const v of onnx) {
      const l = runtimeValue<unknown>((v as { meta?: Obj }).meta?.latencyMs, runtime);
      const ms = typeof l === 'number' ? l : isObj(l) && typeof l.p50 === 'number' ? l.p50 : null;
      if (ms !== null && (!best || ms < best.ms)) best = { v, ms };
    }
    if (best) {
      fast = best.v;
      fastReason = `card.json's latency on ${runtime} is lowest for ${best.v.name} (${best.ms} ms)`;
    }
  }
  if (!fast)
    fastReason ||=
      onnx.length > 1
        ? `card.json does not say which variant is faster on ${runtime}: ${defaultVariant.file} runs in every mode`
        : `one variant: ${defaultVariant.file} runs in every mode`;
  const strip = (v: ModelVariantRef): ModelVariantRef => ({ name: v.name, file: v.file });
  return {
    variants: onnx.map(strip),
    defaultVariant: strip(defaultVariant),
    fastVariant: fast && fast.file !== defaultVariant.file ? strip(fast) : null,
    fastReason,
    userCalibration: readUserCalibration(card, source),
    exported: null,
  };
}

/** The exporter's model directory: model.onnx by default, the runtime's `load` variant as the faster one. */
function describeExported(pkg: ModelDirCard, runtime: OnnxRuntimeName, source: string): ModelDirectoryInfo {
  const at = `${source}/card.json`;
  const onnx = pkg.variants.filter((x) => x.format === 'onnx').map((x) => ({ name: x.name, file: x.file }));
  const defaultVariant = onnx.find((x) => x.file === 'model.onnx') ?? onnx[0];
  if (!defaultVariant) throw new Error(`${at}: variants: no ONNX variant (model.onnx) to run on ${runtime}`);
  const i = pkg.runtimes.findIndex((r) => RUNTIME_ALIASES[runtime].includes(r.runtime));
  const rt = pkg.runtimes[i];
  let fastVariant: ModelVariantRef | null = null;
  let fastReason: string;
  if (!rt)
    fastReason = `card.json has no latency measured on ${runtime} (exported with --latency-runs 0?): ${defaultVariant.file} runs in every mode`;
  else {
    const load = pkg.variants.find((x) => x.name === rt.load)!;
    if (load.format !== 'onnx')
      throw new Error(`${at}: runtimes[${i}].load: "${load.name}" is a ${load.format} variant, which ${runtime} cannot run`);
    const p50 = (name: string) => {
      const l = rt.latency.find((x) => x.variant === name);
      return l ? `p50 ${l.p50Us < 10 ? l.p50Us.toFixed(1) : Math.round(l.p50Us)} µs` : 'not measured';
    };
    if (load.file !== defaultVariant.file) {
      fastVariant = { name: load.name, file: load.file };
      fastReason = `card.json: on ${runtime} ${load.name} is faster (${p50(load.name)}, ${defaultVariant.name} ${p50(defaultVariant.name)}) and meets the quality bar: the modes that save run ${load.file}`;
    } else if (rt.faster !== null && rt.faster !== load.name) {
      fastReason = `card.json: on ${runtime} ${rt.faster} is faster (${p50(rt.faster)}, ${load.name} ${p50(load.name)}) but below the quality bar (parity.json): ${defaultVariant.file} runs in every mode`;
    } else {
      fastReason = `card.json: on ${runtime} ${defaultVariant.name} is the fastest variant measured (${rt.latency.map((l) => `${l.variant} ${p50(l.variant)}`).join(', ')}): ${defaultVariant.file} runs in every mode`;
    }
  }
  return { variants: onnx, defaultVariant, fastVariant, fastReason, userCalibration: readUserCalibration(pkg.card, at), exported: pkg };
}

/** The card's `user_calibration` (card.json object or ONNX metadata map), or null when it does not say. */
export function readUserCalibration(card: Record<string, unknown>, source: string): UserCalibration | null {
  const v = field(card, 'user_calibration', 'userCalibration');
  if (v === undefined || v === null) return null;
  if (v === 'required' || v === 'optional' || v === 'none') return v;
  throw new Error(`${source}: card field "user_calibration" must be "required", "optional" or "none", got ${JSON.stringify(v)}`);
}

/** Card fields every variant must agree on, with the value as text. */
export function cardIdentity(c: ModelCard): Record<string, string> {
  return {
    classes: JSON.stringify(c.classes),
    channels: JSON.stringify(c.channels),
    bands: JSON.stringify(c.bands),
    sampling_rate_hz: String(c.fs),
    window_s: String(c.windowSec),
    hop_s: String(c.hopSec),
    feature_method: c.featureMethod,
    smoothing: c.smoothing,
  };
}

/** Throws naming the first field where `other` (in `file`) differs from `main`. */
export function checkSameCard(main: ModelCard, other: ModelCard, file: string): void {
  const a = cardIdentity(main);
  const b = cardIdentity(other);
  for (const k of Object.keys(a))
    if (a[k] !== b[k])
      throw new Error(`${file}: its model card's ${k} (${b[k]}) differs from model.onnx's (${a[k]}); the variants must be the same model`);
}
