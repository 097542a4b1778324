// size: one Chromium session drives every browser check of the web app (load, both engines, Web Bluetooth, batteries, offline)
/**
 * The phone web app in a real browser (Debian Chromium through playwright-core), served by `cmcrd serve` on
 * 127.0.0.1: the page loads and is installable (manifest, icons, service worker); demo mode shows predictions on
 * both engines, equal to the runtime's own session in Node on the same virtual headband; a mocked
 * navigator.bluetooth playing back real Muse notifications drives the Web Bluetooth path (page GATT → worker) to
 * predictions equal to the Node session's on the same notifications; after one load the app works offline;
 * Ctrl-C stops the server. Screenshots go to test-artifacts/deploy/.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MUSE } from '../../firmware-bridge/protocols/muse.js';
import { webBluetoothRequestOptions } from '../../firmware-bridge/transports/web-bluetooth.js';
import type { Prediction } from '../../runtime/session.js';
import type { AppConfig, BatteryView, ModeView, PredictionView } from '../../web/protocol.js';
import { runCli } from '../cli-harness.js';
import { launchChromium, makeModelDir, recordMuse, referenceDemo, referencePredictions, replayPeripheral } from './helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const ARTIFACTS = join(REPO, 'test-artifacts', 'deploy');

interface Served {
  proc: ChildProcessWithoutNullStreams;
  url: string;
  out: string;
  /** Request lines the server logged so far ("GET /app.js 200"). */
  requests: string[];
}

/** `cmcrd serve <dir> --port 0` as a child process (the CLI itself, through tsx). */
async function serve(dir: string): Promise<Served> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/bin.ts'), 'serve', dir, '--port', '0'], { cwd: REPO });
  const s: Served = { proc, url: '', out: '', requests: [] };
  proc.stderr.on('data', (d: Buffer) => s.requests.push(...String(d).split('\n').filter(Boolean)));
  s.url = await new Promise<string>((ok, fail) => {
    proc.stdout.on('data', (d: Buffer) => {
      s.out += String(d);
      const m = /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(s.out);
      if (m) ok(m[1]!);
    });
    proc.on('exit', (code) => fail(new Error(`cmcrd serve exited (${code}): ${s.requests.join('\n')}`)));
  });
  return s;
}

/** Ctrl-C: the server stops and exits 0. */
async function stopServer(s: Served): Promise<void> {
  const exited = new Promise<number | null>((ok) => s.proc.on('exit', (code) => ok(code)));
  s.proc.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(s.out).toMatch(/Ctrl-C stops the server\nstopped\n$/);
}

let tmp: string;
let model: Uint8Array;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;
const apps: Record<'ort' | 'tfjs', { dir: string; server: Served; config: AppConfig }> = {} as never;
/** A tfjs app of a model whose features are not smoothed along windows (saver may halt the headband between them). */
let plain: { dir: string; server: Served };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cmcrd-web-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const modelDir = await makeModelDir(tmp);
  model = new Uint8Array(readFileSync(join(modelDir, 'model.onnx')));
  for (const engine of ['ort', 'tfjs'] as const) {
    const dir = join(tmp, `app-${engine}`);
    const r = await runCli('deploy', 'web', '--model', modelDir, '--out', dir, '--engine', engine);
    expect(r.code, r.err).toBe(0);
    apps[engine] = { dir, server: await serve(dir), config: JSON.parse(readFileSync(join(dir, 'app.json'), 'utf8')) as AppConfig };
  }
  const plainDir = join(tmp, 'app-plain');
  const r = await runCli('deploy', 'web', '--model', await makeModelDir(tmp, { smoothing: 'none' }), '--out', plainDir, '--engine', 'tfjs');
  expect(r.code, r.err).toBe(0);
  plain = { dir: plainDir, server: await serve(plainDir) };
  browser = await launchChromium();
  context = browser.context;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  for (const a of [...Object.values(apps), plain]) if (a && a.server.proc.exitCode === null) a.server.proc.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** Record every prediction the worker posts, by wrapping the Worker constructor (the app itself has no test hook). */
const RECORD_PREDICTIONS = `(() => {
  const W = window.Worker;
  window.__predictions = [];
  window.Worker = class extends W {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => { if (e.data && e.data.type === 'prediction') window.__predictions.push(e.data.p); });
    }
  };
})();`;

