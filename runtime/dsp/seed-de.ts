/**
 * SEED-lab differential entropy (DE) and PSD, the convention of the released SEED/SEED-IV/SEED-V feature
 * files (../shared/docs/datasets.md, "Feature conventions"):
 *   h[n] = 0.5 − 0.5·cos(2πn/(L+1)), n = 1..L (MATLAB `hanning`, no zero end points),
 *   X = FFT(x·h, nfft), band [f1, f2): s = ⌊f1/fs·nfft⌋, e = ⌊f2/fs·nfft⌋,
 *   E = mean |X_k|² over 0-based bins s−1 … e−1 (adjacent bands share a boundary bin), DE = log2(100·E).
 *
 * Copies of the lab's code differ in the window, the bin offset and nfft; those variants are options:
 * `window` ('matlab-hanning' default, 'hann' = symmetric Hann with zero end points, 'rect'),
 * `binOffset` (−1 default: bins s−1 … e−1; 0: bins s … e), `nfft` (nfft < L truncates the window to
 * its first nfft samples, as `fft(x, nfft)` does in MATLAB and numpy).
 */
import FFT from 'fft.js';
import { SEED_BANDS, type Band } from './bands.js';
import { realFftPlan, type RealFftPlan } from './fft.js';

export type SeedWindow = 'matlab-hanning' | 'hann' | 'rect';

export interface SeedSpectralOptions {
  /** FFT length (power of two). Default: see {@link defaultSeedNfft}. */
  nfft?: number;
  bands?: readonly Band[];
  /** Taper. Default 'matlab-hanning'. */
  window?: SeedWindow;
  /** Offset added to both band-edge bins s and e (inclusive range). Default −1. */
  binOffset?: number;
}

/** 512 for 1-s windows at 200 Hz and 1024 for 4-s windows, as in the lab's code: max(512, next power of two ≥ L). */
export function defaultSeedNfft(windowLength: number): number {
  let n = 512;
  while (n < windowLength) n *= 2;
  return n;
}

const taperCache = new Map<string, Float64Array>();
/** The taper of length L for a SEED window variant. */
export function seedTaper(L: number, kind: SeedWindow = 'matlab-hanning'): Float64Array {
  const key = `${kind}:${L}`;
  let h = taperCache.get(key);
  if (!h) {
    h = new Float64Array(L);
    for (let i = 0; i < L; i++) {
      if (kind === 'matlab-hanning') h[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 1)) / (L + 1));
      else if (kind === 'hann') h[i] = L === 1 ? 1 : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (L - 1));
      else h[i] = 1;
    }
    taperCache.set(key, h);
  }
  return h;
}

interface RealFft {
  fft: FFT;
  input: Float64Array;
  out: Float64Array;
}
/** Throws unless n is a power of two ≥ 4 (the FFT lengths supported). */
export function checkFftLength(n: number): void {
  if (!Number.isInteger(n) || n < 4 || (n & (n - 1)) !== 0) throw new RangeError(`nfft must be a power of two ≥ 4, got ${n}`);
}

const fftCache = new Map<number, RealFft>();
/** A cached fft.js real FFT of length n (power of two) with scratch buffers (the feature paths use the faster, bit-identical {@link RealFftPlan}). */
export function realFft(n: number): RealFft {
  let f = fftCache.get(n);
  if (!f) {
    checkFftLength(n);
    const fft = new FFT(n);
    f = { fft, input: new Float64Array(n), out: new Float64Array(2 * n) };
    fftCache.set(n, f);
  }
  return f;
}

/** Inclusive FFT-bin ranges [first, last] per band for the SEED convention. */
export function seedBandBins(bands: readonly Band[], fs: number, nfft: number, binOffset = -1): Int32Array {
  const r = new Int32Array(2 * bands.length);
  for (let b = 0; b < bands.length; b++) {
    const band = bands[b]!;
    const s = Math.floor((band.lo / fs) * nfft);
    const e = Math.floor((band.hi / fs) * nfft);
    const first = s + binOffset;
    const last = e + binOffset;
    if (first < 0 || last < first || last > nfft / 2) {
      throw new RangeError(
        `band ${band.name} [${band.lo}, ${band.hi}) Hz has no usable FFT bins at fs=${fs} Hz, nfft=${nfft}, binOffset=${binOffset}`,
      );
    }
    r[2 * b] = first;
    r[2 * b + 1] = last;
  }
  return r;
}

