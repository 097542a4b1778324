/**
 * The onnxruntime-node training engines of the MLP (src/train/nets/mlpOrt.node.ts) and DGCNN (dgcnnOrt.node.ts):
 * forward values, cross-entropy gradients and BatchNorm statistics against PyTorch (test/fixtures/train/nets.json),
 * gradients through f1 and f2 against the tfjs path, and `fit` on the engine: deterministic, close to the tfjs
 * path, and adding gradients that reach the network through tfjs as well (a loss that runs the network again).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { crossEntropy } from '../../../src/train/losses/index.js';
import { buildNetwork, defaultSpec, type NamedArray, type Network } from '../../../src/train/nets/index.js';
import { SeededRandom } from '../../../src/train/nets/layers.js';
import type { TrainEngine } from '../../../src/train/nets/types.js';
import { fit, type FitOptions, type Matrix } from '../../../src/train/trainer.js';
import { expectClose, flat, loadFixture, maxAbs, tensor2d, useWasm, type Nested } from './helpers.js';

interface NetCase {
  spec: { arch: 'mlp' | 'dgcnn'; input: { channels: number; bands: number }; classes: number; params: Record<string, number> };
  weights: Record<string, { shape: number[]; data: number[] }>;
  x: Nested;
  labels: number[];
  train: { logits: Nested; loss: number; grads: Record<string, Nested>; stats: Record<string, Nested> };
}
const cases = loadFixture<Record<string, NetCase>>('nets.json');

beforeAll(useWasm);

const storeName = (v: tf.Variable) => v.name.replace(/_\d+$/, '');

function fromCase(c: NetCase): Network {
  const net = buildNetwork(c.spec, 1);
  const w: Record<string, NamedArray> = {};
  for (const [k, v] of Object.entries(c.weights)) w[k] = { shape: v.shape, data: Float32Array.from(v.data) };
  net.setWeights(w);
  return net;
}

async function engineOf(net: Network): Promise<TrainEngine> {
  const e = await net.createTrainEngine!();
  if (!e) throw new Error('onnxruntime-node did not load');
  return e;
}

/** dL/dlogits of the mean cross-entropy, from tfjs. */
function ceGrad(logits: Float32Array, labels: number[], classes: number): Float32Array {
  return tf.tidy(() => {
    const g = tf.grad((l: tf.Tensor) => crossEntropy(l as tf.Tensor2D, Int32Array.from(labels)))(
      tf.tensor2d(logits, [labels.length, classes]),
    );
    return g.dataSync() as Float32Array;
  });
}

