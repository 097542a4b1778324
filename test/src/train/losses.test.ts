// size: every loss against its PyTorch fixture and finite differences, sharing one fixture load and helpers
/**
 * Losses vs PyTorch (test/fixtures/train/losses.json, made by scripts/fixtures/train_losses.py), all on the wasm
 * backend: values, gradients, finite-difference checks, and the CRD / CMCRD state machinery.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CMCRD,
  CRD,
  crossEntropy,
  fitnet,
  kd,
  LAMBDA_DEFAULTS,
  mcc,
  nst,
  pkt,
  rkd,
  sp,
  stopGradient,
} from '../../../src/train/losses/index.js';
import { losses as rootLosses } from '../../../src/index.js';
import { SeededRandom } from '../../../src/train/nets/layers.js';
import type { NamedArray } from '../../../src/train/nets/types.js';
import { expectClose, flat, loadFixture, maxAbs, shapeOf, tensor2d, useWasm, type Nested } from './helpers.js';

interface Ref {
  value: number;
  grads: Record<string, Nested>;
}
interface ContrastRun {
  momentum: number;
  Z: { zS: number; zT: number };
  steps: Ref[];
  memoryS: Nested;
  memoryT: Nested;
}
interface Fixture {
  inputs: Record<string, Nested> & { labels: number[]; regressor: { weight: Nested; bias: Nested } };
  contrast: {
    nData: number;
    embedDim: number;
    nNeg: number;
    temperature: number;
    eps: number;
    labels: number[];
    weights: Record<string, Nested>;
    batches: Array<{ indices: number[]; labels: number[]; negatives: number[] } & Record<string, Nested>>;
    crd: ContrastRun;
    cmcrd: ContrastRun;
  };
  [name: string]: unknown;
}

const fx = loadFixture<Fixture>('losses.json');
const inp = fx.inputs;
const labels = Int32Array.from(inp.labels);

beforeAll(useWasm);

/** Value and gradients of `f` with respect to the named inputs (as variables), on the current backend. */
function valueAndGrads(inputs: Record<string, Nested>, f: (v: Record<string, tf.Tensor2D>) => tf.Scalar) {
  const vars: Record<string, tf.Variable> = {};
  for (const [k, x] of Object.entries(inputs)) {
    const s = shapeOf(x);
    vars[k] = tf.variable(tf.tensor(flat(x), s), true, `in_${k}_${Math.random()}`);
  }
  const names = Object.keys(vars);
  const { value, grads } = tf.variableGrads(
    () => f(vars as unknown as Record<string, tf.Tensor2D>),
    names.map((n) => vars[n]!),
  );
  const out = { value: value.dataSync()[0]!, grads: {} as Record<string, Float32Array> };
  for (const n of names) out.grads[n] = grads[vars[n]!.name]!.dataSync() as Float32Array;
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  for (const v of Object.values(vars)) v.dispose();
  return out;
}

function checkAgainst(name: string, inputs: Record<string, Nested>, f: (v: Record<string, tf.Tensor2D>) => tf.Scalar) {
  const ref = fx[name] as Ref;
  const got = valueAndGrads(inputs, f);
  expectClose([got.value], [ref.value], 2e-5, 1e-6, `${name} value`);
  for (const [k, g] of Object.entries(ref.grads)) {
    expectClose(got.grads[k]!, g, 1e-3, 2e-5 * Math.max(1, maxAbs(g)), `${name} d/d${k}`);
  }
}

const t2 = (k: string) => tensor2d(inp[k]!);

