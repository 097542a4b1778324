/**
 * Other band features: Welch PSD with absolute and relative band powers (the BrainFlow recipe:
 * Welch with a periodic Hann window, 50 % overlap, per-segment mean removal, density scaling, then the
 * trapezoidal integral of the PSD over lo ≤ f ≤ hi), and the textbook Gaussian differential entropy
 * ½·ln(2πe·σ²) of a Butterworth band-passed signal.
 */
import { SEED_BANDS, type Band } from './bands.js';
import { butterSos } from './butter.js';
import { SosFilter } from './filter.js';
import { realFftPlan } from './fft.js';
import { iirKernels, simdAlloc, type IirKernels } from './simd.js';
import { checkFftLength } from './seed-de.js';

export interface WelchOptions {
  /** Segment length (power of two, ≤ window length). Default: the power of two nearest fs, capped at the window length. */
  nperseg?: number;
  /** Overlap in samples. Default nperseg/2. */
  noverlap?: number;
  bands?: readonly Band[];
}

/** Power of two nearest to `x` (ties round up). */
export function nearestPowerOfTwo(x: number): number {
  const lo = 2 ** Math.floor(Math.log2(x));
  return x - lo < 2 * lo - x ? lo : 2 * lo;
}

export function defaultWelchNperseg(L: number, fs: number): number {
  let n = nearestPowerOfTwo(fs);
  while (n > L) n /= 2;
  return n;
}

/** Welch PSD of windows of a fixed length L; `psd(x)` returns the one-sided density on rfft bins 0..nperseg/2. */
export class WelchSpectrum {
  readonly L: number;
  readonly fs: number;
  readonly nperseg: number;
  readonly noverlap: number;
  readonly nSegments: number;
  readonly bands: readonly Band[];
  /** Bin frequencies (Hz). */
  readonly freqs: Float64Array;
  private readonly taper: Float64Array;
  private readonly scale: number;
  private readonly psdBuf: Float64Array;
  private readonly bandBins: Int32Array;
  private psdBufB: Float64Array | null = null;

  constructor(L: number, fs: number, opts: WelchOptions = {}) {
    this.L = L;
    this.fs = fs;
    this.nperseg = opts.nperseg ?? defaultWelchNperseg(L, fs);
    this.noverlap = opts.noverlap ?? Math.floor(this.nperseg / 2);
    this.bands = opts.bands ?? SEED_BANDS;
    const { nperseg, noverlap } = this;
    if (nperseg > L) throw new RangeError(`Welch segment (${nperseg}) is longer than the window (${L} samples)`);
    if (!(noverlap >= 0 && noverlap < nperseg)) throw new RangeError(`Welch overlap must be in [0, ${nperseg}), got ${noverlap}`);
    checkFftLength(nperseg);
    this.nSegments = Math.floor((L - noverlap) / (nperseg - noverlap));
    this.taper = new Float64Array(nperseg);
    let s2 = 0;
    for (let i = 0; i < nperseg; i++) {
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nperseg); // periodic Hann (scipy get_window default)
      this.taper[i] = w;
      s2 += w * w;
    }
    this.scale = 1 / (fs * s2);
    const nb = nperseg / 2 + 1;
    this.freqs = new Float64Array(nb);
    for (let k = 0; k < nb; k++) this.freqs[k] = k * (1 / (nperseg * (1 / fs)));
    this.psdBuf = new Float64Array(nb);

