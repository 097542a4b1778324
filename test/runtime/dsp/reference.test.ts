/**
 * runtime/dsp against scipy/numpy references (scripts/fixtures/dsp.py → test/fixtures/dsp/*.json).
 * Tolerances: filter design 1e-9 per coefficient (relative); signals 1e-9 relative to the signal's
 * peak (IIR recursions accumulate rounding differently in C and JS); features 1e-12 (gauss-de 1e-11).
 */
import { describe, expect, it } from 'vitest';
import {
  butterSos,
  detrend,
  extractFeatures,
  iirNotchSos,
  ldsSmooth,
  movingAverage,
  resamplePoly,
  seedDE,
  sosfilt,
  sosfiltfilt,
  sosfiltZi,
  type ButterType,
  type FeatureExtractorOptions,
} from '../../../runtime/dsp/index.js';
import { expectClose, fixture } from './helpers.js';

interface ButterFx {
  cases: { order: number; cutoff: number | [number, number]; btype: ButterType; fs: number | null; sos: number[] }[];
}

describe('Butterworth design vs scipy.signal.butter(output="sos")', () => {
  const fx = fixture<ButterFx>('butter.json');
  for (const c of fx.cases) {
    it(`${c.btype} order ${c.order} at ${JSON.stringify(c.cutoff)}${c.fs ? ` Hz, fs ${c.fs}` : ' (normalised)'}`, () => {
      const sos = butterSos(c.order, c.cutoff, c.btype, c.fs ? { fs: c.fs } : {});
      expect(sos.length).toBe(c.sos.length);
      for (let i = 0; i < sos.length; i++) {
        const ref = c.sos[i]!;
        const tol = 1e-9 * Math.abs(ref) + 1e-14;
        if (!(Math.abs(sos[i]! - ref) <= tol)) expect.fail(`coefficient ${i}: ${sos[i]} vs scipy ${ref}`);
      }
    });
  }
  it('rejects bad designs with a clear message', () => {
    expect(() => butterSos(4, 120, 'lowpass', { fs: 200 })).toThrow(/Nyquist \(100 Hz\)/);
    expect(() => butterSos(0, 10, 'lowpass', { fs: 200 })).toThrow(/order/);
    expect(() => butterSos(2, [10, 5], 'bandpass', { fs: 200 })).toThrow(/lo < hi/);
    expect(() => butterSos(2, 10, 'bandpass', { fs: 200 })).toThrow(/two cut-off/);
  });
});

interface FiltersFx {
  x: number[];
  sos: Record<string, number[]>;
  sosfilt: Record<string, number[]>;
  sosfilt_zi: Record<string, number[]>;
  sosfiltfilt: Record<string, number[]>;
  notch: Record<string, { b: number[]; a: number[]; filtfilt?: number[]; lfilter?: number[] }>;
  detrend_linear: number[];
  detrend_constant: number[];
}

describe('filtering vs scipy.signal', () => {
  const fx = fixture<FiltersFx>('filters.json');
  for (const k of Object.keys(fx.sos)) {
    const sos = Float64Array.from(fx.sos[k]!);
    it(`sosfilt / sosfilt_zi / sosfiltfilt (${k})`, () => {
      expectClose(sosfilt(sos, fx.x), fx.sosfilt[k]!, 1e-9);
      expectClose(sosfiltZi(sos), fx.sosfilt_zi[k]!, 1e-12);
      expectClose(sosfiltfilt(sos, fx.x), fx.sosfiltfilt[k]!, 1e-9);
    });
  }
  it('iirnotch coefficients and zero-phase / causal notch filtering', () => {
    for (const [key, ref] of Object.entries(fx.notch)) {
      const [f0, q, fs] = key.split('_').map(Number) as [number, number, number];
      const sos = iirNotchSos(f0, q, fs);
      expectClose(sos.subarray(0, 3), ref.b, 1e-14);
      expectClose(sos.subarray(3), ref.a, 1e-14);
      if (ref.filtfilt) expectClose(sosfiltfilt(sos, fx.x), ref.filtfilt, 1e-9);
      if (ref.lfilter) expectClose(sosfilt(sos, fx.x), ref.lfilter, 1e-9);
    }
  });
  it('detrend (linear, constant)', () => {
    expectClose(detrend(fx.x, 'linear'), fx.detrend_linear, 1e-12);
    expectClose(detrend(fx.x, 'constant'), fx.detrend_constant, 1e-12);
  });
});

describe('resampling vs scipy.signal.resample_poly', () => {
  const fx = fixture<{ cases: { fsIn: number; fsOut: number; x: number[]; y: number[] }[] }>('resample.json');
  for (const c of fx.cases) {
    it(`${c.fsIn} → ${c.fsOut} Hz`, () => {
      const g = gcdInt(c.fsIn, c.fsOut);
      const y = resamplePoly(c.x, c.fsOut / g, c.fsIn / g);
      expect(y.length).toBe(c.y.length);
      expectClose(y, c.y, 1e-12);
    });
  }
});

function gcdInt(a: number, b: number): number {
  return b ? gcdInt(b, a % b) : a;
}

interface FeaturesFx {
  fs: number;
  x: number[][];
  cases: { name: string; opts: Partial<FeatureExtractorOptions>; features: number[][][] }[];
  muse: { fs: number; x: number[][]; features: number[][][] };
}

describe('band features vs numpy/scipy', () => {
  const fx = fixture<FeaturesFx>('features.json');
  for (const c of fx.cases) {
    it(c.name, () => {
      const got = extractFeatures(fx.x, { fs: fx.fs, ...c.opts, quality: false });
      expect(got.length).toBe(c.features.length);
      for (let w = 0; w < got.length; w++) {
        for (let ch = 0; ch < got[w]!.length; ch++)
          expectClose(got[w]![ch]!, c.features[w]![ch]!, c.opts.method === 'gauss-de' ? 1e-11 : 1e-12);
      }
    });
  }
  it('seedDE on a single window equals the extractor', () => {
    const c = fx.cases.find((k) => k.name === 'seed-de 4s')!;
    expectClose(seedDE(fx.x[1]!.slice(800, 1600), 200), c.features[1]![1]!, 1e-10);
  });
  it('Muse 256 Hz → resample to 200 Hz → SEED DE', () => {
    const got = extractFeatures(fx.muse.x, { fs: 256, resampleTo: 200, method: 'seed-de', quality: false });
    expect(got.length).toBe(fx.muse.features.length);
    got.forEach((w, i) => w.forEach((ch, c) => expectClose(ch, fx.muse.features[i]![c]!, 1e-10)));
  });
});

describe('smoothing vs numpy', () => {
  const fx = fixture<{ cases: Record<string, number[]>[] }>('smooth.json');
  fx.cases.forEach((c, i) => {
    it(`LDS and moving average, case ${i}`, () => {
      expectClose(ldsSmooth(c.x!), c.lds!, 1e-13);
      expectClose(ldsSmooth(c.x!, { initialMean: 5 }), c.lds_mu0_5!, 1e-13);
      expectClose(ldsSmooth(c.x!, { q: 1e-2, r: 0.5, p0: 0.1 }), c.lds_q_r!, 1e-13);
      expectClose(movingAverage(c.x!), c.ma5!, 1e-13);
      expectClose(movingAverage(c.x!, 3), c.ma3!, 1e-13);
      expectClose(movingAverage(c.x!, 5, 'centered'), c.ma5c!, 1e-13);
      expectClose(movingAverage(c.x!, 4, 'centered'), c.ma4c!, 1e-13);
    });
  });
});
