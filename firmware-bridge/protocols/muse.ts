/**
 * Muse 2016 / Muse 2 / Muse S (gen 1–2) protocol: pure functions on bytes (../shared/docs/devices.md).
 * All multi-byte fields are big-endian.
 */
import type { Uuid } from '../gatt.js';
import { uuid16 } from '../gatt.js';

const museUuid = (short: string): Uuid => `273e${short}-4c4d-454d-96be-f03bac821358`;

export const MUSE = {
  service: uuid16(0xfe8d),
  control: museUuid('0001'),
  eeg: { TP9: museUuid('0003'), AF7: museUuid('0004'), AF8: museUuid('0005'), TP10: museUuid('0006'), AUX: museUuid('0007') },
  gyroscope: museUuid('0009'),
  accelerometer: museUuid('000a'),
  telemetry: museUuid('000b'),
  /** PPG ambient, infrared, red (Muse 2 / Muse S with presets p50/p51/p60/p61). */
  ppg: [museUuid('000f'), museUuid('0010'), museUuid('0011')],
  sampleRate: 256,
  samplesPerPacket: 12,
  /** µV per count; raw 2048 is 0 µV. */
  eegScale: 0.48828125,
  /** g per LSB (±2 g range). */
  accelerometerScale: 0.0000610352,
  /** °/s per LSB. */
  gyroscopeScale: 0.0074768,
  imuRate: 52,
  imuSamplesPerPacket: 3,
  ppgRate: 64,
  ppgSamplesPerPacket: 6,
  /** Seconds between keep-alive `k` commands. */
  keepAliveSeconds: 10,
} as const;

export const MUSE_PPG_CHANNELS = ['ambient', 'infrared', 'red'] as const;

export interface MusePreset {
  /** Right AUX electrode streamed on 273e0007 as a fifth EEG channel. */
  aux: boolean;
  /** PPG characteristics 273e000f/0010/0011 stream. */
  ppg: boolean;
  /** Accelerometer and gyroscope stream. */
  imu: boolean;
  /** Devices that accept it. */
  models: readonly string[];
  note?: string;
}

/**
 * What each preset enables (devices.md). p20/p21 are on every model; the PPG presets need a Muse 2 or Muse S.
 * p60/p61 are Muse S presets whose exact contents are not public: we assume they mirror p50/p51.
 */
export const MUSE_PRESETS: Readonly<Record<string, MusePreset>> = {
  p20: { aux: true, ppg: false, imu: true, models: ['muse-2016', 'muse-2', 'muse-s'] },
  p21: { aux: false, ppg: false, imu: true, models: ['muse-2016', 'muse-2', 'muse-s'], note: 'default' },
  p50: { aux: true, ppg: true, imu: true, models: ['muse-2', 'muse-s'] },
  p51: { aux: false, ppg: true, imu: true, models: ['muse-2', 'muse-s'] },
  p60: { aux: true, ppg: true, imu: true, models: ['muse-s'], note: 'assumed like p50' },
  p61: { aux: false, ppg: true, imu: true, models: ['muse-s'], note: 'assumed like p51' },
};

/** Characteristics that notify under a preset (control and telemetry always do). */
export function musePresetCharacteristics(preset: string): Uuid[] {
  const p = MUSE_PRESETS[preset];
  if (!p) throw new RangeError(`unknown Muse preset "${preset}" (known: ${Object.keys(MUSE_PRESETS).join(', ')})`);
  const out: Uuid[] = [MUSE.control, MUSE.telemetry, ...MUSE_EEG_CHANNELS.map((c) => MUSE.eeg[c])];
  if (p.aux) out.push(MUSE.eeg.AUX);
  if (p.imu) out.push(MUSE.accelerometer, MUSE.gyroscope);
  if (p.ppg) out.push(...MUSE.ppg);
  return out;
}

