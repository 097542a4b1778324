/**
 * The run supervisor end to end with virtual headbands on a virtual clock (the library API: startRun as an async
 * iterable of events): packet loss counted exactly as `cmcrd record` + `cmcrd decode` count it, a disconnect and a
 * stalled stream survived with every sample slot of the outage accounted for, corrupted packets reported, the
 * battery falling through every threshold with the modes in order, the duty-cycled saver streaming less, and the
 * battery target choosing a mode from measured drain.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MUSE } from '../../../firmware-bridge/protocols/muse.js';
import type { VirtualMuse } from '../../../firmware-bridge/sim/virtual-muse.js';
import type { GattPeripheral, NotifyListener } from '../../../firmware-bridge/gatt.js';
import { loadOnnxClassifier } from '../../../runtime/infer/onnx.node.js';
import type { OnnxClassifier } from '../../../runtime/infer/onnx.js';
import { VirtualClock } from '../../../runtime/run/clock.js';
import { resolveRunDevice } from '../../../runtime/run/device.node.js';
import type { RunEvent, RunSummary } from '../../../runtime/run/events.js';
import { startRun, type DeviceLink, type RunOptions } from '../../../runtime/run/supervisor.js';
import { recordCapture } from '../../../src/cli/commands/record.js';
import { decodeCaptureFile } from '../../../src/cli/commands/decode.js';
import { museModel, ofType } from './helpers.js';

let classifier: OnnxClassifier;

beforeAll(async () => {
  classifier = await loadOnnxClassifier(await museModel());
});

/** A link whose peripheral's TP9 notifications are seen by `tap` (arrival time), independently of the run. */
function tapped(link: DeviceLink, tap: (t: number) => void): DeviceLink {
  const seen = new WeakSet<GattPeripheral>();
  return {
    ...link,
    async connect(attempt) {
      const p = await link.connect(attempt);
      if (!seen.has(p)) {
        seen.add(p);
        const sub = p.subscribe.bind(p);
        (p as { subscribe: GattPeripheral['subscribe'] }).subscribe = (ch: string, l: NotifyListener) =>
          sub(ch, ch === MUSE.eeg.TP9 ? (d, t) => (tap(t), l(d, t)) : l);
      }
      return p;
    },
  };
}

async function run(
  uri: string,
  seconds: number,
  opts: Partial<RunOptions> & { tap?: (t: number) => void } = {},
): Promise<{ events: RunEvent[]; summary: RunSummary }> {
  const { link } = await resolveRunDevice(uri, { startMs: 0 });
  const { tap, ...rest } = opts;
  const r = startRun({
    link: tap ? tapped(link, tap) : link,
    model: { label: 'test-model', card: classifier.card, default: { name: 'fp32', classifier }, fast: null },
    clock: new VirtualClock(0),
    speed: Infinity,
    durationMs: seconds * 1000,
    random: () => 0.5,
    ...rest,
  });
  const events: RunEvent[] = [];
  for await (const e of r) events.push(e);
  return { events, summary: await r.done };
}

/** Lost EEG samples as `cmcrd record --seconds s` + `cmcrd decode` report them. */
async function recordedLoss(uri: string, seconds: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'cmcrd-run-rec-'));
  const cap = join(dir, 'cap.jsonl');
  await recordCapture({ device: uri, out: cap, seconds, quiet: true });
  let lost = 0;
  await decodeCaptureFile(cap, 'jsonl', (line) => {
    const r = JSON.parse(line) as { kind: string; stream?: string; lostSamples?: number };
    if (r.kind === 'gap' && r.stream === 'eeg') lost += r.lostSamples!;
  });
  expect(readFileSync(cap, 'utf8').length).toBeGreaterThan(1000);
  return lost;
}

