/**
 * Deploy suite, the phone web app (`cmcrd deploy web`) per engine, on a 4-channel Muse MLP exported the way
 * `cmcrd export --tfjs` does:
 *   deploy.web.<engine>.first-load.gzip / .raw  what the first load needs (every precached file: page, worker,
 *                                               model, wasm), gzip -9 and raw; target: tfjs page ≤ 1.5 MB gzip
 *   deploy.web.<engine>.fetched                 what headless Chromium really fetched from `cmcrd serve` (gzip on
 *                                               the wire) from navigation to the first demo prediction
 *   deploy.web.<engine>.model-ready             ms from the page's load event to the worker's model being ready
 *   deploy.web.<engine>.first-prediction        ms from the load event to the first prediction in demo mode
 *                                               (demo started the moment the model is ready); target ≤ 5 s
 * Each timing is the median of cold starts (fresh browser profile, nothing cached). The demo's virtual headband
 * has one window already streamed when it starts (app.json demo.prerollSec); a real headband adds one window
 * (the card's window_s) before its first prediction.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialiseCheckpoint } from '../export/checkpoint.js';
import { buildWebApp, type WebEngine } from '../src/cli/commands/deploy-web.js';
import { startStaticServer } from '../src/cli/commands/serve.js';
import { main } from '../src/cli/main.js';
import { initBackend } from '../src/train/backend.js';
import { trainedCheckpoint } from '../test/export/helpers.js';
import { launchChromium } from '../test/deploy/chromium.js';
import type { BenchResult, BenchSuite } from './harness.js';

const TFJS_TARGET_GZIP = 1.5e6;
const FIRST_PREDICTION_TARGET_MS = 5000;

/** Times (performance.now(), ms since navigation start) of the load event, the model ready, the first prediction. */
const PROBE = `(() => {
  const t = (window.__times = { load: null, ready: null, first: null });
  addEventListener('load', () => (t.load = performance.now()));
  const W = window.Worker;
  window.Worker = class extends W {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        const m = e.data || {};
        if (m.type === 'ready' && t.ready === null) {
          t.ready = performance.now();
          setTimeout(() => document.getElementById('demo').click());
        }
        if (m.type === 'prediction' && m.p.probabilities && t.first === null) t.first = performance.now();
      });
    }
  };
})();`;

interface Times {
  load: number;
  ready: number;
  first: number;
}

/** Run `fn` with stdout and stderr silenced (the export command's table and notes). */
async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (n: number) => Number((n / 1e6).toFixed(3));

export const deploySuite: BenchSuite = {
  name: 'deploy',
  async run(ctx) {
    const out: BenchResult[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-bench-deploy-'));
    try {
      await initBackend('wasm', ctx.log);
      const ck = join(dir, 'ck.json');
      writeFileSync(ck, serialiseCheckpoint(trainedCheckpoint('mlp')));
      const modelDir = join(dir, 'model');
      await quiet(() => main(['node', 'cmcrd', 'export', ck, '--out', modelDir, '--tfjs', '--latency-runs', '0']));
      if (process.exitCode) throw new Error('cmcrd export failed');
      const runs = ctx.quick ? 1 : 3;
      for (const engine of ['ort', 'tfjs'] as WebEngine[]) {
        const app = await buildWebApp({ model: modelDir, out: join(dir, `app-${engine}`), engine });
        const target: Record<string, number | boolean> =
          engine === 'tfjs' ? { targetBytes: TFJS_TARGET_GZIP, meetsTarget: app.firstLoad.gzipBytes <= TFJS_TARGET_GZIP } : {};
        const biggest = [...app.files]
          .filter((f) => f.firstLoad)
          .sort((a, b) => b.gzipBytes - a.gzipBytes)
          .slice(0, 3);
        out.push({
          name: `deploy.web.${engine}.first-load.gzip`,
          value: mb(app.firstLoad.gzipBytes),
          unit: 'MB',
          detail: {
            bytes: app.firstLoad.gzipBytes,
            files: app.files.filter((f) => f.firstLoad).length,
            largest: biggest.map((f) => `${f.path} ${mb(f.gzipBytes)} MB`).join(', '),
            ...target,
          },
        });
        out.push({
          name: `deploy.web.${engine}.first-load.raw`,
          value: mb(app.firstLoad.bytes),
          unit: 'MB',
          detail: { bytes: app.firstLoad.bytes },
        });
        ctx.log(`${engine}: first load ${mb(app.firstLoad.bytes)} MB, ${mb(app.firstLoad.gzipBytes)} MB gzip`);

        const server = await startStaticServer({ dir: app.out, port: 0 });
        const times: Times[] = [];
        let fetched: { path: string; wire: number }[] = [];
        try {
          for (let r = 0; r < runs; r++) {
            const browser = await launchChromium();
            try {
              const page = await browser.context.newPage();
              const got: { path: string; wire: number }[] = [];
              page.on('response', (res) =>
                got.push({ path: new URL(res.url()).pathname, wire: Number(res.headers()['content-length'] ?? 0) }),
              );
              await page.addInitScript({ content: PROBE });
              await page.goto(server.url);
              await page.waitForFunction(() => (window as unknown as { __times: { first: number | null } }).__times.first !== null, null, {
                timeout: 120_000,
              });
              times.push(await page.evaluate(() => (window as unknown as { __times: Times }).__times));
              fetched = got;
            } finally {
              await browser.close();
            }
          }
        } finally {
          await server.close();
        }
        const readyMs = times.map((t) => t.ready - t.load);
        const firstMs = times.map((t) => t.first - t.load);
        const wire = fetched.reduce((a, f) => a + f.wire, 0);
        out.push({
          name: `deploy.web.${engine}.fetched`,
          value: mb(wire),
          unit: 'MB',
          detail: {
            requests: fetched.length,
            files: [...new Set(fetched.map((f) => f.path))].length,
            note: 'bytes on the wire (cmcrd serve gzips text and wasm) until the first demo prediction, cold cache',
          },
        });
        out.push({
          name: `deploy.web.${engine}.model-ready`,
          value: Math.round(median(readyMs)),
          unit: 'ms after load',
          detail: { runs, all: readyMs.map(Math.round).join(', ') },
        });
        out.push({
          name: `deploy.web.${engine}.first-prediction`,
          value: Math.round(median(firstMs)),
          unit: 'ms after load',
          detail: {
            runs,
            all: firstMs.map(Math.round).join(', '),
            fromNavigationMs: Math.round(median(times.map((t) => t.first))),
            targetMs: FIRST_PREDICTION_TARGET_MS,
            meetsTarget: median(firstMs) <= FIRST_PREDICTION_TARGET_MS,
            note: 'demo mode, one window pre-streamed',
          },
        });
        ctx.log(
          `${engine}: model ready ${Math.round(median(readyMs))} ms, first prediction ${Math.round(median(firstMs))} ms after load (${runs} cold starts); fetched ${mb(wire)} MB`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};
