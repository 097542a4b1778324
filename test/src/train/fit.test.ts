/**
 * `fit`'s bookkeeping: early stopping stops exactly `patience` epochs after the best validation epoch, and an
 * epoch's loss and training accuracy are means over the rows it stepped on (a last batch of one row is skipped,
 * because BatchNorm needs two).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNetwork, defaultSpec } from '../../../src/train/nets/index.js';
import { SeededRandom } from '../../../src/train/nets/layers.js';
import { fit, type FitOptions, type Matrix } from '../../../src/train/trainer.js';
import { useWasm } from './helpers.js';

beforeAll(useWasm);

const D = 20;
const spec = defaultSpec('mlp', { channels: 4, bands: 5 }, 4);

function data(n: number, row: (i: number, x: Float32Array, y: Int32Array) => void): { m: Matrix; y: Int32Array } {
  const x = new Float32Array(n * D);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) row(i, x, y);
  return { m: { x, n, d: D }, y };
}

describe('fit', () => {
  it('stops exactly `patience` epochs after the best validation accuracy', async () => {
    // Random labels: validation accuracy peaks early and then wanders, so early stopping fires well before 60 epochs.
    const rng = new SeededRandom(7);
    const { m, y } = data(160, (i, x, yy) => {
      yy[i] = Math.min(3, Math.floor(rng.uniform(0, 4)));
      for (let j = 0; j < D; j++) x[i * D + j] = rng.normal();
    });
    const opts: FitOptions = { epochs: 60, batchSize: 32, lr: 1e-3, weightDecay: 1e-3, warmupEpochs: 1, seed: 3, valFraction: 0.25 };
    for (const patience of [1, 3]) {
      const net = buildNetwork(spec, 1);
      const r = await fit(net, m, y, { ...opts, patience });
      net.dispose();
      expect(r.epochsRun, `patience ${patience}`).toBeLessThan(60);
      expect(r.epochsRun - r.bestEpoch, `patience ${patience}`).toBe(patience);
      // Every epoch after the best is no better than it (improvement is strict), and the kept epoch is the best.
      const after = r.history.slice(r.bestEpoch).map((h) => h.valAccuracy!);
      for (const v of after) expect(v).toBeLessThanOrEqual(r.bestValAccuracy!);
      expect(r.history[r.bestEpoch - 1]!.valAccuracy).toBe(r.bestValAccuracy);
    }
  });

  it("averages an epoch's loss and accuracy over the rows stepped on (a last one-row batch is skipped)", async () => {
    // Identical rows and a learning rate of 0: every batch has the same loss and predictions, so the epoch's mean
    // loss is the same with 64 rows as with 65 (whose 65th row is a skipped one-row batch).
    const row = Float32Array.from({ length: D }, (_, j) => Math.sin(j));
    const same = (n: number) =>
      data(n, (i, x, yy) => {
        x.set(row, i * D);
        yy[i] = 2;
      });
    const opts: FitOptions = { epochs: 1, batchSize: 32, lr: 0, weightDecay: 0, warmupEpochs: 0, seed: 5, valFraction: 0 };
    const runs = [];
    for (const n of [64, 65]) {
      const { m, y } = same(n);
      const net = buildNetwork(spec, 2);
      runs.push((await fit(net, m, y, opts)).history[0]!);
      net.dispose();
    }
    const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(a.loss).toBeGreaterThan(0);
    expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-6 * a.loss); // 64/65 of it would be 1.5 % off
    expect(b.trainAccuracy).toBe(a.trainAccuracy);
    expect([0, 1]).toContain(a.trainAccuracy); // identical rows are all right or all wrong
  });

  it('the learning-rate schedule counts only the batches stepped on', async () => {
    // 33 rows at batch 32 step once per epoch, like 32 rows: the warm-up and the cosine must take as many epochs.
    const rng = new SeededRandom(1);
    const opts: FitOptions = { epochs: 8, batchSize: 32, lr: 1e-3, weightDecay: 0, warmupEpochs: 2, seed: 5, valFraction: 0 };
    const lrs = [];
    for (const n of [32, 33]) {
      const { m, y } = data(n, (i, x, yy) => {
        yy[i] = i % 4;
        for (let j = 0; j < D; j++) x[i * D + j] = rng.normal();
      });
      const net = buildNetwork(spec, 2);
      lrs.push((await fit(net, m, y, opts)).history.map((h) => h.lr));
      net.dispose();
    }
    expect(lrs[0]![1]).toBe(1e-3); // warm-up over after 2 epochs of one step
    expect(lrs[1]).toEqual(lrs[0]);
  });
});