export const MUSE_EEG_CHANNELS = ['TP9', 'AF7', 'AF8', 'TP10'] as const;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** A control command: [len+1, ascii…, '\n']. */
export function encodeMuseCommand(cmd: string): Uint8Array {
  if (!/^[\x20-\x7e]{1,18}$/.test(cmd))
    throw new RangeError(`Muse command must be 1–18 printable ASCII characters, got ${JSON.stringify(cmd)}`);
  const out = new Uint8Array(cmd.length + 2);
  out[0] = cmd.length + 1;
  for (let i = 0; i < cmd.length; i++) out[i + 1] = cmd.charCodeAt(i);
  out[cmd.length + 1] = 0x0a;
  return out;
}

/** Parse a control command written by a host (the virtual headband's side). */
export function decodeMuseCommand(bytes: Uint8Array): Decoded<string> {
  const n = bytes[0];
  if (n === undefined || n < 2 || bytes.length < n + 1)
    return { ok: false, error: `command length byte ${n} does not fit ${bytes.length} bytes` };
  if (bytes[n] !== 0x0a) return { ok: false, error: 'command does not end with a newline' };
  let s = '';
  for (let i = 1; i < n; i++) s += String.fromCharCode(bytes[i]!);
  return { ok: true, value: s };
}

export interface MuseEegPacket {
  /** 16-bit packet index (wraps at 0xffff). */
  index: number;
  /** 12 samples, µV. */
  samples: Float64Array;
}

/**
 * Allocation-free EEG decode into `out` (12 µV values). Returns the packet index, or -1 when the packet is not
 * 20 bytes. For hot loops; {@link decodeMuseEeg} is the convenient form.
 */
export function decodeMuseEegInto(bytes: Uint8Array, out: Float64Array): number {
  if (bytes.length !== 20) return -1;
  const k = MUSE.eegScale;
  for (let i = 0, o = 2; i < 12; i += 2, o += 3) {
    const b1 = bytes[o + 1]!;
    out[i] = k * (((bytes[o]! << 4) | (b1 >> 4)) - 2048);
    out[i + 1] = k * ((((b1 & 0x0f) << 8) | bytes[o + 2]!) - 2048);
  }
  return (bytes[0]! << 8) | bytes[1]!;
}

/** Decode a 20-byte EEG notification: uint16 index + 12 × 12-bit samples packed two per three bytes. */
export function decodeMuseEeg(bytes: Uint8Array): Decoded<MuseEegPacket> {
  if (bytes.length !== 20) return { ok: false, error: `Muse EEG packet must be 20 bytes, got ${bytes.length}` };
  const index = (bytes[0]! << 8) | bytes[1]!;
  const samples = new Float64Array(12);
  for (let i = 0; i < 6; i++) {
    const b0 = bytes[2 + 3 * i]!;
    const b1 = bytes[3 + 3 * i]!;
    const b2 = bytes[4 + 3 * i]!;
    samples[2 * i] = MUSE.eegScale * (((b0 << 4) | (b1 >> 4)) - 2048);
    samples[2 * i + 1] = MUSE.eegScale * ((((b1 & 0x0f) << 8) | b2) - 2048);
  }
  return { ok: true, value: { index, samples } };
}

/** Encode 12 µV samples (clamped to the 12-bit range, rounded to the nearest count) as an EEG notification. */
export function encodeMuseEeg(index: number, samplesUv: ArrayLike<number>): Uint8Array {
  if (samplesUv.length !== 12) throw new RangeError(`a Muse EEG packet holds 12 samples, got ${samplesUv.length}`);
  const out = new Uint8Array(20);
  const idx = index & 0xffff;
  out[0] = idx >> 8;
  out[1] = idx & 0xff;
  const raw = (v: number) => {
    const r = Math.round(v / MUSE.eegScale) + 2048;
    return Number.isFinite(r) ? Math.min(4095, Math.max(0, r)) : 2048;
  };
  for (let i = 0; i < 6; i++) {
    const a = raw(samplesUv[2 * i]!);
    const b = raw(samplesUv[2 * i + 1]!);
    out[2 + 3 * i] = a >> 4;
    out[3 + 3 * i] = ((a & 0x0f) << 4) | (b >> 8);
    out[4 + 3 * i] = b & 0xff;
  }
  return out;
}

