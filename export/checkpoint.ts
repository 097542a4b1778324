/**
 * The framework-neutral checkpoint: everything needed to rebuild, export or run a trained network without
 * tfjs — architecture spec, weights as named float32 arrays, feature conventions, normalisation, montage,
 * classes, provenance and metrics. Stored as one JSON file (weights base64-encoded little-endian float32).
 * `parseCheckpoint` validates it with a valibot schema (the model card's building blocks and feature rules, from
 * runtime/card/) and checks every weight against the architecture before anything is allocated from it.
 */
import * as v from 'valibot';
import { SMOOTH_METHODS, type SmoothMethod } from '../runtime/dsp/extractor.js';
import {
  band,
  CARD_FEATURE_METHODS,
  featureProblems,
  inputSizeProblems,
  montage,
  nfft,
  provenanceValue,
  rateHz,
  seconds,
  stdDev,
  type CardFeatureMethod,
} from '../runtime/card/schema.js';
import {
  FieldError,
  count,
  describe,
  dict,
  firstIssueError,
  list,
  num,
  obj,
  oneOf,
  reportProblems,
  text,
  uniqueNames,
  type Problem,
} from '../runtime/card/issues.js';

export interface ArchSpecJson {
  arch: 'mlp' | 'eegnet' | 'dgcnn';
  input: { channels: number; bands: number };
  classes: number;
  params: Record<string, number>;
}

export interface WeightArray {
  shape: number[];
  data: Float32Array;
}

/** How the model's input features are computed (the runtime must reproduce this exactly). */
export interface FeatureSpec {
  /** A runtime/dsp feature method, or 'eye' for eye-tracker features. */
  method: CardFeatureMethod;
  /** Model sampling rate (device data is resampled to it). */
  fs: number;
  windowSec: number;
  hopSec: number;
  nfft?: number;
  bands: { name: string; lo: number; hi: number }[];
  /** Smoothing form along windows (runtime/dsp/smooth.ts SMOOTHING_FORMS; only causal forms run live exactly). */
  smoothing: SmoothMethod;
}

export interface Checkpoint {
  format: 'cmcrd-checkpoint';
  version: 1;
  modality: 'eeg' | 'eye';
  arch: ArchSpecJson;
  weights: Record<string, WeightArray>;
  classes: string[];
  /** Channel names in input order (cap channels used in training). */
  channels: string[];
  /** For headband models: device electrode → cap channel it was trained on, in input order. */
  montage?: { device: string; sites: string[]; capChannels: string[] };
  features: FeatureSpec;
  /** z-score applied to the flattened input (channel-major: channel c, band b at c·bands + b). */
  normalisation: { mean: number[]; std: number[] };
  provenance: Record<string, string | number | boolean>;
  metrics?: Record<string, number>;
}

interface SerialisedWeight {
  shape: number[];
  dtype: 'float32';
  base64: string;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function serialiseCheckpoint(ck: Checkpoint): string {
  if (!littleEndian) throw new Error('checkpoint serialisation assumes a little-endian host');
  const weights: Record<string, SerialisedWeight> = {};
  for (const [name, w] of Object.entries(ck.weights)) {
    weights[name] = {
      shape: w.shape,
      dtype: 'float32',
      base64: toBase64(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength)),
    };
  }
  return JSON.stringify({ ...ck, weights }, null, 1);
}

/** Largest size an architecture parameter or input dimension may take (hidden = 1e9 is refused, not allocated). */
export const ARCH_SIZE_MAX = 65_536;

const ARCHS = ['mlp', 'eegnet', 'dgcnn'] as const;

const weightSchema = () =>
  obj({
    shape: list(v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(0, 'must be ≥ 0'))),
    dtype: v.literal('float32', 'must be "float32"'),
    base64: text(),
  });

const featuresSchema = () =>
  obj({
    method: oneOf(CARD_FEATURE_METHODS),
    fs: rateHz(),
    windowSec: seconds(),
    hopSec: seconds(),
    nfft: v.optional(nfft()),
    bands: list(band()),
    smoothing: oneOf(SMOOTH_METHODS),
  });

const checkpointEntries = {
  format: v.literal('cmcrd-checkpoint', 'must be "cmcrd-checkpoint"'),
  version: v.literal(1, 'must be 1'),
  modality: oneOf(['eeg', 'eye'] as const),
  arch: obj({
    arch: oneOf(ARCHS),
    input: obj({ channels: count(ARCH_SIZE_MAX), bands: count(ARCH_SIZE_MAX) }),
    classes: count(ARCH_SIZE_MAX),
    params: dict(num()),
  }),
  weights: dict(weightSchema()),
  classes: uniqueNames(),
  channels: v.pipe(uniqueNames(), v.minLength(1, 'must name at least one channel')),
  montage: v.optional(montage()),
  features: featuresSchema(),
  normalisation: obj({ mean: list(num()), std: list(stdDev()) }),
  provenance: dict(provenanceValue()),
  metrics: v.optional(dict(num())),
};

type CheckpointFields = v.InferOutput<ReturnType<typeof obj<typeof checkpointEntries>>>;

