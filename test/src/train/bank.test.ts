/**
 * The contrastive losses' memory-bank products (src/train/losses/bankKernels.ts): the WebAssembly SIMD kernels
 * (banks in their own memory) give the same bits as the TypeScript loops, and both agree with a float64 reference.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BankPair, rowAccumulate, rowDots, setBankSimd } from '../../../src/train/losses/bankKernels.js';
import { SeededRandom } from '../../../src/train/nets/layers.js';
import { expectClose } from './helpers.js';

afterEach(() => setBankSimd(true));

describe('memory-bank products', () => {
  it.each([
    [3, 8, 5, 50],
    [4, 8, 6, 50],
    [3, 8, 21, 50],
    [2, 12, 1, 9],
    [32, 128, 1001, 400],
  ])('b %i, d %i, j %i, N %i: kernels = TypeScript loops, close to float64', (b, d, j, n) => {
    const r = new SeededRandom(b * d + j);
    const pairs = [true, false].map((enabled) => {
      setBankSimd(enabled);
      return new BankPair(n, d);
    });
    const bank = Float32Array.from({ length: n * d }, () => r.uniform(-1, 1));
    for (const p of pairs) p.bank(1).set(bank);
    const z = Float64Array.from({ length: b * d }, () => Math.fround(r.normal()));
    // Zeros at every 7th and some 13th entries: pairs of rows with one, both or neither weight zero (the kernels skip g = 0 rows).
    const g = Float64Array.from({ length: b * j }, (_, i) => (i % 7 === 0 || i % 13 === 1 ? 0 : r.normal()));
    const idx = Int32Array.from({ length: b * j }, () => r.int(n));
    const [simd, ts] = pairs.map((p) => [Array.from(p.rowDots(1, z, idx, b, j)), Array.from(p.rowAccumulate(1, g, idx, b, j))]);
    expect(ts).toEqual(simd);
    expect(ts![0]).toEqual(Array.from(rowDots(bank, z, idx, b, d, j)));
    expect(ts![1]).toEqual(Array.from(rowAccumulate(bank, g, idx, b, d, j)));
    const dots: number[] = [];
    const acc = new Array<number>(b * d).fill(0);
    for (let i = 0; i < b; i++) {
      for (let c = 0; c < j; c++) {
        const ro = idx[i * j + c]! * d;
        let s = 0;
        for (let t = 0; t < d; t++) {
          s += bank[ro + t]! * z[i * d + t]!;
          acc[i * d + t] += g[i * j + c]! * bank[ro + t]!;
        }
        dots.push(s);
      }
    }
    expectClose(simd![0]!, dots, 1e-6, 1e-6, 'dots');
    expectClose(simd![1]!, acc, 1e-6, 1e-5, 'accumulate');
  });
});
