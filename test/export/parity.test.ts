/**
 * export/parity.ts: the one parity check of an exported model (used by `cmcrd export` and `cmcrd demo`), with
 * onnxruntime-node injected as the session loader and tfjs as the reference.
 */
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkParity, ortSessionLoader, PARITY_LIMIT, type ParitySession } from '../../export/parity.js';
import { exportOnnx } from '../../export/onnx-export.js';
import type { Checkpoint } from '../../export/checkpoint.js';
import { initBackend } from '../../src/train/backend.js';
import { buildNetwork, defaultSpec } from '../../src/train/nets/index.js';
import { SeededRandom } from '../../src/train/nets/layers.js';
import { checkpointProbabilities } from '../../src/train/run.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';

let ck: Checkpoint;
let rows: Float32Array[];
beforeAll(async () => {
  await initBackend('cpu', () => undefined);
  const net = buildNetwork(defaultSpec('mlp', { channels: 4, bands: 5 }, 4), 3);
  // Non-trivial BatchNorm statistics, as training leaves them, so folding them into the graph is exercised.
  const w = net.getWeights();
  const rng = new SeededRandom(9);
  for (const [name, a] of Object.entries(w)) {
    if (name.endsWith('running_var')) a.data.forEach((_, i) => (a.data[i] = 0.3 + rng.next()));
    else if (name.endsWith('running_mean')) a.data.forEach((_, i) => (a.data[i] = 0.1 * rng.normal()));
    else if (name.endsWith('gamma')) a.data.forEach((_, i) => (a.data[i] = 0.5 + rng.next()));
    else if (name === 'head.weight') a.data.forEach((v, i) => (a.data[i] = 10 * v)); // decisive probabilities
  }
  net.setWeights(w);
  const mean = Array.from({ length: 20 }, () => 10 + rng.normal());
  const std = Array.from({ length: 20 }, () => 0.5 + rng.next());
  ck = {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: 'eeg',
    arch: net.spec,
    weights: net.getWeights(),
    classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: ['TP9', 'AF7', 'AF8', 'TP10'],
    features: { method: 'seed-de', fs: 200, windowSec: 4, hopSec: 4, bands: SEED_BANDS.map((b) => ({ ...b })), smoothing: 'none' },
    normalisation: { mean, std },
    provenance: {},
  };
  net.dispose();
  rows = Array.from({ length: 32 }, () => Float32Array.from(mean, (m, j) => m + std[j]! * 2 * rng.normal()));
});

describe('checkParity', () => {
  it('an exported checkpoint reproduces tfjs on onnxruntime-node', async () => {
    const r = await checkParity(exportOnnx(ck), (x) => checkpointProbabilities(ck, x), rows, { loadSession: ortSessionLoader(ort) });
    expect(r).toMatchObject({ rows: 32, classes: 4, argmaxAgreement: 1, limit: PARITY_LIMIT, passed: true });
    expect(r.maxAbsDiff).toBeLessThan(1e-5);
    // The probabilities are not all the same row (else agreement would be trivially 1).
    const p = checkpointProbabilities(ck, rows);
    expect(new Set(p.map((q) => q.indexOf(Math.max(...q)))).size).toBeGreaterThan(1);
  });

  it('fails, and counts the rows whose decision differs, when the model is not the reference', async () => {
    const other: Checkpoint = { ...ck, normalisation: { mean: ck.normalisation.mean.map((m) => m + 1), std: ck.normalisation.std } };
    const r = await checkParity(exportOnnx(other), (x) => checkpointProbabilities(ck, x), rows, { loadSession: ortSessionLoader(ort) });
    expect(r.passed).toBe(false);
    expect(r.maxAbsDiff).toBeGreaterThan(1e-3);
    // Recomputed independently: the share of rows whose most probable class agrees.
    const a = checkpointProbabilities(ck, rows);
    const b = checkpointProbabilities(other, rows);
    const am = (q: Float32Array) => q.indexOf(Math.max(...q));
    expect(r.argmaxAgreement).toBeCloseTo(a.filter((q, i) => am(q) === am(b[i]!)).length / rows.length, 12);
    // A NaN in the reference is a failure, not a pass.
    const nan = await checkParity(
      exportOnnx(ck),
      (x) => checkpointProbabilities(ck, x).map((q, i) => (i === 3 ? q.map(() => NaN) : q)),
      rows,
      { loadSession: ortSessionLoader(ort) },
    );
    expect(nan.passed).toBe(false);
  });

  it('feeds the injected session the rows in order and releases it, also when it fails', async () => {
    const calls: string[] = [];
    const fake = (fail: boolean) => async (): Promise<ParitySession> => ({
      async run(x, n, d) {
        calls.push(`run ${n}×${d} ${x[0]} ${x[d]}`);
        if (fail) throw new Error('boom');
        return Float32Array.from({ length: n * 2 }, (_, k) => (k % 2 ? 0.75 : 0.25));
      },
      async release() {
        calls.push('release');
      },
    });
    const two = [Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6)];
    const r = await checkParity(
      new Uint8Array(),
      () => [
        [0.25, 0.75],
        [0.5, 0.5],
      ],
      two,
      { loadSession: fake(false), limit: 0.3 },
    );
    expect(r).toEqual({ rows: 2, classes: 2, maxAbsDiff: 0.25, argmaxAgreement: 0.5, limit: 0.3, passed: true });
    await expect(
      checkParity(
        new Uint8Array(),
        () => [
          [1, 0],
          [1, 0],
        ],
        two,
        { loadSession: fake(true) },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toEqual(['run 2×3 1 4', 'release', 'run 2×3 1 4', 'release']);
    await expect(
      checkParity(new Uint8Array(), () => [], [Float32Array.of(1), Float32Array.of(1, 2)], { loadSession: fake(false) }),
    ).rejects.toThrow(/row 1 has 2 values, row 0 has 1/);
    await expect(checkParity(new Uint8Array(), () => [], [], { loadSession: fake(false) })).rejects.toThrow(/at least one/);
  });
});
