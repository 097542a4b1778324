/**
 * The Web Worker's engine-neutral part: it loads the model (through the engine entry's loader), then runs the
 * runtime's run supervisor — `cmcrd run` in a browser: decoding, features, inference, and the battery-aware mode
 * policy fed by the headband's battery (from the decoder) and the phone's (posted by the page) — on either a
 * virtual headband inside the worker (demo mode) or a proxy of the page's Web Bluetooth peripheral, and posts one
 * view per window, per mode change and per battery change to the page.
 */
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import { getDriver, identifyPeripheral, type DeviceKind } from '../../firmware-bridge/registry.js';
import type { BatteryReading } from '../../runtime/battery/monitor.js';
import type { ChannelQuality } from '../../runtime/dsp/index.js';
import type { Classifier } from '../../runtime/infer/types.js';
import type { ModelCard } from '../../runtime/model-card.js';
import { RealClock, type RunClock } from '../../runtime/run/clock.js';
import { leanPreset, modelSites } from '../../runtime/run/device-fit.js';
import type { ModeEvent, PredictionEvent, RunSummary } from '../../runtime/run/events.js';
import { peripheralLink, type DeviceLink } from '../../runtime/run/links.js';
import type { Mode, ModeSettings } from '../../runtime/run/modes.js';
import { startRun, type BatteryPoller, type RunHandle } from '../../runtime/run/supervisor.js';
import type { Prediction } from '../../runtime/session.js';
import type { AppConfig, ChannelQualityView, FromWorker, ModelSummary, ModeView, PredictionView, ToWorker } from '../protocol.js';
import { openDemo, type DemoDevice } from './demo.js';
import { RemotePeripheral } from './remote-peripheral.js';

export interface LoadedModel {
  classifier: Classifier;
  card: ModelCard;
  /** e.g. "onnxruntime-web 1.31.1 (wasm, 1 thread)". */
  engine: string;
}

/** Loads the app's model with one engine; `base` is the app's URL (app.json's folder). */
export type ModelLoader = (config: AppConfig, base: string) => Promise<LoadedModel>;

/** The part of a DedicatedWorkerGlobalScope used here. */
export interface WorkerScope {
  readonly location: { readonly href: string };
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
}

/** How often (run-clock ms) the policy reads the phone battery the page last posted: a variable, so cheap. */
const PHONE_POLL_MS = 1000;
/**
 * Silence before a Web Bluetooth link is given up (the app cannot re-open it without the user): longer than
 * `cmcrd run`'s 5 s, since a phone may hold notifications back for a while when its screen goes off.
 */
const REMOTE_WATCHDOG_MS = 30_000;

/**
 * The app's modes: `cmcrd run`'s (runtime/run/modes.ts), except that performance classifies every hop of the card
 * rather than every second. On a phone the app's own battery is part of the budget, and overlapping windows cost
 * four times the features and inference for little news (emotions change over seconds).
 */