describe('pure losses vs PyTorch (wasm)', () => {
  it('runs on the wasm backend', () => {
    expect(tf.getBackend()).toBe('wasm');
  });

  it('crossEntropy', () => checkAgainst('crossEntropy', { logits: inp.studentLogits! }, (v) => crossEntropy(v.logits!, labels)));
  it('crossEntropy accepts an int32 label tensor', () => {
    const y = tf.tensor1d(labels, 'int32');
    const a = crossEntropy(t2('studentLogits'), y).dataSync()[0]!;
    expectClose([a], [(fx.crossEntropy as Ref).value], 2e-5, 1e-6, 'ce');
  });
  it('mcc (T = 2.5 and T = 1)', () => {
    checkAgainst('mcc', { logits: inp.studentLogits! }, (v) => mcc(v.logits!));
    checkAgainst('mccT1', { logits: inp.studentLogits! }, (v) => mcc(v.logits!, { T: 1 }));
  });
  it('kd (T = 4 and T = 2)', () => {
    checkAgainst('kd', { studentLogits: inp.studentLogits! }, (v) => kd(v.studentLogits!, t2('teacherLogits')));
    checkAgainst('kdT2', { studentLogits: inp.studentLogits! }, (v) => kd(v.studentLogits!, t2('teacherLogits'), { T: 2 }));
  });
  it('fitnet with a regressor and without', () => {
    const { weight, bias } = inp.regressor;
    checkAgainst('fitnet', { fs: inp.fs!, weight, bias }, (v) =>
      fitnet(v.fs!, t2('ft'), (x) => tf.add(tf.matMul(x, v.weight!), v.bias!) as tf.Tensor2D),
    );
    checkAgainst('fitnetSame', { fsSame: inp.fsSame! }, (v) => fitnet(v.fsSame!, t2('ft')));
    expect(() => fitnet(t2('fs'), t2('ft'))).toThrow(/pass a regressor/);
  });
  it('nst over two feature levels', () =>
    checkAgainst('nst', { fs1: inp.fs1!, fs: inp.fs! }, (v) => nst([v.fs1!, v.fs!], [t2('ft1'), t2('ft')])));
  it('sp', () => checkAgainst('sp', { fs1: inp.fs1! }, (v) => sp(v.fs1!, t2('ft1'))));
  it('rkd (default and custom weights)', () => {
    checkAgainst('rkd', { fs: inp.fs! }, (v) => rkd(v.fs!, t2('ft')));
    checkAgainst('rkdW', { fs: inp.fs! }, (v) => rkd(v.fs!, t2('ft'), { distW: 1, angleW: 2 }));
  });
  it('rkd on near-duplicate rows (windows of one trial, ~0.5 % of the typical distance apart)', () =>
    checkAgainst('rkdNear', { fsNear: inp.fsNear! }, (v) => rkd(v.fsNear!, t2('ft'))));
  it('pkt', () => checkAgainst('pkt', { fs: inp.fs! }, (v) => pkt(v.fs!, t2('ft'))));

  it('treats teacher inputs as constants (zero gradient to f_t and teacher logits)', () => {
    const cases: Array<[string, Nested, Nested, (s: tf.Tensor2D, t: tf.Tensor2D) => tf.Scalar]> = [
      ['kd', inp.studentLogits!, inp.teacherLogits!, (s, t) => kd(s, t)],
      ['fitnet', inp.fsSame!, inp.ft!, (s, t) => fitnet(s, t)],
      ['nst', inp.fs!, inp.ft!, (s, t) => nst([s], [t])],
      ['sp', inp.fs!, inp.ft!, (s, t) => sp(s, t)],
      ['rkd', inp.fs!, inp.ft!, (s, t) => rkd(s, t)],
      ['pkt', inp.fs!, inp.ft!, (s, t) => pkt(s, t)],
    ];
    for (const [name, s, t, f] of cases) {
      const g = valueAndGrads({ s, t }, (v) => f(v.s!, v.t!));
      expect(maxAbs(Array.from(g.grads.t!)), `${name} teacher grad`).toBe(0);
      expect(maxAbs(Array.from(g.grads.s!)), `${name} student grad`).toBeGreaterThan(0);
    }
  });

  it('exports the λ table and the losses namespace from the package root', () => {
    expect(LAMBDA_DEFAULTS).toEqual({ kd: 10, fitnet: 1, nst: 10, sp: 100, rkd: 1, pkt: 1000, crd: 0.02, cmcrd: 0.02, mcc: 1 });
    expect(rootLosses.kd).toBe(kd);
    expect(Object.keys(rootLosses)).toEqual(
      expect.arrayContaining(['crossEntropy', 'mcc', 'kd', 'fitnet', 'nst', 'sp', 'rkd', 'pkt', 'CRD', 'CMCRD']),
    );
  });
});

describe('finite-difference gradient checks (wasm, float32)', () => {
  // Central differences along random directions: d/dh L(x + h·v) vs ⟨∇L, v⟩. With float32 the loss is exact to
  // ~1e-7 relative, so h = 1e-2 keeps the rounding error (≈1e-7·|L|/h) well below the 2% tolerance.
  const cases: Array<[string, Nested, (x: tf.Tensor2D) => tf.Scalar]> = [
    ['crossEntropy', inp.studentLogits!, (x) => crossEntropy(x, labels)],
    // (mcc is not here: it detaches its entropy weights, so its gradient is deliberately not the total derivative.)
    ['kd', inp.studentLogits!, (x) => kd(x, t2('teacherLogits'))],
    ['fitnet', inp.fsSame!, (x) => fitnet(x, t2('ft'))],
    ['nst', inp.fs!, (x) => nst([x], [t2('ft')])],
    ['sp', inp.fs!, (x) => sp(x, t2('ft'))],
    ['rkd', inp.fs!, (x) => rkd(x, t2('ft'))],
    ['pkt', inp.fs!, (x) => pkt(x, t2('ft'))],
  ];
  for (const [name, x0, f] of cases) {
    it(name, () => {
      const rng = new SeededRandom(7);
      const shape = shapeOf(x0) as [number, number];
      const base = Float32Array.from(flat(x0));
      const grad = tf.tidy(() =>
        tf
          .grad((x: tf.Tensor) => f(x as tf.Tensor2D))(tf.tensor2d(base, shape))
          .dataSync(),
      );
      for (let trial = 0; trial < 3; trial++) {
        const v = base.map(() => rng.normal());
        const h = 1e-2;
        const at = (s: number) =>
          tf.tidy(
            () =>
              f(
                tf.tensor2d(
                  base.map((b, i) => b + s * h * v[i]!),
                  shape,
                ),
              ).dataSync()[0]!,
          );
        const fd = (at(1) - at(-1)) / (2 * h);
        const an = v.reduce((acc, vi, i) => acc + vi * grad[i]!, 0);
        expect(Math.abs(fd - an), `${name} trial ${trial}: fd ${fd} vs analytic ${an}`).toBeLessThanOrEqual(2e-2 * Math.abs(an) + 1e-3);
      }
    });
  }
});

