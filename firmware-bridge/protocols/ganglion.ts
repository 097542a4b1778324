/**
 * OpenBCI Ganglion BLE protocol (devices.md; cross-checked against the Ganglion firmware source, v3.0.2, and
 * BrainFlow's published decoder behaviour). Pure packet parsing and encoding; the stateful delta integration
 * of firmware 2 lives in streams/ganglion.ts because it must run on reordered, gap-checked packets.
 *
 * Every notification: byte 0 = packet id, then data. Sample packets carry an MSB-first bitstream of 8 fields
 * of N bits (sample 1 ch1..4, sample 2 ch1..4), N = 18 or 19, starting at byte 1. Field bit 0 is the sign:
 * set → value = field − 2^N.
 *  - FW2: id 0 raw (4 × int24 BE from byte 1, one sample); ids 1–100 18-bit deltas (+ accelerometer byte 19);
 *    ids 101–200 19-bit deltas. Deltas are old − new.
 *  - FW3: ids 0–99 18-bit truncated absolute values (counts = value << 6) (+ accelerometer byte 19);
 *    ids 100–199 19-bit (counts = value << 5).
 *  - ids 201–205: impedance of channels 1–4 and reference, ASCII digits then 'Z' (kΩ in firmware 3.0.2).
 *  - 206: ASCII message part; 207: last part.
 * Accelerometer: in 18-bit packets byte 19 is a signed int8 axis reading, X/Y/Z when id % 10 = 1/2/3 (the
 * firmware source writes axisData[0..2] there; BrainFlow maps 0/1/2 with an axis swap instead — we follow
 * the firmware).
 */
import type { Uuid } from '../gatt.js';
import { uuid16 } from '../gatt.js';
import type { Decoded } from './muse.js';

const gUuid = (n: string): Uuid => `2d30c0${n}-f39f-4ce6-923f-3484ea480596`;

export const GANGLION = {
  service: uuid16(0xfe84),
  notify: gUuid('82'),
  write: gUuid('83'),
  disconnect: gUuid('84'),
  /** Device Information service and its Software Revision String (firmware version). */
  deviceInfoService: uuid16(0x180a),
  firmwareRevision: uuid16(0x2a28),
  sampleRate: 200,
  /** µV per count: 1.2 V / (8388607 · 1.5 · 51). */
  scaleUv: 1.2e6 / (8388607 * 1.5 * 51),
  /** g per accelerometer count. */
  accelScale: 0.016,
  namePrefix: 'Ganglion-',
  commands: {
    start: 'b',
    stop: 's',
    accelOn: 'n',
    accelOff: 'N',
    impedanceStart: 'z',
    impedanceStop: 'Z',
    softReset: 'v',
    channelOff: ['1', '2', '3', '4'],
    channelOn: ['!', '@', '#', '$'],
  },
} as const;

export type GanglionFirmware = 2 | 3;

/** Firmware major version from the Software Revision String ("3.x" → 3, anything else → 2). */
export function ganglionFirmwareFromRevision(text: string): GanglionFirmware {
  return /^\s*v?3\./.test(text) ? 3 : 2;
}

export function ganglionFirmwareFromBytes(bytes: Uint8Array): GanglionFirmware {
  let s = '';
  for (const b of bytes) if (b !== 0) s += String.fromCharCode(b);
  return ganglionFirmwareFromRevision(s);
}

export type GanglionPacket =
  | { kind: 'raw'; id: 0; counts: Int32Array }
  | {
      kind: 'samples';
      id: number;
      bits: 18 | 19;
      /** FW2: deltas (old − new); FW3: absolute counts. 8 values: sample 1 ch1..4, sample 2 ch1..4. */
      mode: 'delta' | 'absolute';
      values: Int32Array;
      /** Position in the 100-packet cycle (0..99), the same for 18- and 19-bit packets. */
      cyclePos: number;
      accel?: { axis: 'x' | 'y' | 'z'; g: number };
    }
  | { kind: 'impedance'; id: number; channel: 1 | 2 | 3 | 4 | 'reference'; kOhm: number }
  | { kind: 'message'; id: 206 | 207; text: string; last: boolean };

