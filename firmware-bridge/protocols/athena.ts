/**
 * Muse S "Athena" (gen 3, 2025) multiplexed data protocol — EXPERIMENTAL.
 *
 * Interaxon has not published this protocol. The layout below comes from public reverse-engineering
 * (OpenMuse's decode.py by D. Makowski et al., the amused project, and Athena ports of muse-js), cross-checked
 * against devices.md; our code is written from those facts. Known uncertainties:
 *  - the meaning of header bytes 6–8 and 10–12 and of the 3 bytes after each subpacket index;
 *  - the EEG zero: devices.md gives µV = (raw − 8192)·1450/16383; OpenMuse omits the −8192 offset (a DC
 *    difference that any high-pass removes);
 *  - the battery tag (0x98 in early reports, 0x88 on later firmware) and its scale (/256 vs /512);
 *  - the AUX channel positions of the 8-channel EEG mode.
 *
 * Layout. Each notification on 273e0013 (or 273e0014) is one or more packets, each:
 *   [0] length (whole packet, incl. header)  [1] packet index (u8, wraps)  [2..5] device time, u32 LE, 256 kHz ticks
 *   [6..8] unknown  [9] packet type (a sensor tag)  [10..12] unknown  [13] 0x00
 *   then the type's data (no tag), then zero or more tagged subpackets: [tag][index u8][3 unknown][data].
 * Data lengths per tag are fixed (ATHENA_SENSORS). Multi-bit fields are packed LSB-first (bit 0 of byte 0 is
 * bit 0 of the first value), sample-major: value k = sample·channels + channel.
 */
import type { Uuid } from '../gatt.js';
import type { Decoded } from './muse.js';
import { MUSE } from './muse.js';

const museUuid = (short: string): Uuid => `273e${short}-4c4d-454d-96be-f03bac821358`;

export const ATHENA = {
  service: MUSE.service,
  control: MUSE.control,
  /** Multiplexed sensor data (EEG and the rest). */
  data: museUuid('0013'),
  /** Second multiplexed data characteristic (same format). */
  data2: museUuid('0014'),
  sampleRate: 256,
  /** µV per count; raw 8192 is 0 µV. */
  eegScale: 1450 / 16383,
  eegZero: 8192,
  deviceClockHz: 256_000,
  accelerometerScale: 0.0000610352,
  /** OpenMuse reports the Athena gyro axis sign inverted relative to gen 2. */
  gyroscopeScale: -0.0074768,
  headerBytes: 14,
  /** Host sequences from devices.md. */
  initCommands: ['v6', 's', 'h', 'p1041', 's'] as readonly string[],
  startCommands: ['dc001', 'dc001', 's'] as readonly string[],
  stopCommands: ['h'] as readonly string[],
} as const;

export type AthenaSensorType = 'eeg' | 'optics' | 'accgyro' | 'battery' | 'unknown';

export interface AthenaSensor {
  type: AthenaSensorType;
  channels: number;
  samples: number;
  rate: number;
  bytes: number;
}

export const ATHENA_SENSORS: Readonly<Record<number, AthenaSensor>> = {
  0x11: { type: 'eeg', channels: 4, samples: 4, rate: 256, bytes: 28 },
  0x12: { type: 'eeg', channels: 8, samples: 2, rate: 256, bytes: 28 },
  0x34: { type: 'optics', channels: 4, samples: 3, rate: 64, bytes: 30 },
  0x35: { type: 'optics', channels: 8, samples: 2, rate: 64, bytes: 40 },
  0x36: { type: 'optics', channels: 16, samples: 1, rate: 64, bytes: 40 },
  0x47: { type: 'accgyro', channels: 6, samples: 3, rate: 52, bytes: 36 },
  0x53: { type: 'unknown', channels: 0, samples: 0, rate: 0, bytes: 24 },
  0x88: { type: 'battery', channels: 1, samples: 1, rate: 1, bytes: 20 },
  0x98: { type: 'battery', channels: 1, samples: 1, rate: 0.1, bytes: 20 },
};

/** EEG channel names of the 8-channel mode (AUX positions are not public). */
export const ATHENA_EEG_CHANNELS = ['TP9', 'AF7', 'AF8', 'TP10', 'AUX1', 'AUX2', 'AUX3', 'AUX4'] as const;

export interface AthenaSubpacket {
  tag: number;
  sensor: AthenaSensor;
  /** Per-sensor counter of tagged subpackets; null for a packet's first (untagged) data. */
  index: number | null;
  /** Index of the enclosing packet. */
  packetIndex: number;
  /** Device time of the enclosing packet, 256 kHz ticks (u32). */
  deviceTicks: number;
  data: Uint8Array;
}

export interface AthenaParse {
  subpackets: AthenaSubpacket[];
  /** Problems found; parsing continues past a bad packet when its length byte allows. */
  errors: string[];
}