describe('finite-difference check of CRD with respect to f_s (wasm)', () => {
  it('matches ⟨∇L, v⟩ along random directions (Z and banks held fixed)', () => {
    const loss = makeContrast('crd');
    loss.setWeights(contrastState());
    const bt = fx.contrast.batches[0]!;
    const shape = shapeOf(bt.fs!) as [number, number];
    const base = Float32Array.from(flat(bt.fs!));
    const args = [
      tensor2d(bt.ft!),
      null,
      null,
      Int32Array.from(bt.labels),
      Int32Array.from(bt.indices),
      Int32Array.from(bt.negatives),
    ] as const;
    const f = (x: tf.Tensor2D) => loss.loss(x, ...args);
    const grad = tf
      .grad((x: tf.Tensor) => f(x as tf.Tensor2D))(tf.tensor2d(base, shape))
      .dataSync();
    const rng = new SeededRandom(3);
    for (let trial = 0; trial < 3; trial++) {
      const v = base.map(() => rng.normal());
      const h = 1e-2;
      const at = (s: number) =>
        tf.tidy(
          () =>
            f(
              tf.tensor2d(
                base.map((b, i) => b + s * h * v[i]!),
                shape,
              ),
            ).dataSync()[0]!,
        );
      const fd = (at(1) - at(-1)) / (2 * h);
      const an = v.reduce((acc, vi, i) => acc + vi * grad[i]!, 0);
      expect(Math.abs(fd - an), `trial ${trial}: fd ${fd} vs analytic ${an}`).toBeLessThanOrEqual(2e-2 * Math.abs(an) + 1e-3);
    }
    loss.dispose();
  });
});

// ----- float64 references for the finite-difference checks below (independent of src/: method.md's formulas) -----

/** Row-wise softmax of a row-major [b, c] matrix at temperature T, in float64. */
function softmaxRows64(z: ArrayLike<number>, b: number, c: number, T = 1): Float64Array {
  const p = new Float64Array(b * c);
  for (let i = 0; i < b; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, z[i * c + j]! / T);
    let s = 0;
    for (let j = 0; j < c; j++) s += p[i * c + j] = Math.exp(z[i * c + j]! / T - m);
    for (let j = 0; j < c; j++) p[i * c + j]! /= s;
  }
  return p;
}

/** method.md: H_i = −Σ_j p_ij log(p_ij + 1e-5), w_i = B·(1 + e^{−H_i}) / Σ_k (1 + e^{−H_k}). */
function entropyWeights64(p: Float64Array, b: number, c: number): Float64Array {
  const u = new Float64Array(b);
  for (let i = 0; i < b; i++) {
    let h = 0;
    for (let j = 0; j < c; j++) h -= p[i * c + j]! * Math.log(p[i * c + j]! + 1e-5);
    u[i] = 1 + Math.exp(-h);
  }
  const sum = u.reduce((a, v) => a + v, 0);
  return u.map((v) => (b * v) / sum);
}

/** method.md's L_MCC of logits z [b, c] with the sample weights w given (held constant). */
function mcc64(z: ArrayLike<number>, b: number, c: number, T: number, w: Float64Array): number {
  const p = softmaxRows64(z, b, c, T);
  // C = Ŷᵀ diag(w) Ŷ; C̃ = C with each column normalised to sum 1; L = (Σ C̃ − trace C̃) / C.
  let sum = 0;
  let trace = 0;
  for (let k = 0; k < c; k++) {
    const col = new Float64Array(c);
    for (let j = 0; j < c; j++) for (let i = 0; i < b; i++) col[j]! += w[i]! * p[i * c + j]! * p[i * c + k]!;
    const colSum = col.reduce((a, v) => a + v, 0);
    for (let j = 0; j < c; j++) {
      sum += col[j]! / colSum;
      if (j === k) trace += col[j]! / colSum;
    }
  }
  return (sum - trace) / c;
}

