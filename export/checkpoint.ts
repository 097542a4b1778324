/**
 * The framework-neutral checkpoint: everything needed to rebuild, export or run a trained network without
 * tfjs — architecture spec, weights as named float32 arrays, feature conventions, normalisation, montage,
 * classes, provenance and metrics. Stored as one JSON file (weights base64-encoded little-endian float32).
 */

import type { SmoothingName } from '../runtime/dsp/smooth.js';

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
  method: 'seed-de' | 'seed-psd' | 'gauss-de' | 'welch' | 'eye';
  /** Model sampling rate (device data is resampled to it). */
  fs: number;
  windowSec: number;
  hopSec: number;
  nfft?: number;
  bands: { name: string; lo: number; hi: number }[];
  /** Smoothing form along windows (runtime/dsp/smooth.ts SMOOTHING_FORMS; only causal forms run live exactly). */
  smoothing: SmoothingName;
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
    weights[name] = { shape: w.shape, dtype: 'float32', base64: toBase64(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength)) };
  }
  return JSON.stringify({ ...ck, weights }, null, 1);
}

/** Parse a checkpoint, checking every field the exporter and runtime rely on; `source` names the file in errors. */
export function parseCheckpoint(text: string, source = 'checkpoint'): Checkpoint {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const o = raw as Record<string, unknown>;
  if (!o || typeof o !== 'object' || o.format !== 'cmcrd-checkpoint') throw new Error(`${source}: field "format" must be "cmcrd-checkpoint"`);
  if (o.version !== 1) throw new Error(`${source}: unsupported checkpoint version ${JSON.stringify(o.version)} (this build reads version 1)`);
  for (const key of ['arch', 'weights', 'classes', 'channels', 'features', 'normalisation'] as const) {
    if (o[key] === undefined) throw new Error(`${source}: missing field "${key}"`);
  }
  const arch = o.arch as Record<string, unknown> | null;
  const input = (typeof arch === 'object' && arch ? arch.input : undefined) as Record<string, unknown> | undefined;
  const count = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (typeof arch?.arch !== 'string' || !count(arch.classes) || !input || !count(input.channels) || !count(input.bands)) {
    throw new Error(`${source}: field "arch" must have "arch" (a name), "classes" and "input.channels" / "input.bands" (positive integers)`);
  }
  const norm = o.normalisation as Record<string, unknown> | null;
  if (typeof norm !== 'object' || !norm || !Array.isArray(norm.mean) || !Array.isArray(norm.std)) {
    throw new Error(`${source}: field "normalisation" must have arrays "mean" and "std"`);
  }
  if (!Array.isArray(o.classes) || !o.classes.every((c) => typeof c === 'string')) throw new Error(`${source}: field "classes" must be an array of names`);
  if (typeof o.weights !== 'object' || o.weights === null || Array.isArray(o.weights)) throw new Error(`${source}: field "weights" must be an object of named weights`);
  const weights: Record<string, WeightArray> = {};
  for (const [name, w] of Object.entries(o.weights as Record<string, SerialisedWeight>)) {
    if (!w || w.dtype !== 'float32' || typeof w.base64 !== 'string' || !Array.isArray(w.shape) || !w.shape.every((x) => Number.isInteger(x) && x >= 0)) {
      throw new Error(`${source}: weight "${name}" must have shape (non-negative integers), dtype "float32" and base64`);
    }
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(w.base64);
    } catch {
      throw new Error(`${source}: weight "${name}": field "base64" is not valid base64`);
    }
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (bytes.length !== n * 4) throw new Error(`${source}: weight "${name}" has ${bytes.length} bytes, shape [${w.shape}] needs ${n * 4}`);
    weights[name] = { shape: w.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
  }
  const ck = { ...(o as unknown as Checkpoint), weights };
  const d = ck.arch.input.channels * ck.arch.input.bands;
  if (ck.normalisation.mean.length !== d || ck.normalisation.std.length !== d) {
    throw new Error(`${source}: normalisation has ${ck.normalisation.mean.length} means / ${ck.normalisation.std.length} stds, input has ${d} features`);
  }
  if (ck.classes.length !== ck.arch.classes) throw new Error(`${source}: ${ck.classes.length} class names but the network has ${ck.arch.classes} outputs`);
  return ck;
}