/** Cross-field rules: sizes that must agree, and the feature rules the model card applies (runtime/card). */
function checkpointProblems(o: CheckpointFields): Problem[] {
  const out: Problem[] = [];
  const { channels: C, bands: B } = o.arch.input;
  const d = C * B;
  const { mean, std } = o.normalisation;
  if (mean.length !== d || std.length !== d) {
    out.push({
      field: 'normalisation',
      message: `normalisation has ${mean.length} means / ${std.length} stds, input has ${d} features (arch.input ${C}×${B})`,
    });
  }
  if (o.classes.length !== o.arch.classes)
    out.push({ field: 'classes', message: `${o.classes.length} class names but the network has ${o.arch.classes} outputs (arch.classes)` });
  const f = o.features;
  if ((o.modality === 'eye') !== (f.method === 'eye')) {
    out.push({
      field: 'features.method',
      message: `features.method ${JSON.stringify(f.method)} does not go with modality ${JSON.stringify(o.modality)} ("eye" features are the eye modality's)`,
    });
  }
  if (f.method !== 'eye') {
    if (o.channels.length !== C)
      out.push({ field: 'channels', message: `channels has ${o.channels.length} names, arch.input.channels is ${C}` });
    if (f.bands.length !== B)
      out.push({ field: 'features.bands', message: `features.bands has ${f.bands.length} bands, arch.input.bands is ${B}` });
  } else {
    out.push(
      ...inputSizeProblems('eye', o.channels.length, f.bands.length, d, {
        channels: 'channels',
        bands: 'features.bands',
        d: 'arch.input (channels × bands)',
      }),
    );
  }
  if (o.montage) {
    for (const k of ['sites', 'capChannels'] as const) {
      if (o.montage[k].length !== o.channels.length)
        out.push({ field: `montage.${k}`, message: `montage.${k} has ${o.montage[k].length} names, channels ${o.channels.length}` });
    }
  }
  out.push(
    ...featureProblems(f, {
      fs: 'features.fs',
      windowSec: 'features.windowSec',
      hopSec: 'features.hopSec',
      bands: 'features.bands',
      method: 'features.method',
    }),
  );
  return out;
}

/** The checkpoint schema (weights still base64: `parseCheckpoint` decodes and checks them against the architecture). */
export const CheckpointSchema = v.pipe(
  obj(checkpointEntries),
  v.rawCheck<CheckpointFields>(({ dataset, addIssue }) => {
    if (dataset.typed) reportProblems(checkpointProblems(dataset.value), addIssue);
  }),
);

/** Earlier messages for malformed parts, kept before the field path (callers and tests match on them). */
function lead(issue: v.BaseIssue<unknown>, path: readonly unknown[]): string | null {
  if (issue.kind !== 'schema') return null;
  if (path[0] === 'arch')
    return 'field "arch" must have "arch" (mlp, eegnet or dgcnn), "classes" and "input.channels" / "input.bands" (positive integers)';
  if (path[0] === 'normalisation' && path.length <= 2) return 'field "normalisation" must have arrays "mean" and "std"';
  if (path[0] === 'weights' && path.length >= 2)
    return `weight ${JSON.stringify(String(path[1]))} must have shape (non-negative integers), dtype "float32" and base64`;
  return null;
}

/**
 * Every weight a network of this spec has, by name, with its shape — the names and layouts of src/train/nets/
 * (test/export/checkpoint.test.ts checks this table against the networks themselves). Parameters are checked first,
 * so an absurd one (hidden = 1e9) is named instead of turned into shapes.
 */
