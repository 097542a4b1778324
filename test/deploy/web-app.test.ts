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
import type { AppConfig, PredictionView } from '../../web/protocol.js';
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
  browser = await launchChromium();
  context = browser.context;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  for (const a of Object.values(apps)) if (a.server.proc.exitCode === null) a.server.proc.kill('SIGKILL');
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
