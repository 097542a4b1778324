/**
 * What a device decoder emits: typed records for sample rows, gaps, host-clock events, telemetry, motion,
 * control replies, impedance, messages and undecodable packets. Shared by the decoder and the per-kind drivers.
 */
import { bytesToHex, hexPreview } from './bytes.js';
import type { Xyz } from './protocols/muse.js';

/** Sample rows of one stream (EEG or PPG); values in µV (EEG) or raw units (PPG), NaN where lost. */
export interface RowsRecord {
  kind: 'eeg' | 'ppg';
  /** Absolute index of the first row since the stream started. */
  firstSample: number;
  t: Float64Array;
  names: readonly string[];
  channels: Float64Array[];
}
export interface GapRecord {
  kind: 'gap';
  t: number;
  stream: string;
  lostSamples: number;
  fromSample: number;
  channels?: string[];
  /** Extra consequence, e.g. Ganglion FW2's delta baseline being lost. */
  note?: string;
}
/**
 * The host clock did something the sample grid does not follow (see streams/clock.ts): a step (the grid
 * re-anchored to the new host time), a glitch (isolated host times off the grid, ignored) or an unusable time
 * (NaN, ±Infinity, beyond ±2^53 ms; ignored). Samples are never counted lost because of host time; a step may
 * also hide whole counter cycles lost with it, which no counter can show.
 */
export interface ClockRecord {
  kind: 'clock';
  /** Grid time of fromSample (NaN when the stream has no usable time yet). */
  t: number;
  stream: string;
  change: 'step' | 'glitch' | 'invalid';
  fromSample: number;
  /** The host time that showed it, as received. */
  hostMs: number;
  /** Host time minus grid time (ms), null when not measurable. */
  jumpMs: number | null;
  notifications: number;
}
export interface TelemetryRecord {
  kind: 'telemetry';
  t: number;
  battery: number;
  fuelGaugeMv?: number;
  temperature?: number;
  source: 'muse-telemetry' | 'athena-subpacket' | 'battery-service' | 'open-eeg-header';
}
export interface MotionRecord {
  kind: 'accelerometer' | 'gyroscope';
  t: number;
  /** g (accelerometer) or °/s (gyroscope), with each sample's time. */
  samples: (Xyz & { t: number })[];
}
export interface ControlRecord {
  kind: 'control';
  t: number;
  json: Record<string, unknown>;
}
export interface ImpedanceRecord {
  kind: 'impedance';
  t: number;
  channel: string;
  kOhm: number;
}
export interface MessageRecord {
  kind: 'message';
  t: number;
  text: string;
}
export interface ErrorRecord {
  kind: 'error';
  t: number;
  char: string;
  error: string;
  hex: string;
}
export type DecodedRecord =
  RowsRecord | GapRecord | ClockRecord | TelemetryRecord | MotionRecord | ControlRecord | ImpedanceRecord | MessageRecord | ErrorRecord;

export function errorRecord(t: number, char: string, error: string, bytes: Uint8Array): ErrorRecord {
  return { kind: 'error', t, char, error, hex: bytes.length <= 64 ? bytesToHex(bytes) : hexPreview(bytes, 64) };
}
