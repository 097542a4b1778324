/**
 * The tfjs GraphModel writer: model.json as tfjs-converter writes it (GraphDef nodes, weights manifest, signature),
 * uint8 weight quantisation with zero exactly representable, and every network (EEG- and eye-shaped inputs) loaded by
 * `loadGraphModel` on the wasm backend giving the fp32 ONNX model's probabilities.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportGraphModel, quantizeUint8, type GraphModelFiles, type GraphModelJson } from '../../export/tfjs-graph.js';
import { exportOnnx } from '../../export/onnx-export.js';
import { onnxProbabilities } from '../../export/calibrate.node.js';
import type { Checkpoint } from '../../export/checkpoint.js';
import { buildNetwork, defaultSpec, type ArchName } from '../../src/train/nets/index.js';
import { SeededRandom } from '../../src/train/nets/layers.js';

function checkpointOf(arch: ArchName, channels: number, bands: number, seed: number): Checkpoint {
  const net = buildNetwork(defaultSpec(arch, { channels, bands }, 4), seed);
  const rng = new SeededRandom(seed + 1);
  const w = net.getWeights();
  net.dispose();
  for (const [name, a] of Object.entries(w)) {
    if (name.endsWith('running_var')) a.data.forEach((_, i) => (a.data[i] = 0.2 + 2 * rng.next()));
    else if (name.endsWith('running_mean') || name.endsWith('beta') || name.endsWith('bias'))
      a.data.forEach((_, i) => (a.data[i] = rng.normal() * 0.5));
    else if (name === 'adj') a.data.forEach((_, i) => (a.data[i] = 0.2 + 0.3 * rng.normal()));
  }
  const d = channels * bands;
  return {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: channels === 1 ? 'eye' : 'eeg',
    arch: net.spec,
    weights: w,
    classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: Array.from({ length: channels }, (_, i) => `C${i}`),
    features:
      channels === 1
        ? {
            method: 'eye',
            fs: 0,
            windowSec: 4,
            hopSec: 4,
            bands: Array.from({ length: bands }, (_, i) => ({ name: `f${i}`, lo: 0, hi: 0 })),
            smoothing: 'none',
          }
        : {
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

async function load(files: GraphModelFiles) {
  const json = JSON.parse(files.modelJson) as GraphModelJson;
  const paths = json.weightsManifest.flatMap((g) => g.paths);
  const parts = paths.map((p) => files.shards.get(p)!);
  const data = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
      weightData: data.buffer,
      format: json.format,
      signature: json.signature,
    }),
  });
}

describe('tfjs GraphModel writer', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it("writes a GraphDef in tfjs-converter's model.json format", () => {
    const files = exportGraphModel(checkpointOf('mlp', 4, 5, 1), { metadata: { card: { 'cmcrd.arch': 'mlp' } } });
    const json = JSON.parse(files.modelJson) as GraphModelJson;
    expect(json.format).toBe('graph-model');
    const ops = json.modelTopology.node.filter((n) => n.op !== 'Const').map((n) => `${n.op}:${n.name}`);
    expect(ops).toEqual([
      'Placeholder:features',
      'Sub:sub_0',
      'Mul:normalised',
      'MatMul:gemm_1/MatMul',
      'BiasAdd:gemm_1',
      'Relu:fc1.out',
      'MatMul:gemm_2/MatMul',
      'BiasAdd:gemm_2',
      'Relu:fc2.out',
      'MatMul:gemm_3/MatMul',
      'BiasAdd:gemm_3',
      'Relu:fc3.out',
      'MatMul:gemm_4/MatMul',
      'BiasAdd:gemm_4',
      'Relu:fc4.out',
      'MatMul:logits/MatMul',
      'BiasAdd:logits',
      'Softmax:probabilities',
    ]);
    const consts = json.modelTopology.node.filter((n) => n.op === 'Const').map((n) => n.name);
    expect(json.weightsManifest[0]!.weights.map((w) => w.name)).toEqual(consts);
    expect(json.weightsManifest[0]!.paths).toEqual(['group1-shard1of1.bin']);
    expect(files.shards.get('group1-shard1of1.bin')!.length).toBe(4 * (20 * 128 + 3 * 128 * 128 + 128 * 4 + 4 * 128 + 4 + 2 * 20));
    expect(json.signature.outputs.probabilities!.name).toBe('probabilities:0');
    expect(json.userDefinedMetadata).toEqual({ card: { 'cmcrd.arch': 'mlp' } });
  });

  it('quantises weights to uint8 as tfjs-converter does: zero exact, error at most half a step', () => {
    const data = Float32Array.from([-0.7, -0.1, 0, 0.05, 0.33, 1.2]);
    const { q, min, scale } = quantizeUint8(data);
    expect(scale).toBeCloseTo((1.2 - -0.7) / 255, 8);
    const zero = q[2]! * scale + min;
    expect(Math.abs(zero)).toBeLessThan(1e-12);
    data.forEach((v, i) => expect(Math.abs(q[i]! * scale + min - v)).toBeLessThanOrEqual(scale / 2 + 1e-9));
    expect(quantizeUint8(Float32Array.from([0.5, 0.5])).q).toEqual(Uint8Array.of(255, 255)); // the range always holds 0
  });

  for (const [arch, channels, bands] of [
    ['mlp', 8, 5],
    ['eegnet', 8, 5],
    ['dgcnn', 8, 5],
    ['eegnet', 1, 33],
    ['dgcnn', 1, 33],
  ] as const) {
    it(`${arch} ${channels}×${bands}: loadGraphModel on wasm gives the fp32 ONNX probabilities (float32 weights; uint8 close)`, async () => {
      const ck = checkpointOf(arch, channels, bands, 3);
      const d = channels * bands;
      const rng = new SeededRandom(4);
      const n = 32;
      const rows = Float32Array.from(
        { length: n * d },
        (_, i) => ck.normalisation.mean[i % d]! + ck.normalisation.std[i % d]! * rng.normal(),
      );
      const ref = await onnxProbabilities(exportOnnx(ck), rows, d);
      const col = (c: number) => Array.from({ length: n }, (_, i) => ref[i * 4 + c]!);
      const spread = Math.max(...[0, 1, 2, 3].map((c) => Math.max(...col(c)) - Math.min(...col(c))));
      expect(spread).toBeGreaterThan(1e-2);
      for (const weights of ['float32', 'uint8'] as const) {
        const files = exportGraphModel(ck, { weights });
        const model = await load(files);
        const got = tf.tidy(() => (model.execute(tf.tensor2d(rows, [n, d]), 'probabilities') as tf.Tensor).dataSync());
        model.dispose();
        const diff = Array.from(got).reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i]!)), 0);
        if (weights === 'float32') expect(diff).toBeLessThan(1e-5);
        else {
          expect(diff).toBeLessThan(0.05);
          expect(diff).toBeGreaterThan(1e-6);
          expect(files.quantised.length).toBe({ mlp: 5, eegnet: 3, dgcnn: 4 }[arch]);
        }
      }
    });
  }
});
