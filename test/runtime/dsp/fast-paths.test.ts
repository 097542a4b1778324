/**
 * The fast paths of feature extraction (RealFftPlan, two-at-a-time FFTs and biquad cascades, WebAssembly
 * SIMD kernels) must give exactly the numbers of the plain computation: fft.js's real transform with the
 * taper applied first, per-sample SosFilter.step, and sequential sums. Checked bit for bit with the SIMD
 * kernels on and with them forced off (the TypeScript fallback).
 */
import FFT from 'fft.js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  butterSos,
  extractFeatures,
  SEED_BANDS,
  seedBandBins,
  seedTaper,
  SosFilter,
  type FeatureExtractorOptions,
} from '../../../runtime/dsp/index.js';
import { RealFftPlan } from '../../../runtime/dsp/fft.js';
import { fftKernels, iirKernels, setSimdDisabled, simdModuleSizes } from '../../../runtime/dsp/simd.js';
import { randn, rng } from './helpers.js';

function signal(nch: number, n: number, seed: number): Float64Array[] {
  const r = rng(seed);
  return Array.from({ length: nch }, (_, c) => {
    const x = new Float64Array(n);
    let w = 0;
    for (let i = 0; i < n; i++) {
      w = 0.97 * w + randn(r);
      x[i] = 10 * w + 12 * Math.sin((2 * Math.PI * (7 + 3 * c) * i) / 200) + 25;
    }
    return x;
  });
}

/** |X_k|², k = 0..n/2, of (x[off + j] − mean)·taper[j] (j < count, zero padded) with fft.js. */
function fftJsPower(x: ArrayLike<number>, off: number, count: number, taper: ArrayLike<number>, n: number, mean = 0): Float64Array {
  const input = new Float64Array(n);
  for (let j = 0; j < count; j++) input[j] = (x[off + j]! - mean) * taper[j]!;
  const out = new Float64Array(2 * n);
  new FFT(n).realTransform(out as unknown as number[], input);
  return Float64Array.from({ length: n / 2 + 1 }, (_, k) => out[2 * k]! * out[2 * k]! + out[2 * k + 1]! * out[2 * k + 1]!);
}

/** Reference features of one channel's window, computed the plain way. */
function reference(x: Float64Array, start: number, L: number, method: string, fs: number, filtered?: Float64Array[]): Float64Array {
  if (method === 'seed-de' || method === 'seed-psd') {
    const nfft = 1024;
    const p = fftJsPower(x, start, L, seedTaper(L), nfft);
    const bins = seedBandBins(SEED_BANDS, fs, nfft);
    return Float64Array.from(SEED_BANDS, (_, b) => {
      let acc = 0;
      for (let k = bins[2 * b]!; k <= bins[2 * b + 1]!; k++) acc += p[k]!;
      const e = acc / (bins[2 * b + 1]! - bins[2 * b]! + 1);
      return method === 'seed-de' ? Math.log2(100 * e) : e;
    });
  }
  if (method === 'gauss-de') {
    return Float64Array.from(filtered!, (y) => {
      let mean = 0;
      for (let i = 0; i < L; i++) mean += y[start + i]!;
      mean /= L;
      let v = 0;
      for (let i = 0; i < L; i++) v += (y[start + i]! - mean) ** 2;
      return 0.5 * Math.log(2 * Math.PI * Math.E * (v / L));
    });
  }
  // Welch: periodic Hann, 256-sample segments, 50 % overlap, constant detrend, density, trapezoid.
  const nper = 256;
  const step = 128;
  const taper = Float64Array.from({ length: nper }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nper));
  const s2 = taper.reduce((a, w) => a + w * w, 0);
  const nseg = Math.floor((L - step) / step);
  const psd = new Float64Array(nper / 2 + 1);
  for (let s = 0; s < nseg; s++) {
    const o = start + s * step;
    let mean = 0;
    for (let i = 0; i < nper; i++) mean += x[o + i]!;
    mean /= nper;
    const p = fftJsPower(x, o, nper, taper, nper, mean);
    for (let k = 0; k < psd.length; k++) psd[k]! += p[k]!;
  }
  const scale = 1 / (fs * s2);
  for (let k = 0; k < psd.length; k++) psd[k] = (psd[k]! * scale * (k === 0 || k === psd.length - 1 ? 1 : 2)) / nseg;
  const freqs = Float64Array.from(psd, (_, k) => k * (1 / (nper * (1 / fs))));
  const bp = Float64Array.from(SEED_BANDS, ({ lo, hi }) => {
    let acc = 0;
    for (let k = 0; k + 1 < freqs.length; k++) {
      if (freqs[k]! >= lo && freqs[k + 1]! <= hi) acc += (freqs[k + 1]! - freqs[k]!) * ((psd[k + 1]! + psd[k]!) / 2);
    }
    return acc;
  });
  if (method === 'welch-rel') {
    const total = bp.reduce((a, v) => a + v, 0);
    return bp.map((v) => v / total);
  }
  return bp;
}

function expectSameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) expect.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

afterAll(() => setSimdDisabled(false));

describe.each([
  ['WebAssembly SIMD kernels', false],
  ['TypeScript fallback', true],
])('%s', (_name, disable) => {
  it('kernels are present exactly when allowed, and small enough to compile synchronously in a browser', () => {
    setSimdDisabled(disable);
    expect(fftKernels() === null).toBe(disable);
    expect(iirKernels() === null).toBe(disable);
    const sizes = simdModuleSizes();
    expect(sizes.fft).toBeLessThan(4096);
    expect(sizes.iir).toBeLessThan(4096);
  });

  it('RealFftPlan equals fft.js (|X|² bit for bit) for every length, with padding, taper and mean', () => {
    setSimdDisabled(disable);
    const r = rng(3);
    for (let n = 4; n <= 4096; n *= 2) {
      const x = Float64Array.from({ length: n + 7 }, () => 100 * randn(r));
      const y = Float64Array.from({ length: n + 7 }, () => randn(r));
      const taper = Float64Array.from({ length: n }, () => r());
      for (const count of [n, Math.max(1, Math.floor(0.7 * n))]) {
        const plan = new RealFftPlan(n);
        const single = plan.transform(x, 5, count, taper, 1.5);
        const ref = fftJsPower(x, 5, count, taper, n, 1.5);
        expectSameBits(
          Float64Array.from(ref, (_, k) => single[2 * k]! ** 2 + single[2 * k + 1]! ** 2),
          ref,
          `n=${n} single`,
        );
        // Two inputs at once; the demeaned one uses its own mean over count samples.
        const { s, base } = plan.transform2(x, 2, y, 3, count, taper, true);
        const mx = x.subarray(2, 2 + count).reduce((a, v) => a + v, 0) / count;
        const my = y.subarray(3, 3 + count).reduce((a, v) => a + v, 0) / count;
        const refA = fftJsPower(x, 2, count, taper, n, mx);
        const refB = fftJsPower(y, 3, count, taper, n, my);
        expectSameBits(
          Float64Array.from(refA, (_, k) => s[base + 4 * k]! ** 2 + s[base + 4 * k + 2]! ** 2),
          refA,
          `n=${n} pair a`,
        );
        expectSameBits(
          Float64Array.from(refB, (_, k) => s[base + 4 * k + 1]! ** 2 + s[base + 4 * k + 3]! ** 2),
          refB,
          `n=${n} pair b`,
        );
      }
    }
  });

  const fs = 200;
  const L = 800;
  const x = signal(5, 3 * L + 55, 11);
  for (const method of ['seed-de', 'seed-psd', 'welch', 'welch-rel', 'gauss-de'] as const) {
    it(`${method}: every channel (odd count, so one runs unpaired) equals the plain computation`, () => {
      setSimdDisabled(disable);
      const opts: FeatureExtractorOptions = { fs, channels: 5, method, quality: false };
      const frames = extractFeatures(x, opts);
      expect(frames.length).toBe(3);
      for (let c = 0; c < 5; c++) {
        const filtered =
          method === 'gauss-de'
            ? SEED_BANDS.map((b) => {
                const f = new SosFilter(butterSos(4, [b.lo, b.hi], 'bandpass', { fs }));
                return Float64Array.from(x[c]!, (v) => f.step(v));
              })
            : undefined;
        frames.forEach((w, k) =>
          expectSameBits(w[c]!, reference(x[c]!, k * L, L, method, fs, filtered), `${method} window ${k} channel ${c}`),
        );
      }
    });
  }

  it.each([1, 2, 3, 5, 6, 7])(
    'gauss-de with order-%i band-passes (cascades split into 4 + 2 + 1 sections) equals per-sample filtering',
    (order) => {
      setSimdDisabled(disable);
      const bands = [
        { name: 'a', lo: 4, hi: 8 },
        { name: 'b', lo: 8, hi: 14 },
        { name: 'c', lo: 14, hi: 31 },
      ];
      const frames = extractFeatures(x.slice(0, 2), {
        fs,
        channels: 2,
        method: 'gauss-de',
        bands,
        gaussOrder: order,
        windowSec: 2,
        quality: false,
      });
      for (let c = 0; c < 2; c++) {
        const filtered = bands.map((b) => {
          const f = new SosFilter(butterSos(order, [b.lo, b.hi], 'bandpass', { fs }));
          return Float64Array.from(x[c]!, (v) => f.step(v));
        });
        frames.forEach((w, k) =>
          expectSameBits(w[c]!, reference(x[c]!, k * 400, 400, 'gauss-de', fs, filtered), `order ${order} window ${k} channel ${c}`),
        );
      }
    },
  );
});