/** Read 8 fields of N bits, MSB-first from byte 1, applying the LSB sign rule. */
export function readGanglionFields(bytes: Uint8Array, bits: 18 | 19): Int32Array {
  const out = new Int32Array(8);
  let bit = 8;
  const half = 2 ** bits;
  for (let k = 0; k < 8; k++) {
    let f = 0;
    for (let b = 0; b < bits; b++, bit++) f = f * 2 + ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1);
    out[k] = f & 1 ? f - half : f;
  }
  return out;
}

/** Write 8 signed values as N-bit fields MSB-first from byte 1 (values must obey the LSB sign rule). */
export function writeGanglionFields(out: Uint8Array, values: ArrayLike<number>, bits: 18 | 19): void {
  let bit = 8;
  const half = 2 ** bits;
  for (let k = 0; k < 8; k++) {
    const v = values[k]!;
    const f = v < 0 ? v + half : v;
    for (let b = bits - 1; b >= 0; b--, bit++) if (Math.floor(f / 2 ** b) & 1) out[bit >> 3]! |= 0x80 >> (bit & 7);
  }
}

/** Does a value survive the LSB sign rule (negative ⇔ odd) within N bits? */
export function ganglionFieldValid(v: number, bits: 18 | 19): boolean {
  const lim = 2 ** (bits - 1);
  return Number.isInteger(v) && v >= -lim && v < lim && v < 0 === ((v & 1) === 1);
}

