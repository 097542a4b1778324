/**
 * The int8 quantiser and its calibration, against a tiny model checked by hand and by numpy
 * (scripts/fixtures/export_quantize.py → test/fixtures/export/quantize-tiny.json): the QDQ graph node by node,
 * every quantised tensor, the calibrated ranges, and the int8 model's outputs; then the three networks' int8 models
 * through the ONNX checker (Debian python3-onnx), onnxruntime-node and onnxruntime-web.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, onnx } from '../../export/onnx-graph.js';
import { floatData, dimsOf, planQuantization, quantizeOnnx, roundHalfEven, activationParams, type Range } from '../../export/quantize.js';
import { calibrationRange } from '../../export/calibrate.js';
import { calibrate, onnxProbabilities } from '../../export/calibrate.node.js';
import { exportOnnx } from '../../export/onnx-export.js';
import type { Checkpoint } from '../../export/checkpoint.js';
import { initBackend } from '../../src/train/backend.js';
import { buildNetwork, defaultSpec, type ArchName } from '../../src/train/nets/index.js';
import { SeededRandom } from '../../src/train/nets/layers.js';

interface Fixture {
  model: { mean: number[]; std: number[]; W1: number[]; b1: number[]; W2: number[]; b2: number[] };
  calibration: {
    rows: number[];
    activations: Record<string, number[]>;
    ranges: Record<string, Record<'minmax' | 'percentile' | 'entropy', [number, number]>>;
  };
  clipCases: Record<string, { values: number[]; percentile: [number, number]; entropy: [number, number] }>;
  quantised: Record<'normalised' | 'fc1.out', { scale: number; zeroPoint: number }> &
    Record<'fc1.W' | 'head.W' | 'fc1.b' | 'head.b', { scale: number[]; q: number[] }>;
  test: { rows: number[]; int8Probabilities: number[]; fp32Probabilities: number[] };
}

const fx = JSON.parse(readFileSync(new URL('../fixtures/export/quantize-tiny.json', import.meta.url), 'utf8')) as Fixture;

/** The fixture's model as export/onnx-export.ts lays out an MLP block and head. */
function tinyModel(): Uint8Array {
  const m = fx.model;
  const g = new GraphBuilder();
  const x = g.input('features', [3]);
  const mean = g.initializer('norm_mean', [3], Float32Array.from(m.mean));
  const scale = g.initializer(
    'norm_scale',
    [3],
    Float32Array.from(m.std, (s) => 1 / s),
  );
  const n = g.node('Mul', [g.node('Sub', [x, mean]), scale], {}, 'normalised');
  const h = g.node(
    'Relu',
    [g.node('Gemm', [n, g.initializer('fc1.W', [3, 4], Float32Array.from(m.W1)), g.initializer('fc1.b', [4], Float32Array.from(m.b1))])],
    {},
    'fc1.out',
  );
  const logits = g.node(
    'Gemm',
    [h, g.initializer('head.W', [4, 2], Float32Array.from(m.W2)), g.initializer('head.b', [2], Float32Array.from(m.b2))],
    {},
    'logits',
  );
  g.node('Softmax', [logits], { axis: 1 }, 'probabilities');
  g.output('logits', [2]);
  g.output('probabilities', [2]);
  return g.build('tiny', { 'cmcrd.test': 'tiny' });
}

const fixtureRanges = (method: 'minmax' | 'percentile' | 'entropy'): Record<string, Range> =>
  Object.fromEntries(Object.entries(fx.calibration.ranges).map(([k, r]) => [k, { lo: r[method][0], hi: r[method][1] }]));

function decoded(bytes: Uint8Array) {
  const m = onnx.ModelProto.decode(bytes);
  const inits = new Map(m.graph!.initializer!.map((t) => [t.name!, t]));
  return { m, nodes: m.graph!.node!, inits };
}

function intData(t: import('onnx-proto').onnx.ITensorProto): number[] {
  const raw = Uint8Array.from(t.rawData!);
  if (t.dataType === onnx.TensorProto.DataType.INT8) return Array.from(new Int8Array(raw.buffer));
  if (t.dataType === onnx.TensorProto.DataType.INT32) return Array.from(new Int32Array(raw.buffer));
  throw new Error(`not an int tensor: ${t.name}`);
}