describe('cmcrd run supervisor (virtual Muse, virtual clock)', () => {
  it('1 % packet loss: every window reported, lost samples equal record + decode of the same seeded device', async () => {
    const uri = 'sim:muse?seed=7&drop=0.01';
    // record streams from the 'd' command (150 ms in) for 100 ms steps after a 50-ms pause: 0.2 s + seconds.
    const { events, summary } = await run(uri, 60.2);
    const expected = await recordedLoss(uri, 60);
    expect(expected).toBeGreaterThan(0);
    const gaps = ofType(events, 'gap');
    expect(gaps.every((g) => g.cause === 'radio')).toBe(true);
    expect(gaps.reduce((a, g) => a + g.lostSamples, 0)).toBe(expected);
    expect(summary.lostSamplesRadio).toBe(expected);
    expect(summary.stoppedBy).toBe('duration');
    // Performance mode classifies a 4-s window every second: windows end at 4.15 s, 5.15 s, … ≤ 60.2 s.
    expect(summary.windows).toBe(Math.floor(60.2 - 0.15 - 4) + 1);
    expect(ofType(events, 'prediction')).toHaveLength(summary.windows);
    expect(summary.predictions + summary.skipped).toBe(summary.windows);
    expect(summary.predictions).toBeGreaterThan(summary.windows * 0.8);
    expect(events.at(-1)!.type).toBe('summary');
    expect(events[0]!.type).toBe('start');
  });

  it('a disconnect mid-run: backoff, reconnect, fresh feature state, and the outage counted sample for sample', async () => {
    const arrivals: number[] = [];
    const { events, summary } = await run('sim:muse?seed=3&disconnect-after=20&down=3', 60, { tap: (t) => arrivals.push(t) });
    const disc = ofType(events, 'disconnect');
    expect(disc).toHaveLength(1);
    expect(disc[0]!.cause).toBe('link');
    const rec = ofType(events, 'reconnect');
    // Out of reach for 3 s: attempts fail with growing delays until one succeeds.
    expect(rec.filter((r) => !r.ok).length).toBeGreaterThan(0);
    const delays = rec.map((r) => r.delayMs);
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThan(delays[i - 1]!);
    const ok = rec.filter((r) => r.ok);
    expect(ok).toHaveLength(1);
    expect(ok[0]!.featureStateReset).toBe(true);
    expect(ok[0]!.t - disc[0]!.t).toBeGreaterThanOrEqual(3000);
    expect(ofType(events, 'connect')).toHaveLength(2);
    // The outage from the TP9 notifications seen on the wire: a block arrives with its last sample.
    const period = 1000 / 256;
    let k = 1;
    while (arrivals[k]! - arrivals[k - 1]! < 1000) k++;
    const byWire = Math.round((arrivals[k]! - arrivals[k - 1]!) / period) - 12;
    const gaps = ofType(events, 'gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.cause).toBe('reconnect');
    expect(gaps[0]!.lostSamples).toBe(byWire);
    expect(summary.lostSamplesReconnect).toBe(byWire);
    // Every sample that arrived was decoded: 12 per TP9 notification.
    expect(summary.samples).toBe(12 * arrivals.length);
    // Predictions resume after the reconnect (a new window needs 4 s of the new stream).
    const after = ofType(events, 'prediction').filter((p) => p.start > ok[0]!.t);
    expect(after.length).toBeGreaterThan(20);
    expect(after[0]!.start).toBeGreaterThan(ok[0]!.t);
    expect(summary.disconnects).toBe(1);
    expect(summary.reconnects).toBe(1);
  });

  it('a stalled stream: the watchdog drops the link, the run reconnects and accounts for the stall', async () => {
    const arrivals: number[] = [];
    const { events, summary } = await run('sim:muse?seed=4&stall=10&stall-at=8', 40, { tap: (t) => arrivals.push(t), watchdogMs: 3000 });
    const disc = ofType(events, 'disconnect');
    expect(disc.map((d) => d.cause)).toEqual(['watchdog']);
    expect(summary.watchdogTrips).toBe(1);
    expect(ofType(events, 'reconnect').filter((r) => r.ok)).toHaveLength(1);
    const period = 1000 / 256;
    let k = 1;
    while (arrivals[k]! - arrivals[k - 1]! < 1000) k++;
    expect(summary.lostSamplesReconnect).toBe(Math.round((arrivals[k]! - arrivals[k - 1]!) / period) - 12);
    expect(summary.samples).toBe(12 * arrivals.length);
    expect(ofType(events, 'prediction').filter((p) => p.start > disc[0]!.t).length).toBeGreaterThan(15);
  });

  it('a short stall (under the watchdog) is ridden out without a reconnect or a lost sample', async () => {
    const { events, summary } = await run('sim:muse?seed=4&stall=2&stall-at=8', 30);
    expect(ofType(events, 'disconnect')).toEqual([]);
    expect(summary.lostSamples).toBe(0);
    expect(summary.windows).toBeGreaterThan(20);
  });

  it('corrupted packets: reported as decode errors, the run goes on', async () => {
    const { events, summary } = await run('sim:muse?seed=5&corrupt=0.03', 40);
    const errors = ofType(events, 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.where === 'decode' && !e.fatal)).toBe(true);
    expect(summary.decodeErrors).toBe(errors.length);
    expect(summary.stoppedBy).toBe('duration');
    expect(summary.windows).toBe(Math.floor(40 - 0.15 - 4) + 1);
  });

  it('battery falling through every threshold: balanced, saver, critical in order, each once; saver halts the headband between windows', async () => {
    const { events, summary } = await run('sim:muse?seed=6&battery=54&drain=1200', 480);
    const modes = ofType(events, 'mode').filter((m) => m.from !== null);
    expect(modes.map((m) => `${m.from}→${m.to}`)).toEqual(['performance→balanced', 'balanced→saver', 'saver→critical']);
    const th = { balanced: 50, saver: 25, critical: 10 } as const;
    for (const m of modes) expect(m.level!).toBeLessThan(th[m.to as keyof typeof th]);
    // Predictions carry the mode; none while critical pauses inference.
    const preds = ofType(events, 'prediction');
    const critAt = modes[2]!.t;
    expect(preds.filter((p) => p.t > critAt + 5000)).toEqual([]);
    const bal = preds.filter((p) => p.mode === 'balanced');
    const sav = preds.filter((p) => p.mode === 'saver');
    expect(bal.length).toBeGreaterThan(5);
    expect(sav.length).toBeGreaterThan(3);
    // Strides: every 4 s in balanced, every 32 s in saver.
    expect(bal[1]!.start - bal[0]!.start).toBeCloseTo(4000, 0);
    expect(sav[1]!.start - sav[0]!.start).toBeGreaterThanOrEqual(31_900);
    expect(sav[1]!.start - sav[0]!.start).toBeLessThan(32_100);
    // The drain was measured in balanced (1200 %/h while streaming) and reported.
    const drains = ofType(events, 'battery').filter((b) => b.mode === 'balanced' && b.drainPerHour !== null);
    expect(drains.length).toBeGreaterThan(0);
    expect(drains.at(-1)!.drainPerHour!).toBeGreaterThan(1000);
    expect(drains.at(-1)!.drainPerHour!).toBeLessThan(1400);
    expect(drains.at(-1)!.hoursToEmpty!).toBeCloseTo(drains.at(-1)!.percent! / drains.at(-1)!.drainPerHour!, 6);
    // Halting between windows: far less streaming than run time, and a slower drain in saver.
    expect(summary.streamedSeconds).toBeLessThan(summary.seconds * 0.6);
    expect(summary.modeChanges).toBe(3);
  });

  it('stop(): the stop command is sent, the link closed, and every iterator ends with the summary', async () => {
    const { link } = await resolveRunDevice('sim:muse?seed=2', { startMs: 0 });
    const device = (await link.connect(0)) as VirtualMuse;
    const writes: string[] = [];
    const write = device.write.bind(device);
    device.write = (ch, data) => (writes.push(new TextDecoder().decode(data.subarray(1, data.length - 1))), write(ch, data));
    const r = startRun({
      link,
      model: { label: 'm', card: classifier.card, default: { name: 'fp32', classifier }, fast: null },
      clock: new VirtualClock(0),
      speed: Infinity,
    });
    const second = r.hub.iterate();
    let predictions = 0;
    for await (const e of r) {
      if (e.type === 'prediction' && ++predictions === 3) r.stop();
    }
    const s = await r.done;
    expect(s.stoppedBy).toBe('stop');
    expect(writes.slice(0, 4)).toEqual(['h', 'p21', 's', 'd']);
    expect(writes.at(-1)).toBe('h');
    expect(device.isStreaming).toBe(false);
    expect(device.isConnected).toBe(false);
    const rest: string[] = [];
    for await (const e of second) rest.push(e.type);
    expect(rest.at(-1)).toBe('summary');
    expect(r.status().state).toBe('stopped');
  });

  it('other headbands: a Ganglion (user-placed sites) and an open-EEG board survive a disconnect too', async () => {
    for (const [uri, sites] of [
      ['sim:ganglion?seed=2&drop=0.01&disconnect-after=15', ['FP1', 'FP2', 'T7', 'T8']],
      ['sim:open-eeg?seed=2&disconnect-after=15', ['F3', 'F4', 'F7', 'F8']],
    ] as const) {
      const c = await loadOnnxClassifier(await museModel({ sites: [...sites] }));
      const { link } = await resolveRunDevice(uri, { startMs: 0 });
      const r = startRun({
        link,
        model: { label: 'm', card: c.card, default: { name: 'fp32', classifier: c }, fast: null },
        clock: new VirtualClock(0),
        speed: Infinity,
        durationMs: 45_000,
        random: () => 0.5,
      });
      const events: RunEvent[] = [];
      for await (const e of r) events.push(e);
      const s = await r.done;
      expect(s.reconnects, uri).toBe(1);
      expect(s.lostSamplesReconnect, uri).toBeGreaterThan(0);
      const back = ofType(events, 'reconnect')[0]!.t;
      expect(ofType(events, 'prediction').filter((p) => p.start > back).length, uri).toBeGreaterThan(20);
      await c.dispose();
    }
  });

  it('a replay: the run ends with the capture, its losses counted as decode counts them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-run-replay-'));
    const cap = join(dir, 'cap.jsonl');
    await recordCapture({ device: 'sim:muse?seed=12&drop=0.02', out: cap, seconds: 20, quiet: true });
    let lost = 0;
    await decodeCaptureFile(cap, 'jsonl', (line) => {
      const r = JSON.parse(line) as { kind: string; stream?: string; lostSamples?: number };
      if (r.kind === 'gap' && r.stream === 'eeg') lost += r.lostSamples!;
    });
    const { events, summary } = await run(`replay:${cap}`, 600);
    expect(summary.stoppedBy).toBe('end-of-input');
    expect(summary.lostSamplesRadio).toBe(lost);
    expect(ofType(events, 'disconnect')[0]!.reason).toBe('end of capture');
    expect(ofType(events, 'reconnect')).toEqual([]);
    expect(summary.windows).toBe(16);
  });

  it('--policy fixed:saver pins the mode, whatever the battery', async () => {
    const { events, summary } = await run('sim:muse?seed=6&battery=90', 135, { policy: { kind: 'fixed', mode: 'saver' } });
    expect(ofType(events, 'mode').filter((m) => m.from !== null)).toEqual([]);
    const preds = ofType(events, 'prediction');
    expect(preds).toHaveLength(5); // bursts at 0, 32, 64, 96 and 128 s, each one window
    expect(preds.every((p) => p.mode === 'saver')).toBe(true);
    expect(summary.modeSeconds.saver).toBeCloseTo(135, 3);
    expect(summary.streamedSeconds).toBeLessThan(135 * 0.2);
  });

  it('--battery-target: from the measured drain, the richest mode predicted to last the target', async () => {
    // 40 % at 600 %/h lasts 4 min streaming continuously; saver streams about a seventh of the time.
    const { events } = await run('sim:muse?seed=8&battery=40&drain=600', 200, { policy: { kind: 'target', hours: 0.1 } });
    const modes = ofType(events, 'mode').filter((m) => m.from !== null);
    expect(modes[0]!.to).toBe('balanced'); // by level until drain is measured
    const target = modes.find((m) => m.predictedHours);
    expect(target).toBeDefined();
    expect(target!.to).toBe('saver');
    expect(target!.reason).toMatch(/target/);
    expect(target!.predictedHours!.balanced!).toBeLessThan(0.1);
    expect(target!.predictedHours!.saver!).toBeGreaterThan(target!.predictedHours!.balanced!);
  });
});