function asciiOf(bytes: Uint8Array, from: number): string {
  let s = '';
  for (let i = from; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** Parse one notification. Never throws. */
export function parseGanglionPacket(bytes: Uint8Array, firmware: GanglionFirmware): Decoded<GanglionPacket> {
  if (bytes.length < 1) return { ok: false, error: 'empty Ganglion notification' };
  const id = bytes[0]!;
  if (id >= 201 && id <= 205) {
    const text = asciiOf(bytes, 1);
    const m = /^(\d+)Z/.exec(text);
    if (!m) return { ok: false, error: `impedance packet ${id}: expected ASCII digits then 'Z', got ${JSON.stringify(text.slice(0, 19))}` };
    const channel = id === 205 ? 'reference' : ((id - 200) as 1 | 2 | 3 | 4);
    return { ok: true, value: { kind: 'impedance', id, channel, kOhm: Number(m[1]) } };
  }
  if (id === 206 || id === 207) return { ok: true, value: { kind: 'message', id, text: asciiOf(bytes, 1), last: id === 207 } };
  if (firmware === 2 && id === 0) {
    if (bytes.length < 13) return { ok: false, error: `Ganglion raw packet needs 13 bytes, got ${bytes.length}` };
    const counts = new Int32Array(4);
    for (let c = 0; c < 4; c++) counts[c] = ((bytes[1 + 3 * c]! << 24) | (bytes[2 + 3 * c]! << 16) | (bytes[3 + 3 * c]! << 8)) >> 8;
    return { ok: true, value: { kind: 'raw', id: 0, counts } };
  }
  let bits: 18 | 19;
  let cyclePos: number;
  if (firmware === 2) {
    if (id >= 1 && id <= 100) bits = 18;
    else if (id >= 101 && id <= 200) bits = 19;
    else return { ok: false, error: `Ganglion FW2: unexpected packet id ${id}` };
    cyclePos = (id - 1) % 100;
  } else {
    if (id <= 99) bits = 18;
    else if (id <= 199) bits = 19;
    else return { ok: false, error: `Ganglion FW3: unexpected packet id ${id}` };
    cyclePos = id % 100;
  }
  if (bytes.length !== 20) return { ok: false, error: `Ganglion ${bits}-bit packet ${id} must be 20 bytes, got ${bytes.length}` };
  const fields = readGanglionFields(bytes, bits);
  const mode = firmware === 2 ? 'delta' : 'absolute';
  if (mode === 'absolute') {
    const shift = bits === 18 ? 64 : 32;
    for (let k = 0; k < 8; k++) fields[k] = fields[k]! * shift;
  }
  const value: GanglionPacket = { kind: 'samples', id, bits, mode, values: fields, cyclePos };
  const axis = id % 10;
  if (bits === 18 && axis >= 1 && axis <= 3) {
    const b = bytes[19]!;
    value.accel = { axis: (['x', 'y', 'z'] as const)[axis - 1]!, g: GANGLION.accelScale * (b > 127 ? b - 256 : b) };
  }
  return { ok: true, value };
}

/** FW2 raw packet (id 0): 4 × int24 BE counts. */
export function encodeGanglionRaw(counts: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(20);
  for (let c = 0; c < 4; c++) {
    const v = Math.max(-8388608, Math.min(8388607, Math.round(counts[c]!))) & 0xffffff;
    out[1 + 3 * c] = v >> 16;
    out[2 + 3 * c] = (v >> 8) & 0xff;
    out[3 + 3 * c] = v & 0xff;
  }
  return out;
}

/** A sample packet from 8 field values (deltas for FW2, truncated values for FW3), with an optional accel byte. */
export function encodeGanglionSamples(id: number, fields: ArrayLike<number>, bits: 18 | 19, accelByte?: number): Uint8Array {
  for (let k = 0; k < 8; k++)
    if (!ganglionFieldValid(fields[k]!, bits))
      throw new RangeError(`field ${fields[k]} is not a valid ${bits}-bit Ganglion value (negative must be odd, non-negative even)`);
  const out = new Uint8Array(20);
  out[0] = id;
  writeGanglionFields(out, fields, bits);
  if (bits === 18 && accelByte !== undefined) out[19] = accelByte & 0xff;
  return out;
}

/**
 * FW3's truncation of a 24-bit count, as the firmware does it: store the sign in bit (24 − N), shift right
 * arithmetically by 24 − N, keep N bits. Returns the signed field value.
 */
export function ganglionTruncate(count: number, bits: 18 | 19): number {
  const shift = 24 - bits;
  let x = Math.max(-8388608, Math.min(8388607, Math.round(count))) | 0;
  if (x < 0) x |= 1 << shift;
  else x &= ~(1 << shift);
  return x >> shift;
}

/** A delta quantised to obey the LSB sign rule (negative → odd, non-negative → even), clamped to N bits. */
export function ganglionQuantiseDelta(delta: number, bits: 18 | 19): number {
  const lim = 2 ** (bits - 1);
  let d = Math.max(-lim, Math.min(lim - 2, Math.round(delta)));
  if (d < 0) d |= 1;
  else d &= ~1;
  return d;
}

/** Impedance packet: id 201–204 channel, 205 reference; value in kΩ as ASCII then 'Z'. */
export function encodeGanglionImpedance(channel: 1 | 2 | 3 | 4 | 'reference', kOhm: number): Uint8Array {
  const id = channel === 'reference' ? 205 : 200 + channel;
  const text = `${Math.max(0, Math.round(kOhm))}Z`;
  const out = new Uint8Array(1 + text.length);
  out[0] = id;
  for (let i = 0; i < text.length; i++) out[1 + i] = text.charCodeAt(i);
  return out;
}

/** Split an ASCII message into 206/207 packets (19 characters each). */
export function encodeGanglionMessage(text: string): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < Math.max(1, text.length); i += 19) {
    const chunk = text.slice(i, i + 19);
    const last = i + 19 >= text.length;
    const p = new Uint8Array(1 + chunk.length);
    p[0] = last ? 207 : 206;
    for (let j = 0; j < chunk.length; j++) p[1 + j] = chunk.charCodeAt(j) & 0x7f;
    parts.push(p);
  }
  return parts;
}

/** Reassembles 206/207 message parts. */
export class GanglionMessageAssembler {
  private buf = '';
  push(p: { text: string; last: boolean }): string | null {
    this.buf += p.text;
    if (!p.last) {
      if (this.buf.length > 4096) this.buf = this.buf.slice(-4096);
      return null;
    }
    const t = this.buf;
    this.buf = '';
    return t;
  }
}
