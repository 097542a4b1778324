/**
 * The contracts of the phone web app: app.json (written by `cmcrd deploy web`, read by the page and the worker) and
 * the messages between the page (main thread: UI, Web Bluetooth GATT) and the Web Worker (decoding, features,
 * inference). GATT objects live on the main thread only, so with a real headband the worker drives a proxy
 * peripheral: its writes, reads and subscriptions travel to the page as RPCs and notifications come back as
 * messages. In demo mode the virtual headband runs inside the worker.
 */

import type { BatteryEstimate, BatteryReading } from '../runtime/battery/monitor.js';
import type { Mode } from '../runtime/run/modes.js';

export type EngineName = 'ort' | 'tfjs';
export type { Mode };

/** app.json. src/cli/commands/deploy.ts writes it (a copy of this shape, since src/ never imports web/). */
export interface AppConfig {
  format: 'cmcrd-web-app';
  version: 1;
  engine: EngineName;
  title: string;
  toolkit: string;
  /** The model the worker loads (relative to the app): an .onnx file (ort) or a GraphModel model.json (tfjs). */
  model: { url: string; variant: string; bytes: number };
  /** The engine's wasm binary (relative to the app). */
  wasm: { url: string; bytes: number };
  demo: DemoConfig;
}

export interface DemoConfig {
  /**
   * Virtual headband URI (firmware-bridge/sim/uri.ts); the worker adds clock=manual and moves it with the run's
   * virtual clock, at the URI's `speed` (virtual seconds per real second, default 1) as `cmcrd run --speed` does.
   */
  uri: string;
  /** Seconds the virtual wearer stays in one emotion before the next. */
  segmentSec: number;
  /**
   * Seconds of signal the virtual headband has "already streamed" when the demo starts, so the first window is
   * complete at once (a real headband needs a full window first: the card's window_s).
   */
  prerollSec: number;
}

/** What the page shows about the loaded model. */
export interface ModelSummary {
  arch: string;
  classes: string[];
  channels: string[];
  /** Device electrodes feeding the channels (montage sites), or the channels themselves. */
  sites: string[];
  device: string | null;
  windowSec: number;
  hopSec: number;
  variant: string;
}

/** The GATT table of a connected peripheral, as the worker's proxy needs it. */
export interface PeripheralTable {
  id: string;
  name: string;
  services: string[];
  characteristics: string[];
}

export type RpcOp = 'write' | 'read' | 'subscribe' | 'unsubscribe' | 'disconnect';

export type ToWorker =
  | { type: 'start-demo'; uri?: string }
  | { type: 'start-remote'; table: PeripheralTable }
  | { type: 'notify'; char: string; data: ArrayBuffer; t: number }
  | { type: 'rpc-result'; id: number; ok: true; data?: ArrayBuffer }
  | { type: 'rpc-result'; id: number; ok: false; error: string }
  | { type: 'disconnected'; reason: string }
  /** The phone's battery (navigator.getBattery on the page; workers have no Battery API), on every change. */
  | { type: 'phone-battery'; reading: BatteryReading }
  | { type: 'stop' };

export interface ChannelQualityView {
  site: string;
  good: boolean;
  /** Standard deviation (µV) and peak-to-peak (µV) of the window. */
  std: number;
  peakToPeak: number;
  /** What is wrong when not good. */
  problem: string | null;
}

export interface PredictionView {
  /** Seconds since the session's first sample. */
  t: number;
  predicted: string | null;
  probabilities: number[] | null;
  /** Why the window was not classified: lost samples, poor signal, or the model failed on it. */
  skipped: 'gap' | 'quality' | 'error' | null;
  quality: ChannelQualityView[] | null;
  headbandBattery: number | null;
  /** Demo mode: the virtual wearer's emotion during the window. */
  truth: string | null;
  /** The battery-aware mode the window was classified in, and the model variant that classified it. */
  mode: Mode;
  variant: string;
}

/** A battery source as the run's monitor sees it (`headband` or `phone`): level, charging, drain, time to empty. */
export type BatteryView = BatteryEstimate;

/**
 * A change of the battery-aware mode (runtime/run/policy.ts, as in `cmcrd run`), with what the mode does in the
 * app: the classify stride, whether the headband is halted between windows, whether inference is paused (only a
 * battery watch left), the preset streamed and the model variant that runs.
 */
export interface ModeView {
  /** Run-clock ms (virtual in demo mode). */
  t: number;
  from: Mode | null;
  to: Mode;
  reason: string;
  /** The constraining battery level (%), when one decided. */
  level: number | null;
  /** Seconds between classified windows; in critical, between battery-watch bursts. */
  strideSec: number;
  windowSec: number;
  /** The headband streams one window per stride and is halted in between. */
  dutyCycle: boolean;
  /** No inference (critical); the headband streams a short burst per stride to report its battery… */
  paused: boolean;
  /** …if it reports one at all (otherwise it stays halted and only the phone's battery is watched). */
  headbandBattery: boolean;
  /** Preset streamed (null for headbands without presets). */
  preset: string | null;
  /** The model variant that runs, and why it is that one. */
  variant: string;
  variantNote: string | null;
  /** Per battery source: what decided (measured in the mode being left). */
  estimate: BatteryView[];
  /** Battery-target policy: predicted hours per mode. */
  predictedHours?: Partial<Record<Mode, number | null>>;
}

export type FromWorker =
  | { type: 'ready'; model: ModelSummary; engine: string; loadMs: number }
  | { type: 'rpc'; id: number; op: RpcOp; char?: string; data?: ArrayBuffer }
  | { type: 'started'; mode: 'demo' | 'headband'; device: string; kind: string }
  | { type: 'prediction'; p: PredictionView }
  | { type: 'mode'; m: ModeView }
  | { type: 'battery'; b: BatteryView }
  /** Link news for the status line (lost, reconnecting, reconnected). */
  | { type: 'link'; text: string }
  | { type: 'warning'; message: string }
  | { type: 'error'; message: string }
  | { type: 'stopped'; reason: string };
