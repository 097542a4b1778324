/**
 * fp32 ONNX export of MLP, EEGNet-mini and DGCNN checkpoints: onnxruntime-node must reproduce tfjs's eval-mode
 * outputs (BatchNorm folded, z-score inside the graph, DGCNN's normalised adjacency precomputed), for EEG-shaped
 * and eye-shaped inputs, and the model card must read back from the model bytes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/train/backend.js';
import { Mlp, mlpSpec } from '../../src/train/nets/mlp.js';
import { buildNetwork, defaultSpec, type ArchName, type Network } from '../../src/train/nets/index.js';
import { exportOnnx } from '../../export/onnx-export.js';
import { parseCheckpoint, serialiseCheckpoint, type Checkpoint } from '../../export/checkpoint.js';
import { loadOnnxClassifier } from '../../runtime/infer/onnx.node.js';
import { parseModelCard } from '../../runtime/model-card.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';
import { SeededRandom } from '../../src/train/nets/layers.js';

/** Give BatchNorm (and DGCNN's adjacency) non-trivial values, as training would. */
function trainedLike<N extends Network>(net: N, seed: number): N {
  const rng = new SeededRandom(seed + 100);
  const w = net.getWeights();
  for (const [name, a] of Object.entries(w)) {
    if (name.endsWith('running_var')) a.data.forEach((_, i) => (a.data[i] = 0.2 + 2 * rng.next()));
    else if (name.endsWith('running_mean') || name.endsWith('beta') || name.endsWith('bias'))
      a.data.forEach((_, i) => (a.data[i] = rng.normal() * 0.5));
    else if (name.endsWith('gamma')) a.data.forEach((_, i) => (a.data[i] = 0.5 + rng.next()));
    // Some negative entries, so ReLU(A) and the symmetrisation matter.
    else if (name === 'adj') a.data.forEach((_, i) => (a.data[i] = 0.2 + 0.3 * rng.normal()));
  }
  net.setWeights(w);
  return net;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

function trainedLikeMlp(seed: number): Mlp {
  return trainedLike(new Mlp(mlpSpec({ channels: 4, bands: 5 }, 4), seed), seed);
}

function checkpointOf(net: Network, mean: number[], std: number[], modality: 'eeg' | 'eye' = 'eeg'): Checkpoint {
  const { channels, bands } = net.spec.input;
  const eeg = modality === 'eeg';
  const names = eeg
    ? Array.from({ length: channels }, (_, i) => ['TP7', 'FP1', 'FP2', 'TP8', 'O1', 'O2', 'C3', 'C4'][i] ?? `ch${i + 1}`)
    : ['eye'];
  return {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality,
    arch: net.spec,
    weights: net.getWeights(),
    classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: names,
    ...(eeg && channels === 4
      ? { montage: { device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'], capChannels: ['TP7', 'FP1', 'FP2', 'TP8'] } }
      : {}),
    features: eeg
      ? { method: 'seed-de', fs: 200, windowSec: 4, hopSec: 4, nfft: 1024, bands: SEED_BANDS.map((b) => ({ ...b })), smoothing: 'none' }
      : {
          method: 'eye',
          fs: 200,
          windowSec: 4,
          hopSec: 4,
          bands: Array.from({ length: bands }, (_, i) => ({ name: `eye${i}`, lo: 0, hi: 0 })),
          smoothing: 'none',
        },
    normalisation: { mean, std },
    provenance: { test: true },
  };
}

/** Largest |Δ| between tfjs eval-mode logits/probabilities and the exported model's, on random raw features. */
async function parity(
  net: Network,
  seed: number,
  modality: 'eeg' | 'eye' = 'eeg',
): Promise<{ dLogit: number; dProb: number; spread: number }> {
  const d = net.spec.input.channels * net.spec.input.bands;
  const rng = new SeededRandom(seed);
  const mean = Array.from({ length: d }, () => 15 + rng.normal());
  const std = Array.from({ length: d }, () => 0.5 + rng.next());
  const n = 64;
  const raw = Array.from({ length: n }, () => Float32Array.from({ length: d }, (_, j) => mean[j]! + std[j]! * rng.normal()));
  const normalised = tf.tensor2d(
    raw.flatMap((r) => Array.from(r, (v, j) => (v - mean[j]!) / std[j]!)),
    [n, d],
  );
  const out = net.forward(normalised, false);
  const logits = out.logits.arraySync() as number[][];
  const probs = tf.softmax(out.logits).arraySync() as number[][];
  tf.dispose([normalised, out.logits, out.f1, out.f2]);
  // Round-trip through the JSON checkpoint format too.
  const bytes = exportOnnx(parseCheckpoint(serialiseCheckpoint(checkpointOf(net, mean, std, modality))));
  const session = await ort.InferenceSession.create(bytes);
  const flat = new Float32Array(n * d);
  raw.forEach((r, i) => flat.set(r, i * d));
  const out2 = await session.run({ features: new ort.Tensor('float32', flat, [n, d]) });
  await session.release();
  const c = net.spec.classes;
  const gotP = out2.probabilities!.data as Float32Array;
  const gotL = out2.logits!.data as Float32Array;
  let dProb = 0;
  let dLogit = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    lo = Math.min(lo, gotP[i * c]!);
    hi = Math.max(hi, gotP[i * c]!);
    for (let k = 0; k < c; k++) {
      dProb = Math.max(dProb, Math.abs(gotP[i * c + k]! - probs[i]![k]!));
      dLogit = Math.max(dLogit, Math.abs(gotL[i * c + k]! - logits[i]![k]!));
    }
  }
  return { dLogit, dProb, spread: hi - lo };
}

describe('ONNX export', () => {
  beforeAll(async () => {
    await initBackend('wasm', () => undefined);
  });

  it('matches tfjs eval-mode logits through onnxruntime-node (max |Δp| < 1e-5)', async () => {
    const net = trainedLikeMlp(3);
    const rng = new SeededRandom(4);
    const mean = Array.from({ length: 20 }, () => 15 + rng.normal());
    const std = Array.from({ length: 20 }, () => 0.5 + rng.next());
    const ck = checkpointOf(net, mean, std);
    const n = 64;
    const raw = Array.from({ length: n }, () => Float32Array.from({ length: 20 }, (_, j) => mean[j]! + std[j]! * rng.normal()));
    const normalised = tf.tensor2d(
      raw.flatMap((r) => Array.from(r, (v, j) => (v - mean[j]!) / std[j]!)),
      [n, 20],
    );
    const expected = tf.softmax(net.forward(normalised, false).logits).arraySync() as number[][];
    // Round-trip through the JSON checkpoint format too.
    const clf = await loadOnnxClassifier(exportOnnx(parseCheckpoint(serialiseCheckpoint(ck))));
    const got = await clf.run(raw);
    let max = 0;
    got.forEach((p, i) => p.forEach((v, c) => (max = Math.max(max, Math.abs(v - expected[i]![c]!)))));
    expect(max).toBeLessThan(1e-5);
    // The outputs are not degenerate: the probabilities vary across rows.
    const p0 = got.map((p) => p[0]!);
    expect(Math.max(...p0) - Math.min(...p0)).toBeGreaterThan(1e-2);
    await clf.dispose();
    net.dispose();
  });

  const cases: Array<{ arch: ArchName; channels: number; bands: number; modality: 'eeg' | 'eye' }> = [
    { arch: 'mlp', channels: 1, bands: 33, modality: 'eye' },
    { arch: 'eegnet', channels: 8, bands: 5, modality: 'eeg' },
    { arch: 'eegnet', channels: 1, bands: 33, modality: 'eye' },
    { arch: 'dgcnn', channels: 8, bands: 5, modality: 'eeg' },
    { arch: 'dgcnn', channels: 1, bands: 33, modality: 'eye' },
  ];
  for (const { arch, channels, bands, modality } of cases) {
    it(`${arch} (${modality}, ${channels}×${bands}) matches tfjs eval-mode logits and probabilities`, async () => {
      const net = trainedLike(buildNetwork(defaultSpec(arch, { channels, bands }, 4), 11), 11);
      const { dLogit, dProb, spread } = await parity(net, 12, modality);
      expect(dLogit).toBeLessThan(1e-4);
      expect(dProb).toBeLessThan(1e-5);
      expect(spread).toBeGreaterThan(1e-2);
      net.dispose();
    });
  }

  it('exports a full-size 62-channel DGCNN and EEGNet-mini (SEED montage)', async () => {
    for (const arch of ['eegnet', 'dgcnn'] as const) {
      const net = trainedLike(buildNetwork(defaultSpec(arch, { channels: 62, bands: 5 }, 4), 21), 21);
      const { dLogit, dProb } = await parity(net, 22);
      expect(dLogit, arch).toBeLessThan(1e-4);
      expect(dProb, arch).toBeLessThan(1e-5);
      net.dispose();
    }
  });

  it("every network's model runs on onnxruntime-web (the phone-browser runtime, wasm) as on onnxruntime-node", async () => {
    for (const arch of ['mlp', 'eegnet', 'dgcnn'] as const) {
      for (const input of [
        { channels: 8, bands: 5 },
        { channels: 1, bands: 33 },
      ]) {
        const net = trainedLike(buildNetwork(defaultSpec(arch, input, 4), 41), 41);
        const d = input.channels * input.bands;
        const rng = new SeededRandom(42);
        const bytes = exportOnnx(checkpointOf(net, new Array(d).fill(0), new Array(d).fill(1), input.channels === 1 ? 'eye' : 'eeg'));
        net.dispose();
        const x = Float32Array.from({ length: 16 * d }, () => rng.normal());
        const native = await ort.InferenceSession.create(bytes);
        const web = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
        const a = (await native.run({ features: new ort.Tensor('float32', x, [16, d]) })).probabilities!.data as Float32Array;
        const b = (await web.run({ features: new ortWeb.Tensor('float32', x, [16, d]) })).probabilities!.data as Float32Array;
        await native.release();
        await web.release();
        expect(b.length).toBe(64);
        expect(maxDiff(a, b), `${arch} ${input.channels}×${input.bands}`).toBeLessThan(1e-6);
      }
    }
  });

  it('names the weight when a checkpoint does not fit its network', () => {
    const net = trainedLike(buildNetwork(defaultSpec('dgcnn', { channels: 8, bands: 5 }, 4), 31), 31);
    const ck = checkpointOf(net, new Array(40).fill(0), new Array(40).fill(1));
    expect(() => exportOnnx({ ...ck, weights: { ...ck.weights, adj: { shape: [8, 7], data: new Float32Array(56) } } })).toThrow(
      /weight "adj" has shape \[8,7\], arch dgcnn needs \[8,8\]/,
    );
    const { ['cheb1.weight']: _dropped, ...rest } = ck.weights;
    expect(() => exportOnnx({ ...ck, weights: rest })).toThrow(/no weight "cheb1\.weight" \(arch dgcnn\)/);
    expect(() => exportOnnx({ ...ck, arch: { ...ck.arch, params: { ...ck.arch.params, hidden: 0 } } })).toThrow(
      /arch\.params\.hidden must be a positive integer/,
    );
    net.dispose();
  });

  it('writes a model card that the runtime reads back from the bytes', () => {
    const net = trainedLikeMlp(5);
    const bytes = exportOnnx(checkpointOf(net, new Array(20).fill(0), new Array(20).fill(1)));
    const card = parseModelCard(bytes);
    expect(card.classes).toEqual(['neutral', 'sad', 'fear', 'happy']);
    expect(card.channels).toEqual(['TP7', 'FP1', 'FP2', 'TP8']);
    expect(card.montage?.sites).toEqual(['TP9', 'AF7', 'AF8', 'TP10']);
    expect(card.fs).toBe(200);
    expect(card.windowSec).toBe(4);
    expect(card.nfft).toBe(1024);
    expect(card.bands.map((b) => b.name)).toEqual(['delta', 'theta', 'alpha', 'beta', 'gamma']);
    net.dispose();
  });

  it('rejects malformed checkpoints and models with errors that name the problem', () => {
    expect(() => parseCheckpoint('{', 'x.json')).toThrow(/x\.json: not valid JSON/);
    expect(() => parseCheckpoint('{"format":"cmcrd-checkpoint","version":2}', 'y.json')).toThrow(
      /y\.json: unsupported checkpoint version 2/,
    );
    const net = trainedLikeMlp(6);
    const good = JSON.parse(serialiseCheckpoint(checkpointOf(net, new Array(20).fill(0), new Array(20).fill(1))));
    good.weights['fc1.weight'].base64 = good.weights['fc1.weight'].base64.slice(0, 40);
    expect(() => parseCheckpoint(JSON.stringify(good), 'z.json')).toThrow(/z\.json: weight "fc1\.weight" has \d+ bytes/);
    const fresh = () => JSON.parse(serialiseCheckpoint(checkpointOf(net, new Array(20).fill(0), new Array(20).fill(1))));
    const bad64 = fresh();
    bad64.weights['fc1.bias'].base64 = '!!!notbase64';
    expect(() => parseCheckpoint(JSON.stringify(bad64), 'b.json')).toThrow(
      /b\.json: weight "fc1\.bias": field "base64" is not valid base64/,
    );
    const noInput = fresh();
    delete noInput.arch.input;
    expect(() => parseCheckpoint(JSON.stringify(noInput), 'a.json')).toThrow(/a\.json: field "arch" must have/);
    const badShape = fresh();
    badShape.weights['fc1.bias'].shape = ['x'];
    expect(() => parseCheckpoint(JSON.stringify(badShape), 's.json')).toThrow(/s\.json: weight "fc1\.bias" must have shape/);
    const badNorm = fresh();
    badNorm.normalisation = { mean: 0 };
    expect(() => parseCheckpoint(JSON.stringify(badNorm), 'n.json')).toThrow(/n\.json: field "normalisation" must have arrays/);
    expect(() => parseModelCard(new Uint8Array([0x0a, 0xff, 0xff, 0xff]), 'bad.onnx')).toThrow(/bad\.onnx: not a readable ONNX model/);
    net.dispose();
  });
});
