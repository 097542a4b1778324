/**
 * Features that match training, in `cmcrd run` / `cmcrd calibrate` and the supervisor: a card whose smoothing needs
 * the whole trial (SEED's offline LDS) is refused with the reason and the retraining command unless
 * --allow-offline-smoothing, which runs it and says so at the start and in the summary; and a causal smoother
 * (lds-causal) restarts at the session start and after a reconnect: the features the model gets after a reconnect
 * are those of a fresh session on the same notifications (replayed).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureNotification } from '../../../firmware-bridge/capture.js';
import type { GattPeripheral, NotifyListener } from '../../../firmware-bridge/gatt.js';
import { ReplayPeripheral } from '../../../firmware-bridge/sim/replay.js';
import type { Classifier } from '../../../runtime/infer/types.js';
import { loadOnnxClassifier } from '../../../runtime/infer/onnx.node.js';
import type { ModelCard } from '../../../runtime/model-card.js';
import { VirtualClock } from '../../../runtime/run/clock.js';
import { RunSetupError } from '../../../runtime/run/device-fit.js';
import { resolveRunDevice } from '../../../runtime/run/device.node.js';
import type { RunEvent, RunSummary } from '../../../runtime/run/events.js';
import { replayLink } from '../../../runtime/run/links.js';
import { startRun, type DeviceLink } from '../../../runtime/run/supervisor.js';
import { runCli } from '../../cli-harness.js';
import { modelDir, museModel, ofType, parseLines } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cmcrd-run-smoothing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fast = ['--speed', '100000'];
let lds: string;

beforeAll(async () => {
  lds = await modelDir({ smoothing: 'lds' });
});

describe('cmcrd run / calibrate: a card whose smoothing needs the whole trial', () => {
  it('is refused with the reason and the command that retrains it (exit 2, nothing written)', async () => {
    const out = join(dir, 'refused.jsonl');
    const r = await runCli('run', '--model', lds, '--device', 'sim:muse', '--duration', '10', ...fast, '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /model smoothing "lds" \(SEED's offline LDS, a Kalman filter started from the trial mean\) needs the whole trial, which a live stream never has/,
    );
    expect(r.err).toMatch(/Retrain on the causal form "lds-causal".*cmcrd train .*--smooth lds-causal .*--montage muse/);
    expect(r.err).toMatch(/add --allow-offline-smoothing/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
    const c = await runCli(
      'calibrate',
      '--model',
      lds,
      '--device',
      'sim:muse',
      '--seconds',
      '10',
      '--out',
      join(dir, 'refused-calib.json'),
    );
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/needs the whole trial.*--smooth lds-causal/);
    expect(existsSync(join(dir, 'refused-calib.json'))).toBe(false);
  });

  it('--allow-offline-smoothing runs it, and says so at the start and in the summary (stderr and the JSON Lines)', async () => {
    const out = join(dir, 'allowed.jsonl');
    const r = await runCli(
      'run',
      '--model',
      lds,
      '--device',
      'sim:muse?seed=2',
      '--duration',
      '30',
      ...fast,
      '--out',
      out,
      '--allow-offline-smoothing',
    );
    expect(r.code, r.err).toBe(0);
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toMatch(
      /^warning: --allow-offline-smoothing: model smoothing "lds" needs the whole trial; running the filter started from the running mean .* instead.*Retrain: cmcrd train/,
    );
    expect(lines.at(-1)).toMatch(
      /^run: \d+ predictions, .*; features NOT as trained: smoothing "lds" ran on its online stand-in \(--allow-offline-smoothing\)$/,
    );
    const ev = parseLines(readFileSync(out, 'utf8'));
    const start = ofType(ev, 'start')[0]!;
    const summary = ev.at(-1) as RunSummary;
    expect(start.warnings).toEqual([lines[0]]);
    expect(summary.warnings).toEqual(start.warnings);
    expect(summary.predictions).toBe(7); // smoothed features need every window at the card's hop: windows end at 4.15 s, 8.15 s, … 28.15 s
    const c = await runCli(
      'calibrate',
      '--model',
      lds,
      '--device',
      'sim:muse',
      '--seconds',
      '20',
      '--out',
      join(dir, 'allowed-calib.json'),
      '--allow-offline-smoothing',
    );
    expect(c.code, c.err).toBe(0);
    expect(c.err).toMatch(/^warning: --allow-offline-smoothing/);
    expect(c.err).toMatch(/→ .*allowed-calib\.json; features NOT as trained/);
  });

  it('library users: startRun refuses it too (RunSetupError, before streaming) unless allowOfflineSmoothing', async () => {
    const c = await loadOnnxClassifier(await museModel({ smoothing: 'lds' }));
    for (const allow of [false, true]) {
      const { link } = await resolveRunDevice('sim:muse?seed=1', { startMs: 0 });
      const r = startRun({
        link,
        model: { label: 'lds-model', card: c.card, default: { name: 'fp32', classifier: c }, fast: null },
        clock: new VirtualClock(0),
        speed: Infinity,
        durationMs: 8000,
        allowOfflineSmoothing: allow,
      });
      const events: RunEvent[] = [];
      for await (const e of r) events.push(e);
      if (!allow) {
        const err = await r.done.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RunSetupError);
        expect((err as Error).message).toMatch(/^lds-model: model smoothing "lds" .* needs the whole trial/);
        expect(events).toEqual([]);
      } else {
        const s = await r.done;
        expect(s.warnings![0]).toMatch(/--allow-offline-smoothing/);
        expect(s.windows).toBeGreaterThan(0);
      }
    }
    await c.dispose();
  });
});

/** A classifier that keeps every row it is given (the features the model sees) and answers uniformly. */
function recorder(card: ModelCard): Classifier & { rows: Float32Array[] } {
  const rows: Float32Array[] = [];
  return {
    rows,
    inputSize: card.channels.length * card.bands.length,
    classes: card.classes,
    async run(batch) {
      for (const r of batch) rows.push(Float32Array.from(r));
      return batch.map(() => new Float32Array(card.classes.length).fill(1 / card.classes.length));
    },
    async dispose() {},
  };
}