async function run(bytes: Uint8Array, rows: number[], level: 'disabled' | 'all'): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, intraOpNumThreads: 1 });
  const n = rows.length / 3;
  const out = await s.run({ features: new ort.Tensor('float32', Float32Array.from(rows), [n, 3]) });
  await s.release();
  return out.probabilities!.data as Float32Array;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('int8 quantisation (QDQ S8S8) of a hand-checked tiny model', () => {
  const fp32 = tinyModel();

  it('calibrates the activations the quantiser asks for, as numpy does (minmax, percentile, entropy)', async () => {
    expect(planQuantization(fp32).activations).toEqual(['normalised', 'fc1.out']);
    const rows = Float32Array.from(fx.calibration.rows);
    for (const method of ['minmax', 'percentile', 'entropy'] as const) {
      const got = await calibrate(fp32, rows, 3, method);
      for (const [name, r] of Object.entries(fx.calibration.ranges)) {
        // entropy picks a histogram bin: allow one bin (max/2048); the others are closed forms.
        const tol = method === 'entropy' ? Math.max(Math.abs(r[method][0]), Math.abs(r[method][1])) / 2048 : 1e-6;
        expect(Math.abs(got[name]!.lo - r[method][0]), `${method} ${name} lo`).toBeLessThanOrEqual(tol);
        expect(Math.abs(got[name]!.hi - r[method][1]), `${method} ${name} hi`).toBeLessThanOrEqual(tol);
      }
    }
  });

  it('clips outliers with percentile and entropy as numpy does, and minmax keeps them', () => {
    for (const [name, c] of Object.entries(fx.clipCases)) {
      const v = Float32Array.from(c.values);
      const p = calibrationRange(v, 'percentile');
      expect(p.lo, name).toBeCloseTo(c.percentile[0], 5);
      expect(p.hi, name).toBeCloseTo(c.percentile[1], 5);
      const e = calibrationRange(v, 'entropy');
      const bin = Math.max(...c.values.map(Math.abs)) / 2048;
      expect(Math.abs(e.lo - c.entropy[0]), name).toBeLessThanOrEqual(bin);
      expect(Math.abs(e.hi - c.entropy[1]), name).toBeLessThanOrEqual(bin);
      const mm = calibrationRange(v, 'minmax');
      expect(mm.hi).toBe(Math.max(...v));
      // The clipped ranges are real clips: narrower than minmax on these heavy-tailed sets.
      expect(e.hi - e.lo).toBeLessThan(0.6 * (mm.hi - mm.lo));
    }
  });

  it('writes the QDQ graph node by node: Q/DQ on activations, per-channel int8 weights, int32 biases, the ReLU folded into the zero point', () => {
    const { bytes, summary } = quantizeOnnx(fp32, {
      mode: 'static',
      ranges: fixtureRanges('minmax'),
      calibration: { method: 'minmax', samples: 8 },
    });
    const { m, nodes, inits } = decoded(bytes);
    const sig = nodes.map((n) => [
      n.opType,
      n.input!.join(','),
      n.output!.join(','),
      (n.attribute ?? []).map((a) => `${a.name}=${Number(a.i)}`).join(','),
    ]);
    expect(sig).toEqual([
      ['Sub', 'features,norm_mean', 'sub_0', ''],
      ['Mul', 'sub_0,norm_scale', 'normalised', ''],
      ['QuantizeLinear', 'normalised,normalised.s,normalised.z', 'normalised.q', ''],
      ['DequantizeLinear', 'normalised.q,normalised.s,normalised.z', 'normalised.dq', ''],
      ['DequantizeLinear', 'fc1.W.q,fc1.W.s,zero_point.4', 'fc1.W.dq', 'axis=1'],
      ['DequantizeLinear', 'fc1.b.q,fc1.b.s', 'fc1.b.dq', 'axis=0'],
      ['Gemm', 'normalised.dq,fc1.W.dq,fc1.b.dq', 'gemm_1', ''],
      // Relu(gemm_1) is gone: fc1.out's zero point is −128 and its range starts at 0, so Q clamps at zero.
      ['QuantizeLinear', 'gemm_1,fc1.out.s,fc1.out.z', 'fc1.out.q', ''],
      ['DequantizeLinear', 'fc1.out.q,fc1.out.s,fc1.out.z', 'fc1.out.dq', ''],
      ['DequantizeLinear', 'head.W.q,head.W.s,zero_point.2', 'head.W.dq', 'axis=1'],
      ['DequantizeLinear', 'head.b.q,head.b.s', 'head.b.dq', 'axis=0'],
      ['Gemm', 'fc1.out.dq,head.W.dq,head.b.dq', 'logits', ''],
      ['Softmax', 'logits', 'probabilities', 'axis=1'],
    ]);
    expect(Number(m.opsetImport![0]!.version)).toBe(17);
    const DT = onnx.TensorProto.DataType;
    // Activations: per-tensor int8 scale and zero point.
    for (const a of ['normalised', 'fc1.out'] as const) {
      expect(floatData(inits.get(`${a}.s`)!)[0]).toBe(Math.fround(fx.quantised[a].scale));
      expect(inits.get(`${a}.z`)!.dataType).toBe(DT.INT8);
      expect(intData(inits.get(`${a}.z`)!)).toEqual([fx.quantised[a].zeroPoint]);
      expect(dimsOf(inits.get(`${a}.s`)!)).toEqual([]);
    }
    expect(fx.quantised['fc1.out'].zeroPoint).toBe(-128);
    // Weights: int8, symmetric per output column, zero point 0.
    for (const w of ['fc1.W', 'head.W'] as const) {
      expect(inits.get(`${w}.q`)!.dataType).toBe(DT.INT8);
      expect(intData(inits.get(`${w}.q`)!)).toEqual(fx.quantised[w].q);
      expect(Array.from(floatData(inits.get(`${w}.s`)!))).toEqual(fx.quantised[w].scale.map(Math.fround));
    }
    expect(intData(inits.get('zero_point.4')!)).toEqual([0, 0, 0, 0]);
    // Biases: int32 with scale s_x·s_w[c].
    for (const b of ['fc1.b', 'head.b'] as const) {
      expect(inits.get(`${b}.q`)!.dataType).toBe(DT.INT32);
      expect(intData(inits.get(`${b}.q`)!)).toEqual(fx.quantised[b].q);
      expect(Array.from(floatData(inits.get(`${b}.s`)!))).toEqual(fx.quantised[b].scale.map(Math.fround));
    }
    // The float weights are gone; the z-score stays float; the card entries are kept.
    expect([...inits.keys()].filter((k) => inits.get(k)!.dataType === DT.FLOAT && !k.endsWith('.s'))).toEqual(['norm_mean', 'norm_scale']);
    expect(m.metadataProps!.find((p) => p.key === 'cmcrd.test')?.value).toBe('tiny');
    expect(summary).toMatchObject({
      scheme: 'QDQ S8S8',
      mode: 'static',
      removedRelus: ['fc1.out'],
      nodes: { QuantizeLinear: 2, DequantizeLinear: 6 },
      floatInitializers: ['norm_mean', 'norm_scale'],
    });
    expect(summary.weights.map((w) => [w.name, w.axis])).toEqual([
      ['fc1.W', 1],
      ['head.W', 1],
    ]);
  });

  it('computes what the QDQ definitions give (numpy, step by step), unfused and fused by onnxruntime', async () => {
    const { bytes } = quantizeOnnx(fp32, { mode: 'static', ranges: fixtureRanges('minmax') });
    const unfused = await run(bytes, fx.test.rows, 'disabled');
    expect(maxDiff(unfused, fx.test.int8Probabilities)).toBeLessThan(1e-5);
    // Fused into QGemm, the int8 → int8 requantisation may round a value to the next step: close, not equal.
    expect(maxDiff(await run(bytes, fx.test.rows, 'all'), fx.test.int8Probabilities)).toBeLessThan(2e-2);
    // The quantisation is visible (so the test could tell int8 from fp32), and small.
    const fp = await run(fp32, fx.test.rows, 'disabled');
    expect(maxDiff(fp, fx.test.fp32Probabilities)).toBeLessThan(1e-6);
    expect(maxDiff(unfused, fp)).toBeGreaterThan(1e-5);
    expect(maxDiff(unfused, fp)).toBeLessThan(2e-2);
    const web = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const w = (await web.run({ features: new ortWeb.Tensor('float32', Float32Array.from(fx.test.rows), [4, 3]) })).probabilities!
      .data as Float32Array;
    await web.release();
    expect(maxDiff(w, fx.test.int8Probabilities)).toBeLessThan(2e-2);
  });

  it('dynamic mode quantises the weights only', () => {
    const { bytes, summary } = quantizeOnnx(fp32, { mode: 'dynamic' });
    const { nodes, inits } = decoded(bytes);
    expect(nodes.map((n) => n.opType)).toEqual(['Sub', 'Mul', 'DequantizeLinear', 'Gemm', 'Relu', 'DequantizeLinear', 'Gemm', 'Softmax']);
    expect(intData(inits.get('fc1.W.q')!)).toEqual(fx.quantised['fc1.W'].q);
    expect(inits.get('fc1.b')!.dataType).toBe(onnx.TensorProto.DataType.FLOAT);
    expect(summary).toMatchObject({ scheme: 'QDQ int8 weights', mode: 'dynamic', activations: [], biases: [], removedRelus: [] });
  });

  it('refuses a static quantisation without a range, naming the tensor', () => {
    expect(() => quantizeOnnx(fp32, { mode: 'static', ranges: { normalised: { lo: -1, hi: 1 } } })).toThrow(
      /calibrated range of tensor "fc1\.out"/,
    );
    expect(() => activationParams({ lo: NaN, hi: 1 })).toThrow(/not finite/);
  });

  it('rounds half to even, as QuantizeLinear does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
  });
});

