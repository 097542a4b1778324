/**
 * AdamW on the wasm backend against torch.optim.AdamW (test/fixtures/train/optim.json,
 * scripts/fixtures/train_optim.py): parameters after every step, with a per-step learning rate, several
 * weight decays, betas and eps; determinism; variables without a gradient; and that matMul sees the new
 * weights after a step (tfjs-wasm caches packed matMul operands by tensor).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, setAdamWSimd } from '../../src/train/optim.js';
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
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) expected.push([0, 1, 2].reduce((s, k) => s + x.dataSync()[i * 3 + k]! * wv[k * 2 + j]!, 0));
    expectClose(tf.matMul(x, w).dataSync(), expected, 1e-6, 1e-6, 'x·w after the step');
    opt.dispose();
    tf.dispose([w, x, g]);
  });
});