    this.bandBins = new Int32Array(2 * this.bands.length);
    for (let b = 0; b < this.bands.length; b++) {
      const { lo, hi, name } = this.bands[b]!;
      let first = -1;
      let last = -2;
      for (let k = 0; k < nb; k++) {
        if (this.freqs[k]! >= lo && this.freqs[k]! <= hi) {
          if (first < 0) first = k;
          last = k;
        }
      }
      if (last - first < 1)
        throw new RangeError(`band ${name} [${lo}, ${hi}] Hz spans fewer than two Welch bins (fs=${fs}, nperseg=${nperseg})`);
      this.bandBins[2 * b] = first;
      this.bandBins[2 * b + 1] = last;
    }
  }

  psd(x: ArrayLike<number>, offset = 0, out: Float64Array = this.psdBuf): Float64Array {
    const { nperseg, noverlap, nSegments, taper } = this;
    const f = realFftPlan(nperseg);
    const nb = nperseg / 2 + 1;
    out.fill(0, 0, nb);
    const step = nperseg - noverlap;
    // Segments two at a time (the two lanes of one SIMD FFT where available), accumulated in segment
    // order; per-segment mean removal ('constant' detrend) and the taper are part of the FFT's input stage.
    for (let s = 0; s < nSegments; s += 2) {
      const o = offset + s * step;
      const pair = s + 1 < nSegments;
      const { s: spec, base } = f.transform2(x, o, x, pair ? o + step : o, nperseg, taper, true);
      for (let k = 0, j = base; k < nb; k++, j += 4) {
        const re = spec[j]!;
        const im = spec[j + 2]!;
        out[k]! += re * re + im * im;
      }
      if (pair) {
        for (let k = 0, j = base; k < nb; k++, j += 4) {
          const re = spec[j + 1]!;
          const im = spec[j + 3]!;
          out[k]! += re * re + im * im;
        }
      }
    }
    this.finishPsd(out);
    return out;
  }

  /** One-sided density scaling and the average over segments. */
  private finishPsd(out: Float64Array): void {
    const { scale, nSegments } = this;
    const nb = this.nperseg / 2 + 1;
    for (let k = 0; k < nb; k++) {
      // One-sided: double all but DC and Nyquist.
      const one = k === 0 || k === nb - 1 ? 1 : 2;
      out[k] = (out[k]! * scale * one) / nSegments;
    }
  }

  /** `psd` of two windows at once (segment s of both in the two SIMD lanes); each result is what `psd` gives. */
  private psd2(a: ArrayLike<number>, offA: number, outA: Float64Array, b: ArrayLike<number>, offB: number, outB: Float64Array): void {
    const { nperseg, noverlap, nSegments, taper } = this;
    const f = realFftPlan(nperseg);
    const step = nperseg - noverlap;
    for (let s = 0; s < nSegments; s++) {
      f.transform2(a, offA + s * step, b, offB + s * step, nperseg, taper, true);
      // Σ over segments in segment order, starting from 0 as the one-signal path does.
      f.powerAccumulate2(s === 0);
    }
    f.powerRead2(outA, outB);
    this.finishPsd(outA);
    this.finishPsd(outB);
  }

  /** Absolute band powers (trapezoidal integral of the PSD over each band, units²). */
  bandPowers(x: ArrayLike<number>, offset = 0, out: Float64Array = new Float64Array(this.bands.length), relative = false): Float64Array {
    return this.integrate(this.psd(x, offset), out, relative);
  }

  /** `bandPowers` of two windows at once; each result is bit for bit what `bandPowers` gives. */
  bandPowers2(
    a: ArrayLike<number>,
    offA: number,
    outA: Float64Array,
    b: ArrayLike<number>,
    offB: number,
    outB: Float64Array,
    relative = false,
  ): void {
    const pb = (this.psdBufB ??= new Float64Array(this.psdBuf.length));
    this.psd2(a, offA, this.psdBuf, b, offB, pb);
    this.integrate(this.psdBuf, outA, relative);
    this.integrate(pb, outB, relative);
  }

  private integrate(p: Float64Array, out: Float64Array, relative: boolean): Float64Array {
    const fr = this.freqs;
    let total = 0;
    for (let b = 0; b < this.bands.length; b++) {
      const first = this.bandBins[2 * b]!;
      const last = this.bandBins[2 * b + 1]!;
      let acc = 0;
      for (let k = first; k < last; k++) acc += (fr[k + 1]! - fr[k]!) * ((p[k + 1]! + p[k]!) / 2);
      out[b] = acc;
      total += acc;
    }
    if (relative) for (let b = 0; b < this.bands.length; b++) out[b] = out[b]! / total;
    return out;
  }
}

/** Welch band powers for one window (relative = divided by the sum over the bands, BrainFlow's avg band powers per channel). */
export function welchBandPowers(x: ArrayLike<number>, fs: number, opts: WelchOptions & { relative?: boolean } = {}): Float64Array {
  const w = new WelchSpectrum(x.length, fs, opts);
  return w.bandPowers(x, 0, undefined, opts.relative ?? false);
}