/** Checkpoint-like weights with BatchNorm statistics away from identity (as training leaves them). */
function checkpointOf(arch: ArchName, channels: number, bands: number, seed: number): Checkpoint {
  const net = buildNetwork(defaultSpec(arch, { channels, bands }, 4), seed);
  const rng = new SeededRandom(seed + 1);
  const w = net.getWeights();
  for (const [name, a] of Object.entries(w)) {
    if (name.endsWith('running_var')) a.data.forEach((_, i) => (a.data[i] = 0.2 + 2 * rng.next()));
    else if (name.endsWith('running_mean') || name.endsWith('beta') || name.endsWith('bias'))
      a.data.forEach((_, i) => (a.data[i] = rng.normal() * 0.5));
    else if (name === 'adj') a.data.forEach((_, i) => (a.data[i] = 0.2 + 0.3 * rng.normal()));
  }
  net.dispose();
  const d = channels * bands;
  return {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: 'eeg',
    arch: net.spec,
    weights: w,
    classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: Array.from({ length: channels }, (_, i) => `C${i}`),
    features: {
      method: 'seed-de',
      fs: 200,
      windowSec: 4,
      hopSec: 4,
      bands: Array.from({ length: bands }, (_, i) => ({ name: `b${i}`, lo: 1 + i, hi: 2 + i })),
      smoothing: 'none',
    },
    normalisation: { mean: Array.from({ length: d }, () => 10 + rng.normal()), std: Array.from({ length: d }, () => 0.5 + rng.next()) },
    provenance: {},
  };
}

