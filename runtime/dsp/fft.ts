/**
 * Power-of-two real FFT for the feature paths (SEED spectrum, Welch segments), specialised for speed:
 * forward only, typed arrays, the window taper (and a mean to remove) applied while reading the input in
 * the first, bit-reversing pass, zero padding never stored, and — `transform2` — two inputs transformed at
 * once in the two lanes of WebAssembly SIMD kernels (./simd.ts), with a TypeScript fallback.
 *
 * It is the radix-4 decimation-in-time scheme that fft.js's `realTransform` uses (real input, the mirrored
 * half of each butterfly derived from the other), with the same twiddle values and the same floating-
 * point operations in the same order per output, so every feature is bit-for-bit what it was with fft.js
 * (the only freedom taken is the sign of a zero: the i = 0 butterflies skip the multiplications by the
 * twiddle (1, −0), which can turn a −0 into +0 but never change a non-zero value, and callers only use
 * |X_k|²). fft.js stays the general-purpose FFT exported as `realFft`.
 */

import { fftKernels, simdAlloc, type FftKernels } from './simd.js';

/** Byte offsets of a plan's regions in the SIMD kernels' memory. */
interface SimdRegions {
  k: FftKernels;
  out: number;
  inp: number;
  rev: number;
  tw: number[];
  xa: number;
  xb: number;
  taper: number;
  /** The taper array last copied into `taper`. */
  taperSrc: Float64Array | null;
  /** Per-lane power accumulator (n/2 + 1 slots) and a 16-byte result slot. */
  acc: number;
  res: number;
}