/** Central-difference gradient of f at x, one coordinate at a time, in float64. */
function fdGrad64(f: (x: Float64Array) => number, x0: ArrayLike<number>, h: number): Float64Array {
  const x = Float64Array.from(x0);
  const g = new Float64Array(x.length);
  for (let q = 0; q < x.length; q++) {
    const xq = x[q]!;
    x[q] = xq + h;
    const up = f(x);
    x[q] = xq - h;
    const down = f(x);
    x[q] = xq;
    g[q] = (up - down) / (2 * h);
  }
  return g;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('finite-difference check of MCC with respect to the logits (float64 reference, wasm)', () => {
  // mcc is not in the float32 list above because it detaches its entropy weights (as Jin et al.'s code and the
  // PyTorch fixture do): its gradient is that of L_MCC with w held at its current value, not the total
  // derivative, so central differences of mcc() itself would not match it. Here the differences are taken of an
  // independent float64 L_MCC (method.md) whose w is frozen at the base logits; L_MCC is smooth (softmax, and the
  // 1e-5 inside the entropy's log only enters through w), so h = 1e-5 leaves an error ≈ 1e-10, and the tolerance
  // (1e-4 of each element plus 1e-5 of the largest) only has to absorb the float32 gradient's rounding (measured
  // ≈ 2e-7 of the largest): a gradient off by 1 % fails it, and so does the total derivative, ~2–3 % away.
  for (const T of [2.5, 1]) {
    it(`T = ${T}: ∇mcc equals the differences of L_MCC with the weights frozen, and differs from the total derivative`, () => {
      const [b, c] = shapeOf(inp.studentLogits!) as [number, number];
      const z0 = Float64Array.from(flat(inp.studentLogits!));
      const w = entropyWeights64(softmaxRows64(z0, b, c, T), b, c);
      const x = tensor2d(inp.studentLogits!);
      const value = tf.tidy(() => mcc(x, { T }).dataSync()[0]!);
      expect(Math.abs(value - mcc64(z0, b, c, T, w)), `value ${value} vs ${mcc64(z0, b, c, T, w)}`).toBeLessThanOrEqual(1e-6);
      const grad = tf.tidy(() =>
        tf
          .grad((v: tf.Tensor) => mcc(v as tf.Tensor2D, { T }))(x)
          .dataSync(),
      );
      x.dispose();
      const fd = fdGrad64((v) => mcc64(v, b, c, T, w), z0, 1e-5);
      expect(maxAbs(Array.from(fd))).toBeGreaterThan(1e-3); // a non-trivial gradient
      expectClose(grad, Array.from(fd), 1e-4, 1e-5 * maxAbs(Array.from(fd)), `mcc T=${T} d/dlogits`);
      // The weights do depend on the logits, so the total derivative is a different vector: detaching them is
      // what the gradient above encodes (and a check of the total derivative would be a check of something else).
      const total = fdGrad64((v) => mcc64(v, b, c, T, entropyWeights64(softmaxRows64(v, b, c, T), b, c)), z0, 1e-5);
      expect(maxAbsDiff(total, grad)).toBeGreaterThan(0.01 * maxAbs(Array.from(fd)));
    });
  }
});

describe('finite-difference check of CMCRD with respect to f_s (float64 reference, wasm)', () => {
  // Only L_s depends on f_s: L_t compares z_t (from the constant f_t) with the memory bank M_s, which is a constant
  // (it only changes in updateMemory). Rows where z_s,i is detached (student right, teacher wrong) therefore get no
  // gradient at all. The gradient tfjs computes must equal the derivative of L_s with those rows' z_s,i frozen at
  // their base value; the central differences below are of an independent float64 L_s (method.md steps 1, 4–7)
  // written exactly that way, with the entropy weights, signs and fixed Z. The banks and Z are read from the loss
  // object and must not move during the evaluations (no updateMemory between them; Z set before the first call).
  it('matches ∇_{f_s} L with detached rows held constant, covering weights, s_i = −1 and the stop-gradients', () => {
    const c = fx.contrast;
    const bt = c.batches[0]!;
    const loss = makeContrast('cmcrd');
    loss.setWeights(contrastState());
    loss.normalisers = { ...c.cmcrd.Z };
    const before = loss.getWeights();
    const [b, dS] = shapeOf(bt.fs!) as [number, number];
    const nCls = shapeOf(bt.teacherLogits!)[1]!;
    const { nNeg: K, nData: N, embedDim: d, temperature: tau, eps } = c;

    // Modifiers from method.md, computed here from the logits.
    const argmax = (m: Nested, i: number) => {
      const row = flat((m as Nested[])[i]!);
      return row.indexOf(Math.max(...row));
    };
    const sRight = bt.labels.map((y, i) => argmax(bt.studentLogits!, i) === y);
    const tRight = bt.labels.map((y, i) => argmax(bt.teacherLogits!, i) === y);
    const sign = tRight.map((r) => (r ? 1 : -1));
    const detached = sRight.map((r, i) => r && !tRight[i]!);
    const w = entropyWeights64(softmaxRows64(flat(bt.teacherLogits!), b, nCls), b, nCls);
    // The batch must exercise what the check is about.
    expect(detached.filter(Boolean).length, 'rows with z_s detached').toBeGreaterThan(0);
    expect(
      sign.some((s, i) => s === -1 && !detached[i]),
      'rows with s = −1 whose gradient flows',
    ).toBe(true);
    expect(
      sign.some((s) => s === 1),
      'rows with s = +1',
    ).toBe(true);
    expect(Math.max(...w) - Math.min(...w), 'entropy weights far from uniform').toBeGreaterThan(0.2);

    const W = (k: string) => Float64Array.from(before[k]!.data);
    const idx = bt.indices.map((p, i) => [p, ...bt.negatives.slice(i * K, (i + 1) * K)]);
    /** z = l2norm(f W + b) of every row of f [rows, dIn], float64. */
    const embed = (f: ArrayLike<number>, wt: Float64Array, bias: Float64Array, dIn: number) =>
      Array.from({ length: b }, (_, i) => {
        const z = Float64Array.from(bias);
        for (let a = 0; a < dIn; a++) for (let t = 0; t < d; t++) z[t]! += f[i * dIn + a]! * wt[a * d + t]!;
        const n = Math.hypot(...z);
        return z.map((v) => v / n);
      });
    /** One NCE direction (method.md step 7) of embeddings z against bank M with the fixed Z. */
    const nce = (z: Float64Array[], bank: Float64Array, zNorm: number) => {
      const cN = K / N;
      let total = 0;
      for (let i = 0; i < b; i++) {
        const p = idx[i]!.map((row) => {
          let dot = 0;
          for (let t = 0; t < d; t++) dot += z[i]![t]! * bank[row * d + t]!;
          return (w[i]! * Math.exp(dot / tau)) / zNorm;
        });
        let per = Math.log(p[0]! / (p[0]! + cN + eps));
        for (let q = 1; q <= K; q++) per += Math.log(cN / (p[q]! + cN + eps));
        total += sign[i]! * per;
      }
      return -total / b;
    };
    const fs0 = Float64Array.from(flat(bt.fs!));
    const zS0 = embed(fs0, W('embedS.weight'), W('embedS.bias'), dS);
    /** L_s as a function of f_s, with the detached rows' z_s,i frozen at fs0. */
    const lS = (f: ArrayLike<number>) => {
      const z = embed(f, W('embedS.weight'), W('embedS.bias'), dS).map((zi, i) => (detached[i] ? zS0[i]! : zi));
      return nce(z, W('memoryT'), c.cmcrd.Z.zS);
    };
    const lT = nce(embed(flat(bt.ft!), W('embedT.weight'), W('embedT.bias'), shapeOf(bt.ft!)[1]!), W('memoryS'), c.cmcrd.Z.zT);

    const args = [
      tensor2d(bt.ft!),
      tensor2d(bt.studentLogits!),
      tensor2d(bt.teacherLogits!),
      Int32Array.from(bt.labels),
      Int32Array.from(bt.indices),
      Int32Array.from(bt.negatives),
    ] as const;
    const f = (x: tf.Tensor2D) => loss.loss(x, ...args);
    const at = (x: ArrayLike<number>) => tf.tidy(() => f(tf.tensor2d(Float32Array.from(x), [b, dS])).dataSync()[0]!);
    // The reference is the same function as the loss (value within float32 rounding of the embeddings).
    const value = at(fs0);
    expect(Math.abs(value - (lS(fs0) + lT)), `value ${value} vs reference ${lS(fs0) + lT}`).toBeLessThanOrEqual(1e-4 * Math.abs(value));

    const grad = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => f(x as tf.Tensor2D))(tf.tensor2d(Float32Array.from(fs0), [b, dS]))
        .dataSync(),
    );
    // Detached rows: exactly zero (no other path from f_s,i to the loss).
    detached.forEach((isDet, i) => {
      if (isDet) expect(maxAbs(Array.from(grad.subarray(i * dS, (i + 1) * dS))), `row ${i} (detached)`).toBe(0);
    });
    const fd = fdGrad64(lS, fs0, 1e-6);
    const scale = maxAbs(Array.from(fd));
    expect(scale).toBeGreaterThan(1e-2);
    expectClose(grad, Array.from(fd), 1e-4, 1e-5 * scale, 'cmcrd d/dfs');

    // The same against the loss object's own forward (a float32 scalar, ulp ≈ 2.4e-7 at L ≈ 3.3, so h = 1e-3 and an
    // absolute tolerance of 5e-4 ≈ 2·ulp/h plus 0.2 %; measured errors ≤ 1.5e-4, a 1 % error fails): differences
    // along random directions that leave the detached rows alone (= those rows held constant) equal ⟨∇L, v⟩; along
    // directions in the detached rows only, the forward value does change although the gradient there is 0 —
    // which is why the differences of the full forward value are not the gradient when a stop-gradient fires.
    const rng = new SeededRandom(5);
    const h = 1e-3;
    const dir = (s: number, v: Float64Array) => at(fs0.map((x0, q) => x0 + s * h * v[q]!));
    for (let trial = 0; trial < 3; trial++) {
      const v = fs0.map((_, q) => (detached[Math.floor(q / dS)] ? 0 : rng.normal()));
      const fdv = (dir(1, v) - dir(-1, v)) / (2 * h);
      const an = v.reduce((acc, vi, q) => acc + vi * grad[q]!, 0);
      expect(Math.abs(fdv - an), `trial ${trial}: fd ${fdv} vs analytic ${an}`).toBeLessThanOrEqual(2e-3 * Math.abs(an) + 5e-4);
    }
    const vDet = fs0.map((_, q) => (detached[Math.floor(q / dS)] ? rng.normal() : 0));
    const fdDet = (dir(1, vDet) - dir(-1, vDet)) / (2 * h);
    expect(Math.abs(fdDet), 'the detached rows do change the forward value').toBeGreaterThan(1e-2 * scale);

    // Nothing moved: banks and Z as before every evaluation.
    const after = loss.getWeights();
    expect(Array.from(after.memoryS!.data)).toEqual(Array.from(before.memoryS!.data));
    expect(Array.from(after.memoryT!.data)).toEqual(Array.from(before.memoryT!.data));
    expect(loss.normalisers).toEqual(c.cmcrd.Z);
    tf.dispose([...args.slice(0, 3)] as tf.Tensor[]);
    loss.dispose();
  });
});