/** Split one notification into packets and their subpackets. Never throws. */
export function parseAthenaNotification(bytes: Uint8Array): AthenaParse {
  const subpackets: AthenaSubpacket[] = [];
  const errors: string[] = [];
  let off = 0;
  if (bytes.length === 0) errors.push('empty Athena notification');
  while (off < bytes.length) {
    const len = bytes[off]!;
    if (len < ATHENA.headerBytes) {
      errors.push(`packet at byte ${off}: length ${len} is shorter than the ${ATHENA.headerBytes}-byte header`);
      break;
    }
    if (off + len > bytes.length) {
      errors.push(`packet at byte ${off}: length ${len} runs past the notification's ${bytes.length} bytes`);
      break;
    }
    const p = bytes.subarray(off, off + len);
    off += len;
    const packetIndex = p[1]!;
    const deviceTicks = (p[2]! | (p[3]! << 8) | (p[4]! << 16) | (p[5]! << 24)) >>> 0;
    const type = p[9]!;
    const first = ATHENA_SENSORS[type];
    if (!first) {
      errors.push(`packet ${packetIndex}: unknown packet type 0x${type.toString(16).padStart(2, '0')}`);
      continue;
    }
    if (p[13] !== 0) {
      errors.push(`packet ${packetIndex}: header byte 13 is 0x${p[13]!.toString(16)}, expected 0`);
      continue;
    }
    let q = ATHENA.headerBytes;
    if (q + first.bytes > len) {
      errors.push(`packet ${packetIndex}: ${len - q} data bytes, type 0x${type.toString(16)} needs ${first.bytes}`);
      continue;
    }
    subpackets.push({ tag: type, sensor: first, index: null, packetIndex, deviceTicks, data: p.subarray(q, q + first.bytes) });
    q += first.bytes;
    while (q < len) {
      const tag = p[q]!;
      const s = ATHENA_SENSORS[tag];
      if (!s) {
        errors.push(
          `packet ${packetIndex}: unknown subpacket tag 0x${tag.toString(16).padStart(2, '0')} at byte ${q}; rest of packet skipped`,
        );
        break;
      }
      if (q + 5 + s.bytes > len) {
        errors.push(`packet ${packetIndex}: subpacket 0x${tag.toString(16)} at byte ${q} truncated`);
        break;
      }
      subpackets.push({ tag, sensor: s, index: p[q + 1]!, packetIndex, deviceTicks, data: p.subarray(q + 5, q + 5 + s.bytes) });
      q += 5 + s.bytes;
    }
  }
  return { subpackets, errors };
}

/** Read `count` unsigned `bits`-wide values packed LSB-first. */
export function unpackLsbFirst(data: Uint8Array, bits: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  let acc = 0;
  let accBits = 0;
  let byte = 0;
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  for (let k = 0; k < count; k++) {
    while (accBits < bits) {
      acc += (data[byte++] ?? 0) * 2 ** accBits;
      accBits += 8;
    }
    out[k] = (acc % 2 ** bits) & mask;
    acc = Math.floor(acc / 2 ** bits);
    accBits -= bits;
  }
  return out;
}

export function packLsbFirst(values: ArrayLike<number>, bits: number, byteLength: number): Uint8Array {
  const out = new Uint8Array(byteLength);
  let bit = 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    for (let b = 0; b < bits; b++, bit++) if (Math.floor(v / 2 ** b) & 1) out[bit >> 3]! |= 1 << (bit & 7);
  }
  return out;
}

/** EEG subpacket → channels[c][s] in µV. */
export function decodeAthenaEeg(sub: AthenaSubpacket): Float64Array[] {
  const { channels, samples } = sub.sensor;
  const raw = unpackLsbFirst(sub.data, 14, channels * samples);
  return Array.from({ length: channels }, (_, c) => {
    const a = new Float64Array(samples);
    for (let s = 0; s < samples; s++) a[s] = (raw[s * channels + c]! - ATHENA.eegZero) * ATHENA.eegScale;
    return a;
  });
}

/** channels[c][s] µV → 28 data bytes (14-bit LSB-first, sample-major), clamped to the code range. */
export function encodeAthenaEeg(channels: readonly ArrayLike<number>[], tag: 0x11 | 0x12 = 0x12): Uint8Array {
  const s = ATHENA_SENSORS[tag]!;
  if (channels.length !== s.channels)
    throw new RangeError(`tag 0x${tag.toString(16)} carries ${s.channels} EEG channels, got ${channels.length}`);
  const vals = new Array<number>(s.channels * s.samples);
  for (let k = 0; k < s.samples; k++)
    for (let c = 0; c < s.channels; c++) {
      const r = Math.round(channels[c]![k]! / ATHENA.eegScale) + ATHENA.eegZero;
      vals[k * s.channels + c] = Number.isFinite(r) ? Math.max(0, Math.min(16383, r)) : ATHENA.eegZero;
    }
  return packLsbFirst(vals, 14, s.bytes);
}

