/**
 * AdamW on the wasm backend against torch.optim.AdamW (test/fixtures/train/optim.json,
 * scripts/fixtures/train_optim.py): parameters after every step, with a per-step learning rate, several
 * weight decays, betas and eps; determinism; variables without a gradient; and that matMul sees the new
 * weights after a step (tfjs-wasm caches packed matMul operands by tensor). Also the learning-rate schedule
 * warmupCosine against a closed form written here from method.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, setAdamWSimd, warmupCosine } from '../../../src/train/optim.js';
import { expectClose, loadFixture, useWasm } from './helpers.js';

interface OptimCase {
  shapes: Record<string, number[]>;
  init: Record<string, number[]>;
  lrs: number[];
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  grads: Record<string, number[]>[];
  after: Record<string, number[]>[];
}
const fx = loadFixture<Record<string, OptimCase>>('optim.json');
const caseNames = Object.keys(fx).filter((k) => k !== 'meta');

beforeAll(useWasm);

let uid = 0;
function makeVars(c: OptimCase): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const [k, shape] of Object.entries(c.shapes)) out[k] = tf.variable(tf.tensor(c.init[k]!, shape), true, `optim_test_${k}_${uid++}`);
  return out;
}

function run(c: OptimCase, onStep: (t: number, vars: Record<string, tf.Variable>) => void, simd = true): void {
  const vars = makeVars(c);
  setAdamWSimd(simd);
  const opt = new AdamW({ lr: c.lrs[0]!, weightDecay: c.weightDecay, beta1: c.beta1, beta2: c.beta2, eps: c.eps });
  setAdamWSimd(true);
  expect(opt.simd).toBe(simd);
  c.grads.forEach((g, t) => {
    const grads: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(vars)) grads[v.name] = tf.tensor(g[k]!, v.shape);
    opt.apply(grads, Object.values(vars), c.lrs[t]!);
    tf.dispose(Object.values(grads));
    onStep(t, vars);
  });
  expect(opt.steps).toBe(c.grads.length);
  opt.dispose();
  tf.dispose(Object.values(vars));
}

describe.each(caseNames)('AdamW vs torch.optim.AdamW: %s', (name) => {
  const c = fx[name]!;
  it.each([true, false])('matches the parameters after every step (SIMD kernel: %s)', (simd) => {
    run(
      c,
      (t, vars) => {
        for (const [k, v] of Object.entries(vars)) {
          expectClose(v.dataSync(), c.after[t]![k]!, 2e-6, 1e-7, `${name} step ${t + 1} ${k}`);
        }
      },
      simd,
    );
  });

  it('is deterministic, and the SIMD kernel and the TypeScript loop give the same bits', () => {
    const a: number[][] = [];
    const b: number[][] = [];
    const ts: number[][] = [];
    run(c, (_t, vars) => a.push(...Object.values(vars).map((v) => Array.from(v.dataSync()))));
    run(c, (_t, vars) => b.push(...Object.values(vars).map((v) => Array.from(v.dataSync()))));
    run(c, (_t, vars) => ts.push(...Object.values(vars).map((v) => Array.from(v.dataSync()))), false);
    expect(a).toEqual(b);
    expect(ts).toEqual(a);
  });
});

describe('AdamW bookkeeping', () => {
  it('leaves variables without a gradient untouched and creates no stray tensors', () => {
    const w = tf.variable(tf.tensor2d([1, 2, 3, 4], [2, 2]), true, `optim_test_w_${uid++}`);
    const u = tf.variable(tf.tensor1d([5, 6]), true, `optim_test_u_${uid++}`);
    const opt = new AdamW({ lr: 0.1, weightDecay: 0.5 });
    const g = tf.ones([2, 2]);
    const before = tf.memory().numTensors;
    opt.apply({ [w.name]: g }, [w, u], 0.1);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(u.dataSync())).toEqual([5, 6]);
    // First step of Adam moves each weight by lr·(m̂/√v̂) = lr·sign(g) after the decay w·(1 − lr·wd).
    expectClose(w.dataSync(), [1 * 0.95 - 0.1, 2 * 0.95 - 0.1, 3 * 0.95 - 0.1, 4 * 0.95 - 0.1], 1e-6, 1e-6, 'first step');
    expect(() => opt.apply({ [w.name]: tf.ones([3]) }, [w], 0.1)).toThrow(/gradient of .* has 3 values/);
    opt.dispose();
    tf.dispose([w, u, g]);
  });

  it('matMul uses the updated weights after a step (no stale packed operand)', () => {
    const w = tf.variable(tf.tensor2d([1, -2, 3, 0.5, 2, -1], [3, 2]), true, `optim_test_mm_${uid++}`);
    const x = tf.tensor2d([1, 2, 3, -1, 0, 2], [2, 3]);
    tf.matMul(x, w).dispose(); // creates (and caches) the matMul operator for w's current buffer
    const opt = new AdamW({ lr: 0.5, weightDecay: 0 });
    const g = tf.tensor2d([1, -1, 1, -1, 1, -1], [3, 2]);
    opt.apply({ [w.name]: g }, [w], 0.5);
    const wv = w.dataSync();
    const expected: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) expected.push([0, 1, 2].reduce((s, k) => s + x.dataSync()[i * 3 + k]! * wv[k * 2 + j]!, 0));
    expectClose(tf.matMul(x, w).dataSync(), expected, 1e-6, 1e-6, 'x·w after the step');
    opt.dispose();
    tf.dispose([w, x, g]);
  });
});

describe('warmupCosine (method.md: "linear warm-up for 10 epochs then half-cosine")', () => {
  // The convention, written out independently of src/: steps are 0-based (the trainer calls schedule(step++) from
  // 0), W = warmupEpochs·S warm-up steps and T = epochs·S steps in all (S steps per epoch; W capped at T).
  //   warm-up, s < W:  lr·(s + 1)/W          — the first step already trains (lr/W), step W − 1 reaches lr;
  //   then, s ≥ W:     lr·(1 + cos(π·(s − W)/(T − W)))/2 — lr again at s = W, 0 only at s = T (one past the last
  //                    step), so the last step T − 1 gets lr·sin²(π/(2(T − W))) > 0.
  const closedForm = (lr: number, epochs: number, warmupEpochs: number, perEpoch: number, s: number) => {
    const T = epochs * perEpoch;
    const W = Math.min(warmupEpochs, epochs) * perEpoch;
    if (s < W) return lr * ((s + 1) / W);
    return T === W ? 0 : (lr / 2) * (1 + Math.cos((Math.PI * (s - W)) / (T - W)));
  };
  const close = (a: number, b: number) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(b)));

  it('the defaults (lr 1e-3, 40 epochs, 10 of warm-up) at 5 steps per epoch: first step, end of warm-up, middle, last', () => {
    const f = warmupCosine(1e-3, 40, 10, 5); // T = 200, W = 50
    close(f(0), 1e-3 / 50); // not 0: an off-by-one (s/W) would make the first step useless
    close(f(1), 2e-3 / 50);
    close(f(24), 0.5e-3); // half-way through the warm-up
    close(f(49), 1e-3); // last warm-up step: the full rate
    close(f(50), 1e-3); // first cosine step: cos 0
    close(f(125), 0.5e-3); // middle of the cosine (75 of 150 steps)
    close(f(199), 1e-3 * Math.sin(Math.PI / 300) ** 2); // last step: ½(1 + cos(π·149/150)) = sin²(π/300)
    expect(f(199)).toBeGreaterThan(0);
    expect(f(199)).toBeLessThan(1e-6);
  });

  it.each([
    [1e-3, 40, 10, 5],
    [1e-3, 40, 10, 1], // per-epoch resolution
    [3e-4, 7, 2, 13],
    [1e-2, 3, 1, 2],
  ])(
    'lr %s, %d epochs, %d of warm-up, %d steps per epoch: every step as the closed form; rises, then falls',
    (lr, epochs, warmup, perEpoch) => {
      const f = warmupCosine(lr, epochs, warmup, perEpoch);
      const T = epochs * perEpoch;
      const W = warmup * perEpoch;
      const v = Array.from({ length: T }, (_, s) => f(s));
      v.forEach((x, s) => close(x, closedForm(lr, epochs, warmup, perEpoch, s)));
      for (let s = 1; s < W; s++) expect(v[s]!, `warm-up step ${s}`).toBeGreaterThan(v[s - 1]!);
      for (let s = W + 1; s < T; s++) expect(v[s]!, `cosine step ${s}`).toBeLessThan(v[s - 1]!);
      close(Math.max(...v), lr);
      expect(v.filter((x) => Math.abs(x - lr) <= 1e-12 * lr).length, 'the peak: last warm-up step and first cosine step').toBe(2);
      expect(Math.min(...v)).toBeGreaterThan(0);
    },
  );

  it('without warm-up (warmupEpochs = 0) starts at the full rate and is a pure half-cosine', () => {
    const f = warmupCosine(1e-3, 4, 0, 10); // T = 40
    close(f(0), 1e-3);
    close(f(20), 0.5e-3);
    close(f(39), 1e-3 * Math.sin(Math.PI / 80) ** 2);
    for (let s = 1; s < 40; s++) expect(f(s)).toBeLessThan(f(s - 1));
    for (let s = 0; s < 40; s++) close(f(s), closedForm(1e-3, 4, 0, 10, s));
  });

  it('a warm-up longer than the run is capped at the run: linear all the way to the full rate at the last step', () => {
    const f = warmupCosine(1e-3, 3, 10, 4); // W capped at T = 12
    close(f(0), 1e-3 / 12);
    close(f(11), 1e-3);
    for (let s = 1; s < 12; s++) expect(f(s)).toBeGreaterThan(f(s - 1));
  });
});
