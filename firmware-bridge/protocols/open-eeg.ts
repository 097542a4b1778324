/**
 * The cmcrd open EEG profile (docs/open-eeg-profile.md): a small GATT profile for custom boards (ADS1299 on
 * nRF52/ESP32 and the like). Every data notification is self-describing, so a capture decodes without any other
 * information. The C reference encoder is firmware-bridge/c/cmcrd_open_eeg.h; both share test vectors.
 *
 * Data notification, little-endian:
 *   0  u8   version (2; version 1 packets are still decoded)
 *   1  u8   header length in bytes (14; decoders skip unknown trailing header bytes)
 *   2  u8   flags: bits 0–1 sample format (0 = int16, 1 = int24); bit 2 = stream restart (first packet after
 *           start: sequence and clock re-anchor, no gap); bits 3–7 reserved (0)
 *   3  u8   channels (1–64)
 *   4  u8   frames in this packet (≥ 1)
 *   5  u8   battery percent (0–100; 255 = unknown)
 *   6  u16  sequence number of this packet (wraps 65535 → 0)
 *   8  u16  sample rate, Hz
 *   10 f32  µV per count
 *   14 …    frames × channels samples, frame-major (frame 0 ch 0..n-1, frame 1 …), signed, little-endian
 *   end u16 version 2 only: CRC-16/CCITT-FALSE of every byte before it
 * The packet's length must equal header length + frames · channels · (2 | 3) (+ 2 in version 2).
 */
import type { Uuid } from '../gatt.js';
import { BATTERY_SERVICE } from './battery.js';
import type { Decoded } from './muse.js';

const base = (short: string): Uuid => `c3d0${short}-5e1f-4b7a-9a36-2f1c0e0e0ee9`;

export const OPEN_EEG = {
  service: base('0001'),
  /** Notify: data packets. */
  data: base('0002'),
  /** Write: one-byte commands (OPEN_EEG_COMMANDS). */
  control: base('0003'),
  /** Read: UTF-8 JSON device description (name, channel labels, firmware). */
  info: base('0004'),
  battery: BATTERY_SERVICE,
  /** Version hosts and the reference encoders write; decoders read 1 and 2. */
  version: 2,
  headerBytes: 14,
  /** Version 2 ends every data packet with a CRC-16/CCITT-FALSE of the bytes before it (little-endian). */
  crcBytes: 2,
  namePrefix: 'CMCRD-',
} as const;

export const OPEN_EEG_COMMANDS = {
  stop: 0x00,
  start: 0x01,
  /** Optional: the board may stop streaming when it has not heard from the host for 30 s. */
  keepAlive: 0x02,
} as const;

export type OpenEegFormat = 'int16' | 'int24';
export type OpenEegVersion = 1 | 2;

export interface OpenEegPacket {
  version: OpenEegVersion;
  format: OpenEegFormat;
  restart: boolean;
  channels: number;
  frames: number;
  /** null when the board does not know. */
  batteryPercent: number | null;
  sequence: number;
  sampleRate: number;
  scaleUv: number;
  /** channels[c][f] in counts (multiply by scaleUv for µV). */
  counts: Int32Array[];
}

/** The description the info characteristic returns. */
export interface OpenEegInfo {
  name: string;
  /** 10-20 labels in channel order; "" where unknown. */
  channels: string[];
  firmware?: string;
  reference?: string;
}

const FORMAT_BYTES: Record<OpenEegFormat, number> = { int16: 2, int24: 3 };

/** CRC of each byte value shifted through the register (the bitwise loop, tabulated once). */
const CRC_TABLE = Uint16Array.from({ length: 256 }, (_, v) => {
  let crc = v << 8;
  for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
});

/**
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor; check value 0x29B1 for
 * "123456789"). Written out rather than taken from a package: ten lines that must match the C encoder bit for
 * bit, with no dependency for browser bundles.
 */