describe('int8 models of the three networks', () => {
  let dir: string;
  beforeAll(async () => {
    await initBackend('wasm', () => undefined);
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-quant-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pass the ONNX checker (full check), load in onnxruntime-node and onnxruntime-web, and stay close to fp32', async () => {
    const files: string[] = [];
    for (const arch of ['mlp', 'eegnet', 'dgcnn'] as const) {
      const ck = checkpointOf(arch, 8, 5, 5);
      const fp32 = exportOnnx(ck);
      const d = 40;
      const rng = new SeededRandom(9);
      const rows = Float32Array.from(
        { length: 256 * d },
        (_, i) => ck.normalisation.mean[i % d]! + ck.normalisation.std[i % d]! * rng.normal(),
      );
      const ranges = await calibrate(fp32, rows, d, 'minmax');
      const ref = await onnxProbabilities(fp32, rows, d);
      for (const mode of ['static', 'dynamic'] as const) {
        const { bytes, summary } = quantizeOnnx(fp32, { mode, ranges });
        const file = join(dir, `${arch}-${mode}.onnx`);
        writeFileSync(file, bytes);
        files.push(file);
        const got = await onnxProbabilities(bytes, rows, d);
        expect(maxDiff(got, ref), `${arch} ${mode}`).toBeLessThan(mode === 'static' ? 0.1 : 0.03);
        expect(maxDiff(got, ref), `${arch} ${mode}`).toBeGreaterThan(0);
        const web = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
        const w = (await web.run({ features: new ortWeb.Tensor('float32', rows.slice(0, 16 * d), [16, d]) })).probabilities!
          .data as Float32Array;
        await web.release();
        expect(maxDiff(w, got.subarray(0, 64)), `${arch} ${mode} web`).toBeLessThan(0.02);
        expect(summary.weights.length, arch).toBe({ mlp: 5, eegnet: 3, dgcnn: 4 }[arch]);
        if (mode === 'static') expect(summary.activations.length, arch).toBe({ mlp: 5, eegnet: 3, dgcnn: 3 }[arch]);
      }
    }
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
  });
});