export function expectedWeights(arch: ArchSpecJson, source = 'checkpoint'): Map<string, number[]> {
  const { channels: C, bands: B } = arch.input;
  const K = arch.classes;
  const size = (key: string, fallback: number) => {
    const x = arch.params[key] ?? fallback;
    if (!Number.isInteger(x) || x < 1 || x > ARCH_SIZE_MAX) {
      throw new FieldError(
        source,
        `arch.params.${key}`,
        `arch.params.${key} must be an integer from 1 to ${ARCH_SIZE_MAX}, got ${describe(x)}`,
      );
    }
    return x;
  };
  const m = new Map<string, number[]>();
  const bn = (prefix: string, dim: number) => {
    for (const s of ['gamma', 'beta', 'running_mean', 'running_var']) m.set(`${prefix}.${s}`, [dim]);
  };
  const dense = (prefix: string, inDim: number, outDim: number) => {
    m.set(`${prefix}.weight`, [inDim, outDim]);
    m.set(`${prefix}.bias`, [outDim]);
  };
  if (arch.arch === 'mlp') {
    const h = size('hidden', 128);
    ['fc1', 'fc2', 'fc3', 'fc4'].forEach((block, i) => {
      dense(block, i === 0 ? C * B : h, h);
      bn(`${block}.bn`, h);
    });
    dense('head', h, K);
  } else if (arch.arch === 'eegnet') {
    const F1 = size('F1', 8);
    const D = size('D', 2);
    const F2 = size('F2', 16);
    const dropout = arch.params.dropout ?? 0.5;
    if (!(dropout >= 0 && dropout < 1))
      throw new FieldError(source, 'arch.params.dropout', `arch.params.dropout must be in [0, 1), got ${describe(dropout)}`);
    const maps = F1 * D;
    if (maps > ARCH_SIZE_MAX)
      throw new FieldError(source, 'arch.params.D', `arch.params: F1 × D (${F1} × ${D}) must be ≤ ${ARCH_SIZE_MAX}`);
    m.set('conv1.weight', [F1]);
    bn('bn1', F1);
    m.set('dw.weight', [C, maps]);
    bn('bn2', maps);
    m.set('sep_dw.weight', [maps]);
    bn('bn3', maps);
    m.set('sep_pw.weight', [maps, F2]);
    bn('bn4', F2);
    dense('head', F2 * B, K);
  } else {
    const nodes = size('nodes', C);
    const feats = size('nodeFeatures', B);
    const hidden = size('hidden', 16);
    if (nodes * feats !== C * B) {
      throw new FieldError(
        source,
        'arch.params.nodes',
        `arch.params: nodes (${nodes}) × nodeFeatures (${feats}) must equal the input size ${C}×${B}`,
      );
    }
    bn('bn', feats);
    m.set('adj', [nodes, nodes]);
    m.set('cheb0.weight', [feats, hidden]);
    m.set('cheb1.weight', [feats, hidden]);
    dense('head', nodes * hidden, K);
  }
  return m;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decode one weight, checked: canonical base64, the byte count its shape needs, finite values (variances ≥ 0). */
function decodeWeight(source: string, name: string, w: { shape: number[]; base64: string }, checkValues: boolean): Float32Array {
  const key = `weights[${JSON.stringify(name)}]`;
  if (!BASE64.test(w.base64)) throw new FieldError(source, `${key}.base64`, `weight "${name}": field "base64" is not valid base64`);
  const bytes = (w.base64.length / 4) * 3 - (w.base64.endsWith('==') ? 2 : w.base64.endsWith('=') ? 1 : 0);
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (bytes !== n * 4)
    throw new FieldError(source, `${key}.base64`, `weight "${name}" has ${bytes} bytes, shape [${w.shape}] needs ${n * 4}`);
  const raw = fromBase64(w.base64);
  const data = new Float32Array(raw.buffer, raw.byteOffset, n);
  const variance = name.endsWith('.running_var');
  for (let i = 0; checkValues && i < n; i++) {
    const x = data[i]!;
    if (!Number.isFinite(x)) throw new FieldError(source, `${key}[${i}]`, `${key}[${i}] must be finite, got ${x}`);
    if (variance && x < 0) throw new FieldError(source, `${key}[${i}]`, `${key}[${i}] must be ≥ 0 (a variance), got ${x}`);
  }
  return data;
}

export interface ParseCheckpointOptions {
  /**
   * Refuse non-finite weights and negative BatchNorm variances (default true). `false` only to inspect a diverged
   * checkpoint; such a checkpoint cannot be exported or run.
   */
  checkWeightValues?: boolean;
}

/**
 * Parse a checkpoint, checking every field the exporter and runtime rely on; `source` names the file in errors,
 * which also name the field (`ck.json: normalisation.std[3] must be > 0, got 0`). Throws FieldError.
 */
export function parseCheckpoint(text: string, source = 'checkpoint', options: ParseCheckpointOptions = {}): Checkpoint {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FieldError(source, null, `not valid JSON (${(e as Error).message})`);
  }
  const o = raw as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || Array.isArray(o) || o.format !== 'cmcrd-checkpoint')
    throw new FieldError(source, 'format', 'field "format" must be "cmcrd-checkpoint"');
  if (o.version !== 1)
    throw new FieldError(source, 'version', `unsupported checkpoint version ${JSON.stringify(o.version)} (this build reads version 1)`);
  const r = v.safeParse(CheckpointSchema, raw, { abortEarly: true });
  if (!r.success) throw firstIssueError(source, r.issues, lead);
  const ck = r.output;
  const expected = expectedWeights(ck.arch, source);
  for (const [wname, shape] of expected) {
    const w = ck.weights[wname];
    if (!w) throw new FieldError(source, `weights[${JSON.stringify(wname)}]`, `checkpoint has no weight "${wname}" (arch ${ck.arch.arch})`);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
      throw new FieldError(
        source,
        `weights[${JSON.stringify(wname)}].shape`,
        `checkpoint weight "${wname}" has shape [${w.shape}], arch ${ck.arch.arch} needs [${shape}]`,
      );
    }
  }
  const weights: Record<string, WeightArray> = {};
  for (const [wname, w] of Object.entries(ck.weights)) {
    if (!expected.has(wname))
      throw new FieldError(source, `weights[${JSON.stringify(wname)}]`, `checkpoint weight "${wname}" is not part of arch ${ck.arch.arch}`);
    weights[wname] = { shape: w.shape, data: decodeWeight(source, wname, w, options.checkWeightValues ?? true) };
  }
  return { ...ck, weights };
}