export function crc16CcittFalse(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let crc = 0xffff;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

export function decodeOpenEegPacket(bytes: Uint8Array): Decoded<OpenEegPacket> {
  if (bytes.length < OPEN_EEG.headerBytes)
    return { ok: false, error: `open-EEG packet shorter than the ${OPEN_EEG.headerBytes}-byte header (${bytes.length} bytes)` };
  const version = bytes[0]!;
  if (version !== 1 && version !== 2) return { ok: false, error: `open-EEG profile version ${version} is not supported (expected 1 or 2)` };
  const hdr = bytes[1]!;
  if (hdr < OPEN_EEG.headerBytes) return { ok: false, error: `open-EEG header length ${hdr} < ${OPEN_EEG.headerBytes}` };
  const flags = bytes[2]!;
  const fmtCode = flags & 3;
  if (fmtCode > 1) return { ok: false, error: `open-EEG sample format code ${fmtCode} is not defined` };
  const format: OpenEegFormat = fmtCode === 0 ? 'int16' : 'int24';
  const channels = bytes[3]!;
  const frames = bytes[4]!;
  if (channels < 1 || channels > 64) return { ok: false, error: `open-EEG channel count ${channels} outside 1–64` };
  if (frames < 1) return { ok: false, error: 'open-EEG packet declares 0 frames' };
  const bps = FORMAT_BYTES[format];
  const crc = version === 2 ? OPEN_EEG.crcBytes : 0;
  const want = hdr + frames * channels * bps + crc;
  if (bytes.length !== want)
    return {
      ok: false,
      error: `open-EEG version ${version} packet is ${bytes.length} bytes; header says ${want} (${frames} frames × ${channels} ch × ${bps} B + ${hdr}${crc ? ` + ${crc}-byte CRC` : ''})`,
    };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (crc) {
    const got = v.getUint16(want - crc, true);
    const calc = crc16CcittFalse(bytes, 0, want - crc);
    if (got !== calc)
      return { ok: false, error: `open-EEG packet CRC is 0x${hex4(got)} but its bytes give 0x${hex4(calc)}: corrupted, samples dropped` };
  }
  const battery = bytes[5]!;
  const sampleRate = v.getUint16(8, true);
  const scaleUv = v.getFloat32(10, true);
  if (sampleRate === 0) return { ok: false, error: 'open-EEG sample rate is 0' };
  if (!(Number.isFinite(scaleUv) && scaleUv > 0))
    return { ok: false, error: `open-EEG scale ${scaleUv} µV/count is not a positive number` };
  const counts = Array.from({ length: channels }, () => new Int32Array(frames));
  let o = hdr;
  for (let f = 0; f < frames; f++)
    for (let c = 0; c < channels; c++) {
      counts[c]![f] = bps === 2 ? v.getInt16(o, true) : ((bytes[o]! << 8) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 24)) >> 8;
      o += bps;
    }
  return {
    ok: true,
    value: {
      version: version as OpenEegVersion,
      format,
      restart: (flags & 4) !== 0,
      channels,
      frames,
      batteryPercent: battery <= 100 ? battery : null,
      sequence: v.getUint16(6, true),
      sampleRate,
      scaleUv,
      counts,
    },
  };
}

export interface OpenEegEncodeOptions {
  format: OpenEegFormat;
  sequence: number;
  sampleRate: number;
  scaleUv: number;
  batteryPercent?: number | null;
  restart?: boolean;
  /** Packet format version (default OPEN_EEG.version, 2: with CRC). */
  version?: OpenEegVersion;
}

const hex4 = (x: number) => x.toString(16).padStart(4, '0');

