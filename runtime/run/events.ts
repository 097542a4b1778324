/**
 * What `cmcrd run` (and `startRun` for library users) reports: one event per window (`prediction`) and one per
 * thing that happened to the link, the battery or the run, then a final `summary`. Each event is one JSON
 * object; the CLI writes them as JSON Lines, `--serve` as Server-Sent Events. `t` is the run clock's time in ms
 * (epoch-based; on a virtual clock, simulated time); a prediction's `t` is the time of its window's last sample.
 */
import type { BatteryEstimate } from '../battery/monitor.js';
import type { Mode, ModeSettings } from './modes.js';

export interface PredictionEvent {
  type: 'prediction';
  t: number;
  /** Time of the window's first sample. */
  start: number;
  /** Predicted class; null when the window was not classified (see `skipped`). */
  label: string | null;
  probabilities: Record<string, number> | null;
  /** Fraction of the model's channels with good signal in this window (0–1); null when not measured. */
  quality: number | null;
  /** Channels of poor quality (flat, railed, excessive amplitude, line noise, lost samples). */
  badChannels?: string[];
  skipped?: 'gap' | 'quality' | 'error';
  mode: Mode;
  /** Model variant that classified the window. */
  variant: string;
  /** Host time (ms) from the notification that completed the window to this prediction. */
  latencyMs: number;
}

export interface StartEvent {
  type: 'start';
  t: number;
  device: string;
  kind: string;
  name: string;
  model: string;
  variants: Record<string, string>;
  policy: string;
  mode: Mode;
  calibration: string | null;
  /** Notes the user should see (e.g. a model variant that could not be used). */
  notes?: string[];
  /** Ways this run departs from the model's training (e.g. --allow-offline-smoothing); repeated in the summary. */
  warnings?: string[];
}

export interface ConnectEvent {
  type: 'connect';
  t: number;
  name: string;
  kind: string;
  /** The preset streamed (null for devices without presets). */
  preset: string | null;
}

export interface DisconnectEvent {
  type: 'disconnect';
  t: number;
  reason: string;
  /** link: the device or radio dropped it; watchdog: no data for too long, so the host dropped it. */
  cause: 'link' | 'watchdog';
}

export interface ReconnectEvent {
  type: 'reconnect';
  t: number;
  /** 1 for the first attempt after a loss. */
  attempt: number;
  /** Backoff waited before this attempt (ms). */
  delayMs: number;
  ok: boolean;
  error?: string;
  /** Filters, resampler, windows and smoothing start afresh on the new stream (only when ok). */
  featureStateReset?: boolean;
}

export interface GapEvent {
  type: 'gap';
  t: number;
  /** Samples lost (per affected channel). */
  lostSamples: number;
  /** radio: packets lost on a live link (counted by the decoder from packet counters); reconnect: the outage. */
  cause: 'radio' | 'reconnect';
  /** Channels affected, when not all. */
  channels?: string[];
  /** Seconds the outage lasted (reconnect gaps). */
  seconds?: number;
}

export interface ModeEvent {
  type: 'mode';
  t: number;
  from: Mode | null;
  to: Mode;
  reason: string;
  settings: ModeSettings;
  /** Battery level that decided (the lowest discharging source), when known. */
  level: number | null;
  estimate: BatteryEstimate[];
  /** Predicted hours to empty in each mode (battery-target policy). */
  predictedHours?: Partial<Record<Mode, number | null>>;
  /** The stream was restarted (e.g. another headband preset): feature state starts afresh. */
  featureStateReset?: boolean;
}

export interface BatteryEvent extends BatteryEstimate {
  type: 'battery';
  t: number;
  mode: Mode;
}

export interface ErrorEvent {
  type: 'error';
  t: number;
  /** decode: an undecodable packet; connect / stream / inference / battery: what failed. */
  where: 'decode' | 'connect' | 'stream' | 'inference' | 'battery' | 'output';
  message: string;
  fatal?: boolean;
}

export interface WarningEvent {
  type: 'warning';
  t: number;
  message: string;
}

export interface RunSummary {
  type: 'summary';
  t: number;
  /** Run-clock seconds from start to stop. */
  seconds: number;
  stoppedBy: 'duration' | 'stop' | 'end-of-input' | 'error' | 'reconnect-limit';
  windows: number;
  predictions: number;
  skipped: number;
  /** Samples received per channel (EEG rows). */
  samples: number;
  /** lostRadio + lostReconnect. */
  lostSamples: number;
  lostSamplesRadio: number;
  lostSamplesReconnect: number;
  filledSamples: number;
  decodeErrors: number;
  disconnects: number;
  reconnects: number;
  reconnectAttempts: number;
  watchdogTrips: number;
  modeChanges: number;
  /** Run-clock seconds spent in each mode. */
  modeSeconds: Record<Mode, number>;
  /** Seconds the headband streamed (less than `seconds` when halted between windows or paused). */
  streamedSeconds: number;
  labels: Record<string, number>;
  battery: BatteryEstimate[];
  latencyMs: { p50: number | null; p99: number | null; max: number | null };
  /** The start event's warnings, repeated so that a reader of the summary alone sees them. */
  warnings?: string[];
  error?: string;
}

export type RunEvent =
  | PredictionEvent
  | StartEvent
  | ConnectEvent
  | DisconnectEvent
  | ReconnectEvent
  | GapEvent
  | ModeEvent
  | BatteryEvent
  | ErrorEvent
  | WarningEvent
  | RunSummary;

export type RunEventType = RunEvent['type'];

const round = (x: number, d: number) => {
  const k = 10 ** d;
  return Math.round(x * k) / k;
};

/** One JSON line (no newline); numbers trimmed to what they can carry (probabilities 6 digits, times 0.1 ms). */
export function formatEventLine(e: RunEvent): string {
  return JSON.stringify(e, (key, v: unknown) => {
    if (typeof v !== 'number') return v;
    if (!Number.isFinite(v)) return null;
    if (key === 't' || key === 'start') return round(v, 1);
    return Number.isInteger(v) ? v : round(v, 6);
  });
}