/**
 * Record the run as the worker reports it: mode changes, battery estimates and predictions, each tagged with the
 * number of mode changes received before it (`after`), so they can be sorted by mode epoch.
 */
const RECORD_RUN = `(() => {
  const W = window.Worker;
  const run = (window.__run = { modes: [], batteries: [], predictions: [] });
  window.Worker = class extends W {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        const d = e.data;
        if (!d) return;
        if (d.type === 'mode') run.modes.push(d.m);
        else if (d.type === 'battery') run.batteries.push({ ...d.b, after: run.modes.length });
        else if (d.type === 'prediction') run.predictions.push({ ...d.p, after: run.modes.length });
      });
    }
  };
})();`;

/** navigator.getBattery stubbed: a phone battery the test sets with window.__phone.set(level 0–1, charging). */
const phoneBattery = (level: number, charging: boolean) => `(() => {
  const m = new EventTarget();
  let level = ${level};
  let charging = ${charging};
  Object.defineProperties(m, {
    level: { get: () => level },
    charging: { get: () => charging },
    chargingTime: { get: () => Infinity },
    dischargingTime: { get: () => Infinity },
  });
  const p = Promise.resolve(m);
  Object.defineProperty(navigator, 'getBattery', { value: () => p, configurable: true });
  window.__phone = {
    set(l, c = false) {
      const changed = [l !== level && 'levelchange', c !== charging && 'chargingchange'].filter(Boolean);
      level = l;
      charging = c;
      for (const t of changed) m.dispatchEvent(new Event(t));
    },
  };
})();`;

interface RunLog {
  modes: ModeView[];
  batteries: (BatteryView & { after: number })[];
  predictions: (PredictionView & { after: number })[];
}

const runLog = (page: Page) => page.evaluate(() => (window as unknown as { __run: RunLog }).__run);

/** Wait until the run log satisfies `f` (evaluated in the page on window.__run). */
async function waitRun(page: Page, f: string, timeout = 60_000): Promise<RunLog> {
  await page.waitForFunction(`(() => { const run = window.__run; return ${f}; })()`, null, { timeout });
  return runLog(page);
}

/** Gaps (s of signal) between consecutive predictions. */
const spacing = (ps: PredictionView[]) => ps.slice(1).map((p, i) => p.t - ps[i]!.t);

async function newPage(init: string[] = []): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  for (const content of [RECORD_PREDICTIONS, ...init]) await page.addInitScript({ content });
  return { page, errors };
}

async function predictions(page: Page, n: number, timeout = 60_000): Promise<PredictionView[]> {
  await page.waitForFunction((k) => (window as unknown as { __predictions: unknown[] }).__predictions.length >= k, n, { timeout });
  return page.evaluate(() => (window as unknown as { __predictions: PredictionView[] }).__predictions);
}

/** Largest |Δp| between the page's predictions and the Node session's, window by window. */
function maxDiff(got: PredictionView[], ref: Prediction[], classes: string[]): number {
  let d = 0;
  got.forEach((g, i) => {
    const r = ref[i]!;
    expect(g.predicted, `window ${i}`).toBe(r.predicted);
    classes.forEach((c, k) => (d = Math.max(d, Math.abs(g.probabilities![k]! - r.probabilities![c]!))));
  });
  return d;
}

