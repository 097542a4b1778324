/**
 * The Web Worker's engine-neutral part: it loads the model (through the engine entry's loader), then runs the
 * runtime's headband session — decoding, features, inference — on either a virtual headband inside the worker
 * (demo mode) or a proxy of the page's Web Bluetooth peripheral, and posts one view per window to the page.
 */
import { createSimDevice, parseSimUri } from '../../firmware-bridge/sim/uri.js';
import type { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import { identifyPeripheral } from '../../firmware-bridge/registry.js';
import type { ChannelQuality } from '../../runtime/dsp/index.js';
import type { Classifier } from '../../runtime/infer/types.js';
import type { ModelCard } from '../../runtime/model-card.js';
import { startHeadbandSession, type HeadbandSession, type Prediction } from '../../runtime/session.js';
import type { AppConfig, ChannelQualityView, FromWorker, ModelSummary, PredictionView, ToWorker } from '../protocol.js';
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

/** The demo URI with the worker's manual clock (the worker paces the virtual headband in real time). */
export function demoUri(uri: string): string {
  const spec = parseSimUri(uri); // throws a DeviceUriError naming what is wrong
  const params = new URLSearchParams();
  for (const [k, v] of spec.params) if (k !== 'clock') params.set(k, v);
  params.set('clock', 'manual');
  return `sim:${spec.kind}?${params.toString()}`;
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

  let session: HeadbandSession | null = null;
  let remote: RemotePeripheral | null = null;
  let device: GattPeripheral | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  let t0: number | null = null;
  // Demo: the virtual wearer's emotion over virtual time, to show beside each window's prediction.
  let schedule: { at: number; emotion: string }[] = [];

  const truthAt = (ms: number): string | null => {
    let e: string | null = null;
    for (const s of schedule) if (s.at <= ms) e = s.emotion;
    return e;
  };

  const view = (p: Prediction, classes: readonly string[], sites: readonly string[]): PredictionView => {
    t0 ??= p.startMs;
    return {
      t: (p.endMs - t0) / 1000,
      predicted: p.predicted,
      probabilities: p.probabilities ? classes.map((c) => p.probabilities![c] ?? 0) : null,
      skipped: p.skipped ?? null,
      quality: p.quality
        ? p.quality.map((q, i): ChannelQualityView => ({
            site: sites[i] ?? `ch${i + 1}`,
            good: q.good,
            std: q.std,
            peakToPeak: q.peakToPeak,
            problem: problem(q),
          }))
        : null,
      headbandBattery: p.batteryPercent,
      truth: schedule.length ? truthAt((p.startMs + p.endMs) / 2) : null,
    };
  };

  const stop = async (reason: string) => {
    if (timer) clearInterval(timer);
    timer = null;
    const s = session;
    const d = device;
    session = null;
    device = null;
    // The proxy keeps receiving RPC results until the stop sequence is written and the link closed.
    if (s) await s.stop().catch(() => undefined);
    if (d) await d.disconnect().catch(() => undefined);
    if (remote === d) remote = null;
    if (s || d) post({ type: 'stopped', reason });
  };

  const start = async (mode: 'demo' | 'headband', dev: GattPeripheral) => {
    const m = await model;
    device = dev;
    t0 = null;
    const sites = m.card.montage?.sites ?? m.card.channels;
    // A Ganglion cannot tell where its electrodes sit: the model's montage says (the user placed them so).
    const channelNames = identifyPeripheral(dev) === 'ganglion' ? sites : undefined;
    dev.onDisconnect((reason) => void stop(`the headband disconnected: ${reason}`));
    session = await startHeadbandSession({
      device: dev,
      classifier: m.classifier,
      card: m.card,
      ...(channelNames ? { channelNames } : {}),
      onPrediction: (p) => post({ type: 'prediction', p: view(p, m.classifier.classes, sites) }),
      onError: (message) => post({ type: 'warning', message: `decoding: ${message}` }),
      onWarning: (message) => post({ type: 'warning', message }),
    });
    post({ type: 'started', mode, device: dev.name, kind: session.kind });
  };

  const startDemo = async (uri: string, cfg: AppConfig) => {
    const sim = createSimDevice(demoUri(uri)) as VirtualPeripheral;
    // The wearer starts in the URI's emotion and moves on to the next one every segment.
    const emotions = ['neutral', 'sad', 'fear', 'happy'];
    const first = Math.max(0, emotions.indexOf(String(sim.emotion)));
    schedule = sim.emotion === undefined ? [] : [{ at: sim.now(), emotion: String(sim.emotion) }];
    let k = 0;
    const segmentMs = cfg.demo.segmentSec * 1000;
    const nextEmotion = () => {
      k++;
      try {
        sim.setEmotion((first + k) % emotions.length);
        schedule.push({ at: sim.now(), emotion: String(sim.emotion) });
      } catch {
        /* a source that does not model a wearer */
      }
    };
    await start('demo', sim);
    let next = sim.now() + segmentMs;
    // Produce `ms` of virtual signal in steps, switching the wearer's emotion on the segment boundaries.
    const advance = (ms: number) => {
      const until = sim.now() + ms;
      while (sim.isConnected && next <= until) {
        sim.advance(next - sim.now());
        nextEmotion();
        next += segmentMs;
      }
      if (sim.isConnected && until > sim.now()) sim.advance(until - sim.now());
    };
    advance(cfg.demo.prerollSec * 1000);
    let last = performance.now();
    timer = setInterval(() => {
      const now = performance.now();
      if (session) advance(now - last);
      last = now;
    }, 50);
  };

  scope.addEventListener('message', (ev: MessageEvent) => {
    const m = ev.data as ToWorker;
    if (remote?.handle(m)) return;
    void (async () => {
      try {
        switch (m.type) {
          case 'start-demo':
            await stop('restarted');
            await model;
            await startDemo(m.uri ?? config!.demo.uri, config!);
            break;
          case 'start-remote':
            await stop('restarted');
            remote = new RemotePeripheral(m.table, post);
            schedule = [];
            await start('headband', remote);
            break;
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