function contrastState(): Record<string, NamedArray> {
  const out: Record<string, NamedArray> = {};
  for (const [k, v] of Object.entries(fx.contrast.weights)) out[k] = { shape: shapeOf(v), data: Float32Array.from(flat(v)) };
  return out;
}

function makeContrast(kind: 'crd' | 'cmcrd', seed = 1) {
  const c = fx.contrast;
  const b0 = c.batches[0]!;
  const opts = {
    nData: c.nData,
    dS: shapeOf(b0.fs!)[1]!,
    dT: shapeOf(b0.ft!)[1]!,
    labels: Int32Array.from(c.labels),
    seed,
    embedDim: c.embedDim,
    nNeg: c.nNeg,
    temperature: c.temperature,
    eps: c.eps,
  };
  return kind === 'crd' ? new CRD(opts) : new CMCRD(opts);
}

describe.each(['crd', 'cmcrd'] as const)('%s vs PyTorch (wasm)', (kind) => {
  it('matches loss, gradients (heads and f_s), Z and memory banks over two steps', () => {
    const ref = fx.contrast[kind];
    const loss = makeContrast(kind);
    expect(loss.momentum).toBe(ref.momentum);
    loss.setWeights(contrastState());
    fx.contrast.batches.forEach((bt, step) => {
      const fsVar = tf.variable(tensor2d(bt.fs!), true);
      const { value, grads } = tf.variableGrads(
        () =>
          loss.loss(
            fsVar as tf.Variable<tf.Rank.R2>,
            tensor2d(bt.ft!),
            tensor2d(bt.studentLogits!),
            tensor2d(bt.teacherLogits!),
            Int32Array.from(bt.labels),
            Int32Array.from(bt.indices),
            Int32Array.from(bt.negatives),
          ),
        [fsVar, ...loss.trainable],
      );
      const r = ref.steps[step]!;
      expectClose(value.dataSync(), [r.value], 1e-4, 1e-5, `${kind} step ${step} value`);
      const names = ['embedS.weight', 'embedS.bias', 'embedT.weight', 'embedT.bias'];
      expectClose(grads[fsVar.name]!.dataSync(), r.grads.fs!, 2e-3, 1e-4 * maxAbs(r.grads.fs!), `${kind} step ${step} d/dfs`);
      loss.trainable.forEach((v, i) => {
        const g = r.grads[names[i]!]!;
        expectClose(grads[v.name]!.dataSync(), g, 2e-3, 1e-4 * Math.max(1e-3, maxAbs(g)), `${kind} step ${step} d/d${names[i]}`);
      });
      if (step === 0) expectClose([loss.normalisers!.zS, loss.normalisers!.zT], [ref.Z.zS, ref.Z.zT], 1e-4, 0, `${kind} Z`);
      loss.updateMemory();
      fsVar.dispose();
    });
    // Z stays fixed at the first batch.
    expectClose([loss.normalisers!.zS, loss.normalisers!.zT], [ref.Z.zS, ref.Z.zT], 1e-4, 0, `${kind} Z after step 2`);
    const w = loss.getWeights();
    expectClose(w.memoryS!.data, ref.memoryS, 1e-4, 1e-6, `${kind} memoryS`);
    expectClose(w.memoryT!.data, ref.memoryT, 1e-4, 1e-6, `${kind} memoryT`);
    loss.dispose();
  });
});