/**
 * Precomputed SEED band-energy extractor for a fixed window length: taper, FFT and bin ranges are
 * prepared once. `energy(window, out)` writes E per band into `out`.
 */
export class SeedSpectrum {
  readonly L: number;
  readonly nfft: number;
  readonly nBands: number;
  private readonly taper: Float64Array;
  private readonly bins: Int32Array;
  private readonly plan: RealFftPlan;
  private readonly sums = new Float64Array(2);

  constructor(L: number, fs: number, opts: SeedSpectralOptions = {}) {
    if (!Number.isInteger(L) || L < 2) throw new RangeError(`window length must be an integer ≥ 2 samples, got ${L}`);
    const bands = opts.bands ?? SEED_BANDS;
    this.L = L;
    this.nfft = opts.nfft ?? defaultSeedNfft(L);
    this.nBands = bands.length;
    this.taper = seedTaper(L, opts.window ?? 'matlab-hanning');
    this.bins = seedBandBins(bands, fs, this.nfft, opts.binOffset ?? -1);
    checkFftLength(this.nfft);
    this.plan = realFftPlan(this.nfft);
  }

  energy(window: ArrayLike<number>, out: Float64Array = new Float64Array(this.nBands), offset = 0): Float64Array {
    const { L, nfft, taper, bins } = this;
    if (window.length - offset < L) throw new RangeError(`window must have ${L} samples, got ${window.length - offset}`);
    // Taper applied and zero padding implied inside the FFT's first pass; nfft < L truncates, like fft(x, nfft).
    const spec = this.plan.transform(window, offset, Math.min(L, nfft), taper);
    for (let b = 0; b < this.nBands; b++) {
      const first = bins[2 * b]!;
      const last = bins[2 * b + 1]!;
      let acc = 0;
      for (let k = first; k <= last; k++) {
        const re = spec[2 * k]!;
        const im = spec[2 * k + 1]!;
        acc += re * re + im * im;
      }
      out[b] = acc / (last - first + 1);
    }
    return out;
  }

  /**
   * {@link energy} of two windows at once (two lanes of one SIMD FFT where available); each result is bit
   * for bit what `energy` gives for that window alone.
   */
  energy2(a: ArrayLike<number>, offA: number, outA: Float64Array, b: ArrayLike<number>, offB: number, outB: Float64Array): void {
    const { L, nfft, taper, bins } = this;
    if (a.length - offA < L || b.length - offB < L)
      throw new RangeError(`window must have ${L} samples, got ${Math.min(a.length - offA, b.length - offB)}`);
    this.plan.transform2(a, offA, b, offB, Math.min(L, nfft), taper);
    const sums = this.sums;
    for (let band = 0; band < this.nBands; band++) {
      const first = bins[2 * band]!;
      const last = bins[2 * band + 1]!;
      this.plan.powerSum2(first, last, sums);
      outA[band] = sums[0]! / (last - first + 1);
      outB[band] = sums[1]! / (last - first + 1);
    }
  }
}

/** Mean |X_k|² per band for one window: the SEED-lab "PSD" feature. */
export function seedBandEnergy(window: ArrayLike<number>, fs: number, opts: SeedSpectralOptions = {}): Float64Array {
  return new SeedSpectrum(window.length, fs, opts).energy(window);
}

/** SEED-lab DE for one window: log2(100·E) per band. */
export function seedDE(window: ArrayLike<number>, fs: number, opts: SeedSpectralOptions = {}): Float64Array {
  const e = seedBandEnergy(window, fs, opts);
  for (let b = 0; b < e.length; b++) e[b] = Math.log2(100 * e[b]!);
  return e;
}