/**
 * Control replies: each notification is [n, n ASCII bytes, stale padding]. Feed notifications in order;
 * complete JSON objects come out (one notification can close one object and open the next). Objects are
 * delimited by brace depth outside strings, so a `}` inside a string value does not end an object; text
 * outside any object (line noise, a lost fragment's tail) is skipped and reported.
 */
export class MuseControlAssembler {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Longest object we keep assembling before declaring it garbage (a lost closing fragment). */
  private static readonly MAX_OBJECT = 4096;

  push(bytes: Uint8Array): Decoded<Record<string, unknown>>[] {
    if (bytes.length < 1) return [{ ok: false, error: 'empty control notification' }];
    const n = bytes[0]!;
    if (n > bytes.length - 1) return [{ ok: false, error: `control fragment length ${n} exceeds its ${bytes.length - 1} data bytes` }];
    const out: Decoded<Record<string, unknown>>[] = [];
    let skipped = '';
    for (let i = 1; i <= n; i++) {
      const ch = String.fromCharCode(bytes[i]!);
      if (this.depth === 0) {
        if (ch === '{') {
          this.buf = '{';
          this.depth = 1;
          this.inString = false;
          this.escaped = false;
        } else if (ch.trim() !== '') skipped += ch;
        continue;
      }
      this.buf += ch;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === '\\') this.escaped = true;
        else if (ch === '"') this.inString = false;
        continue;
      }
      if (ch === '"') this.inString = true;
      else if (ch === '{') this.depth++;
      else if (ch === '}' && --this.depth === 0) {
        out.push(parseObject(this.buf));
        this.buf = '';
      }
      if (this.buf.length > MuseControlAssembler.MAX_OBJECT) {
        out.push({
          ok: false,
          error: `control reply longer than ${MuseControlAssembler.MAX_OBJECT} characters without closing: discarded`,
        });
        this.buf = '';
        this.depth = 0;
      }
    }
    if (skipped !== '') out.unshift({ ok: false, error: `control text outside a JSON object: ${JSON.stringify(skipped)}` });
    return out;
  }
}

function parseObject(text: string): Decoded<Record<string, unknown>> {
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return { ok: true, value: v as Record<string, unknown> };
    return { ok: false, error: `control reply is not an object: ${text}` };
  } catch {
    return { ok: false, error: `control reply is not valid JSON: ${JSON.stringify(text)}` };
  }
}

/** Split a JSON reply into control notifications of 20 bytes: [n ≤ 19, n bytes, zero padding]. */
export function encodeMuseControlReply(obj: Record<string, unknown>): Uint8Array[] {
  const text = JSON.stringify(obj);
  const out: Uint8Array[] = [];
  for (let i = 0; i < text.length; i += 19) {
    const part = text.slice(i, i + 19);
    const pkt = new Uint8Array(20);
    pkt[0] = part.length;
    for (let j = 0; j < part.length; j++) pkt[j + 1] = part.charCodeAt(j) & 0x7f;
    out.push(pkt);
  }
  return out;
}

export interface MuseTelemetry {
  index: number;
  batteryPercent: number;
  fuelGaugeMv: number;
  adcMv: number;
  temperature: number;
}

/** Telemetry: uint16 BE seq, battery (/512 → %), fuel gauge (×2.2 → mV), ADC mV, temperature; zero padding. */
export function decodeMuseTelemetry(bytes: Uint8Array): Decoded<MuseTelemetry> {
  if (bytes.length !== 20) return { ok: false, error: `Muse telemetry packet must be 20 bytes, got ${bytes.length}` };
  const u16 = (o: number) => (bytes[o]! << 8) | bytes[o + 1]!;
  return {
    ok: true,
    value: { index: u16(0), batteryPercent: u16(2) / 512, fuelGaugeMv: u16(4) * 2.2, adcMv: u16(6), temperature: u16(8) },
  };
}

export function encodeMuseTelemetry(t: MuseTelemetry): Uint8Array {
  const out = new Uint8Array(20);
  const put = (o: number, v: number) => {
    const r = Math.min(0xffff, Math.max(0, Math.round(v)));
    out[o] = r >> 8;
    out[o + 1] = r & 0xff;
  };
  put(0, t.index & 0xffff);
  put(2, t.batteryPercent * 512);
  put(4, t.fuelGaugeMv / 2.2);
  put(6, t.adcMv);
  put(8, t.temperature);
  return out;
}

