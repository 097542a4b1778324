// size: the supervisor's state machine (phases, link loss, reconnection, gap accounting, modes) reads best in one place
/**
 * The run supervisor: keeps a headband streaming into a model for hours and reports everything as events
 * (./events.ts). It connects, checks the model card against the device, then streams in the current mode's way:
 *  - continuous (performance, balanced): one session; windows classified on the mode's stride;
 *  - duty-cycled (saver): the headband streams one window's worth per stride and is halted in between;
 *  - paused (critical): no inference; a short burst now and then reads the headband's battery.
 * A watchdog declares a silent stream dead; a lost link is reconnected with exponential backoff and jitter, the
 * stream re-subscribed and re-started with fresh feature state (said so in the reconnect event), and the outage
 * counted as lost samples from the sample times on either side (radio loss on a live link is counted by the
 * decoder from packet counters, as `cmcrd decode` counts it). Battery readings from the headband and the host
 * drive the mode policy. Stop (SIGINT/SIGTERM in the CLI) sends the stop command, disconnects and ends with a
 * summary. Browser-safe: time comes from a RunClock, host batteries from pollers.
 */
import type { DecodedRecord } from '../../firmware-bridge/decoder.js';
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import { getDriver, identifyPeripheral, type DeviceKind } from '../../firmware-bridge/registry.js';
import { BatteryMonitor, type BatteryEstimate, type BatteryReading } from '../battery/monitor.js';
import type { Classifier } from '../infer/types.js';
import type { ModelCard } from '../model-card.js';
import { startHeadbandSession, type HeadbandSession, type Prediction } from '../session.js';
import { checkLiveSmoothing, OfflineSmoothingError } from '../smoothing-guard.js';
import type { AppliedCalibration } from './calibration.js';
import { RealClock, isVirtualClock, type Advanceable, type RunClock } from './clock.js';
import { cardMismatch, deviceSetup, leanPreset, modelSites, RunSetupError } from './device-fit.js';
import type { Mode, ModeSettings } from './modes.js';
import { MODES, resolveModes } from './modes.js';
import type { PredictionEvent, RunEvent, RunSummary } from './events.js';
import { EventHub } from './hub.js';
import { guardPeripheral, type DeviceLink } from './links.js';
import { describePolicy, ModePolicy, type Decision, type PolicySpec, type Thresholds } from './policy.js';

export type { DeviceLink };

export interface RunVariant {
  name: string;
  classifier: Classifier;
}

export interface RunModel {
  /** Path or name, for events. */
  label: string;
  card: ModelCard;
  default: RunVariant;
  /** The card's faster variant on this runtime, or null (then `default` runs in every mode). */
  fast: RunVariant | null;
  notes?: string[];
}

/** A host battery source polled now and then (sysfs on Linux, navigator.getBattery in browsers). */
export interface BatteryPoller {
  read(): Promise<BatteryReading[]>;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Fraction of each delay drawn at random: delay · (1 − jitter · U) (default 0.5). */
  jitter?: number;
}

export interface RunOptions {
  link: DeviceLink;
  model: RunModel;
  clock?: RunClock;
  /** On a virtual clock: simulated ms per real ms (Infinity = as fast as possible). Default 1. */
  speed?: number;
  /** Stop after this much run-clock time. */
  durationMs?: number;
  policy?: PolicySpec;
  thresholds?: Thresholds;
  modes?: Partial<Record<Mode, Partial<ModeSettings>>>;
  calibration?: AppliedCalibration | null;
  hostBattery?: BatteryPoller[];
  /** Host battery poll period (default 30 s). */
  hostPollMs?: number;
  /** No EEG for this long on a streaming link → the link is declared dead (default 5 s). */
  watchdogMs?: number;
  backoff?: BackoffOptions;
  /** Reconnection attempts after one loss before giving up (default unlimited). */
  maxReconnectAttempts?: number;
  /** Random numbers for the backoff jitter (default Math.random). */
  random?: () => number;
  /** Gaps up to this long are bridged by interpolation (session default 100 ms). */
  maxFillMs?: number;
  /** Virtual clock step (ms, default 100). */
  stepMs?: number;
  /**
   * Run a model whose smoothing needs the whole trial (offline LDS, centred moving average) on its online stand-in;
   * the start event and the summary then carry the warning. Without it such a model is refused (RunSetupError).
   */
  allowOfflineSmoothing?: boolean;
  /** Sees each window as the session reported it (per-channel signal quality) just before its prediction event. */
  onWindow?: (p: Prediction) => void;
}