export interface AthenaImu {
  accelerometer: { x: number; y: number; z: number }[];
  gyroscope: { x: number; y: number; z: number }[];
}

/** ACC/GYRO subpacket: 3 samples × (ax, ay, az, gx, gy, gz) int16 LE. */
export function decodeAthenaAccGyro(sub: AthenaSubpacket): AthenaImu {
  const v = new DataView(sub.data.buffer, sub.data.byteOffset, sub.data.byteLength);
  const out: AthenaImu = { accelerometer: [], gyroscope: [] };
  for (let s = 0; s < 3; s++) {
    const o = 12 * s;
    const a = ATHENA.accelerometerScale;
    const g = ATHENA.gyroscopeScale;
    out.accelerometer.push({ x: a * v.getInt16(o, true), y: a * v.getInt16(o + 2, true), z: a * v.getInt16(o + 4, true) });
    out.gyroscope.push({ x: g * v.getInt16(o + 6, true), y: g * v.getInt16(o + 8, true), z: g * v.getInt16(o + 10, true) });
  }
  return out;
}

export function encodeAthenaAccGyro(imu: AthenaImu): Uint8Array {
  const out = new Uint8Array(36);
  const v = new DataView(out.buffer);
  const q = (x: number, k: number) => {
    const r = Math.round(x / k);
    return Number.isFinite(r) ? Math.max(-32768, Math.min(32767, r)) : 0;
  };
  for (let s = 0; s < 3; s++) {
    const a = imu.accelerometer[s]!;
    const g = imu.gyroscope[s]!;
    const vals = [
      q(a.x, ATHENA.accelerometerScale),
      q(a.y, ATHENA.accelerometerScale),
      q(a.z, ATHENA.accelerometerScale),
      q(g.x, ATHENA.gyroscopeScale),
      q(g.y, ATHENA.gyroscopeScale),
      q(g.z, ATHENA.gyroscopeScale),
    ];
    vals.forEach((x, i) => v.setInt16(12 * s + 2 * i, x, true));
  }
  return out;
}

/** Battery subpacket: first uint16 LE is the state of charge; /256 → % per OpenMuse (disputed, see above). */
export function decodeAthenaBattery(sub: AthenaSubpacket): Decoded<number> {
  const raw = sub.data[0]! | (sub.data[1]! << 8);
  const pct = raw / 256;
  if (pct > 100.5) return { ok: false, error: `Athena battery raw ${raw} gives ${pct.toFixed(1)} % (> 100): scale uncertain` };
  return { ok: true, value: pct };
}

export function encodeAthenaBattery(percent: number): Uint8Array {
  const out = new Uint8Array(20);
  const r = Math.max(0, Math.min(0xffff, Math.round(percent * 256)));
  out[0] = r & 0xff;
  out[1] = r >> 8;
  return out;
}

export interface AthenaPacketSpec {
  packetIndex: number;
  deviceTicks: number;
  /** Packet type = tag of the first (untagged) data. */
  type: number;
  data: Uint8Array;
  extra?: { tag: number; index: number; data: Uint8Array }[];
}

/** Build one packet (the caller concatenates packets into a notification). */
export function encodeAthenaPacket(spec: AthenaPacketSpec): Uint8Array {
  const first = ATHENA_SENSORS[spec.type];
  if (!first || first.bytes !== spec.data.length)
    throw new RangeError(`type 0x${spec.type.toString(16)} needs ${first?.bytes ?? '?'} data bytes, got ${spec.data.length}`);
  const extra = spec.extra ?? [];
  for (const e of extra) {
    const s = ATHENA_SENSORS[e.tag];
    if (!s || s.bytes !== e.data.length)
      throw new RangeError(`tag 0x${e.tag.toString(16)} needs ${s?.bytes ?? '?'} data bytes, got ${e.data.length}`);
  }
  const len = ATHENA.headerBytes + first.bytes + extra.reduce((n, e) => n + 5 + e.data.length, 0);
  if (len > 255) throw new RangeError(`Athena packet of ${len} bytes exceeds the 255 a length byte can describe`);
  const out = new Uint8Array(len);
  out[0] = len;
  out[1] = spec.packetIndex & 0xff;
  const t = spec.deviceTicks >>> 0;
  out[2] = t & 0xff;
  out[3] = (t >>> 8) & 0xff;
  out[4] = (t >>> 16) & 0xff;
  out[5] = t >>> 24;
  out[9] = spec.type;
  out.set(spec.data, ATHENA.headerBytes);
  let q = ATHENA.headerBytes + first.bytes;
  for (const e of extra) {
    out[q] = e.tag;
    out[q + 1] = e.index & 0xff;
    out.set(e.data, q + 5);
    q += 5 + e.data.length;
  }
  return out;
}