export interface Xyz {
  x: number;
  y: number;
  z: number;
}

export interface MuseImuPacket {
  index: number;
  /** 3 samples, in g (accelerometer) or °/s (gyroscope). */
  samples: Xyz[];
}

function decodeImu(bytes: Uint8Array, scale: number, what: string): Decoded<MuseImuPacket> {
  if (bytes.length !== 20) return { ok: false, error: `Muse ${what} packet must be 20 bytes, got ${bytes.length}` };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const samples: Xyz[] = [];
  for (let i = 0; i < 3; i++) {
    const o = 2 + 6 * i;
    samples.push({ x: scale * v.getInt16(o), y: scale * v.getInt16(o + 2), z: scale * v.getInt16(o + 4) });
  }
  return { ok: true, value: { index: v.getUint16(0), samples } };
}

function encodeImu(index: number, samples: readonly Xyz[], scale: number): Uint8Array {
  if (samples.length !== 3) throw new RangeError(`a Muse IMU packet holds 3 samples, got ${samples.length}`);
  const out = new Uint8Array(20);
  const v = new DataView(out.buffer);
  v.setUint16(0, index & 0xffff);
  const q = (x: number) => {
    const r = Math.round(x / scale);
    return Number.isFinite(r) ? Math.max(-32768, Math.min(32767, r)) : 0;
  };
  samples.forEach((s, i) => {
    v.setInt16(2 + 6 * i, q(s.x));
    v.setInt16(4 + 6 * i, q(s.y));
    v.setInt16(6 + 6 * i, q(s.z));
  });
  return out;
}

/** Accelerometer: uint16 BE seq + 3 × (x, y, z) int16 BE, 0.0000610352 g/LSB. */
export const decodeMuseAccelerometer = (bytes: Uint8Array): Decoded<MuseImuPacket> =>
  decodeImu(bytes, MUSE.accelerometerScale, 'accelerometer');
export const encodeMuseAccelerometer = (index: number, samples: readonly Xyz[]): Uint8Array =>
  encodeImu(index, samples, MUSE.accelerometerScale);
/** Gyroscope: same layout, 0.0074768 °/s per LSB. */
export const decodeMuseGyroscope = (bytes: Uint8Array): Decoded<MuseImuPacket> => decodeImu(bytes, MUSE.gyroscopeScale, 'gyroscope');
export const encodeMuseGyroscope = (index: number, samples: readonly Xyz[]): Uint8Array => encodeImu(index, samples, MUSE.gyroscopeScale);

export interface MusePpgPacket {
  index: number;
  /** 6 raw 24-bit photodiode readings. */
  samples: Float64Array;
}

/** PPG: uint16 BE seq + 6 × uint24 BE. */
export function decodeMusePpg(bytes: Uint8Array): Decoded<MusePpgPacket> {
  if (bytes.length !== 20) return { ok: false, error: `Muse PPG packet must be 20 bytes, got ${bytes.length}` };
  const samples = new Float64Array(6);
  for (let i = 0; i < 6; i++) {
    const o = 2 + 3 * i;
    samples[i] = (bytes[o]! << 16) | (bytes[o + 1]! << 8) | bytes[o + 2]!;
  }
  return { ok: true, value: { index: (bytes[0]! << 8) | bytes[1]!, samples } };
}

export function encodeMusePpg(index: number, samples: ArrayLike<number>): Uint8Array {
  if (samples.length !== 6) throw new RangeError(`a Muse PPG packet holds 6 samples, got ${samples.length}`);
  const out = new Uint8Array(20);
  out[0] = (index >> 8) & 0xff;
  out[1] = index & 0xff;
  for (let i = 0; i < 6; i++) {
    const r = Math.round(samples[i]!);
    const v = Number.isFinite(r) ? Math.max(0, Math.min(0xffffff, r)) : 0;
    out[2 + 3 * i] = v >> 16;
    out[3 + 3 * i] = (v >> 8) & 0xff;
    out[4 + 3 * i] = v & 0xff;
  }
  return out;
}