function appModes(card: ModelCard): Partial<Record<Mode, Partial<ModeSettings>>> {
  return { performance: { strideSec: card.hopSec } };
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function summary(card: ModelCard, variant: string): ModelSummary {
  return {
    arch: card.arch,
    classes: [...card.classes],
    channels: [...card.channels],
    sites: [...(card.montage?.sites ?? card.channels)],
    device: card.montage?.device ?? null,
    windowSec: card.windowSec,
    hopSec: card.hopSec,
    variant,
  };
}

function problem(q: ChannelQuality): string | null {
  if (q.good) return null;
  if (q.flat) return 'flat (no contact?)';
  if (q.railed) return 'railed';
  if (q.excessive) return 'too large (movement?)';
  if (q.gapFraction > 0) return 'lost samples';
  if (q.lineNoiseRatio > 1) return 'mains noise';
  return 'poor';
}

function stoppedText(s: RunSummary, lastLoss: string | null): string {
  switch (s.stoppedBy) {
    case 'end-of-input':
      return `the headband disconnected: ${lastLoss ?? 'link lost'}`;
    case 'reconnect-limit':
      return `the headband could not be reconnected (${lastLoss ?? 'link lost'})`;
    default:
      return 'stopped';
  }
}

interface Active {
  run: RunHandle;
  /** Set by a stop request: the reason the page is told. */
  reason: string | null;
  /** Settles once 'stopped' (or 'error') was posted. */
  ended: Promise<void>;
}

export function runWorker(scope: WorkerScope, load: ModelLoader): void {
  const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);
  const base = new URL('./', scope.location.href).href;
  let config: AppConfig | null = null;
  const model: Promise<LoadedModel> = (async () => {
    const t0 = performance.now();
    const res = await fetch(new URL('app.json', base));
    if (!res.ok) throw new Error(`app.json: HTTP ${res.status}`);
    config = (await res.json()) as AppConfig;
    const m = await load(config, base);
    post({ type: 'ready', model: summary(m.card, config.model.variant), engine: m.engine, loadMs: performance.now() - t0 });
    return m;
  })();
  model.catch((e: unknown) => post({ type: 'error', message: `the model did not load: ${errorText(e)}` }));

  let active: Active | null = null;
  let remote: RemotePeripheral | null = null;
  // The phone's battery as the page last posted it: the run polls it like a host battery.
  let phone: BatteryReading | null = null;
  const phoneBattery: BatteryPoller = { read: async () => (phone ? [phone] : []) };

  const stop = async (reason: string) => {
    const a = active;
    if (!a) return;
    a.reason ??= reason;
    a.run.stop();
    await a.ended;
  };

  const begin = async (
    what: 'demo' | 'headband',
    link: DeviceLink,
    clock: RunClock,
    o: { demo?: DemoDevice; watchdogMs?: number; onEnded?: () => void } = {},
  ) => {
    const m = await model;
    const cfg = config!;
    const card = m.card;
    const sites = modelSites(card);
    const classes = m.classifier.classes;
    const demo = o.demo;
    let kind: DeviceKind | null = null;
    let t0: number | null = null;
    let lastWindow: Prediction | null = null;
    let lastLoss: string | null = null;

    const run = startRun({
      link,
      clock,
      ...(demo ? { speed: demo.speed, stepMs: demo.stepMs } : {}),
      model: { label: cfg.model.url, card, default: { name: cfg.model.variant, classifier: m.classifier }, fast: null },
      modes: appModes(card),
      hostBattery: [phoneBattery],
      hostPollMs: PHONE_POLL_MS,
      ...(o.watchdogMs !== undefined ? { watchdogMs: o.watchdogMs } : {}),
      onWindow: (p) => (lastWindow = p),
    });
    const a: Active = { run, reason: null, ended: Promise.resolve() };
    active = a;

    const presetOf = (s: ModeSettings): string | null => {
      if (!kind) return null;
      const driver = getDriver(kind);
      const full = link.preset ?? driver.defaultPreset;
      return s.preset === 'full' ? full : leanPreset(driver, sites, full, link.channelNames ? { channelNames: link.channelNames } : {});
    };

    const modeView = (e: ModeEvent): ModeView => ({
      t: e.t,
      from: e.from,
      to: e.to,
      reason: e.reason,
      level: e.level,
      strideSec: e.settings.strideSec,
      windowSec: card.windowSec,
      dutyCycle: e.settings.dutyCycle,
      paused: e.settings.pause,
      headbandBattery: kind ? getDriver(kind).battery !== 'none' : true,
      preset: presetOf(e.settings),
      variant: cfg.model.variant,
      // The run's faster variant would run here; the app ships one model file per engine.
      variantNote:
        e.settings.variant === 'fast' ? `the app ships one model per engine (${cfg.model.variant}), so it runs in every mode` : null,
      estimate: e.estimate.map((b) => ({ ...b })),
      ...(e.predictedHours ? { predictedHours: e.predictedHours } : {}),
    });

    const predictionView = (e: PredictionEvent): PredictionView => {
      t0 ??= e.start;
      const q = lastWindow?.endMs === e.t ? lastWindow.quality : undefined;
      return {
        t: (e.t - t0) / 1000,
        predicted: e.label,
        probabilities: e.probabilities ? classes.map((c) => e.probabilities![c] ?? 0) : null,
        skipped: e.skipped ?? null,
        quality: q
          ? q.map((x, i): ChannelQualityView => ({
              site: sites[i] ?? `ch${i + 1}`,
              good: x.good,
              std: x.std,
              peakToPeak: x.peakToPeak,
              problem: problem(x),
            }))
          : null,
        headbandBattery: run.status().battery.find((b) => b.source === 'headband')?.percent ?? null,
        truth: demo ? demo.truthAt((e.start + e.t) / 2) : null,
        mode: e.mode,
        variant: e.variant,
      };
    };

    run.hub.subscribe((e) => {
      switch (e.type) {
        case 'start':
          kind = e.kind as DeviceKind;
          post({ type: 'started', mode: what, device: e.name, kind: e.kind });
          break;
        case 'mode':
          post({ type: 'mode', m: modeView(e) });
          break;
        case 'battery':
          post({
            type: 'battery',
            b: { source: e.source, percent: e.percent, charging: e.charging, drainPerHour: e.drainPerHour, hoursToEmpty: e.hoursToEmpty },
          });
          break;
        case 'prediction':
          demo?.firstWindow();
          post({ type: 'prediction', p: predictionView(e) });
          break;
        case 'disconnect':
          lastLoss = e.reason;
          post({
            type: 'link',
            text: `${e.cause === 'watchdog' ? 'no signal' : 'link lost'}: ${e.reason}${link.isFinal?.(e.reason) ? '' : '; reconnecting…'}`,
          });
          break;
        case 'reconnect':
          post({
            type: 'link',
            text: e.ok ? `reconnected (attempt ${e.attempt})` : `reconnection attempt ${e.attempt} failed: ${e.error ?? 'unknown'}`,
          });
          break;
        case 'error':
          if (!e.fatal) post({ type: 'warning', message: `${e.where}: ${e.message}` });
          break;
        case 'warning':
          post({ type: 'warning', message: e.message });
          break;
        default:
          break;
      }
    });

    a.ended = run.done.then(
      (s) => {
        if (s.stoppedBy === 'error') post({ type: 'error', message: s.error ?? 'the run failed' });
        else post({ type: 'stopped', reason: a.reason ?? stoppedText(s, lastLoss) });
      },
      (e: unknown) => post({ type: 'error', message: errorText(e) }),
    );
    void a.ended.finally(() => {
      demo?.dispose();
      if (active === a) active = null;
      o.onEnded?.();
    });
  };

  scope.addEventListener('message', (ev: MessageEvent) => {
    const m = ev.data as ToWorker;
    if (remote?.handle(m)) return;
    if (m.type === 'phone-battery') {
      phone = { ...m.reading, source: 'phone' };
      return;
    }
    void (async () => {
      try {
        switch (m.type) {
          case 'start-demo': {
            await stop('restarted');
            await model;
            const demo = openDemo(m.uri ?? config!.demo.uri, config!.demo);
            await begin('demo', demo.link, demo.clock, { demo });
            break;
          }
          case 'start-remote': {
            await stop('restarted');
            const r = new RemotePeripheral(m.table, post);
            remote = r;
            const sites = modelSites((await model).card);
            // A Ganglion cannot tell where its electrodes sit: the model's montage says (the user placed them so).
            const link: DeviceLink = {
              ...peripheralLink(r as GattPeripheral, r.name),
              ...(identifyPeripheral(r) === 'ganglion' ? { channelNames: sites } : {}),
            };
            await begin('headband', link, new RealClock(), {
              watchdogMs: REMOTE_WATCHDOG_MS,
              // The proxy keeps answering RPC results until the stop sequence is written and the link closed.
              onEnded: () => void (remote === r && (remote = null)),
            });
            break;
          }
          case 'stop':
            await stop('stopped');
            break;
          default:
            break;
        }
      } catch (e) {
        await stop('error');
        post({ type: 'error', message: errorText(e) });
      }
    })();
  });
}
