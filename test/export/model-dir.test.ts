/**
 * `cmcrd export --out <dir>` end to end on checkpoints trained here (synthetic SEED-IV layout, 62 channels,
 * within-subject fold s1-sess1, 240 held-out windows): per network, the fp32 / int8 (static MinMax, percentile, entropy; dynamic) ONNX
 * variants and the tfjs GraphModel (float32, uint8 weights) against the quality bar on the fold's held-out windows,
 * the card and parity files, the ONNX checker, the int8 size, the GraphModel loaded from disk by tfjs-converter on
 * the wasm backend, and the refusals (per-subject normalisation, non-empty --out, bad options).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli-harness.js';
import { synthesize } from '../../src/datasets/index.js';
import { parseModelCard } from '../../runtime/model-card.js';
import type { PackageCard, ParityReport } from '../../export/model-dir.js';

let dir: string;
let data: string;
const ck: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-export-dir-'));
  data = join(dir, 'data');
  synthesize({ layout: 'seed-iv', out: data, subjects: 2, sessions: 1, windowsPerTrial: 30 });
  for (const arch of ['mlp', 'eegnet', 'dgcnn']) {
    const r = await runCli(
      'train',
      '--dataset',
      'synthetic',
      '--root',
      data,
      '--method',
      'eeg-only',
      '--arch',
      arch,
      '--protocol',
      'within',
      '--folds',
      's1-sess1',
      '--seeds',
      '1',
      '--epochs',
      '30',
      '--warmup',
      '3',
      '--out',
      join(dir, `run-${arch}`),
    );
    expect(r.code, r.err).toBe(0);
    ck[arch] = join(dir, `run-${arch}`, 'checkpoints', `eeg-only-${arch}-s1-sess1-seed1.json`);
  }
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const readJson = <T>(p: string) => JSON.parse(readFileSync(p, 'utf8')) as T;

function onnxCheck(files: string[]) {
  const py = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      'import sys, onnx\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint("ok", len(sys.argv) - 1)',
      ...files,
    ],
    { encoding: 'utf8' },
  );
  expect(py.stderr).toBe('');
  expect(py.stdout.trim()).toBe(`ok ${files.length}`);
}

/** Load a written tfjs/ folder the way a page would: model.json, then the shards the manifest lists. */
async function loadFromDisk(folder: string) {
  const json = readJson<{
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    format: string;
    signature: object;
    userDefinedMetadata: Record<string, object>;
  }>(join(folder, 'model.json'));
  const shards = json.weightsManifest.flatMap((g) => g.paths).map((p) => readFileSync(join(folder, p)));
  const weightData = new Uint8Array(Buffer.concat(shards)).buffer;
  const model = await loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData,
      format: json.format,
      signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  });
  return { model, json };
}