describe.each(['mlp-eeg', 'dgcnn-eeg', 'dgcnn-em'])('training engine on onnxruntime-node: %s', (name) => {
  const c = cases[name]!;
  const fromFixture = () => fromCase(c);

  it('train-mode logits, cross-entropy gradients of every weight and BatchNorm running statistics match PyTorch', async () => {
    const net = fromFixture();
    const engine = await engineOf(net);
    expect(engine.name).toMatch(/^onnxruntime-node \d+\.\d+/);
    const x = Float32Array.from(flat(c.x));
    const n = c.labels.length;
    const fw = await engine.forward(x, n);
    expectClose(fw.logits, c.train.logits, 1e-4, 1e-5, 'engine train logits');
    const grads = await engine.backward({ logits: ceGrad(fw.logits, c.labels, c.spec.classes), f1: null, f2: null });
    net.commitStats();
    const globalMax = Math.max(...Object.values(c.train.grads).map(maxAbs));
    expect(grads.length).toBe(net.trainable.length);
    net.trainable.forEach((v, i) => {
      const ref = c.train.grads[storeName(v)]!;
      expect(ref, storeName(v)).toBeDefined();
      expectClose(grads[i]!, ref, 2e-3, Math.max(2e-4 * maxAbs(ref), 1e-5 * globalMax), `engine d/d${storeName(v)}`);
    });
    const w = net.getWeights();
    for (const [k, ref] of Object.entries(c.train.stats)) expectClose(w[k]!.data, ref, 1e-4, 1e-6, `engine ${k}`);
    net.dispose();
  });

  it('the one-call cross-entropy step gives the same logits, gradients and statistics (PyTorch fixture)', async () => {
    const net = fromFixture();
    const engine = await engineOf(net);
    const x = Float32Array.from(flat(c.x));
    const n = c.labels.length;
    const r = await engine.crossEntropyStep(x, Int32Array.from(c.labels), n);
    net.commitStats();
    expectClose(r.logits, c.train.logits, 1e-4, 1e-5, 'ce step logits');
    const globalMax = Math.max(...Object.values(c.train.grads).map(maxAbs));
    expect(r.grads.length).toBe(net.trainable.length);
    net.trainable.forEach((v, i) => {
      const ref = c.train.grads[storeName(v)]!;
      expectClose(r.grads[i]!, ref, 2e-3, Math.max(2e-4 * maxAbs(ref), 1e-5 * globalMax), `ce step d/d${storeName(v)}`);
    });
    const w = net.getWeights();
    for (const [k, ref] of Object.entries(c.train.stats)) expectClose(w[k]!.data, ref, 1e-4, 1e-6, `ce step ${k}`);
    net.dispose();

    // A label outside the classes gives its row no gradient (as crossEntropyValues does); the loss still averages
    // over all n rows, so the other rows' gradients are those of the forward + backward path with that row zeroed.
    const net2 = fromFixture();
    const e2 = await engineOf(net2);
    const bad = Int32Array.from(c.labels);
    bad[0] = c.spec.classes;
    const fused = await e2.crossEntropyStep(x, bad, n);
    const fw = await e2.forward(x, n);
    const g = ceGrad(fw.logits, c.labels, c.spec.classes);
    g.fill(0, 0, c.spec.classes);
    const split = await e2.backward({ logits: g, f1: null, f2: null });
    net2.trainable.forEach((v, i) =>
      expectClose(fused.grads[i]!, Array.from(split[i]!), 1e-3, 1e-6 * globalMax, `label out of range d/d${storeName(v)}`),
    );
    await expect(e2.crossEntropyStep(x, bad.subarray(1), n)).rejects.toThrow(/labels for/);
    net2.dispose();
  });

  it('gradients through f1 and f2 match the tfjs path', async () => {
    const net = fromFixture();
    const n = c.labels.length;
    const rng = new SeededRandom(7);
    const engine = await engineOf(net);
    const fw = await engine.forward(Float32Array.from(flat(c.x)), n);
    const [d1, d2] = [fw.f1Dim, fw.f2Dim];
    const r1 = Float32Array.from({ length: n * d1 }, () => rng.uniform(-1, 1));
    const r2 = Float32Array.from({ length: n * d2 }, () => rng.uniform(-1, 1));
    // L = CE + Σ f1·r1 + Σ f2·r2, so dL/df1 = r1 and dL/df2 = r2.
    const { grads: ref } = tf.variableGrads(() => {
      const out = net.forward(tensor2d(c.x), true);
      return tf.addN([
        crossEntropy(out.logits, Int32Array.from(c.labels)),
        tf.sum(tf.mul(out.f1, tf.tensor2d(r1, [n, d1]))),
        tf.sum(tf.mul(out.f2, tf.tensor2d(r2, [n, d2]))),
      ]) as tf.Scalar;
    }, net.trainable);
    net.commitStats(); // the tfjs forward's statistics (the engine's were queued too); not compared here
    const got = await engine.backward({ logits: ceGrad(fw.logits, c.labels, c.spec.classes), f1: r1, f2: r2 });
    // A Linear bias before BatchNorm has a zero gradient in theory (rounding noise in practice): tolerances
    // are scaled by the largest gradient too, as in nets.test.ts.
    const globalMax = Math.max(...net.trainable.map((v) => maxAbs(Array.from(ref[v.name]!.dataSync()))));
    net.trainable.forEach((v, i) => {
      const e = Array.from(ref[v.name]!.dataSync());
      expectClose(got[i]!, e, 2e-3, Math.max(2e-4 * maxAbs(e), 1e-5 * globalMax), `d/d${storeName(v)} with f1, f2 terms`);
    });
    // Without the f1 term, the gradient differs (the input is really used).
    const fw2 = await engine.forward(Float32Array.from(flat(c.x)), n);
    const noF1 = await engine.backward({ logits: ceGrad(fw2.logits, c.labels, c.spec.classes), f1: null, f2: r2 });
    expect(maxAbs(Array.from(noF1[0]!, (g, j) => g - got[0]![j]!))).toBeGreaterThan(1e-3);
    tf.dispose(Object.values(ref));
    net.dispose();
  });

  it('rejects a backward without a forward and mis-sized inputs, naming them', async () => {
    const net = fromFixture();
    const engine = await engineOf(net);
    await expect(engine.backward({ logits: new Float32Array(8), f1: null, f2: null })).rejects.toThrow(/backward without a forward/);
    const inDim = c.spec.input.channels * c.spec.input.bands;
    await expect(engine.forward(new Float32Array(10), 2)).rejects.toThrow(new RegExp(`10 input values for 2 rows of ${inDim}`));
    await engine.forward(Float32Array.from(flat(c.x)), c.labels.length);
    await expect(engine.backward({ logits: new Float32Array(3), f1: null, f2: null })).rejects.toThrow(/logits gradient has 3 values/);
    net.dispose();
  });
});