/** Gaussian differential entropy of samples: ½·ln(2πe·σ²) with the population variance. */
export function gaussianEntropy(x: ArrayLike<number>, offset = 0, length = x.length - offset): number {
  let mean = 0;
  for (let i = 0; i < length; i++) mean += x[offset + i]!;
  mean /= length;
  let v = 0;
  for (let i = 0; i < length; i++) {
    const d = x[offset + i]! - mean;
    v += d * d;
  }
  v /= length;
  return 0.5 * Math.log(2 * Math.PI * Math.E * v);
}

let entropyScratch: { k: IirKernels; at: number; bytes: number } | null = null;

/**
 * {@link gaussianEntropy} of the `length` samples of nBands signals stored two per array, interleaved
 * (pairs[p][offsets[p] + 2i + lane] is sample i of band 2p + lane), into out[band]. Same arithmetic per
 * band; with WebAssembly SIMD three pairs (six bands) run side by side in the lanes of one pass.
 */
export function pairedGaussianEntropies(
  pairs: readonly Float64Array[],
  offsets: ArrayLike<number>,
  length: number,
  nBands: number,
  out: Float64Array,
): Float64Array {
  const k = iirKernels();
  if (!k) {
    for (let b = 0; b < nBands; b++) {
      const x = pairs[b >> 1]!;
      const o = offsets[b >> 1]! + (b & 1);
      let mean = 0;
      for (let i = 0; i < length; i++) mean += x[o + 2 * i]!;
      mean /= length;
      let v = 0;
      for (let i = 0; i < length; i++) {
        const d = x[o + 2 * i]! - mean;
        v += d * d;
      }
      v /= length;
      out[b] = 0.5 * Math.log(2 * Math.PI * Math.E * v);
    }
    return out;
  }
  const bytes = 3 * 16 * length + 48;
  if (!entropyScratch || entropyScratch.k !== k || entropyScratch.bytes < bytes)
    entropyScratch = { k, at: simdAlloc(k.memory, bytes), bytes };
  const base = entropyScratch.at;
  const mem = new Float64Array(k.memory.buffer);
  const nPairs = (nBands + 1) >> 1;
  for (let p0 = 0; p0 < nPairs; p0 += 3) {
    const g = Math.min(3, nPairs - p0);
    for (let j = 0; j < g; j++) {
      const o = offsets[p0 + j]!;
      mem.set(pairs[p0 + j]!.subarray(o, o + 2 * length), (base >>> 3) + 2 * j * length);
    }
    // Unused slots repeat the first array (results ignored).
    const ptr = (j: number) => base + 16 * length * (j < g ? j : 0);
    const res = base + 3 * 16 * length;
    k.var3(ptr(0), ptr(1), ptr(2), length, res);
    for (let j = 0; j < 2 * g; j++) {
      const b = 2 * p0 + j;
      if (b < nBands) out[b] = 0.5 * Math.log(2 * Math.PI * Math.E * (mem[(res >>> 3) + j]! / length));
    }
  }
  return out;
}

export interface GaussDEOptions {
  bands?: readonly Band[];
  /** Butterworth order per band-pass (the filter has 2·order poles). Default 4. */
  order?: number;
}

/** One causal Butterworth band-pass per band; SOS per band, like scipy.signal.butter(order, [lo, hi], 'bandpass', fs=fs, output='sos'). */
export function bandFilterBank(fs: number, opts: GaussDEOptions = {}): SosFilter[] {
  const bands = opts.bands ?? SEED_BANDS;
  return bands.map((b) => new SosFilter(butterSos(opts.order ?? 4, [b.lo, b.hi], 'bandpass', { fs })));
}

/**
 * Textbook DE per band for consecutive windows of a whole signal: causal band-pass from rest over the
 * entire signal, then ½·ln(2πe·σ²) per window of L samples every `hop` samples. Returns [window][band].
 */
export function gaussianDE(x: ArrayLike<number>, fs: number, L: number, hop = L, opts: GaussDEOptions = {}): Float64Array[] {
  const bank = bandFilterBank(fs, opts);
  const filtered = bank.map((f) => f.process(x));
  const out: Float64Array[] = [];
  for (let s = 0; s + L <= x.length; s += hop) out.push(Float64Array.from(filtered, (y) => gaussianEntropy(y, s, L)));
  return out;
}
