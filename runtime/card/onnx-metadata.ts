/**
 * ONNX ModelProto.metadata_props read straight from the model bytes with a minimal protobuf scan: browser-safe,
 * no protobuf library (onnx-proto would decode the whole graph to reach a few strings). Only field 14
 * (repeated StringStringEntryProto {1: key, 2: value}) is decoded; every other top-level field is skipped by its
 * wire type without being read, so the scan costs one step per top-level field, not per byte of the graph.
 *
 * Bounds (a model is untrusted input: a hostile file must give a clear error, never a hang or a huge allocation):
 *  - at most 100 000 top-level fields (an ONNX model has a handful, plus one per opset and metadata entry);
 *  - at most 1024 metadata entries (a cmcrd card has 17);
 *  - keys at most 256 bytes, values at most 1 MiB each, 4 MiB in all (a 62-channel card is ~15 KB);
 *  - varints at most 10 bytes and below 2^53, lengths within the bytes that remain;
 *  - keys and values must be valid UTF-8 (decoded with `fatal`); a key may appear once.
 */
import { FieldError } from './issues.js';

export const METADATA_LIMITS = { topLevelFields: 100_000, entries: 1024, keyBytes: 256, valueBytes: 1 << 20, totalBytes: 4 << 20 } as const;

class Truncated extends Error {}

class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}
  varint(): number {
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Truncated(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) {
        if (result > Number.MAX_SAFE_INTEGER) throw new Truncated(`varint ending at byte ${this.pos} is too large`);
        return result;
      }
    }
    throw new Truncated(`varint at byte ${this.pos} is longer than 10 bytes`);
  }
  /** A length-delimited field's [start, end). */
  span(): [number, number] {
    const len = this.varint();
    if (len > this.end - this.pos) throw new Truncated(`field at byte ${this.pos} claims ${len} bytes, ${this.end - this.pos} remain`);
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }
  skip(wire: number): void {
    const need = wire === 1 ? 8 : wire === 5 ? 4 : 0;
    if (wire === 0) this.varint();
    else if (wire === 2) this.span();
    else if (need) {
      if (need > this.end - this.pos) throw new Truncated(`fixed-size field at byte ${this.pos} runs past the end`);
      this.pos += need;
    } else throw new Truncated(`unsupported protobuf wire type ${wire} at byte ${this.pos}`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The model's metadata_props in file order. Errors name `source`: `not a readable ONNX model (…)` for broken
 * protobuf, or the bound that was crossed.
 */
export function readMetadataEntries(model: Uint8Array, source = 'model'): Map<string, string> {
  if (!(model instanceof Uint8Array)) throw new FieldError(source, null, `not a readable ONNX model (expected bytes, got ${typeof model})`);
  const out = new Map<string, string>();
  const L = METADATA_LIMITS;
  let total = 0;
  let fields = 0;
  const r = new Reader(model, 0, model.length);
  try {
    while (r.pos < r.end) {
      if (++fields > L.topLevelFields)
        throw new FieldError(source, null, `not a readable ONNX model (more than ${L.topLevelFields} top-level protobuf fields)`);
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field === 0) throw new Truncated(`field number 0 at byte ${r.pos}`);
      if (field !== 14 || wire !== 2) {
        r.skip(wire);
        continue;
      }
      const [start, end] = r.span();
      const n = out.size + 1;
      if (n > L.entries) throw new FieldError(source, null, `metadata_props has more than ${L.entries} entries (a model card has 17)`);
      const sub = new Reader(model, start, end);
      let key: string | null = null;
      let value = '';
      while (sub.pos < sub.end) {
        const t = sub.varint();
        const f = Math.floor(t / 8);
        if (t % 8 !== 2 || (f !== 1 && f !== 2)) {
          sub.skip(t % 8);
          continue;
        }
        const [a, b] = sub.span();
        const what = f === 1 ? 'key' : 'value';
        const limit = f === 1 ? L.keyBytes : L.valueBytes;
        if (b - a > limit)
          throw new FieldError(
            source,
            null,
            `metadata_props entry ${n}: the ${what} is ${b - a} bytes, more than the ${limit} allowed${key !== null ? ` (key ${JSON.stringify(key)})` : ''}`,
          );
        total += b - a;
        if (total > L.totalBytes) throw new FieldError(source, null, `metadata_props holds more than ${L.totalBytes} bytes of text`);
        let s: string;
        try {
          s = utf8.decode(model.subarray(a, b));
        } catch {
          throw new FieldError(source, null, `metadata_props entry ${n}: the ${what} is not valid UTF-8`);
        }
        if (f === 1) key = s;
        else value = s;
      }
      if (key === null) throw new FieldError(source, null, `metadata_props entry ${n} has no key`);
      if (out.has(key)) throw new FieldError(source, null, `metadata_props has the key ${JSON.stringify(key)} twice`);
      out.set(key, value);
    }
  } catch (e) {
    if (e instanceof Truncated) throw new FieldError(source, null, `not a readable ONNX model (${e.message})`);
    throw e;
  }
  return out;
}
