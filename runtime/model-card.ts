/**
 * Reads the model card (ONNX ModelProto.metadata_props) straight from the model bytes with a minimal
 * protobuf scan — browser-safe and without a protobuf library: only field 14 (metadata_props, repeated
 * StringStringEntryProto {1: key, 2: value}) is decoded; every other field is skipped by wire type.
 */

export interface ModelCard {
  modality: 'eeg' | 'eye';
  arch: string;
  classes: string[];
  channels: string[];
  montage: { device: string; sites: string[]; capChannels: string[] } | null;
  bands: { name: string; lo: number; hi: number }[];
  fs: number;
  windowSec: number;
  hopSec: number;
  nfft: number | null;
  featureMethod: string;
  smoothing: string;
  raw: Record<string, string>;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const len = this.varint(); // read first: `pos += varint()` would add to the stale pos
      this.pos += len;
    }
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

const utf8 = new TextDecoder();

export function readOnnxMetadata(model: Uint8Array): Record<string, string> {
  const r = new Reader(model);
  const out: Record<string, string> = {};
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 14 && wire === 2) {
      const len = r.varint();
      const sub = new Reader(model, r.pos + len);
      sub.pos = r.pos;
      let key = '';
      let value = '';
      while (sub.pos < sub.end) {
        const t = sub.varint();
        if ((t & 7) === 2 && (t >> 3 === 1 || t >> 3 === 2)) {
          const l = sub.varint();
          const s = utf8.decode(model.subarray(sub.pos, sub.pos + l));
          sub.pos += l;
          if (t >> 3 === 1) key = s;
          else value = s;
        } else sub.skip(t & 7);
      }
      r.pos += len;
      out[key] = value;
    } else r.skip(wire);
  }
  return out;
}

function json<T>(meta: Record<string, string>, key: string, source: string): T {
  const v = meta[key];
  if (v === undefined) throw new Error(`${source}: model card has no "${key}" (not a cmcrd-edge model?)`);
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new Error(`${source}: model card field "${key}" is not valid JSON`);
  }
}

export function parseModelCard(model: Uint8Array, source = 'model'): ModelCard {
  let meta: Record<string, string>;
  try {
    meta = readOnnxMetadata(model);
  } catch (e) {
    throw new Error(`${source}: not a readable ONNX model (${(e as Error).message})`);
  }
  const num = (k: string) => {
    const n = Number(meta[k]);
    if (meta[k] === undefined || !Number.isFinite(n)) throw new Error(`${source}: model card field "${k}" must be a number, got ${JSON.stringify(meta[k])}`);
    return n;
  };
  return {
    modality: (meta['cmcrd.modality'] ?? 'eeg') as 'eeg' | 'eye',
    arch: meta['cmcrd.arch'] ?? 'unknown',
    classes: json<string[]>(meta, 'cmcrd.classes', source),
    channels: json<string[]>(meta, 'cmcrd.channels', source),
    montage: json<ModelCard['montage']>(meta, 'cmcrd.montage', source),
    bands: json<ModelCard['bands']>(meta, 'cmcrd.bands', source),
    fs: num('cmcrd.sampling_rate_hz'),
    windowSec: num('cmcrd.window_s'),
    hopSec: num('cmcrd.hop_s'),
    nfft: meta['cmcrd.nfft'] ? Number(meta['cmcrd.nfft']) : null,
    featureMethod: meta['cmcrd.feature_method'] ?? 'seed-de',
    smoothing: meta['cmcrd.smoothing'] ?? 'none',
    raw: meta,
  };
}