describe('cmcrd deploy web in Chromium', () => {
  it('the page loads: model ready, installable (manifest, icons, service worker)', async () => {
    const { page, errors } = await newPage();
    await page.goto(apps.ort.server.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    expect(await page.title()).toBe(apps.ort.config.title);
    expect(await page.textContent('#model')).toMatch(
      /mlp model · neutral, sad, fear, happy · 4 electrodes \(AF7, AF8, TP9, TP10\) on muse/,
    );
    expect(await page.textContent('#engine')).toMatch(/^onnxruntime-web 1\.\d+\.\d+ \(wasm SIMD, 1 thread\), fp32$/);
    expect(await page.isEnabled('#demo')).toBe(true);
    // The manifest and the icons it lists: the browser decodes each PNG at its declared size.
    const icons = await page.evaluate(async () => {
      const href = document.querySelector('link[rel="manifest"]')!.getAttribute('href')!;
      const m = (await (await fetch(href)).json()) as {
        display: string;
        start_url: string;
        icons: { src: string; sizes: string; purpose: string }[];
      };
      const out = [];
      for (const i of m.icons) {
        const bmp = await createImageBitmap(await (await fetch(i.src)).blob());
        out.push({ sizes: i.sizes, purpose: i.purpose, decoded: `${bmp.width}x${bmp.height}` });
      }
      return { display: m.display, start: m.start_url, out };
    });
    expect(icons.display).toBe('standalone');
    expect(icons.start).toBe('./');
    expect(icons.out.map((i) => i.purpose)).toEqual(['any', 'any', 'maskable']);
    for (const i of icons.out) expect(i.decoded).toBe(i.sizes);
    // The service worker takes control of the page.
    await page.waitForSelector('body[data-offline-ready="true"]', { timeout: 30_000 });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
    expect(await page.textContent('#offline')).toBe('available offline');
    expect(errors).toEqual([]);
    await page.close();
  });

  for (const engine of ['ort', 'tfjs'] as const) {
    it(`demo mode shows predictions on the ${engine} engine, equal to the runtime session in Node`, async () => {
      const app = apps[engine];
      const { page, errors } = await newPage();
      const fetched: string[] = [];
      page.on('request', (r) => fetched.push(new URL(r.url()).pathname));
      await page.goto(app.server.url);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      await page.click('#demo');
      const got = (await predictions(page, 3)).slice(0, 3);
      // The same virtual headband (the app's demo URI, manual clock) through the runtime session in Node.
      const ref = await referenceDemo(model, app.config.demo.uri, 16);
      expect(ref.length).toBeGreaterThanOrEqual(3);
      expect(got.every((p) => p.skipped === null && p.truth === 'neutral')).toBe(true);
      expect(got.map((p) => p.probabilities!.reduce((a, b) => a + b, 0)).every((s) => Math.abs(s - 1) < 1e-5)).toBe(true);
      expect(maxDiff(got, ref, ['neutral', 'sad', 'fear', 'happy'])).toBeLessThan(2e-5);
      expect(got.map((p) => p.t)).toEqual([4, 8, 12].map((t) => expect.closeTo(t, 1)));
      // The page shows it: current emotion, four good channels, the headband battery, the mode.
      await page.waitForFunction(() => Number(document.getElementById('current')!.dataset.count) >= 3);
      expect(['neutral', 'sad', 'fear', 'happy']).toContain((await page.textContent('#current'))!.trim());
      expect(await page.locator('#quality li.channel[data-good="true"]').count()).toBe(4);
      expect(await page.textContent('#headband-battery')).toBe('80 %');
      expect(await page.getAttribute('#mode', 'data-mode')).toBe('performance');
      expect(await page.textContent('#engine')).toMatch(
        engine === 'ort' ? /^onnxruntime-web/ : /^tfjs 4\.\d+\.\d+ GraphModel \(wasm SIMD backend\), tfjs-float32$/,
      );
      // One engine per app: the other engine's files are never fetched.
      expect(fetched.some((p) => p.endsWith(engine === 'ort' ? 'ort-wasm-simd-threaded.wasm' : 'tfjs-backend-wasm-simd.wasm'))).toBe(true);
      expect(fetched.filter((p) => /tfjs|ort-wasm/.test(p) && !p.includes(engine === 'ort' ? 'ort-wasm' : 'tfjs'))).toEqual([]);
      await page.screenshot({ path: join(ARTIFACTS, `demo-${engine}.png`), fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    });
  }

  it('a mocked navigator.bluetooth playing back real Muse notifications drives the Web Bluetooth path to predictions', async () => {
    const rec = recordMuse(16);
    const mock = readFileSync(join(HERE, 'mock-web-bluetooth.js'), 'utf8').replace(
      '__DATA__',
      JSON.stringify({ service: MUSE.service, control: MUSE.control, ...rec }),
    );
    const { page, errors } = await newPage([mock]);
    await page.goto(apps.ort.server.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.click('#connect');
    const got = (await predictions(page, 3)).slice(0, 3);
    const log = await page.evaluate(
      () =>
        (
          window as unknown as {
            __bluetooth: { requests: unknown[]; writes: string[]; notifying: string[]; delivered: number; busyErrors: number };
          }
        ).__bluetooth,
    );
    // The request is the registry's (Muse, Ganglion, open profile…), the start sequence the Muse driver's.
    expect(log.requests).toEqual([webBluetoothRequestOptions()]);
    expect(log.writes.slice(0, 4)).toEqual(['h', 'p21', 's', 'd']);
    expect(log.notifying).toEqual(expect.arrayContaining([MUSE.control, MUSE.telemetry, ...Object.values(MUSE.eeg).slice(0, 4)]));
    expect(log.busyErrors).toBe(0);
    expect(log.delivered).toBeGreaterThan(4 * 3 * (256 / 12)); // three windows of four EEG channels, at least
    // The same notifications through the runtime session in Node.
    const ref = await referencePredictions(model, replayPeripheral(rec), () => undefined);
    expect(ref.length).toBeGreaterThanOrEqual(3);
    expect(got.every((p) => p.skipped === null && p.truth === null && p.headbandBattery === 42)).toBe(true);
    expect(maxDiff(got, ref, ['neutral', 'sad', 'fear', 'happy'])).toBeLessThan(2e-5);
    await page.waitForFunction(() => document.getElementById('mode')!.dataset.mode === 'balanced');
    expect(await page.textContent('#headband-battery')).toBe('42 %');
    expect(await page.textContent('#status')).toMatch(/^Muse-MOCK \(muse\): \d+ windows?/);
    await page.screenshot({ path: join(ARTIFACTS, 'web-bluetooth-mock.png'), fullPage: true });
    // Stop writes the Muse halt command through the page's GATT queue.
    await page.click('#stop');
    await page.waitForFunction(() => document.getElementById('status')!.dataset.state === 'stopped');
    expect((await page.evaluate(() => (window as unknown as { __bluetooth: { writes: string[] } }).__bluetooth.writes)).at(-1)).toBe('h');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the phone battery (navigator.getBattery) drives the runtime policy: modes in order with hysteresis, the classify stride, the critical pause', async () => {
    const app = apps.ort;
    const { page, errors } = await newPage([RECORD_RUN, phoneBattery(0.7, false)]);
    // A virtual Muse that does not drain, at 20 virtual seconds per real second (every timer of the run with it).
    await page.goto(`${app.server.url}?demo=sim:muse?battery=80&drain=0&speed=20`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    expect(await page.textContent('#phone-battery')).toBe('70 %');
    await page.click('#demo');
    const phone = (level: number, charging = false) =>
      page.evaluate(([l, c]) => (window as unknown as { __phone: { set(l: number, c: boolean): void } }).__phone.set(l, c), [
        level,
        charging,
      ] as const);
    // Windows classified in the k-th mode (one classified just before a change may arrive just after it).
    const inMode = (log: RunLog, k: number) => log.predictions.filter((p) => p.after === k + 1 && p.mode === log.modes[k]!.to);

    // Performance: every window of the card's hop (4 s) is classified.
    let log = await waitRun(page, 'run.predictions.length >= 3');
    expect(log.modes.map((m) => [m.from, m.to])).toEqual([[null, 'performance']]);
    expect(log.modes[0]).toMatchObject({ strideSec: 4, dutyCycle: false, paused: false, preset: 'p21', variant: 'fp32' });
    expect(spacing(inMode(log, 0))).toEqual(
      inMode(log, 0)
        .slice(1)
        .map(() => expect.closeTo(4, 3)),
    );
    expect(log.predictions.every((p) => p.mode === 'performance' && p.variant === 'fp32')).toBe(true);

    // 45 %: balanced, said with the phone's level.
    await phone(0.45);
    log = await waitRun(page, 'run.modes.length >= 2');
    expect(log.modes[1]).toMatchObject({ from: 'performance', to: 'balanced', reason: 'phone battery 45 % is below 50 %', level: 45 });
    expect(log.modes[1]!.variantNote).toMatch(/the app ships one model per engine \(fp32\)/);
    expect(await page.getAttribute('#mode', 'data-mode')).toBe('balanced');
    // Hysteresis: 52 % is above the threshold but not by 3 points, so balanced stays…
    await phone(0.52);
    log = await waitRun(
      page,
      `run.batteries.some((b) => b.source === 'phone' && b.percent === 52) && run.predictions.filter((p) => p.after === 2 && p.mode === 'balanced').length >= 3`,
    );
    expect(log.modes).toHaveLength(2);
    expect(spacing(inMode(log, 1))).toEqual(
      inMode(log, 1)
        .slice(1)
        .map(() => expect.closeTo(4, 3)),
    );
    expect(await page.textContent('#phone-battery')).toBe('52 %');
    // …and 53 % brings performance back.
    await phone(0.53);
    log = await waitRun(page, 'run.modes.length >= 3');
    expect(log.modes[2]).toMatchObject({ from: 'balanced', to: 'performance', level: 53 });
    expect(log.modes[2]!.reason).toMatch(/^phone battery 53 % is at least 50 % \+ 3 \(hysteresis\)$/);

    // 20 %: saver — one window every 32 s.
    await phone(0.2);
    log = await waitRun(page, "run.modes.length >= 4 && run.predictions.filter((p) => p.mode === 'saver').length >= 3");
    // The card smooths features along windows (LDS), so, as in `cmcrd run`, saver keeps the headband streaming and
    // classifies every 8th window rather than halting it in between.
    expect(log.modes[3]).toMatchObject({
      from: 'performance',
      to: 'saver',
      reason: 'phone battery 20 % is below 25 %',
      strideSec: 32,
      dutyCycle: false,
      paused: false,
    });
    const saver = inMode(log, 3);
    expect(saver.every((p) => p.mode === 'saver' && p.probabilities !== null)).toBe(true);
    expect(spacing(saver)).toEqual(saver.slice(1).map(() => expect.closeTo(32, 0)));
    expect(await page.textContent('#mode b')).toBe('saver');
    expect(await page.textContent('#mode')).toContain(
      'saver — classifies a 4-s window every 32 s · preset p21 · model fp32 (the only one the app ships)',
    );
    expect(await page.textContent('#mode small')).toMatch(/^phone battery 20 % is below 25 % — /);

    // 5 %: critical — no classification, only a battery watch.
    await phone(0.05);
    log = await waitRun(page, 'run.modes.length >= 5');
    expect(log.modes[4]).toMatchObject({
      from: 'saver',
      to: 'critical',
      reason: 'phone battery 5 % is below 10 %',
      paused: true,
      strideSec: 60,
    });
    await page.waitForFunction(() => /classification paused/.test(document.getElementById('status')!.textContent!));
    const atCritical = log.predictions.length;
    // Two battery-watch periods (120 s of virtual time, at least 6 s real): nothing classified.
    await page.waitForTimeout(6_500);
    log = await runLog(page);
    expect(log.modes).toHaveLength(5);
    expect(log.predictions.length - atCritical).toBeLessThanOrEqual(1); // a saver window already in flight
    expect(log.predictions.filter((p) => p.mode === 'critical')).toEqual([]);

    // Charging: the phone no longer constrains; the headband (80 %) allows performance, and windows come again.
    await phone(0.06, true);
    log = await waitRun(
      page,
      "run.modes.length >= 6 && run.predictions.filter((p) => p.after === 6 && p.mode === 'performance').length >= 2",
    );
    expect(log.modes[5]).toMatchObject({
      from: 'critical',
      to: 'performance',
      reason: 'headband battery 80 % is at least 10 % + 3 (hysteresis)',
    });
    expect(await page.textContent('#phone-battery')).toBe('6 % (charging)');
    // The page lists the changes in order.
    const shown = await page.$$eval('#mode-log li', (lis) =>
      lis.map((li) => `${(li as HTMLElement).dataset.from}→${(li as HTMLElement).dataset.to}`),
    );
    expect(shown).toEqual([
      '→performance',
      'performance→balanced',
      'balanced→performance',
      'performance→saver',
      'saver→critical',
      'critical→performance',
    ]);
    await page.screenshot({ path: join(ARTIFACTS, 'battery-modes-phone.png'), fullPage: true });
    await page.click('#stop');
    await page.waitForFunction(() => document.getElementById('status')!.dataset.state === 'stopped');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a headband battery falling through every threshold (demo sim battery/drain): each mode once, in order, saver halting the headband, drain estimates, a battery watch in critical', async () => {
    const app = plain;
    // The phone charges, so the headband alone decides. Drain 3600 %/h while streaming: 1 % per virtual second.
    const { page, errors } = await newPage([RECORD_RUN, phoneBattery(1, true)]);
    await page.goto(`${app.server.url}?demo=${encodeURIComponent('sim:muse?battery=56&drain=3600&speed=60')}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.click('#demo');
    // Critical, then a battery-watch reading: the headband, halted and unclassified, still reports its level.
    let log = await waitRun(page, `run.modes.length >= 4 && run.batteries.some((b) => b.source === 'headband' && b.after === 4)`, 120_000);
    expect(log.modes.map((m) => m.to)).toEqual(['performance', 'balanced', 'saver', 'critical']);
    expect(log.modes[2]).toMatchObject({ strideSec: 32, dutyCycle: true, paused: false });
    expect(log.modes[3]).toMatchObject({ strideSec: 60, dutyCycle: true, paused: true });
    log.modes.slice(1).forEach((m, i) => {
      const threshold = [50, 25, 10][i]!;
      expect(m.reason).toBe(`headband battery ${Number(m.level!.toPrecision(3))} % is below ${threshold} %`);
      expect(m.level!).toBeLessThan(threshold);
      expect(m.level!).toBeGreaterThan(threshold - 3);
    });
    // Drain measured in saver (readings spanning more than a minute) and reported with the change to critical.
    const est = log.modes[3]!.estimate.find((b) => b.source === 'headband')!;
    expect(est.drainPerHour!).toBeGreaterThan(100);
    expect(est.drainPerHour!).toBeLessThan(3600); // saver streams a fraction of the time
    expect(est.hoursToEmpty!).toBeCloseTo(est.percent! / est.drainPerHour!, 6);
    // How often windows come: every 4 s in balanced, one per 32 s in saver, none in critical.
    const by = (k: number) => log.predictions.filter((p) => p.after === k + 1 && p.mode === log.modes[k]!.to);
    expect(by(1).length).toBeGreaterThanOrEqual(3);
    expect(spacing(by(1))).toEqual(
      by(1)
        .slice(1)
        .map(() => expect.closeTo(4, 3)),
    );
    expect(by(2).length).toBeGreaterThanOrEqual(2);
    expect(spacing(by(2))).toEqual(
      by(2)
        .slice(1)
        .map(() => expect.closeTo(32, 0)),
    );
    expect(log.predictions.filter((p) => p.mode === 'critical')).toEqual([]);
    expect(log.predictions.filter((p) => p.after === 4).length).toBeLessThanOrEqual(1); // a saver window in flight
    // The battery watch: the headband still reports, and its level still falls (short bursts: slowly).
    const watch = log.batteries.find((b) => b.source === 'headband' && b.after === 4)!;
    expect(watch.percent!).toBeLessThan(log.modes[3]!.level!);
    expect(await page.getAttribute('#mode', 'data-mode')).toBe('critical');
    expect(await page.textContent('#mode')).toMatch(/^critical — classification paused; battery watch only/);
    // The estimate that decided (measured in saver), then the one measured in critical (the headband barely streams).
    expect(await page.textContent('#mode small')).toMatch(
      /^headband battery [\d.]+ % is below 10 % — .*headband [\d.]+ %, draining \d+ %\/h, about \d+ min left/,
    );
    expect(await page.textContent('#headband-drain')).toMatch(/^(draining [\d.]+ %\/h, about [\d.]+ (min|h) left|drain not measured yet)$/);
    await page.screenshot({ path: join(ARTIFACTS, 'battery-modes-headband.png'), fullPage: true });
    await page.click('#stop');
    await page.waitForFunction(() => document.getElementById('status')!.dataset.state === 'stopped');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('after one load the app works offline (service worker): reload, demo, predictions', async () => {
    const app = apps.tfjs;
    const { page, errors } = await newPage();
    await page.goto(app.server.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
    // Offline in earnest: the browser's network is off and the server is gone (Ctrl-C), so nothing can come from it.
    await stopServer(app.server);
    await context.setOffline(true);
    try {
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      await page.click('#demo');
      const got = await predictions(page, 2);
      expect(got[0]!.probabilities).toHaveLength(4);
      expect(await page.textContent('#offline')).toBe('available offline');
    } finally {
      await context.setOffline(false);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it('Ctrl-C stops cmcrd serve', async () => {
    await stopServer(apps.ort.server);
  });
});