export interface RunStatus {
  state: 'starting' | 'streaming' | 'duty-cycling' | 'paused' | 'reconnecting' | 'stopped';
  connected: boolean;
  mode: Mode;
  device: string;
  startedAt: number;
  now: number;
  lastPredictionAt: number | null;
  lastDataAt: number | null;
  battery: BatteryEstimate[];
  counts: Record<string, number>;
}

export interface RunHandle extends AsyncIterable<RunEvent> {
  readonly hub: EventHub;
  /** Ask the run to stop (idempotent): stop command, disconnect, summary. */
  stop(): void;
  /** The summary; rejects with RunSetupError when the model cannot run on the device (nothing was streamed). */
  readonly done: Promise<RunSummary>;
  status(): RunStatus;
}

interface Pending {
  startMs: number;
  endMs: number;
  readyAt: number;
  mode: Mode;
}

type Phase = 'continuous' | 'burst' | 'watch';

const quantile = (sorted: number[], q: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null;

export function startRun(o: RunOptions): RunHandle {
  const clock = o.clock ?? new RealClock();
  const hub = new EventHub();
  const card = o.model.card;
  const modes = resolveModes(card, o.modes);
  const policy = new ModePolicy(o.policy ?? { kind: 'auto' }, clock.now(), o.thresholds ? { thresholds: o.thresholds } : {});
  const random = o.random ?? Math.random;
  const watchdogMs = o.watchdogMs ?? 5000;
  const hostPollMs = o.hostPollMs ?? 30_000;
  const maxAttempts = o.maxReconnectAttempts ?? Infinity;
  const virtual = isVirtualClock(clock);
  const startedAt = clock.now();
  const sites = modelSites(card);
  const monitor = new BatteryMonitor(policy.mode, {
    load: (source, mode) => {
      // Relative drain of a mode: the headband spends on streaming; a host's power also has a base load.
      const duty = streamingDuty(mode as Mode);
      return source === 'headband' ? duty : 0.5 + 0.5 * duty;
    },
  });

  let peripheral: GattPeripheral | null = null;
  let offDisconnect: (() => void) | null = null;
  let kind: DeviceKind | null = null;
  let fullPreset: string | null = null;
  let setupNames: readonly string[] | undefined;
  let linkLost: string | null = null;
  let session: HeadbandSession | null = null;
  let phase: Phase | null = null;
  let state: RunStatus['state'] = 'starting';
  let stopReason: RunSummary['stoppedBy'] | null = null;
  let finished = false;
  let lastDataAt: number | null = null;
  let lastSampleT: number | null = null;
  let outage: { lastSampleT: number; at: number } | null = null;
  let sessionStartedAt = 0;
  let burstFrame = false;
  let sawTelemetry = false;
  let lastVariant = o.model.default.name;
  let lastFailed = false;
  let modeSince = startedAt;
  let lastPredictionAt: number | null = null;
  const pending: Pending[] = [];
  /** Said at the start and again in the summary (e.g. offline smoothing run on its stand-in). */
  const warnings: string[] = [];
  let idleWaiters: (() => void)[] = [];
  const latencies: number[] = [];
  const modeSeconds = Object.fromEntries(MODES.map((m) => [m, 0])) as Record<Mode, number>;
  const labels: Record<string, number> = {};
  const c = {
    windows: 0,
    predictions: 0,
    skipped: 0,
    samples: 0,
    lostRadio: 0,
    lostReconnect: 0,
    filled: 0,
    decodeErrors: 0,
    disconnects: 0,
    reconnects: 0,
    attempts: 0,
    watchdog: 0,
    modeChanges: 0,
    streamedMs: 0,
  };

  // Wake-ups: anything the phases wait for (stop, link loss, mode change, a finished burst) fires this.
  let wakeCtl = new AbortController();
  const wake = () => {
    wakeCtl.abort();
    wakeCtl = new AbortController();
    if (virtual) clock.interruptPace();
  };
  const waitWake = (ms: number) => clock.sleep(ms, wakeCtl.signal);
  const stopping = () => stopReason !== null;

  const publish = (e: RunEvent) => hub.publish(e);
  const now = () => clock.now();

  function streamingDuty(mode: Mode): number {
    const s = modes.table[mode];
    if (s.pause) return getDriver(kind ?? 'muse').battery === 'none' ? 0 : Math.min(1, 3 / s.strideSec);
    if (!s.dutyCycle) return 1;
    return Math.min(1, (card.windowSec + 0.7) / s.strideSec);
  }

  function settings(): ModeSettings {
    return modes.table[policy.mode];
  }

  function phaseOf(s: ModeSettings): Phase {
    return s.pause ? 'watch' : s.dutyCycle ? 'burst' : 'continuous';
  }

  function presetOf(s: ModeSettings): string | null {
    if (!kind) return null;
    if (s.preset === 'full') return fullPreset;
    return leanPreset(getDriver(kind), sites, fullPreset, setupNames ? { channelNames: setupNames } : {});
  }

  function variantFor(mode: Mode): RunVariant {
    return modes.table[mode].variant === 'fast' && o.model.fast ? o.model.fast : o.model.default;
  }

  // ----- classification (wraps the variants and the calibration)

  const classifier: Classifier = {
    inputSize: o.model.default.classifier.inputSize,
    classes: o.model.default.classifier.classes,
    async run(rows) {
      const v = variantFor(pending[0]?.mode ?? policy.mode);
      lastVariant = v.name;
      const input = o.calibration ? rows.map((r) => o.calibration!.apply(r)) : rows;
      try {
        lastFailed = false;
        return await v.classifier.run(input);
      } catch (e) {
        lastFailed = true;
        publish({ type: 'error', t: now(), where: 'inference', message: `${v.name}: ${e instanceof Error ? e.message : String(e)}` });
        return rows.map(() => new Float32Array(classifier.classes.length).fill(NaN));
      }
    },
    async dispose() {},
  };

  function onPrediction(p: Prediction): void {
    const w = pending.shift();
    if (pending.length === 0) {
      const ws = idleWaiters;
      idleWaiters = [];
      for (const f of ws) f();
    }
    const mode = w?.mode ?? policy.mode;
    const latency = w ? performance.now() - w.readyAt : 0;
    const q = p.quality;
    const bad = q ? card.channels.filter((_, i) => q[i] && !q[i]!.good) : [];
    const failed = p.skipped === undefined && lastFailed;
    const e: PredictionEvent = {
      type: 'prediction',
      t: p.endMs,
      start: p.startMs,
      label: failed ? null : p.predicted,
      probabilities: failed ? null : p.probabilities,
      quality: q ? (q.length - bad.length) / q.length : null,
      ...(bad.length ? { badChannels: bad } : {}),
      ...(p.skipped ? { skipped: p.skipped } : failed ? { skipped: 'error' as const } : {}),
      mode,
      variant: lastVariant,
      latencyMs: latency,
    };
    c.windows++;
    if (e.label !== null) {
      c.predictions++;
      labels[e.label] = (labels[e.label] ?? 0) + 1;
      if (latencies.length < 200_000) latencies.push(latency);
      else latencies[Math.floor(random() * latencies.length)] = latency;
    } else c.skipped++;
    lastPredictionAt = now();
    o.onWindow?.(p);
    publish(e);
  }

  function idle(): Promise<void> {
    if (pending.length === 0) return Promise.resolve();
    return new Promise((r) => idleWaiters.push(r));
  }

  // ----- records, battery, modes

  function onRecord(r: DecodedRecord): void {
    switch (r.kind) {
      case 'eeg': {
        if (!r.t.length) return;
        if (outage) {
          const period = 1000 / (kind ? getDriver(kind).profile(fullPreset ? { preset: fullPreset } : {}).sampleRate : card.fs);
          const bySamples = (r.t[0]! - outage.lastSampleT) / period - 1;
          const elapsed = now() - outage.at;
          let lost = Math.max(0, Math.round(bySamples));
          // Sample times come from host arrival times: a host clock step must not become lost samples.
          if (lost * period > elapsed + 5000) {
            publish({
              type: 'warning',
              t: now(),
              message: `sample times jumped by ${Math.round((lost * period) / 1000)} s over a ${Math.round(elapsed / 1000)} s outage (host clock step?); the outage is counted from the run clock`,
            });
            lost = Math.round(elapsed / period);
          }
          c.lostReconnect += lost;
          publish({ type: 'gap', t: r.t[0]!, lostSamples: lost, cause: 'reconnect', seconds: ((lost + 1) * period) / 1000 });
          outage = null;
        }
        c.samples += r.t.length;
        lastSampleT = r.t[r.t.length - 1]!;
        lastDataAt = now();
        return;
      }
      case 'gap':
        if (r.stream !== 'eeg') return;
        c.lostRadio += r.lostSamples;
        publish({ type: 'gap', t: r.t, lostSamples: r.lostSamples, cause: 'radio', ...(r.channels ? { channels: r.channels } : {}) });
        return;
      case 'telemetry':
        sawTelemetry = true;
        battery({ source: 'headband', percent: r.battery, charging: null });
        return;
      case 'error':
        c.decodeErrors++;
        publish({ type: 'error', t: r.t, where: 'decode', message: `${r.char}: ${r.error}` });
        return;
      default:
        return;
    }
  }

  function battery(r: BatteryReading): void {
    if (monitor.update(r, now())) {
      const est = monitor.estimate(r.source)!;
      publish({ type: 'battery', t: now(), mode: policy.mode, ...est });
    }
    decide();
  }

  function decide(): void {
    if (finished) return;
    const from = policy.mode;
    const d: Decision | null = policy.decide(monitor, now());
    if (!d) return;
    const t = now();
    modeSeconds[from] += (t - modeSince) / 1000;
    modeSince = t;
    // The estimate that decided (measured in the mode being left), before drain is measured afresh.
    const estimate = monitor.estimates();
    monitor.setMode(d.to);
    c.modeChanges++;
    const before = modes.table[from];
    const after = modes.table[d.to];
    const reset = phase === 'continuous' && (phaseOf(after) !== 'continuous' || presetOf(after) !== presetOf(before));
    publish({
      type: 'mode',
      t,
      from,
      to: d.to,
      reason: d.reason,
      settings: after,
      level: d.level,
      estimate,
      ...(d.predictedHours ? { predictedHours: d.predictedHours } : {}),
      ...(reset ? { featureStateReset: true } : {}),
    });
    wake();
  }

  // ----- link

  function attach(p: GattPeripheral): void {
    offDisconnect?.();
    peripheral = p;
    linkLost = null;
    offDisconnect = p.onDisconnect((reason) => {
      if (linkLost !== null || finished) return;
      linkLost = reason;
      wake();
    });
  }

  async function openSession(ph: Phase): Promise<boolean> {
    const s = settings();
    const preset = presetOf(s);
    const strideWindows = (mode: Mode) => Math.max(1, Math.round(modes.table[mode].strideSec / modes.baseStrideSec));
    burstFrame = false;
    sawTelemetry = false;
    // An outage is counted against a continuous stream only; halted stretches between bursts are not lost.
    if (ph !== 'continuous') outage = null;
    try {
      session = await startHeadbandSession({
        device: guardPeripheral(peripheral!, (e) =>
          publish({
            type: 'error',
            t: now(),
            where: 'stream',
            message: `handling a notification: ${e instanceof Error ? e.message : String(e)}`,
          }),
        ),
        classifier,
        card,
        sites,
        ...(preset ? { preset } : {}),
        ...(o.link.channelNames ? { channelNames: o.link.channelNames } : {}),
        ...(o.maxFillMs !== undefined ? { maxFillMs: o.maxFillMs } : {}),
        hopSec: ph === 'continuous' ? modes.baseStrideSec : card.windowSec,
        wait: (ms) => clock.sleep(ms),
        keepAlive: !virtual,
        flushOnStop: true,
        onPrediction,
        onRecord,
        onWarning: (m) => publish({ type: 'warning', t: now(), message: m }),
        gate: (w) => {
          const mode = policy.mode;
          if (ph === 'watch') return false;
          if (ph === 'burst') {
            if (burstFrame) return false;
            burstFrame = true;
            wake();
          } else if (w.index % strideWindows(mode) !== 0) return false;
          pending.push({ startMs: w.startMs, endMs: w.endMs, readyAt: performance.now(), mode });
          return true;
        },
      });
    } catch (e) {
      session = null;
      if (linkLost === null) linkLost = `the stream could not start (${e instanceof Error ? e.message : String(e)})`;
      return false;
    }
    phase = ph;
    sessionStartedAt = now();
    lastDataAt = now();
    state = ph === 'continuous' ? 'streaming' : ph === 'burst' ? 'duty-cycling' : 'paused';
    return true;
  }

  async function closeSession(): Promise<void> {
    const s = session;
    session = null;
    if (!s) return;
    c.streamedMs += now() - sessionStartedAt;
    try {
      await s.stop();
    } catch (e) {
      publish({ type: 'error', t: now(), where: 'stream', message: `stopping the stream: ${e instanceof Error ? e.message : String(e)}` });
    }
    c.filled += s.stats.filledSamples;
    // Windows still pending cannot be classified any more (a failed chain): do not wait for them.
    if (pending.length) {
      pending.length = 0;
      const ws = idleWaiters;
      idleWaiters = [];
      for (const f of ws) f();
    }
  }

  /** Handle a lost link (or a watchdog trip): stop the session, reconnect with backoff. False: the run must end. */
  async function recover(cause: 'link' | 'watchdog', reason: string, countOutage: boolean): Promise<boolean> {
    c.disconnects++;
    if (cause === 'watchdog') c.watchdog++;
    publish({ type: 'disconnect', t: now(), reason, cause });
    const wasStreaming = session !== null;
    if (cause === 'watchdog') {
      linkLost = reason;
      await peripheral?.disconnect().catch(() => undefined);
    }
    await closeSession();
    if (countOutage && wasStreaming && lastSampleT !== null) outage = { lastSampleT, at: lastDataAt ?? now() };
    if (o.link.isFinal?.(reason)) {
      stopReason ??= 'end-of-input';
      return false;
    }
    state = 'reconnecting';
    const b = o.backoff ?? {};
    for (let attempt = 1; ; attempt++) {
      if (stopping()) return false;
      if (attempt > maxAttempts) {
        stopReason = 'reconnect-limit';
        publish({ type: 'error', t: now(), where: 'connect', message: `gave up after ${maxAttempts} reconnection attempts`, fatal: true });
        return false;
      }
      const base = Math.min(b.maxMs ?? 30_000, (b.initialMs ?? 500) * (b.factor ?? 2) ** (attempt - 1));
      const delayMs = Math.round(base * (1 - (b.jitter ?? 0.5) * random()));
      const until = now() + delayMs;
      while (!stopping() && now() < until) await waitWake(until - now());
      if (stopping()) return false;
      c.attempts++;
      try {
        const p = await o.link.connect(attempt);
        attach(p);
        c.reconnects++;
        publish({ type: 'reconnect', t: now(), attempt, delayMs, ok: true, featureStateReset: true });
        return true;
      } catch (e) {
        publish({ type: 'reconnect', t: now(), attempt, delayMs, ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  /** Wait while `hold()` is true, checking the watchdog on streaming phases. Returns why it stopped waiting. */
  async function hold(ph: Phase, until: number, keep: () => boolean): Promise<'stop' | 'lost' | 'watchdog' | 'timeout' | 'changed'> {
    for (;;) {
      if (stopping()) return 'stop';
      if (linkLost !== null) return 'lost';
      if (session && ph !== 'watch' && lastDataAt !== null && now() - lastDataAt > watchdogMs) return 'watchdog';
      if (!keep()) return 'changed';
      if (now() >= until) return 'timeout';
      await waitWake(Math.min(until - now(), session ? 500 : 60_000));
    }
  }

  async function onTrouble(why: 'lost' | 'watchdog', ph: Phase): Promise<boolean> {
    return why === 'watchdog'
      ? recover('watchdog', `no EEG for ${watchdogMs / 1000} s`, ph === 'continuous')
      : recover('link', linkLost ?? 'link lost', ph === 'continuous');
  }

  // ----- phases

  async function continuous(): Promise<boolean> {
    const preset = presetOf(settings());
    if (!(await openSession('continuous'))) return onTrouble('lost', 'continuous');
    const why = await hold('continuous', Infinity, () => {
      const s = settings();
      return phaseOf(s) === 'continuous' && presetOf(s) === preset;
    });
    if (why === 'lost' || why === 'watchdog') return onTrouble(why, 'continuous');
    await closeSession();
    return true;
  }

  async function bursts(): Promise<boolean> {
    const mode = policy.mode;
    const start = now();
    if (!(await openSession('burst'))) return onTrouble('lost', 'burst');
    // A window, the resampler's look-ahead and the reassembler's wait; then give up on this burst.
    const why = await hold('burst', start + card.windowSec * 1000 + 3000, () => !burstFrame && policy.mode === mode);
    if (why === 'lost' || why === 'watchdog') return onTrouble(why, 'burst');
    await closeSession();
    if (why === 'stop' || (why === 'changed' && policy.mode !== mode)) return true;
    const next = start + modes.table[mode].strideSec * 1000;
    const w = await hold('burst', next, () => policy.mode === mode);
    if (w === 'lost') return onTrouble('lost', 'burst');
    return true;
  }

  async function watch(): Promise<boolean> {
    const mode = policy.mode;
    const start = now();
    if (getDriver(kind!).battery !== 'none') {
      if (!(await openSession('watch'))) return onTrouble('lost', 'watch');
      const why = await hold('watch', start + 3000, () => !sawTelemetry && policy.mode === mode);
      if (why === 'lost') return onTrouble('lost', 'watch');
      await closeSession();
    }
    state = 'paused';
    const w = await hold('watch', start + modes.table[mode].strideSec * 1000, () => policy.mode === mode);
    if (w === 'lost') return onTrouble('lost', 'watch');
    return true;
  }

  // ----- background tasks

  async function pollHost(): Promise<void> {
    const pollers = o.hostBattery ?? [];
    if (!pollers.length) return;
    // Once stop is asked the sleep below returns at once: without this check a poller that answers from memory
    // (navigator.getBattery's cached manager) would spin in microtasks and starve the stop sequence.
    while (!finished && !stopCtl.signal.aborted) {
      for (const p of pollers) {
        try {
          for (const r of await p.read()) battery(r);
        } catch (e) {
          publish({ type: 'error', t: now(), where: 'battery', message: e instanceof Error ? e.message : String(e) });
        }
      }
      if (finished) return;
      await clock.sleep(hostPollMs, stopCtl.signal);
    }
  }

  const stopCtl = new AbortController();
  let stopRequested = false;
  const stop = () => {
    if (stopRequested || finished) return;
    stopRequested = true;
    stopReason ??= 'stop';
    stopCtl.abort();
    wake();
  };

  async function main(): Promise<RunSummary> {
    let error: string | undefined;
    try {
      // Features must match training: a smoothing that needs the whole trial is refused before the device is touched.
      try {
        const check = checkLiveSmoothing(card, { allowOffline: o.allowOfflineSmoothing === true });
        if (check.warning) warnings.push(check.warning);
      } catch (e) {
        if (e instanceof OfflineSmoothingError) throw new RunSetupError(`${o.model.label}: ${e.message}`);
        throw e;
      }
      let p: GattPeripheral;
      try {
        p = await o.link.connect(0);
      } catch (e) {
        throw new RunSetupError(`cannot connect to ${o.link.label}: ${e instanceof Error ? e.message : String(e)}`);
      }
      attach(p);
      kind = identifyPeripheral(p);
      if (!kind) {
        await p.disconnect().catch(() => undefined);
        throw new RunSetupError(`${o.link.label} (${p.name}) is not a supported headband`);
      }
      const driver = getDriver(kind);
      fullPreset = o.link.preset ?? driver.defaultPreset;
      const setup = await deviceSetup(driver, p, fullPreset, o.link.channelNames);
      setupNames = setup.channelNames;
      let problem: string | null;
      try {
        problem = cardMismatch(card, driver, setup, o.model.label);
      } catch (e) {
        problem = `${o.link.label}: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (problem) {
        await p.disconnect().catch(() => undefined);
        throw new RunSetupError(problem);
      }
      if (o.durationMs !== undefined)
        void clock.sleep(o.durationMs, stopCtl.signal).then(() => {
          if (!stopRequested && !finished) {
            stopReason ??= 'duration';
            stop();
          }
        });
      publish({
        type: 'start',
        t: now(),
        device: o.link.label,
        kind,
        name: p.name,
        model: o.model.label,
        variants: { default: o.model.default.name, ...(o.model.fast ? { fast: o.model.fast.name } : {}) },
        policy: describePolicy(policy.spec),
        mode: policy.mode,
        calibration: o.calibration ? `user ${o.calibration.user} (${o.calibration.windows} windows)` : null,
        ...([...(o.model.notes ?? []), ...modes.notes].length ? { notes: [...(o.model.notes ?? []), ...modes.notes] } : {}),
        ...(warnings.length ? { warnings } : {}),
      });
      publish({
        type: 'mode',
        t: now(),
        from: null,
        to: policy.mode,
        reason: `policy ${describePolicy(policy.spec)}`,
        settings: settings(),
        level: null,
        estimate: [],
      });
      publish({ type: 'connect', t: now(), name: p.name, kind, preset: presetOf(settings()) });
      void pollHost();
      let lastConnected = c.reconnects;
      while (!stopping()) {
        if (c.reconnects !== lastConnected) {
          lastConnected = c.reconnects;
          publish({ type: 'connect', t: now(), name: peripheral!.name, kind, preset: presetOf(settings()) });
        }
        const ph = phaseOf(settings());
        const ok = ph === 'continuous' ? await continuous() : ph === 'burst' ? await bursts() : await watch();
        if (!ok) break;
      }
    } catch (e) {
      if (e instanceof RunSetupError) {
        finished = true;
        hub.end();
        await o.link.close().catch(() => undefined);
        throw e;
      }
      error = e instanceof Error ? e.message : String(e);
      stopReason = 'error';
      publish({ type: 'error', t: now(), where: 'stream', message: error, fatal: true });
    } finally {
      if (!finished) {
        await closeSession();
        await idle();
      }
    }
    finished = true;
    state = 'stopped';
    offDisconnect?.();
    await o.link.close().catch(() => undefined);
    const t = now();
    modeSeconds[policy.mode] += (t - modeSince) / 1000;
    const sorted = [...latencies].sort((a, b) => a - b);
    const summary: RunSummary = {
      type: 'summary',
      t,
      seconds: (t - startedAt) / 1000,
      stoppedBy: stopReason ?? 'stop',
      windows: c.windows,
      predictions: c.predictions,
      skipped: c.skipped,
      samples: c.samples,
      lostSamples: c.lostRadio + c.lostReconnect,
      lostSamplesRadio: c.lostRadio,
      lostSamplesReconnect: c.lostReconnect,
      filledSamples: c.filled,
      decodeErrors: c.decodeErrors,
      disconnects: c.disconnects,
      reconnects: c.reconnects,
      reconnectAttempts: c.attempts,
      watchdogTrips: c.watchdog,
      modeChanges: c.modeChanges,
      modeSeconds,
      streamedSeconds: c.streamedMs / 1000,
      labels,
      battery: monitor.estimates(),
      latencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? null },
      ...(warnings.length ? { warnings } : {}),
      ...(error ? { error } : {}),
    };
    publish(summary);
    hub.end();
    return summary;
  }

  const detach = virtual && o.link.advanceable ? clock.drive(o.link.advanceable) : null;
  // onnxruntime plans and allocates on a session's first run: pay that before the run (and its clock) starts, not on
  // the wearer's first window. The output is ignored; a failure shows again, as an error event, on a real window.
  const warmUp = Promise.all(
    (o.model.fast ? [o.model.default, o.model.fast] : [o.model.default]).map((v) =>
      v.classifier.run([new Float32Array(v.classifier.inputSize)]).catch(() => undefined),
    ),
  );
  const done = warmUp.then(main).finally(() => {
    finished = true;
    detach?.();
  });
  if (virtual) {
    void warmUp.then(() =>
      clock.pace({ speed: o.speed ?? 1, ...(o.stepMs ? { stepMs: o.stepMs } : {}), until: () => finished, idle }).catch((e: unknown) => {
        // The simulated device itself failed: nothing more will stream, so end the run with what it has.
        publish({
          type: 'error',
          t: now(),
          where: 'stream',
          message: `the virtual device failed: ${e instanceof Error ? e.message : String(e)}`,
          fatal: true,
        });
        stopReason ??= 'error';
        stop();
      }),
    );
  }
  done.catch(() => undefined);

  return {
    hub,
    stop,
    done,
    status: () => ({
      state,
      connected: peripheral !== null && linkLost === null && !finished,
      mode: policy.mode,
      device: o.link.label,
      startedAt,
      now: now(),
      lastPredictionAt,
      lastDataAt,
      battery: monitor.estimates(),
      counts: Object.fromEntries(hub.counts),
    }),
    [Symbol.asyncIterator]: () => hub.iterate(),
  };
}
