/**
 * The host-side training kernels (src/train/simd.ts): column reductions and transpose give the same bits with the
 * WebAssembly SIMD kernels and the TypeScript fallback, agree with float64 references, grow their memory for large
 * inputs; and the fused Linear–BatchNorm–ReLU block matches the same block built from separate tfjs ops (values,
 * running statistics and every gradient, including the input's), on both kernel paths.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm, Dense, ParamStore, SeededRandom, denseBnRelu } from '../../src/train/nets/layers.js';
import { columnSquaredDeviations, columnSumAndDot, columnSums, hostValues, setColumnSimd, tensorFrom, transposed } from '../../src/train/simd.js';
import { expectClose, useWasm } from './helpers.js';

beforeAll(useWasm);
afterEach(() => setColumnSimd(true));

function rand(n: number, seed: number): Float32Array {
  const r = new SeededRandom(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

describe('column kernels', () => {
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
    const all = () => [columnSums(a, rows, cols), columnSquaredDeviations(a, rows, cols, mean), ...columnSumAndDot(a, b, rows, cols), transposed(a, rows, cols).slice()].map((x) => Array.from(x));
    const simd = all();
    setColumnSimd(false);
    const ts = all();
    expect(ts).toEqual(simd);
    const ref = [[], [], [], []] as number[][];
    for (let j = 0; j < cols; j++) {
      let s = 0, q = 0, d = 0;
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

describe('fused Linear–BatchNorm–ReLU vs separate tfjs ops', () => {
  it.each([
    [5, 6, true],
    [33, 8, true],
    [33, 8, false],
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
      const out = { loss: value.dataSync()[0]!, grads: [...vars, xv].map((v) => Array.from(grads[v.name]!.dataSync())), stats: [Array.from(bn.mean.dataSync()), Array.from(bn.variance.dataSync())] };
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
