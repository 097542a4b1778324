/**
 * The host-side training kernels (src/train/simd.ts): column reductions and transpose give the same bits with the
 * WebAssembly SIMD kernels and the TypeScript fallback, agree with float64 references, grow their memory for large
 * inputs; and the fused Linear–BatchNorm–ReLU block matches the same block built from separate tfjs ops (values,
 * running statistics and every gradient, including the input's), on both kernel paths; its host BatchNorm+ReLU
 * forward and backward agree with a float64 reference.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm, Dense, ParamStore, SeededRandom, denseBnRelu } from '../../../src/train/nets/layers.js';
import { bnReluBackward, bnReluForward } from '../../../src/train/nets/bnHost.js';
import {
  bnReluForwardSimd,
  columnSquaredDeviations,
  columnSumAndDot,
  columnSums,
  hostValues,
  setColumnSimd,
  tensorFrom,
  transposed,
} from '../../../src/train/simd.js';
import { expectClose, useWasm } from './helpers.js';

beforeAll(useWasm);
afterEach(() => setColumnSimd(true));

function rand(n: number, seed: number): Float32Array {
  const r = new SeededRandom(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

describe('column kernels', () => {
  it('assemble and run on Node 20 (so the comparisons below test the SIMD path, not the fallback twice)', () => {
    setColumnSimd(true);
    const one = new Float32Array(4).fill(1);
    expect(bnReluForwardSimd(new Float32Array(8), 2, 4, one, one, one, one)).not.toBeNull();
  });

  // 300×128 needs more than one 64 KiB page of kernel memory; 5 columns takes the TypeScript path.
  it.each([
    [1, 4],
    [7, 12],
    [300, 128],
    [9, 5],
  ])('%i×%i: SIMD and TypeScript give the same bits, close to float64', (rows, cols) => {
    const a = rand(rows * cols, rows + cols);
    const b = rand(rows * cols, 2 * rows + cols);
    const mean = rand(cols, 3);
    const all = () =>
      [
        columnSums(a, rows, cols),
        columnSquaredDeviations(a, rows, cols, mean),
        ...columnSumAndDot(a, b, rows, cols),
        transposed(a, rows, cols).slice(),
      ].map((x) => Array.from(x));
    const simd = all();
    setColumnSimd(false);
    const ts = all();
    expect(ts).toEqual(simd);
    const ref = [[], [], [], []] as number[][];
    for (let j = 0; j < cols; j++) {
      let s = 0,
        q = 0,
        d = 0;
      for (let i = 0; i < rows; i++) {
        const v = a[i * cols + j]!;
        s += v;
        q += (v - mean[j]!) ** 2;
        d += v * b[i * cols + j]!;
      }
      ref[0]!.push(s);
      ref[1]!.push(q);
      ref[2]!.push(s);
      ref[3]!.push(d);
    }
    for (let k = 0; k < 4; k++) expectClose(simd[k]!, ref[k]!, 1e-5, 1e-5 * Math.sqrt(rows), `reduction ${k}`);
    const t = simd[4]!;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expect(t[j * rows + i]).toBe(a[i * cols + j]);
  });

  it('hostValues reads a tensor; tensorFrom copies its input', () => {
    const v = Float32Array.from([1, 2, 3, 4]);
    const t = tensorFrom(v, [2, 2]);
    v[0] = 99;
    expect(Array.from(hostValues(t))).toEqual([1, 2, 3, 4]);
    t.dispose();
  });
});

describe('host BatchNorm+ReLU kernels (nets/bnHost.ts)', () => {
  it.each([
    [32, 128],
    [9, 6],
  ])('%i×%i: same bits with SIMD and TypeScript reductions, close to a float64 reference', (n, h) => {
    const z = rand(n * h, 11).map((v, i) => 3 * v + (i % h));
    const gamma = rand(h, 12).map((g) => 1 + 0.3 * g);
    const beta = rand(h, 13).map((b) => 0.2 * b);
    const dy = rand(n * h, 14);
    const eps = 1e-5;
    const both = () => {
      const fw = bnReluForward(z, n, h, gamma, beta, eps);
      const bw = bnReluBackward(dy, fw.y, fw.xhat, gamma, fw.rstd, n, h);
      return [fw.y, fw.mean, fw.variance, bw.dz, bw.dbias, bw.dgamma, bw.dbeta].map((a) => Array.from(a));
    };
    const simd = both();
    setColumnSimd(false);
    expect(both()).toEqual(simd);
    // float64: y = relu(γ·(z − μ)/√(σ² + ε) + β) with biased σ²; backward through BN's batch statistics.
    const ref = {
      y: [] as number[],
      mean: [] as number[],
      variance: [] as number[],
      dz: new Array<number>(n * h).fill(0),
      dbias: [] as number[],
      dgamma: [] as number[],
      dbeta: [] as number[],
    };
    for (let j = 0; j < h; j++) {
      let mu = 0;
      for (let i = 0; i < n; i++) mu += z[i * h + j]! / n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (z[i * h + j]! - mu) ** 2 / n;
      const rs = 1 / Math.sqrt(v + eps);
      ref.mean.push(mu);
      ref.variance.push(v);
      const xh = Array.from({ length: n }, (_, i) => (z[i * h + j]! - mu) * rs);
      const da = xh.map((x, i) => (gamma[j]! * x + beta[j]! > 0 ? dy[i * h + j]! : 0));
      const sda = da.reduce((a, b) => a + b, 0);
      const sdax = da.reduce((a, d, i) => a + d * xh[i]!, 0);
      ref.dbeta.push(sda);
      ref.dgamma.push(sdax);
      let sdz = 0;
      for (let i = 0; i < n; i++) {
        const dz = gamma[j]! * rs * (da[i]! - sda / n - (xh[i]! * sdax) / n);
        ref.dz[i * h + j] = dz;
        sdz += dz;
      }
      ref.dbias.push(sdz);
    }
    for (let i = 0; i < n; i++)
      for (let j = 0; j < h; j++)
        ref.y[i * h + j] = Math.max(0, (gamma[j]! * (z[i * h + j]! - ref.mean[j]!)) / Math.sqrt(ref.variance[j]! + eps) + beta[j]!);
    const [y, mean, variance, dz, dbias, dgamma, dbeta] = simd;
    expectClose(y!, ref.y, 1e-4, 1e-5, 'y');
    expectClose(mean!, ref.mean, 1e-5, 1e-5, 'mean');
    expectClose(variance!, ref.variance, 1e-4, 1e-5, 'variance');
    expectClose(dz!, ref.dz, 1e-3, 1e-5, 'dz');
    expectClose(dbias!, ref.dbias, 1e-3, 1e-4, 'dbias');
    expectClose(dgamma!, ref.dgamma, 1e-4, 1e-4, 'dgamma');
    expectClose(dbeta!, ref.dbeta, 1e-4, 1e-4, 'dbeta');
  });
});

describe('fused Linear–BatchNorm–ReLU vs separate tfjs ops', () => {
  it.each([
    [5, 6, true],
    [33, 8, true],
    [33, 8, false],
    [80, 8, true], // above HOST_BN_MAX_ROWS: the tensor path
  ])('batch %i, width %i, SIMD %s', (n, h, simd) => {
    setColumnSimd(simd);
    const store = new ParamStore(new SeededRandom(n * h));
    const dense = new Dense(store, 'fc', 7, h);
    const bn = new BatchNorm(store, 'fc.bn', h);
    // Non-trivial affine parameters and bias.
    bn.gamma.assign(tf.tensor1d(rand(h, 1).map((g) => 1 + 0.3 * g)));
    bn.beta.assign(tf.tensor1d(rand(h, 2).map((g) => 0.2 * g)));
    dense.b!.assign(tf.tensor1d(rand(h, 4)));
    const x = tf.tensor2d(rand(n * 7, 5), [n, 7]);
    const target = tf.tensor2d(rand(n * h, 6), [n, h]);
    const vars = store.trainable;
    const run = (fused: boolean) => {
      const xv = tf.variable(x.clone(), true, `x_${fused}_${n}_${h}_${simd}`); // to check the input's gradient too
      const { value, grads } = tf.variableGrads(() => {
        const y = fused ? denseBnRelu(dense, bn, xv, true) : (tf.relu(bn.apply(dense.apply(xv), true)) as tf.Tensor2D);
        return tf.sum(tf.mul(y, target)) as tf.Scalar;
      }, [...vars, xv]);
      bn.commit();
      const out = {
        loss: value.dataSync()[0]!,
        grads: [...vars, xv].map((v) => Array.from(grads[v.name]!.dataSync())),
        stats: [Array.from(bn.mean.dataSync()), Array.from(bn.variance.dataSync())],
      };
      tf.dispose([value, xv, ...Object.values(grads)]);
      bn.mean.assign(tf.zeros([h]));
      bn.variance.assign(tf.ones([h]));
      return out;
    };
    const ref = run(false);
    const got = run(true);
    expect(got.loss).toBeCloseTo(ref.loss, 4);
    const scale = Math.max(...ref.grads.flat().map(Math.abs));
    got.grads.forEach((g, i) => expectClose(g, ref.grads[i]!, 1e-4, 1e-5 * scale, `gradient ${i}`));
    got.stats.forEach((s, i) => expectClose(s, ref.stats[i]!, 1e-5, 1e-6, `running stat ${i}`));
    store.dispose();
    tf.dispose([x, target]);
  });
});