/** counts[c][f] (integers; clamped to the format's range) → one data packet. */
export function encodeOpenEegPacket(counts: readonly ArrayLike<number>[], o: OpenEegEncodeOptions): Uint8Array {
  const channels = counts.length;
  const frames = counts[0]?.length ?? 0;
  if (channels < 1 || channels > 64) throw new RangeError(`open-EEG packets carry 1–64 channels, got ${channels}`);
  if (frames < 1 || frames > 255) throw new RangeError(`open-EEG packets carry 1–255 frames, got ${frames}`);
  if (counts.some((c) => c.length !== frames)) throw new RangeError('every channel must have the same number of frames');
  if (!(o.sampleRate >= 1 && o.sampleRate <= 65535)) throw new RangeError(`sample rate ${o.sampleRate} outside 1–65535 Hz`);
  const version = o.version ?? OPEN_EEG.version;
  if (version !== 1 && version !== 2) throw new RangeError(`open-EEG packet version must be 1 or 2, got ${String(version)}`);
  const bps = FORMAT_BYTES[o.format];
  const crc = version === 2 ? OPEN_EEG.crcBytes : 0;
  const out = new Uint8Array(OPEN_EEG.headerBytes + frames * channels * bps + crc);
  const v = new DataView(out.buffer);
  out[0] = version;
  out[1] = OPEN_EEG.headerBytes;
  out[2] = (o.format === 'int24' ? 1 : 0) | (o.restart ? 4 : 0);
  out[3] = channels;
  out[4] = frames;
  const b = o.batteryPercent;
  out[5] = b === null || b === undefined || !Number.isFinite(b) ? 255 : Math.max(0, Math.min(100, Math.round(b)));
  v.setUint16(6, o.sequence & 0xffff, true);
  v.setUint16(8, Math.round(o.sampleRate), true);
  v.setFloat32(10, o.scaleUv, true);
  const lim = o.format === 'int16' ? 32767 : 8388607;
  let p = OPEN_EEG.headerBytes;
  for (let f = 0; f < frames; f++)
    for (let c = 0; c < channels; c++) {
      const r = Math.round(counts[c]![f]!);
      const x = Number.isFinite(r) ? Math.max(-lim - 1, Math.min(lim, r)) : 0;
      if (bps === 2) v.setInt16(p, x, true);
      else {
        out[p] = x & 0xff;
        out[p + 1] = (x >> 8) & 0xff;
        out[p + 2] = (x >> 16) & 0xff;
      }
      p += bps;
    }
  if (crc) v.setUint16(p, crc16CcittFalse(out, 0, p), true);
  return out;
}

/** Largest frame count that fits a notification payload of `payloadBytes` (ATT MTU − 3). */
export function openEegFramesPerPacket(
  channels: number,
  format: OpenEegFormat,
  payloadBytes: number,
  version: OpenEegVersion = OPEN_EEG.version,
): number {
  const fixed = OPEN_EEG.headerBytes + (version === 2 ? OPEN_EEG.crcBytes : 0);
  return Math.max(0, Math.min(255, Math.floor((payloadBytes - fixed) / (channels * FORMAT_BYTES[format]))));
}

export function decodeOpenEegInfo(bytes: Uint8Array): Decoded<OpenEegInfo> {
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    const v: unknown = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: 'open-EEG info is not a JSON object' };
    const o = v as Record<string, unknown>;
    if (typeof o.name !== 'string') return { ok: false, error: 'open-EEG info: "name" must be a string' };
    if (!Array.isArray(o.channels) || !o.channels.every((c) => typeof c === 'string'))
      return { ok: false, error: 'open-EEG info: "channels" must be an array of strings' };
    return {
      ok: true,
      value: {
        name: o.name,
        channels: o.channels as string[],
        ...(typeof o.firmware === 'string' ? { firmware: o.firmware } : {}),
        ...(typeof o.reference === 'string' ? { reference: o.reference } : {}),
      },
    };
  } catch {
    return { ok: false, error: `open-EEG info is not UTF-8 JSON: ${JSON.stringify(text.slice(0, 60))}` };
  }
}

export function encodeOpenEegInfo(info: OpenEegInfo): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(info));
}
