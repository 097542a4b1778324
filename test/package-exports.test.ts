/**
 * The package's public entry points: `cmcrd-edge`, `cmcrd-edge/export`, `cmcrd-edge/runtime`,
 * `cmcrd-edge/firmware-bridge` and their Node-only `…/node` subpaths resolve (through package.json "exports" to
 * the compiled dist/) in plain Node; under the "browser" condition a bundler gets the browser-safe builds and
 * cannot pull in the Node-only subpaths.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelCard } from '../export/model-card.js';
import { GraphBuilder } from '../export/onnx-graph.js';
import { formatCaptureHeader, formatCaptureLine } from '../firmware-bridge/capture.js';
import { startStream } from '../firmware-bridge/drivers.js';
import { VirtualMuse } from '../firmware-bridge/sim/virtual-muse.js';

const ROOT = resolve(__dirname, '..');

function keysOf(specifier: string): string[] {
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`],
    { cwd: ROOT, encoding: 'utf8' },
  );
  return JSON.parse(out) as string[];
}

const tmp = mkdtempSync(join(tmpdir(), 'cmcrd-exports-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('package exports', () => {
  beforeAll(() => {
    // Build dist/ fresh (what `npm install` does through the prepare script).
    execFileSync(process.execPath, [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  }, 120_000);

  it('exposes the training API at the package root', () => {
    expect(keysOf('cmcrd-edge')).toEqual(expect.arrayContaining(['losses', 'datasets']));
  });
  it('root losses take plain tfjs tensors (features [B, D], logits [B, C], int32 labels [B]) and return a scalar', () => {
    // Each loss on the same random inputs, from the built package as a user imports it.
    const script = `
      import * as tf from '@tensorflow/tfjs-core';
      import { losses } from 'cmcrd-edge';
      await tf.setBackend('cpu');
      const r = (b, d, s) => tf.randomNormal([b, d], 0, 1, 'float32', s);
      const [fs, ft, ps, pt] = [r(8, 16, 1), r(8, 16, 2), r(8, 4, 3), r(8, 4, 4)];
      const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
      const out = {
        crossEntropy: losses.crossEntropy(ps, y), mcc: losses.mcc(ps), kd: losses.kd(ps, pt), fitnet: losses.fitnet(fs, ft),
        nst: losses.nst(fs, ft), nstLevels: losses.nst([fs], [ft]), sp: losses.sp(fs, ft), rkd: losses.rkd(fs, ft), pkt: losses.pkt(fs, ft),
      };
      console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { rank: v.rank, value: v.dataSync()[0] }]))));`;
    const got = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' }),
    ) as Record<string, { rank: number; value: number }>;
    for (const name of ['crossEntropy', 'mcc', 'kd', 'fitnet', 'nst', 'sp', 'rkd', 'pkt']) {
      expect(got[name]!.rank, name).toBe(0);
      expect(Number.isFinite(got[name]!.value) && got[name]!.value > 0, `${name} = ${got[name]!.value}`).toBe(true);
    }
    expect(got.nst!.value).toBe(got.nstLevels!.value); // one tensor is one level
  }, 60_000);
  it('exposes the Node-only parts at runtime/node and firmware-bridge/node: an ONNX classifier and replay files', async () => {
    expect(keysOf('cmcrd-edge/runtime/node')).toEqual(
      expect.arrayContaining(['loadOnnxClassifier', 'createOnnxClassifier', 'startHeadbandSession', 'FeatureExtractor']),
    );
    expect(keysOf('cmcrd-edge/firmware-bridge/node')).toEqual(
      expect.arrayContaining(['openDevice', 'openHeadband', 'DeviceDecoder', 'HEADBAND_DRIVERS']),
    );
    // A 3-class softmax model with its card, and one second of a virtual Muse as a capture file.
    const g = new GraphBuilder();
    g.node('Softmax', [g.input('features', [3])], { axis: -1 }, 'probabilities');
    g.output('probabilities', [3]);
    const card = modelCard({
      format: 'cmcrd-checkpoint',
      version: 1,
      modality: 'eeg',
      arch: { arch: 'mlp', input: { channels: 1, bands: 3 }, classes: 3, params: { hidden: 8 } },
      weights: {},
      classes: ['a', 'b', 'c'],
      channels: ['C3'],
      features: {
        method: 'seed-de',
        fs: 200,
        windowSec: 4,
        hopSec: 4,
        nfft: 1024,
        bands: [
          { name: 'x', lo: 1, hi: 2 },
          { name: 'y', lo: 2, hi: 3 },
          { name: 'z', lo: 3, hi: 4 },
        ],
        smoothing: 'none',
      },
      normalisation: { mean: [0, 0, 0], std: [1, 1, 1] },
      provenance: {},
    });
    writeFileSync(join(tmp, 'tiny.onnx'), g.build('tiny', card));
    const dev = new VirtualMuse({ clock: 'manual', seed: 1 });
    const lines: string[] = [formatCaptureHeader({ device: 'muse', preset: 'p21' })];
    const s = await startStream(dev, (c, b, t) => lines.push(formatCaptureLine(t, c, b)), {
      keepAlive: false,
      wait: async (ms) => dev.advance(ms),
    });
    dev.advance(1000);
    await s.stop();
    writeFileSync(join(tmp, 'muse.jsonl'), lines.join('\n') + '\n');
    const script = `
      import { readFileSync } from 'node:fs';
      import { loadOnnxClassifier } from 'cmcrd-edge/runtime/node';
      import { openDevice, openHeadband } from 'cmcrd-edge/firmware-bridge/node';
      import { openDevice as browserOpenDevice } from 'cmcrd-edge/firmware-bridge';
      const clf = await loadOnnxClassifier(readFileSync(${JSON.stringify(join(tmp, 'tiny.onnx'))}), 'tiny.onnx');
      const [p] = await clf.run([Float32Array.of(0, 1, 2)]);
      await clf.dispose();
      const uri = 'replay:' + ${JSON.stringify(join(tmp, 'muse.jsonl'))} + '?clock=manual';
      const dev = await openDevice(uri);
      const h = await openHeadband(dev, { keepAlive: false, wait: async () => {} });
      let rows = 0;
      await h.start((c, b, t) => { for (const r of h.decoder.push(c, b, t)) if (r.kind === 'eeg') rows += r.t.length; });
      dev.advance(5000);
      await h.stop();
      const browser = await browserOpenDevice(uri).then(() => 'opened', (e) => e.message);
      console.log(JSON.stringify({ p: Array.from(p), inputSize: clf.inputSize, kind: h.kind, rows, browser }));`;
    const got = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })) as {
      p: number[];
      inputSize: number;
      kind: string;
      rows: number;
      browser: string;
    };
    const e = [1, Math.E, Math.E ** 2];
    got.p.forEach((v, i) => expect(v).toBeCloseTo(e[i]! / (1 + Math.E + Math.E ** 2), 6));
    expect(got.inputSize).toBe(3);
    expect(got.kind).toBe('muse');
    expect(got.rows).toBeGreaterThan(200); // about a second at 256 Hz
    expect(got.browser).toMatch(/replay: needs a capture loader/);
  }, 60_000);

  it('under the browser condition, runtime and firmware-bridge bundle without Node built-ins or onnxruntime-node, and the …/node subpaths are refused', async () => {
    const bundle = (spec: string) =>
      build({
        stdin: { contents: `export * from '${spec}';`, resolveDir: ROOT, loader: 'js' },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
        external: ['onnxruntime-web'],
      });
    for (const spec of ['cmcrd-edge/runtime', 'cmcrd-edge/firmware-bridge']) {
      const text = (await bundle(spec)).outputFiles[0]!.text;
      expect(text, spec).toMatch(/openHeadband|startHeadbandSession/);
      // Imports only: the name may appear as data (e.g. the per-runtime keys a model card holds).
      expect(text, spec).not.toMatch(/(from|import\(|require\()\s*"(onnxruntime-node|node:[a-z_/]+)"/);
    }
    for (const spec of ['cmcrd-edge/runtime/node', 'cmcrd-edge/firmware-bridge/node'])
      await expect(bundle(spec), spec).rejects.toThrow(/Could not resolve/);
  }, 60_000);

  it('exposes export/, runtime/ and firmware-bridge/ as subpaths', () => {
    expect(keysOf('cmcrd-edge/export')).toEqual(expect.arrayContaining(['exportOnnx', 'parseCheckpoint', 'serialiseCheckpoint']));
    expect(keysOf('cmcrd-edge/runtime')).toEqual(
      expect.arrayContaining(['FeatureExtractor', 'seedDE', 'parseModelCard', 'startHeadbandSession']),
    );
    expect(keysOf('cmcrd-edge/firmware-bridge').length).toBeGreaterThan(5);
  });
});
