/**
 * fp32 ONNX export of an MLP checkpoint: onnxruntime-node must reproduce tfjs's eval-mode outputs (BatchNorm
 * folded, z-score inside the graph), and the model card must read back from the model bytes.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/train/backend.js';
import { Mlp, mlpSpec } from '../../src/train/nets/mlp.js';
import { exportOnnx } from '../../export/onnx-export.js';
import { parseCheckpoint, serialiseCheckpoint, type Checkpoint } from '../../export/checkpoint.js';
import { loadOnnxClassifier } from '../../runtime/infer/onnx.node.js';
import { parseModelCard } from '../../runtime/model-card.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';
import { SeededRandom } from '../../src/train/nets/layers.js';

function trainedLikeMlp(seed: number): Mlp {
  const net = new Mlp(mlpSpec({ channels: 4, bands: 5 }, 4), seed);
  // Give BatchNorm non-trivial statistics and affine parameters, as training would.
  const rng = new SeededRandom(seed + 100);
  const w = net.getWeights();
  for (const [name, a] of Object.entries(w)) {
    if (name.endsWith('running_var')) a.data.forEach((_, i) => (a.data[i] = 0.2 + 2 * rng.next()));
    else if (name.endsWith('running_mean') || name.endsWith('beta') || name.endsWith('bias')) a.data.forEach((_, i) => (a.data[i] = rng.normal() * 0.5));
    else if (name.endsWith('gamma')) a.data.forEach((_, i) => (a.data[i] = 0.5 + rng.next()));
  }
  net.setWeights(w);
  return net;
}

function checkpointOf(net: Mlp, mean: number[], std: number[]): Checkpoint {
  return {
    format: 'cmcrd-checkpoint', version: 1, modality: 'eeg', arch: net.spec, weights: net.getWeights(), classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: ['TP7', 'FP1', 'FP2', 'TP8'], montage: { device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'], capChannels: ['TP7', 'FP1', 'FP2', 'TP8'] },
    features: { method: 'seed-de', fs: 200, windowSec: 4, hopSec: 4, nfft: 1024, bands: SEED_BANDS.map((b) => ({ ...b })), smoothing: 'none' },
    normalisation: { mean, std }, provenance: { test: true },
  };
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
    const normalised = tf.tensor2d(raw.flatMap((r) => Array.from(r, (v, j) => (v - mean[j]!) / std[j]!)), [n, 20]);
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
    expect(() => parseCheckpoint('{"format":"cmcrd-checkpoint","version":2}', 'y.json')).toThrow(/y\.json: unsupported checkpoint version 2/);
    const net = trainedLikeMlp(6);
    const good = JSON.parse(serialiseCheckpoint(checkpointOf(net, new Array(20).fill(0), new Array(20).fill(1))));
    good.weights['fc1.weight'].base64 = good.weights['fc1.weight'].base64.slice(0, 40);
    expect(() => parseCheckpoint(JSON.stringify(good), 'z.json')).toThrow(/z\.json: weight "fc1\.weight" has \d+ bytes/);
    expect(() => parseModelCard(new Uint8Array([0x0a, 0xff, 0xff, 0xff]), 'bad.onnx')).toThrow(/bad\.onnx: not a readable ONNX model/);
    net.dispose();
  });
});