describe('fit on the engines', () => {
  const spec = defaultSpec('mlp', { channels: 62, bands: 5 }, 4);
  const data = (() => {
    const rng = new SeededRandom(3);
    const n = 192;
    const x = new Float32Array(n * 310);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 4;
      for (let j = 0; j < 310; j++) x[i * 310 + j] = rng.normal() + (j % 4 === y[i] ? 0.8 : 0);
    }
    return { m: { x, n, d: 310 } as Matrix, y };
  })();
  const opts: FitOptions = { epochs: 3, batchSize: 32, lr: 1e-3, weightDecay: 1e-3, warmupEpochs: 1, seed: 11, valFraction: 0.25 };

  /**
   * Weights whose training both paths should agree on. A Linear bias right before BatchNorm has a gradient of
   * exactly zero in theory, so what it gets is rounding noise, which AdamW scales to full-size steps: those
   * biases differ between any two summation orders (PyTorch's too) and are left out.
   */
  const compared = (w: Record<string, NamedArray>) => Object.keys(w).filter((k) => !/^fc\d\.bias$/.test(k));

  async function run(engine: 'auto' | 'tfjs', extra: Partial<FitOptions> = {}, arch: 'mlp' | 'dgcnn' = 'mlp') {
    const net = buildNetwork(arch === 'mlp' ? spec : defaultSpec(arch, { channels: 62, bands: 5 }, 4), 5);
    const r = await fit(net, data.m, data.y, { ...opts, ...extra, engine });
    const w = net.getWeights();
    net.dispose();
    return { r, w };
  }

  /**
   * Two runs on the engine and one on tfjs: the engine is used, is deterministic, lowers the loss and stays within
   * float32 rounding of the tfjs path (3 epochs) on the weights `compare` picks. Returns the first engine run.
   */
  async function engineMatchesTfjs(arch: 'mlp' | 'dgcnn', compare: (w: Record<string, NamedArray>) => string[]) {
    const a = await run('auto', {}, arch);
    const b = await run('auto', {}, arch);
    const t = await run('tfjs', {}, arch);
    expect(a.r.engine).toMatch(/^onnxruntime-node/);
    expect(t.r.engine).toBe('tfjs wasm');
    expect(b.r.history).toEqual(a.r.history);
    for (const k of Object.keys(a.w)) expect(Array.from(b.w[k]!.data), k).toEqual(Array.from(a.w[k]!.data));
    // Float32 rounding differs (sums in another order), so after 3 epochs the paths agree closely, not exactly.
    a.r.history.forEach((h, i) => expect(Math.abs(h.loss - t.r.history[i]!.loss), `epoch ${i + 1} loss`).toBeLessThan(2e-3));
    expect(a.r.history.at(-1)!.loss).toBeLessThan(a.r.history[0]!.loss);
    for (const k of compare(a.w)) expect(maxAbs(Array.from(a.w[k]!.data, (v, j) => v - t.w[k]!.data[j]!)), k).toBeLessThan(5e-3);
    return a;
  }

  it('runs on onnxruntime by default on wasm, deterministically, and close to the tfjs path', async () => {
    const a = await engineMatchesTfjs('mlp', compared);
    expect(compared(a.w).length).toBe(Object.keys(a.w).length - 4);
  });

  it('DGCNN: on onnxruntime by default, deterministic, close to the tfjs path, with and without an extra loss', async () => {
    // DGCNN has no bias before a BatchNorm, so every weight is compared, running statistics included.
    const a = await engineMatchesTfjs('dgcnn', (w) => Object.keys(w));
    const init = buildNetwork(defaultSpec('dgcnn', { channels: 62, bands: 5 }, 4), 5);
    const adj0 = init.getWeights().adj!.data;
    init.dispose();
    expect(maxAbs(Array.from(a.w.adj!.data, (v, j) => v - adj0[j]!)), 'the adjacency is trained').toBeGreaterThan(1e-3);

    const extraLoss = (out: { f1: tf.Tensor2D; f2: tf.Tensor2D }) =>
      tf.add(tf.mul(tf.mean(tf.square(out.f2)), 0.3), tf.mul(tf.mean(out.f1), 0.2)) as tf.Scalar;
    const ea = await run('auto', { epochs: 1, valFraction: 0, extraLoss }, 'dgcnn');
    const et = await run('tfjs', { epochs: 1, valFraction: 0, extraLoss }, 'dgcnn');
    const none = await run('auto', { epochs: 1, valFraction: 0 }, 'dgcnn');
    expect(Math.abs(ea.r.history[0]!.loss - et.r.history[0]!.loss)).toBeLessThan(1e-3);
    for (const k of Object.keys(ea.w)) expect(maxAbs(Array.from(ea.w[k]!.data, (v, j) => v - et.w[k]!.data[j]!)), k).toBeLessThan(2e-3);
    expect(maxAbs(Array.from(ea.w['bn.gamma']!.data, (v, j) => v - none.w['bn.gamma']!.data[j]!))).toBeGreaterThan(1e-3);
  });

  it('an extra loss on f1 and f2 trains the same way on both paths; other networks stay on tfjs', async () => {
    const extraLoss = (out: { f1: tf.Tensor2D; f2: tf.Tensor2D }) =>
      tf.add(tf.mul(tf.mean(tf.square(out.f2)), 0.3), tf.mul(tf.mean(out.f1), 0.2)) as tf.Scalar;
    const a = await run('auto', { epochs: 1, valFraction: 0, extraLoss });
    const t = await run('tfjs', { epochs: 1, valFraction: 0, extraLoss });
    const none = await run('auto', { epochs: 1, valFraction: 0 });
    expect(a.r.engine).toMatch(/^onnxruntime-node/);
    expect(Math.abs(a.r.history[0]!.loss - t.r.history[0]!.loss)).toBeLessThan(1e-3);
    for (const k of compared(a.w)) expect(maxAbs(Array.from(a.w[k]!.data, (v, j) => v - t.w[k]!.data[j]!)), k).toBeLessThan(2e-3);
    // The extra term matters: without it the weights end elsewhere.
    expect(maxAbs(Array.from(a.w['fc4.weight']!.data, (v, j) => v - none.w['fc4.weight']!.data[j]!))).toBeGreaterThan(1e-3);
    const eegnet = buildNetwork(defaultSpec('eegnet', { channels: 62, bands: 5 }, 4), 5);
    const r = await fit(eegnet, { ...data.m, n: 64, x: data.m.x.subarray(0, 64 * 310) }, data.y.subarray(0, 64), {
      ...opts,
      epochs: 1,
      valFraction: 0,
    });
    eegnet.dispose();
    expect(r.engine).toBe('tfjs wasm');
  });

  it('adds gradients that reach the network through tfjs (a loss that runs the network again)', async () => {
    // The transductive-MCC pattern: the extra loss forwards other rows through the same network in tfjs.
    const make = () => {
      let net: Network | null = null;
      const extraLoss = () =>
        tf.mul(tf.mean(tf.square(net!.forward(tf.tensor2d(data.m.x.subarray(0, 8 * 310), [8, 310]), true).logits)), 0.5) as tf.Scalar;
      return { setNet: (n: Network) => (net = n), extraLoss };
    };
    const results = [];
    for (const engine of ['auto', 'tfjs'] as const) {
      const h = make();
      const net = buildNetwork(spec, 5);
      h.setNet(net);
      const r = await fit(net, data.m, data.y, { ...opts, epochs: 1, valFraction: 0, engine, extraLoss: h.extraLoss });
      results.push({ r, w: net.getWeights() });
      net.dispose();
    }
    const [a, t] = results as [(typeof results)[0], (typeof results)[0]];
    expect(a.r.engine).toMatch(/^onnxruntime-node/);
    expect(Math.abs(a.r.history[0]!.loss - t.r.history[0]!.loss)).toBeLessThan(1e-3);
    for (const k of compared(a.w)) expect(maxAbs(Array.from(a.w[k]!.data, (v, j) => v - t.w[k]!.data[j]!)), k).toBeLessThan(2e-3);
    // …and dropping the tfjs-side gradient would show: training without the extra term ends elsewhere.
    const plain = buildNetwork(spec, 5);
    await fit(plain, data.m, data.y, { ...opts, epochs: 1, valFraction: 0, engine: 'auto' });
    const w = plain.getWeights();
    plain.dispose();
    expect(maxAbs(Array.from(a.w['head.weight']!.data, (v, j) => v - w['head.weight']!.data[j]!))).toBeGreaterThan(1e-3);
  });
});