describe('CRD / CMCRD machinery', () => {
  it('samples negatives deterministically from other classes only, capping K on small data', () => {
    const labelsN = Int32Array.from({ length: 30 }, (_, i) => i % 3); // 10 per class: pool of 20 others
    const mk = (seed: number) => new CMCRD({ nData: 30, dS: 4, dT: 3, labels: labelsN, seed, nNeg: 1000, embedDim: 8 });
    const a = mk(5);
    const b = mk(5);
    const c = mk(6);
    expect(a.nNeg).toBe(20);
    const idx = Int32Array.from([0, 4, 8, 13]);
    const na = a.sampleNegatives(idx);
    expect(Array.from(na)).toEqual(Array.from(b.sampleNegatives(idx)));
    expect(Array.from(na)).not.toEqual(Array.from(c.sampleNegatives(idx)));
    for (let i = 0; i < idx.length; i++) {
      for (let j = 0; j < a.nNeg; j++) expect(labelsN[na[i * a.nNeg + j]!]).not.toBe(labelsN[idx[i]!]);
    }
    // Same seed, same initial heads and banks.
    expect(Array.from(a.getWeights().memoryT!.data)).toEqual(Array.from(b.getWeights().memoryT!.data));
    expect(Array.from(a.getWeights()['embedS.weight']!.data)).toEqual(Array.from(b.getWeights()['embedS.weight']!.data));
    const sigma = 1 / Math.sqrt(8 / 3);
    expect(Math.max(...a.getWeights().memoryS!.data.map(Math.abs))).toBeLessThanOrEqual(sigma);
    for (const l of [a, b, c]) l.dispose();
  });

  it('draws negatives only from the candidate rows and uses their count as N', () => {
    const labelsN = Int32Array.from({ length: 20 }, (_, i) => i % 2);
    const candidates = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // rows 10..19 are a validation split
    const l = new CRD({ nData: 20, dS: 3, dT: 3, labels: labelsN, seed: 2, embedDim: 4, nNeg: 50, candidates });
    expect(l.nNoise).toBe(10);
    expect(l.nNeg).toBe(5); // 5 candidates of the other class
    const neg = l.sampleNegatives(Int32Array.from([0, 1, 2]));
    // Sample 0 and 2 are class 0: negatives among the odd candidates; sample 1 (class 1): among the even ones.
    neg.forEach((i, j) => expect([1, 3, 5, 7, 9].map((v) => v - (Math.floor(j / 5) === 1 ? 1 : 0))).toContain(i));
    l.dispose();
  });

  it("with negativePool 'any' draws from every candidate but the sample itself (instance-level ablation)", () => {
    const labelsN = Int32Array.from({ length: 12 }, (_, i) => i % 3);
    const candidates = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]); // 9..11 held out
    const l = new CMCRD({ nData: 12, dS: 3, dT: 3, labels: labelsN, seed: 4, embedDim: 4, nNeg: 400, candidates, negativePool: 'any' });
    expect(l.nNeg).toBe(8); // all candidates but oneself
    const idx = Int32Array.from([0, 4, 8]);
    const neg = l.sampleNegatives(idx);
    let sameClass = 0;
    const seen = new Set<number>();
    neg.forEach((n, j) => {
      const i = idx[Math.floor(j / l.nNeg)]!;
      expect(n).not.toBe(i);
      expect(n).toBeLessThan(9);
      if (labelsN[n] === labelsN[i]) sameClass++;
      seen.add(n);
    });
    expect(sameClass).toBeGreaterThan(0); // unlike 'other-class'
    expect(seen.size).toBeGreaterThan(4);
    expect(() => new CRD({ nData: 12, dS: 3, dT: 3, labels: labelsN, seed: 1, negativePool: 'same' as 'any' })).toThrow(
      /negativePool must be/,
    );
    l.dispose();
  });

  it('with the unimodal-supervision sign off (ablation), a sample the teacher gets wrong keeps the sign +1', () => {
    // One-sample batches, same weights, banks, Z and negatives: with the sign on, the loss of a sample the teacher
    // misclassifies is exactly the negative of the loss with the sign off; for a sample it gets right they are equal.
    const labelsN = Int32Array.from([0, 1, 2, 0, 1, 2]);
    const make = (unimodalSign?: boolean) =>
      new CMCRD({
        nData: 6,
        dS: 3,
        dT: 3,
        labels: labelsN,
        seed: 5,
        embedDim: 4,
        nNeg: 3,
        ...(unimodalSign === undefined ? {} : { unimodalSign }),
      });
    const on = make();
    const off = make(false);
    expect([on.unimodalSign, off.unimodalSign]).toEqual([true, false]);
    const z = { zS: 2.5, zT: 3.5 };
    on.normalisers = z;
    off.normalisers = z;
    const fs = tf.tensor2d([[0.3, -1.2, 0.8]]);
    const ft = tf.tensor2d([[1.1, 0.4, -0.6]]);
    const student = tf.tensor2d([[2, 0, 0]]); // predicts class 0 (right)
    const neg = Int32Array.from([1, 2, 4]);
    const value = (l: CMCRD, teacher: number[]) =>
      l.loss(fs, ft, student, tf.tensor2d([teacher]), Int32Array.from([0]), Int32Array.from([0]), neg).dataSync()[0]!;
    const wrong = [0, 3, 0]; // the teacher predicts class 1
    const right = [3, 0, 0];
    const offWrong = value(off, wrong);
    expect(Math.abs(offWrong)).toBeGreaterThan(1e-3);
    expect(value(on, wrong)).toBeCloseTo(-offWrong, 5);
    expect(value(on, right)).toBeCloseTo(value(off, right), 6);
    on.dispose();
    off.dispose();
  });

  it('rejects duplicate indices, label mismatches and single-class data with clear errors', () => {
    const labelsN = Int32Array.from([0, 1, 0, 1, 2, 2]);
    const l = new CRD({ nData: 6, dS: 3, dT: 3, labels: labelsN, seed: 1, embedDim: 4 });
    const f = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => l.loss(f, f, null, null, Int32Array.from([0, 0]), Int32Array.from([0, 0]))).toThrow(/appears twice/);
    expect(() => l.loss(f, f, null, null, Int32Array.from([1, 0]), Int32Array.from([0, 1]))).toThrow(/differs from the label/);
    expect(() => l.loss(f, f, null, null, Int32Array.from([0, 1]), Int32Array.from([0, 9]))).toThrow(/outside/);
    expect(() => new CRD({ nData: 3, dS: 3, dT: 3, labels: Int32Array.from([1, 1, 1]), seed: 1 })).toThrow(/two classes/);
    const cm = new CMCRD({ nData: 6, dS: 3, dT: 3, labels: labelsN, seed: 1, embedDim: 4 });
    expect(() => cm.loss(f, f, null, null, Int32Array.from([0, 1]), Int32Array.from([0, 1]))).toThrow(/logits/);
    l.dispose();
    cm.dispose();
  });

  it('trains inside optimizer.minimize on wasm: every head variable moves, banks update, loss stays finite', () => {
    const n = 24;
    const labelsN = Int32Array.from({ length: n }, (_, i) => i % 3);
    const loss = new CMCRD({ nData: n, dS: 5, dT: 4, labels: labelsN, seed: 3, embedDim: 8, nNeg: 10 });
    const before = loss.getWeights();
    const opt = tf.train.adam(1e-2);
    const rng = new SeededRandom(11);
    const rnd = (r: number, c: number) =>
      tf.tensor2d(
        Float32Array.from({ length: r * c }, () => rng.normal()),
        [r, c],
      );
    const fsW = tf.variable(rnd(5, 5));
    const xs = rnd(n, 5);
    const ft = rnd(n, 4);
    const tl = rnd(n, 3);
    let tensorsAfterFirst = 0;
    for (let step = 0; step < 4; step++) {
      if (step === 1) tensorsAfterFirst = tf.memory().numTensors;
      const idx = Int32Array.from({ length: 6 }, (_, i) => (step * 6 + i) % n);
      const y = Int32Array.from(idx, (i) => labelsN[i]!);
      const it = tf.tensor1d(idx, 'int32');
      const cost = opt.minimize(
        () => {
          const fs = tf.matMul(tf.gather(xs, it), fsW) as tf.Tensor2D;
          return loss.loss(fs, tf.gather(ft, it), tf.slice(fs, [0, 0], [6, 3]), tf.gather(tl, it), y, idx);
        },
        true,
        [fsW, ...loss.trainable],
      )!;
      expect(Number.isFinite(cost.dataSync()[0]!)).toBe(true);
      cost.dispose();
      it.dispose();
      loss.updateMemory();
    }
    // No tensors leak per step (optimizer slots are created on the first step).
    expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
    const after = loss.getWeights();
    for (const k of ['embedS.weight', 'embedS.bias', 'embedT.weight', 'embedT.bias', 'memoryS', 'memoryT']) {
      const d = after[k]!.data.reduce((m, v, i) => Math.max(m, Math.abs(v - before[k]!.data[i]!)), 0);
      expect(d, k).toBeGreaterThan(0);
    }
    // Updated bank rows are unit vectors.
    const row = after.memoryS!.data.subarray(0, 8);
    expect(Math.hypot(...row)).toBeCloseTo(1, 5);
    loss.dispose();
  });

  it('stopGradient passes values and blocks gradients', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.add(tf.square(a), stopGradient(tf.square(a)))))(x);
    expect(Array.from(g.dataSync())).toEqual([2, 4, 6]);
    expect(Array.from(stopGradient(x).dataSync())).toEqual([1, 2, 3]);
  });
});
