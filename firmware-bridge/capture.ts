/**
 * Capture files (JSON Lines): the first line describes the device, every further line is one notification as
 * the host received it:
 *   {"format":"cmcrd-capture","version":1,"device":"muse"|"muse-athena"|"ganglion"|"open-eeg", …}
 *   {"t": <host ms>, "char": "<full lowercase uuid>", "hex": "<payload>"}
 * Ganglion captures add "firmware": "2.x" | "3.x", or the revision as the device reports it ("2.0.1", "v3.0.2");
 * Muse captures may add "preset" (p20/p50/p60 add AUX).
 * Parsing is browser-safe; reading files is the caller's business.
 */
import { bytesToHex, hexToBytes } from './bytes.js';
import type { DeviceDecoderOptions, DeviceSetup } from './drivers/types.js';
import { DEVICE_KINDS, getDriver, type DeviceKind } from './registry.js';
import { normaliseUuid, type Uuid } from './gatt.js';

export interface CaptureHeader {
  format: 'cmcrd-capture';
  version: 1;
  device: DeviceKind;
  /** Ganglion firmware: "2.x", "3.x" or the revision string the device reports ("2.0.1", "3.0.2"). */
  firmware?: string;
  preset?: string;
  /** Channel labels (Ganglion sites, open-profile labels). */
  channels?: string[];
  name?: string;
  /** Where it came from, e.g. "sim:muse?emotion=happy". */
  source?: string;
  createdAt?: string;
  experimental?: boolean;
}

export interface CaptureNotification {
  t: number;
  char: Uuid;
  bytes: Uint8Array;
}

export class CaptureError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`capture line ${line}: ${message}`);
    this.name = 'CaptureError';
  }
}

export function parseCaptureHeader(text: string, line = 1): CaptureHeader {
  // A UTF-8 byte-order mark (editors on Windows add one) is not part of the JSON.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CaptureError(line, 'header is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CaptureError(line, 'header must be a JSON object');
  const o = v as Record<string, unknown>;
  if (o.format !== 'cmcrd-capture') throw new CaptureError(line, `"format" must be "cmcrd-capture", got ${JSON.stringify(o.format)}`);
  if (o.version !== 1) throw new CaptureError(line, `"version" ${JSON.stringify(o.version)} is not supported (expected 1)`);
  if (typeof o.device !== 'string' || !(DEVICE_KINDS as readonly string[]).includes(o.device))
    throw new CaptureError(line, `"device" must be one of ${DEVICE_KINDS.join(', ')}, got ${JSON.stringify(o.device)}`);
  if (o.firmware !== undefined && firmwareMajor(o.firmware) === null)
    throw new CaptureError(
      line,
      `"firmware" must be "2.x", "3.x" or a firmware 2 or 3 revision such as "2.0.1" or "3.0.2", got ${JSON.stringify(o.firmware)}`,
    );
  if (o.device === 'ganglion' && o.firmware === undefined)
    throw new CaptureError(line, 'a Ganglion capture needs "firmware": "2.x" or "3.x" (or the revision the device reports, e.g. "3.0.2")');
  if (o.channels !== undefined && (!Array.isArray(o.channels) || !o.channels.every((c) => typeof c === 'string')))
    throw new CaptureError(line, '"channels" must be an array of strings');
  if (o.preset !== undefined && typeof o.preset !== 'string') throw new CaptureError(line, '"preset" must be a string');
  return o as unknown as CaptureHeader;
}

export function parseCaptureLine(text: string, line: number): CaptureNotification {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CaptureError(line, 'not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CaptureError(line, 'must be a JSON object {"t","char","hex"}');
  const o = v as Record<string, unknown>;
  if (typeof o.t !== 'number' || !Number.isFinite(o.t))
    throw new CaptureError(line, `"t" must be a finite number (host ms), got ${JSON.stringify(o.t)}`);
  if (typeof o.char !== 'string') throw new CaptureError(line, '"char" must be a UUID string');
  let char: Uuid;
  try {
    char = normaliseUuid(o.char);
  } catch {
    throw new CaptureError(line, `"char" ${JSON.stringify(o.char)} is not a UUID`);
  }
  if (typeof o.hex !== 'string') throw new CaptureError(line, '"hex" must be a string of hex digits');
  const bytes = hexToBytes(o.hex);
  if (!bytes) throw new CaptureError(line, `"hex" is not an even-length hex string: ${JSON.stringify(o.hex.slice(0, 40))}`);
  return { t: o.t, char, bytes };
}

export function formatCaptureHeader(h: Omit<CaptureHeader, 'format' | 'version'>): string {
  return JSON.stringify({ format: 'cmcrd-capture', version: 1, ...h });
}

export function formatCaptureLine(t: number, char: Uuid, bytes: Uint8Array): string {
  return JSON.stringify({ t: Math.round(t * 1000) / 1000, char, hex: bytesToHex(bytes) });
}

export interface ParsedCapture {
  header: CaptureHeader;
  notifications: CaptureNotification[];
  /** Malformed notification lines (skipped). */
  errors: CaptureError[];
}

/** Parse a whole capture text; a bad header throws, bad notification lines are collected. */
export function parseCapture(text: string): ParsedCapture {
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  if (i >= lines.length) throw new CaptureError(1, 'empty capture (no header line)');
  const header = parseCaptureHeader(lines[i]!, i + 1);
  const notifications: CaptureNotification[] = [];
  const errors: CaptureError[] = [];
  for (let j = i + 1; j < lines.length; j++) {
    if (lines[j]!.trim() === '') continue;
    try {
      notifications.push(parseCaptureLine(lines[j]!, j + 1));
    } catch (e) {
      if (e instanceof CaptureError) errors.push(e);
      else throw e;
    }
  }
  return { header, notifications, errors };
}

/** Major version of a header's Ganglion firmware field ("2.x", "3.0.2", "v2.0.1" …), or null when it is not 2 or 3. */
export function firmwareMajor(v: unknown): 2 | 3 | null {
  if (typeof v !== 'string') return null;
  const m = /^\s*v?([23])(?:\.(?:x|\d+))*(?:[-+][0-9a-z.-]*)?\s*$/i.exec(v);
  return m ? (Number(m[1]) as 2 | 3) : null;
}

/** The device setup a capture header records (each driver reads the fields that apply to its kind). */
export function setupFromHeader(h: CaptureHeader): DeviceSetup {
  return {
    ...(h.preset !== undefined ? { preset: h.preset } : {}),
    ...(h.firmware !== undefined ? { firmware: firmwareMajor(h.firmware) ?? 3 } : {}),
    ...(h.channels !== undefined ? { channelNames: h.channels } : {}),
  };
}

export function decoderOptionsFromHeader(h: CaptureHeader): DeviceDecoderOptions {
  return getDriver(h.device).decoderOptions(setupFromHeader(h));
}
