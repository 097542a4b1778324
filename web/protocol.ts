/**
 * The contracts of the phone web app: app.json (written by `cmcrd deploy web`, read by the page and the worker) and
 * the messages between the page (main thread: UI, Web Bluetooth GATT) and the Web Worker (decoding, features,
 * inference). GATT objects live on the main thread only, so with a real headband the worker drives a proxy
 * peripheral: its writes, reads and subscriptions travel to the page as RPCs and notifications come back as
 * messages. In demo mode the virtual headband runs inside the worker.
 */

export type EngineName = 'ort' | 'tfjs';

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
  /** Virtual headband URI (firmware-bridge/sim/uri.ts); the worker adds clock=manual and drives the clock itself. */
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
  skipped: 'gap' | 'quality' | null;
  quality: ChannelQualityView[] | null;
  headbandBattery: number | null;
  /** Demo mode: the virtual wearer's emotion during the window. */
  truth: string | null;
}

export type FromWorker =
  | { type: 'ready'; model: ModelSummary; engine: string; loadMs: number }
  | { type: 'rpc'; id: number; op: RpcOp; char?: string; data?: ArrayBuffer }
  | { type: 'started'; mode: 'demo' | 'headband'; device: string; kind: string }
  | { type: 'prediction'; p: PredictionView }
  | { type: 'warning'; message: string }
  | { type: 'error'; message: string }
  | { type: 'stopped'; reason: string };