/** Every notification of every connection (by attempt), as the host received it. */
function taped(link: DeviceLink): { link: DeviceLink; byAttempt: CaptureNotification[][] } {
  const byAttempt: CaptureNotification[][] = [];
  const patched = new WeakSet<GattPeripheral>();
  let log: CaptureNotification[] = [];
  return {
    byAttempt,
    link: {
      ...link,
      async connect(attempt) {
        const p = await link.connect(attempt);
        log = byAttempt[attempt] = [];
        if (!patched.has(p)) {
          patched.add(p);
          const sub = p.subscribe.bind(p);
          (p as { subscribe: GattPeripheral['subscribe'] }).subscribe = (ch: string, l: NotifyListener) =>
            sub(ch, (d, t) => (log.push({ t, char: ch, bytes: Uint8Array.from(d) }), l(d, t)));
        }
        return p;
      },
    },
  };
}

/** The classified rows (what the model saw) and the classified windows' start times. */
async function classify(link: DeviceLink, card: ModelCard, startMs: number, durationMs?: number) {
  const c = recorder(card);
  const r = startRun({
    link,
    model: { label: 'm', card, default: { name: 'fp32', classifier: c }, fast: null },
    clock: new VirtualClock(startMs),
    speed: Infinity,
    random: () => 0.5,
    ...(durationMs ? { durationMs } : {}),
  });
  const events: RunEvent[] = [];
  for await (const e of r) events.push(e);
  await r.done;
  // The first row is the supervisor's warm-up (a zero row, before the run starts); then one row per window.
  expect(c.rows[0]!.every((x) => x === 0)).toBe(true);
  const rows = c.rows.slice(1);
  const classified = ofType(events, 'prediction').filter((p) => p.label !== null);
  expect(classified).toHaveLength(rows.length);
  return { events, rows, starts: classified.map((p) => p.start) };
}

describe('a causal smoother restarts at the session start and after a reconnect', () => {
  it('lds-causal: the features after a reconnect equal those of a fresh session on the same notifications', async () => {
    const base = (await loadOnnxClassifier(await museModel())).card;
    const card: ModelCard = { ...base, smoothing: 'lds-causal' };
    const raw: ModelCard = { ...base, smoothing: 'none' };
    const { link } = await resolveRunDevice('sim:muse?seed=3&disconnect-after=50&down=3', { startMs: 0 });
    const tape = taped(link);
    const live = await classify(tape.link, card, 0, 110_000);
    const back = ofType(live.events, 'reconnect').find((e) => e.ok)!;
    expect(back.featureStateReset).toBe(true);
    expect(tape.byAttempt.filter(Boolean)).toHaveLength(2);

    // Each connection's notifications replayed into a fresh run: same windows, same features, bit for bit.
    let session = 0;
    for (const notes of tape.byAttempt) {
      if (!notes) continue;
      const capture = {
        header: { format: 'cmcrd-capture' as const, version: 1 as const, device: 'muse' as const, preset: 'p21' },
        notifications: notes,
        errors: [],
      };
      const fresh = await classify(replayLink(new ReplayPeripheral(capture, { clock: 'manual' }), 'replay'), card, notes[0]!.t);
      const unsmoothed = await classify(replayLink(new ReplayPeripheral(capture, { clock: 'manual' }), 'replay'), raw, notes[0]!.t);
      const mine = live.starts.map((s, i) => [s, i] as const).filter(([s]) => (session === 0 ? s < back.t : s > back.t));
      expect(mine.length).toBeGreaterThan(10);
      expect(mine.map(([s]) => s)).toEqual(fresh.starts.slice(0, mine.length));
      mine.forEach(([, i], k) => expect(live.rows[i], `session ${session}, window ${k}`).toEqual(fresh.rows[k]));
      // The smoother starts from the session's first window (its features unchanged) and smooths from there on:
      // a smoother carried over from before the link loss would have changed the first one too.
      expect(live.rows[mine[0]![1]]).toEqual(unsmoothed.rows[0]);
      expect(live.rows[mine[3]![1]]).not.toEqual(unsmoothed.rows[3]);
      session++;
    }
  });
});