describe('cmcrd export --out <model dir>', () => {
  for (const arch of ['mlp', 'eegnet', 'dgcnn'] as const) {
    it(`${arch}: fp32, int8 static (MinMax) and the tfjs GraphModel meet the quality bar; card, parity and files agree`, async () => {
      const out = join(dir, `${arch}-static`);
      const r = await runCli('export', ck[arch]!, '--out', out, '--int8', '--tfjs', '--latency-runs', '20', '--json');
      expect(r.code, r.err).toBe(0);
      const parity = readJson<ParityReport>(join(out, 'parity.json'));
      expect(parity.windows).toMatchObject({ source: 'held-out', count: 240 });
      const by = Object.fromEntries(parity.entries.map((e) => [e.variant, e]));
      expect(Object.keys(by).sort()).toEqual(['fp32', 'int8-static', 'tfjs-float32']);
      expect(by.fp32!.maxAbsDp).toBeLessThanOrEqual(1e-5);
      expect(by['tfjs-float32']!.maxAbsDp).toBeLessThanOrEqual(1e-5);
      expect(by['tfjs-float32']!.runtime).toMatch(/loadGraphModel on wasm/);
      const q = by['int8-static']!;
      expect(q.argmaxAgreement).toBeGreaterThanOrEqual(0.99);
      expect(Math.abs(q.accuracy! - q.fp32Accuracy!)).toBeLessThanOrEqual(0.005);
      expect(q.maxAbsDp).toBeGreaterThan(by.fp32!.maxAbsDp); // it is int8, not a copy of fp32
      expect(parity.entries.every((e) => e.meetsBar)).toBe(true);
      expect(by.fp32!.accuracy).toBeGreaterThan(0.5); // a trained model: agreement on confident predictions means something
      // card.json: variants, files with their real sizes and hashes, a choice per runtime.
      const card = readJson<PackageCard>(join(out, 'card.json'));
      expect(card.variants.map((v) => v.name)).toEqual(['fp32', 'int8-static', 'tfjs-float32']);
      expect(card.variants[1]!.quantisation).toMatchObject({
        scheme: 'QDQ S8S8',
        mode: 'static',
        calibration: { method: 'minmax', samples: 480 },
      });
      for (const f of card.files) {
        const bytes = readFileSync(join(out, f.name));
        expect(bytes.length, f.name).toBe(f.bytes);
        expect(createHash('sha256').update(bytes).digest('hex'), f.name).toBe(f.sha256);
      }
      expect(card.files.map((f) => f.name).sort()).toEqual([
        'model.int8.onnx',
        'model.onnx',
        'parity.json',
        'tfjs/group1-shard1of1.bin',
        'tfjs/model.json',
      ]);
      expect(card.runtimes.map((x) => x.runtime)).toEqual(['onnxruntime-node', 'onnxruntime-web', 'tfjs-wasm']);
      for (const rt of card.runtimes.slice(0, 2)) {
        expect(rt.latency.map((l) => l.variant)).toEqual(['fp32', 'int8-static']);
        const fastest = [...rt.latency].sort((a, b) => a.p50Us - b.p50Us)[0]!.variant;
        expect(rt.faster).toBe(fastest);
        expect(rt.load).toBe(fastest); // both meet the bar here
      }
      // Every model file embeds the card; the runtime reads it back.
      for (const [file, variant] of [
        ['model.onnx', 'fp32'],
        ['model.int8.onnx', 'int8-static'],
      ] as const) {
        const mc = parseModelCard(new Uint8Array(readFileSync(join(out, file))), file);
        expect(mc.classes).toEqual(['neutral', 'sad', 'fear', 'happy']);
        expect(mc.raw['cmcrd.variant']).toBe(variant);
        expect(JSON.parse(mc.raw['cmcrd.load_per_runtime']!)).toEqual(Object.fromEntries(card.runtimes.map((x) => [x.runtime, x.load])));
        for (const [k, v] of Object.entries(card.card)) expect(mc.raw[k], k).toBe(v);
      }
      onnxCheck([join(out, 'model.onnx'), join(out, 'model.int8.onnx')]);
      // stdout --json carries the same figures.
      expect(JSON.parse(r.out.trim()).parity.entries).toEqual(parity.entries);
      // The GraphModel from disk (tfjs-converter, wasm backend) matches the fp32 ONNX model.
      await tf.setBackend('wasm');
      const { model, json } = await loadFromDisk(join(out, 'tfjs'));
      expect(json.format).toBe('graph-model');
      expect((json.userDefinedMetadata.card as Record<string, string>)['cmcrd.variant']).toBe('tfjs-float32');
      const d = arch === 'mlp' ? 310 : 310;
      const x = Float32Array.from({ length: 8 * d }, (_, i) => 10 + Math.sin(i) * 3);
      const got = tf.tidy(() => (model.execute(tf.tensor2d(x, [8, d]), 'probabilities') as tf.Tensor).dataSync());
      model.dispose();
      const s = await ort.InferenceSession.create(readFileSync(join(out, 'model.onnx')));
      const ref = (await s.run({ features: new ort.Tensor('float32', x, [8, d]) })).probabilities!.data as Float32Array;
      await s.release();
      expect(Array.from(got).reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i]!)), 0)).toBeLessThan(1e-5);
    });

    it(`${arch}: int8 dynamic, percentile and entropy calibration, and the uint8 GraphModel meet the bar`, async () => {
      const runs: Array<[string[], string]> = [
        [['--int8', 'dynamic', '--tfjs', 'uint8'], 'int8-dynamic'],
        [['--int8', 'static', '--calibration', 'percentile'], 'int8-static'],
        [['--int8', '--calibration', 'entropy'], 'int8-static'],
      ];
      for (const [opts, variant] of runs) {
        const out = join(dir, `${arch}-${opts.join('')}`);
        const r = await runCli('export', ck[arch]!, '--out', out, ...opts, '--latency-runs', '0');
        expect(r.code, r.err).toBe(0);
        expect(r.out).toMatch(/^format +variant +file +size +max \|Δp\| +arg-max agreement +held-out accuracy/);
        const parity = readJson<ParityReport>(join(out, 'parity.json'));
        for (const e of parity.entries) {
          if (e.variant === 'fp32') continue;
          expect(e.variant).toMatch(new RegExp(`^(${variant}|tfjs-uint8)$`));
          expect(e.argmaxAgreement, `${opts.join(' ')} ${e.variant}`).toBeGreaterThanOrEqual(0.99);
          expect(Math.abs(e.accuracy! - e.fp32Accuracy!), `${opts.join(' ')} ${e.variant}`).toBeLessThanOrEqual(0.005);
        }
        const card = readJson<PackageCard>(join(out, 'card.json'));
        expect(card.runtimes).toEqual([]);
        expect(card.notes.join(' ')).toMatch(/latency not measured/);
        if (opts.includes('uint8')) {
          expect(parity.entries.map((e) => e.variant)).toEqual(['fp32', 'int8-dynamic', 'tfjs-uint8']);
          const manifest = readJson<{
            weightsManifest: { weights: { name: string; dtype: string; quantization?: { dtype: string } }[] }[];
          }>(join(out, 'tfjs', 'model.json')).weightsManifest[0]!.weights;
          expect(manifest.filter((w) => w.quantization?.dtype === 'uint8').length).toBe({ mlp: 5, eegnet: 3, dgcnn: 4 }[arch]);
          expect(manifest.find((w) => w.name === 'norm_mean')!.quantization).toBeUndefined();
        } else {
          expect(card.variants[1]!.quantisation!.calibration!.method).toBe(opts.includes('percentile') ? 'percentile' : 'entropy');
        }
        onnxCheck([join(out, 'model.int8.onnx')]);
      }
    });
  }

  it('model.int8.onnx of the 62-channel MLP is at most 30 % of model.onnx', () => {
    const fp = readFileSync(join(dir, 'mlp-static', 'model.onnx')).length;
    const q = readFileSync(join(dir, 'mlp-static', 'model.int8.onnx')).length;
    expect(q / fp).toBeLessThanOrEqual(0.3);
    expect(q / fp).toBeGreaterThan(0.2);
  });

  it('refuses a non-empty --out unless --force, and --force replaces it whole', async () => {
    const out = join(dir, 'mlp-static');
    const before = readdirSync(out).sort();
    const r = await runCli('export', ck.mlp!, '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*mlp-static: the folder is not empty \(\d+ entries\); pass --force to replace it/);
    expect(readdirSync(out).sort()).toEqual(before);
    const f = await runCli('export', ck.mlp!, '--out', out, '--force', '--latency-runs', '0');
    expect(f.code, f.err).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['card.json', 'model.onnx', 'parity.json']);
    expect(readdirSync(dir).filter((n) => n.includes('.partial-') || n.includes('.old-'))).toEqual([]);
  });

  it('refuses, with the reason and before writing anything, what it cannot export faithfully', async () => {
    // Per-subject normalisation: the device would apply global statistics the network never saw.
    const ps = join(dir, 'run-ps');
    const t = await runCli(
      'train',
      '--dataset',
      'synthetic',
      '--root',
      data,
      '--method',
      'eeg-only',
      '--arch',
      'mlp',
      '--protocol',
      'within',
      '--folds',
      's1-sess1',
      '--seeds',
      '1',
      '--epochs',
      '1',
      '--warmup',
      '0',
      '--normalise',
      'per-subject',
      '--out',
      ps,
    );
    expect(t.code, t.err).toBe(0);
    const psCk = join(ps, 'checkpoints', 'eeg-only-mlp-s1-sess1-seed1.json');
    for (const out of [join(dir, 'ps-dir'), join(dir, 'ps.onnx')]) {
      const r = await runCli('export', psCk, '--out', out);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(
        /cannot export a model the device could not reproduce: it was trained with --normalise per-subject .*retrain with --normalise global/,
      );
      expect(existsSync(out)).toBe(false);
    }
    // Static int8 without the training data: named, nothing written.
    const moved = readJson<Record<string, Record<string, unknown>>>(ck.mlp!);
    moved.provenance!.data = `synthetic (${join(dir, 'gone')})`;
    const movedPath = join(dir, 'moved.json');
    writeFileSync(movedPath, JSON.stringify(moved));
    const r = await runCli('export', movedPath, '--out', join(dir, 'moved-dir'), '--int8');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /static int8 needs calibration windows from the training trials: the checkpoint's dataset \(provenance\.data\) .*gone/,
    );
    expect(existsSync(join(dir, 'moved-dir'))).toBe(false);
    // …and --calibration-data points it at the data.
    const ok = await runCli(
      'export',
      movedPath,
      '--out',
      join(dir, 'moved-dir'),
      '--int8',
      '--calibration-data',
      data,
      '--latency-runs',
      '0',
      '--json',
    );
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out).parity.windows.source).toBe('held-out');
    // fp32 only: without data the parity falls back to rows around the normalisation, and says so.
    const fp = await runCli('export', movedPath, '--out', join(dir, 'moved-fp32'), '--latency-runs', '0', '--json');
    expect(fp.code, fp.err).toBe(0);
    expect(JSON.parse(fp.out).parity.windows.source).toBe('synthetic-rows');
    // Options.
    for (const [args, msg] of [
      [['--out', join(dir, 'x.onnx'), '--int8'], /--int8 and --tfjs write a model directory/],
      [['--out', join(dir, 'x1'), '--int8', 'int4'], /--int8 must be one of static, dynamic, got "int4"/],
      [['--out', join(dir, 'x2'), '--int8', '--calibration', 'kl'], /--calibration must be one of minmax, percentile, entropy, got "kl"/],
      [['--out', join(dir, 'x3'), '--tfjs', 'int8'], /--tfjs must be one of float32, uint8, got "int8"/],
      [['--out', join(dir, 'x4'), '--int8', '--calibration-samples', '0'], /--calibration-samples must be an integer ≥ 1, got "0"/],
      [['--out', join(dir, 'x5'), '--int8', '--calibration-data', join(dir, 'nowhere')], /--calibration-data .*nowhere: no such folder/],
      [['--out', join(dir, 'run-mlp'), '--force'], /holds the checkpoint .*--force would delete it/],
    ] as const) {
      const e = await runCli('export', ck.mlp!, ...args);
      expect(e.code, args.join(' ')).toBe(2);
      expect(e.err).toMatch(msg);
    }
    expect(existsSync(join(dir, 'run-mlp', 'checkpoints'))).toBe(true);
    for (const x of ['x1', 'x2', 'x3', 'x4', 'x5']) expect(existsSync(join(dir, x))).toBe(false);
  });
});