export class RealFftPlan {
  readonly n: number;
  /** Interleaved spectrum (re, im) — bins 0..n/2 are valid after `transform`; 2n numbers of scratch. */
  readonly out: Float64Array;
  /** Real input index read by each first-pass group (bit-reversed order). */
  private readonly rev: Int32Array;
  /** Per later pass, per butterfly i: (cos, −sin) of the B, C and D twiddles, contiguous. */
  private readonly tw: Float64Array[];
  private readonly radix4First: boolean;
  private simd: SimdRegions | null | undefined;
  private pairOut: Float64Array | null = null;
  private accJs: Float64Array | null = null;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 4 || (n & (n - 1)) !== 0) throw new RangeError(`FFT length must be a power of two ≥ 4, got ${n}`);
    this.n = n;
    this.out = new Float64Array(2 * n);
    const size = 2 * n; // doubles in the complex work array
    // Twiddle e^{−iπj/n} at double index 2j, computed exactly as fft.js does (cos(π·2j/n), −sin(π·2j/n)).
    const table = new Float64Array(size);
    for (let i = 0; i < size; i += 2) {
      const angle = (Math.PI * i) / n;
      table[i] = Math.cos(angle);
      table[i + 1] = -Math.sin(angle);
    }
    let power = 0;
    while (1 << power < n) power++;
    // Even powers start with a radix-4 pass (groups of 4), odd powers with radix-2 (groups of 2).
    const width = power % 2 === 0 ? power - 1 : power;
    this.radix4First = power % 2 === 0;
    let step = 1 << width;
    const groups = size / ((size / step) << 1);
    this.rev = new Int32Array(groups);
    for (let t = 0; t < groups; t++) {
      let r = 0;
      for (let shift = 0; shift < width; shift += 2) {
        const revShift = width - shift - 2;
        // For odd widths the last digit would land at a negative shift; it is always 0 for the groups used.
        if (revShift >= 0) r |= ((t >>> shift) & 3) << revShift;
      }
      this.rev[t] = r >>> 1;
    }
    this.tw = [];
    for (step >>= 2; step >= 2; step >>= 2) {
      const len = (size / step) << 1;
      const hq = len >>> 3;
      const w = new Float64Array(6 * (hq / 2 + 1));
      for (let i = 0, k = 0, j = 0; i <= hq; i += 2, k += step, j += 6) {
        w[j] = table[k]!;
        w[j + 1] = table[k + 1]!;
        w[j + 2] = table[2 * k]!;
        w[j + 3] = table[2 * k + 1]!;
        w[j + 4] = table[3 * k]!;
        w[j + 5] = table[3 * k + 1]!;
      }
      this.tw.push(w);
    }
  }

  /**
   * Spectrum of x'[j] = (src[off + j] − mean)·taper[j] for j < count, zero for count ≤ j < n
   * (count ≤ n, count ≤ taper.length). Result in `this.out` (bins 0..n/2, interleaved).
   */
  transform(src: ArrayLike<number>, off: number, count: number, taper: Float64Array, mean = 0): Float64Array {
    const { n, out, rev } = this;
    if (this.radix4First) {
      const q = n >>> 2;
      const groups = rev.length;
      for (let t = 0, o = 0; t < groups; t++, o += 8) {
        const j = rev[t]!;
        // Zero-padded samples read as +0, as they would from a zero-filled input array.
        const a = j < count ? (src[off + j]! - mean) * taper[j]! : 0;
        const j1 = j + q;
        const b = j1 < count ? (src[off + j1]! - mean) * taper[j1]! : 0;
        const j2 = j1 + q;
        const c = j2 < count ? (src[off + j2]! - mean) * taper[j2]! : 0;
        const j3 = j2 + q;
        const d = j3 < count ? (src[off + j3]! - mean) * taper[j3]! : 0;
        const t0 = a + c;
        const t1 = a - c;
        const t2 = b + d;
        const t3 = b - d;
        out[o] = t0 + t2;
        out[o + 1] = 0;
        out[o + 2] = t1;
        out[o + 3] = -t3;
        out[o + 4] = t0 - t2;
        out[o + 5] = 0;
        out[o + 6] = t1;
        out[o + 7] = t3;
      }
    } else {
      const h = n >>> 1;
      const groups = rev.length;
      for (let t = 0, o = 0; t < groups; t++, o += 4) {
        const j = rev[t]!;
        const a = j < count ? (src[off + j]! - mean) * taper[j]! : 0;
        const j1 = j + h;
        const b = j1 < count ? (src[off + j1]! - mean) * taper[j1]! : 0;
        out[o] = a + b;
        out[o + 1] = 0;
        out[o + 2] = a - b;
        out[o + 3] = 0;
      }
    }
    const tws = this.tw;
    // The first pass leaves blocks of 8 (radix-4) or 4 (radix-2) doubles; each later pass merges 4 blocks.
    let len = this.radix4First ? 8 : 4;
    for (let p = 0; p < tws.length; p++) {
      len <<= 2;
      this.pass(tws[p]!, len);
    }
    return out;
  }

  /**
   * The spectra of two inputs at once, x'a[j] = (a[offA + j] − ma)·taper[j] and likewise x'b, j < count
   * (zero padded to n), where ma, mb are 0 or, with `demean`, each input's mean over its count samples
   * (summed in index order, as Welch's constant detrend). Returns an array `s` and a base index `b` such
   * that bin k of input a is (s[b + 4k], s[b + 4k + 2]) and of input b (s[b + 4k + 1], s[b + 4k + 3]),
   * bins 0..n/2. Each is bit for bit what `transform` gives for that input alone; with WebAssembly SIMD
   * the two run in the two lanes of one pass.
   */
  transform2(
    a: ArrayLike<number>,
    offA: number,
    b: ArrayLike<number>,
    offB: number,
    count: number,
    taper: Float64Array,
    demean = false,
  ): { s: Float64Array; base: number } {
    const n = this.n;
    const kernels = fftKernels();
    if (this.simd === undefined || (this.simd ? this.simd.k : null) !== kernels) this.simd = this.setupSimd();
    const r = this.simd;
    if (!r) {
      // TypeScript path, same layout.
      const s = (this.pairOut ??= new Float64Array(2 * n + 4));
      const half = n / 2;
      let spec = this.transform(a, offA, count, taper, demean ? meanOf(a, offA, count) : 0);
      for (let k = 0; k <= half; k++) {
        s[4 * k] = spec[2 * k]!;
        s[4 * k + 2] = spec[2 * k + 1]!;
      }
      spec = this.transform(b, offB, count, taper, demean ? meanOf(b, offB, count) : 0);
      for (let k = 0; k <= half; k++) {
        s[4 * k + 1] = spec[2 * k]!;
        s[4 * k + 3] = spec[2 * k + 1]!;
      }
      return { s, base: 0 };
    }
    const mem = new Float64Array(r.k.memory.buffer);
    stage(mem, r.xa >>> 3, a, offA, count);
    stage(mem, r.xb >>> 3, b, offB, count);
    if (r.taperSrc !== taper) {
      mem.set(taper.subarray(0, n), r.taper >>> 3);
      r.taperSrc = taper;
    }
    const { k } = r;
    k.prep(r.inp, r.xa, r.xb, r.taper, count, n, demean ? 1 : 0);
    if (this.radix4First) k.first4(r.out, r.inp, r.rev, this.rev.length, 16 * (n >>> 2));
    else k.first2(r.out, r.inp, r.rev, this.rev.length, 16 * (n >>> 1));
    let len = this.radix4First ? 8 : 4;
    const end = r.out + 32 * n;
    for (let p = 0; p < r.tw.length; p++) {
      len <<= 2;
      k.pass(r.out, end, 16 * len, r.tw[p]!);
    }
    return { s: mem, base: r.out >>> 3 };
  }

  /**
   * After `transform2`: Σ |X_k|² over first ≤ k ≤ last, summed in k order, of input a into sums[0] and of
   * input b into sums[1].
   */
  powerSum2(first: number, last: number, sums: Float64Array): void {
    const r = this.simd;
    if (r) {
      r.k.psum(r.out, first, last, r.res);
      const mem = new Float64Array(r.k.memory.buffer, r.res, 2);
      sums[0] = mem[0]!;
      sums[1] = mem[1]!;
      return;
    }
    const s = this.pairOut!;
    let a = 0;
    let b = 0;
    for (let k = first, j = 4 * first; k <= last; k++, j += 4) {
      const ra = s[j]!,
        rb = s[j + 1]!,
        ia = s[j + 2]!,
        ib = s[j + 3]!;
      a += ra * ra + ia * ia;
      b += rb * rb + ib * ib;
    }
    sums[0] = a;
    sums[1] = b;
  }

  /**
   * Per-input running sums of |X_k|², k = 0..n/2, over successive `transform2` calls (Welch's sum over
   * segments): `powerAccumulate2(true)` after the first transform starts them, later calls add in call
   * order; `powerRead2` copies them out.
   */
  powerAccumulate2(first: boolean): void {
    const nb = this.n / 2 + 1;
    const r = this.simd;
    if (r) {
      if (first) new Float64Array(r.k.memory.buffer, r.acc, 2 * nb).fill(0);
      r.k.powacc(r.out, r.acc, nb);
      return;
    }
    const s = this.pairOut!;
    const acc = (this.accJs ??= new Float64Array(2 * nb));
    if (first) acc.fill(0);
    for (let k = 0, j = 0; k < nb; k++, j += 4) {
      const ra = s[j]!,
        rb = s[j + 1]!,
        ia = s[j + 2]!,
        ib = s[j + 3]!;
      acc[2 * k] += ra * ra + ia * ia;
      acc[2 * k + 1] += rb * rb + ib * ib;
    }
  }

  powerRead2(outA: Float64Array, outB: Float64Array): void {
    const nb = this.n / 2 + 1;
    const r = this.simd;
    const acc = r ? new Float64Array(r.k.memory.buffer, r.acc, 2 * nb) : this.accJs!;
    for (let k = 0; k < nb; k++) {
      outA[k] = acc[2 * k]!;
      outB[k] = acc[2 * k + 1]!;
    }
  }

  private setupSimd(): SimdRegions | null {
    const k = fftKernels();
    if (!k) return null;
    const n = this.n;
    const out = simdAlloc(k.memory, 32 * n);
    const inp = simdAlloc(k.memory, 16 * n);
    const rev = simdAlloc(k.memory, 4 * this.rev.length);
    const tw = this.tw.map((w) => simdAlloc(k.memory, 16 * w.length));
    const xa = simdAlloc(k.memory, 8 * n);
    const xb = simdAlloc(k.memory, 8 * n);
    const taper = simdAlloc(k.memory, 8 * n);
    const acc = simdAlloc(k.memory, 16 * (n / 2 + 1));
    const res = simdAlloc(k.memory, 16);
    // Views only after all allocations (the memory may have grown).
    new Int32Array(k.memory.buffer, rev, this.rev.length).set(this.rev);
    const mem = new Float64Array(k.memory.buffer);
    this.tw.forEach((w, p) => {
      const o = tw[p]! >>> 3;
      for (let i = 0; i < w.length; i++) mem[o + 2 * i] = mem[o + 2 * i + 1] = w[i]!;
    });
    return { k, out, inp, rev, tw, xa, xb, taper, taperSrc: null, acc, res };
  }

  /** One radix-4 pass over blocks of `len` doubles (real-input form: only the first half of each block is computed, the rest mirrored). */
  private pass(w: Float64Array, len: number): void {
    const out = this.out;
    const size = 2 * this.n;
    const halfLen = len >>> 1;
    const quarterLen = halfLen >>> 1;
    const hq = quarterLen >>> 1;
    for (let outOff = 0; outOff < size; outOff += len) {
      // i = 0: twiddles are 1, so B, C, D enter unmultiplied; C's output is the block's middle bin.
      {
        const A = outOff;
        const B = A + quarterLen;
        const C = B + quarterLen;
        const D = C + quarterLen;
        const Ar = out[A]!,
          Ai = out[A + 1]!;
        const Br = out[B]!,
          Bi = out[B + 1]!;
        const Cr = out[C]!,
          Ci = out[C + 1]!;
        const Dr = out[D]!,
          Di = out[D + 1]!;
        const T0r = Ar + Cr,
          T0i = Ai + Ci,
          T1r = Ar - Cr,
          T1i = Ai - Ci;
        const T2r = Br + Dr,
          T2i = Bi + Di,
          T3r = Br - Dr,
          T3i = Bi - Di;
        out[A] = T0r + T2r;
        out[A + 1] = T0i + T2i;
        out[B] = T1r + T3i;
        out[B + 1] = T1i - T3r;
        out[C] = T0r - T2r;
        out[C + 1] = T0i - T2i;
      }
      for (let i = 2, j = 6; i < hq; i += 2, j += 6) {
        const A = outOff + i;
        const B = A + quarterLen;
        const C = B + quarterLen;
        const D = C + quarterLen;
        const Ar = out[A]!,
          Ai = out[A + 1]!;
        const Br = out[B]!,
          Bi = out[B + 1]!;
        const Cr = out[C]!,
          Ci = out[C + 1]!;
        const Dr = out[D]!,
          Di = out[D + 1]!;
        const wBr = w[j]!,
          wBi = w[j + 1]!,
          wCr = w[j + 2]!,
          wCi = w[j + 3]!,
          wDr = w[j + 4]!,
          wDi = w[j + 5]!;
        const MBr = Br * wBr - Bi * wBi;
        const MBi = Br * wBi + Bi * wBr;
        const MCr = Cr * wCr - Ci * wCi;
        const MCi = Cr * wCi + Ci * wCr;
        const MDr = Dr * wDr - Di * wDi;
        const MDi = Dr * wDi + Di * wDr;
        const T0r = Ar + MCr,
          T0i = Ai + MCi,
          T1r = Ar - MCr,
          T1i = Ai - MCi;
        const T2r = MBr + MDr,
          T2i = MBi + MDi,
          T3r = MBr - MDr,
          T3i = MBi - MDi;
        out[A] = T0r + T2r;
        out[A + 1] = T0i + T2i;
        out[B] = T1r + T3i;
        out[B + 1] = T1i - T3r;
        // Mirrored outputs of the same butterfly (conjugate symmetry of a real input).
        const SA = outOff + quarterLen - i;
        const SB = outOff + halfLen - i;
        out[SA] = T1r - T3i;
        out[SA + 1] = -T1i - T3r;
        out[SB] = T0r - T2r;
        out[SB + 1] = T2i - T0i;
      }
      if (hq > 0) {
        // i = hq: the mirrored outputs coincide with these, so only A and B are written.
        const j = 3 * hq;
        const A = outOff + hq;
        const B = A + quarterLen;
        const C = B + quarterLen;
        const D = C + quarterLen;
        const Ar = out[A]!,
          Ai = out[A + 1]!;
        const Br = out[B]!,
          Bi = out[B + 1]!;
        const Cr = out[C]!,
          Ci = out[C + 1]!;
        const Dr = out[D]!,
          Di = out[D + 1]!;
        const wBr = w[j]!,
          wBi = w[j + 1]!,
          wCr = w[j + 2]!,
          wCi = w[j + 3]!,
          wDr = w[j + 4]!,
          wDi = w[j + 5]!;
        const MBr = Br * wBr - Bi * wBi;
        const MBi = Br * wBi + Bi * wBr;
        const MCr = Cr * wCr - Ci * wCi;
        const MCi = Cr * wCi + Ci * wCr;
        const MDr = Dr * wDr - Di * wDi;
        const MDi = Dr * wDi + Di * wDr;
        const T0r = Ar + MCr,
          T0i = Ai + MCi,
          T1r = Ar - MCr,
          T1i = Ai - MCi;
        const T2r = MBr + MDr,
          T2i = MBi + MDi,
          T3r = MBr - MDr,
          T3i = MBi - MDi;
        out[A] = T0r + T2r;
        out[A + 1] = T0i + T2i;
        out[B] = T1r + T3i;
        out[B + 1] = T1i - T3r;
      }
    }
  }
}

/** Mean of count samples from off, summed in index order. */
function meanOf(x: ArrayLike<number>, off: number, count: number): number {
  let m = 0;
  for (let i = 0; i < count; i++) m += x[off + i]!;
  return m / count;
}

/** Copy count samples of x from off into mem at index at (a block copy for typed arrays). */
function stage(mem: Float64Array, at: number, x: ArrayLike<number>, off: number, count: number): void {
  if (x instanceof Float64Array) mem.set(x.subarray(off, off + count), at);
  else for (let i = 0; i < count; i++) mem[at + i] = x[off + i]!;
}

const plans = new Map<number, RealFftPlan>();
/** Shared plan of length n (the extractor is single-threaded; each call overwrites `plan.out`). */
export function realFftPlan(n: number): RealFftPlan {
  let p = plans.get(n);
  if (!p) {
    p = new RealFftPlan(n);
    plans.set(n, p);
  }
  return p;
}
