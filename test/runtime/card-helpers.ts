/** Test helpers: a valid card, and ONNX-like protobuf bytes holding arbitrary (also hostile) metadata_props. */
import { checkCard, SEED_BANDS, type Card } from '../../runtime/index.js';
import { cardToMetadata, INPUT_LAYOUT } from '../../runtime/card/schema.js';

/** A 4-channel Muse card with SEED bands, as export writes one (built by hand: no tfjs here). */
export function museCard(): Card {
  return checkCard(
    {
      card_version: 1,
      modality: 'eeg',
      arch: 'mlp',
      classes: ['neutral', 'sad', 'fear', 'happy'],
      channels: ['TP7', 'FP1', 'FP2', 'TP8'],
      montage: { device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'], capChannels: ['TP7', 'FP1', 'FP2', 'TP8'] },
      bands: SEED_BANDS.map((b) => ({ ...b })),
      sampling_rate_hz: 200,
      window_s: 4,
      hop_s: 4,
      nfft: 1024,
      feature_method: 'seed-de',
      smoothing: 'none',
      input_layout: INPUT_LAYOUT,
      normalisation: { mean: Array.from({ length: 20 }, (_, i) => 10 + i / 3), std: Array.from({ length: 20 }, (_, i) => 1 + i / 10) },
      provenance: { createdBy: 'test', seed: 1, synthetic: true },
      metrics: { testAccuracy: 0.75 },
    },
    'museCard',
  );
}

export const museMetadata = (): Record<string, string> => cardToMetadata(museCard());

const enc = new TextEncoder();
const bytesOf = (x: string | Uint8Array) => (typeof x === 'string' ? enc.encode(x) : x);

export function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A length-delimited protobuf field. */
export const lenField = (field: number, body: Uint8Array) =>
  concat([Uint8Array.from([...varint(field * 8 + 2), ...varint(body.length)]), body]);

/** One ModelProto.metadata_props entry (field 14: {1: key, 2: value}). */
export const entry = (key: string | Uint8Array, value: string | Uint8Array) =>
  lenField(14, concat([lenField(1, bytesOf(key)), lenField(2, bytesOf(value))]));

/** A model-like protobuf: ir_version, a stand-in graph, then the entries. */
export function modelBytes(entries: Iterable<[string | Uint8Array, string | Uint8Array]> | Record<string, string>): Uint8Array {
  const list =
    Symbol.iterator in Object(entries) ? [...(entries as Iterable<[string | Uint8Array, string | Uint8Array]>)] : Object.entries(entries);
  return concat([Uint8Array.from([0x08, 0x08]), lenField(7, enc.encode('graph stand-in')), ...list.map(([k, v]) => entry(k, v))]);
}
