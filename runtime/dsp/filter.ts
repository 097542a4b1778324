/**
 * Filtering with second-order sections: causal `sosfilt` (with state carried between blocks, for
 * streaming), zero-phase `sosfiltfilt` (offline; scipy's default odd padding and steady-state initial
 * conditions), and detrending. Same arithmetic as scipy.signal (transposed direct form II per section).
 */
import type { Sos } from './butter.js';
import { iirKernels, simdAlloc, type IirKernels } from './simd.js';

function checkSos(sos: Sos): number {
  if (sos.length === 0 || sos.length % 6 !== 0) throw new RangeError(`SOS must hold 6 numbers per section, got ${sos.length}`);
  const n = sos.length / 6;
  for (let s = 0; s < n; s++) {
    if (sos[6 * s + 3] !== 1) throw new RangeError(`SOS section ${s} must be normalised (a0 = 1), got a0 = ${sos[6 * s + 3]}`);
  }
  return n;
}

/**
 * Causal SOS filter with internal state: `process` any block size, concatenated outputs equal one
 * `sosfilt` over the concatenated input.
 */
export class SosFilter {
  readonly sos: Sos;
  readonly nSections: number;
  /** State, 2 numbers per section (scipy's `zi` layout). */
  readonly state: Float64Array;

  constructor(sos: Sos, zi?: ArrayLike<number>) {
    this.nSections = checkSos(sos);
    this.sos = Float64Array.from(sos);
    this.state = new Float64Array(2 * this.nSections);
    if (zi) {
      if (zi.length !== this.state.length) throw new RangeError(`zi must have ${this.state.length} values, got ${zi.length}`);
      this.state.set(Array.from(zi));
    }
  }

  reset(zi?: ArrayLike<number>): void {
    if (zi) this.state.set(Array.from(zi));
    else this.state.fill(0);
  }

  /** Filter one sample. */
  step(x: number): number {
    const { sos, state: z, nSections } = this;
    let cur = x;
    for (let s = 0; s < nSections; s++) {
      const o = 6 * s;
      const y = sos[o]! * cur + z[2 * s]!;
      z[2 * s] = sos[o + 1]! * cur - sos[o + 4]! * y + z[2 * s + 1]!;
      z[2 * s + 1] = sos[o + 2]! * cur - sos[o + 5]! * y;
      cur = y;
    }
    return cur;
  }

  /** Filter a block; writes into `out` (may be the input array) and returns it. */
  process(x: ArrayLike<number>, out: Float64Array = new Float64Array(x.length)): Float64Array {
    const n = x.length;
    if (n === 0) return out;
    // Up to four cascaded sections per sweep over the block, advanced together sample by sample: each
    // section's recursion is a serial chain of ~4 dependent flops per sample, so running four of them
    // side by side keeps the FPU busy instead of waiting on one chain. Per sample and section the
    // operations are exactly those of `step`, so the output is the same bit for bit.
    let src: ArrayLike<number> = x;
    for (let s = 0; s < this.nSections; s += 4) {
      const k = Math.min(4, this.nSections - s);
      if (k === 4) this.sweep4(src, out, n, s);
      else if (k === 3) {
        this.sweep2(src, out, n, s);
        this.sweep1(out, out, n, s + 2);
      } else if (k === 2) this.sweep2(src, out, n, s);
      else this.sweep1(src, out, n, s);
      src = out;
    }
    return out;
  }

  private sweep1(x: ArrayLike<number>, out: Float64Array, n: number, s: number): void {
    const { sos, state: z } = this;
    const o = 6 * s;
    const b0 = sos[o]!,
      b1 = sos[o + 1]!,
      b2 = sos[o + 2]!,
      a1 = sos[o + 4]!,
      a2 = sos[o + 5]!;
    let z0 = z[2 * s]!,
      z1 = z[2 * s + 1]!;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const y = b0 * xi + z0;
      z0 = b1 * xi - a1 * y + z1;
      z1 = b2 * xi - a2 * y;
      out[i] = y;
    }
    z[2 * s] = z0;
    z[2 * s + 1] = z1;
  }

  private sweep2(x: ArrayLike<number>, out: Float64Array, n: number, s: number): void {
    const { sos, state: z } = this;
    const o = 6 * s;
    const p0 = sos[o]!,
      p1 = sos[o + 1]!,
      p2 = sos[o + 2]!,
      pa1 = sos[o + 4]!,
      pa2 = sos[o + 5]!;
    const q0 = sos[o + 6]!,
      q1 = sos[o + 7]!,
      q2 = sos[o + 8]!,
      qa1 = sos[o + 10]!,
      qa2 = sos[o + 11]!;
    let u0 = z[2 * s]!,
      u1 = z[2 * s + 1]!,
      v0 = z[2 * s + 2]!,
      v1 = z[2 * s + 3]!;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const y = p0 * xi + u0;
      u0 = p1 * xi - pa1 * y + u1;
      u1 = p2 * xi - pa2 * y;
      const w = q0 * y + v0;
      v0 = q1 * y - qa1 * w + v1;
      v1 = q2 * y - qa2 * w;
      out[i] = w;
    }
    z[2 * s] = u0;
    z[2 * s + 1] = u1;
    z[2 * s + 2] = v0;
    z[2 * s + 3] = v1;
  }

  private sweep4(x: ArrayLike<number>, out: Float64Array, n: number, s: number): void {
    const { sos, state: z } = this;
    const o = 6 * s;
    const p0 = sos[o]!,
      p1 = sos[o + 1]!,
      p2 = sos[o + 2]!,
      pa1 = sos[o + 4]!,
      pa2 = sos[o + 5]!;
    const q0 = sos[o + 6]!,
      q1 = sos[o + 7]!,
      q2 = sos[o + 8]!,
      qa1 = sos[o + 10]!,
      qa2 = sos[o + 11]!;
    const r0 = sos[o + 12]!,
      r1 = sos[o + 13]!,
      r2 = sos[o + 14]!,
      ra1 = sos[o + 16]!,
      ra2 = sos[o + 17]!;
    const t0 = sos[o + 18]!,
      t1 = sos[o + 19]!,
      t2 = sos[o + 20]!,
      ta1 = sos[o + 22]!,
      ta2 = sos[o + 23]!;
    let u0 = z[2 * s]!,
      u1 = z[2 * s + 1]!,
      v0 = z[2 * s + 2]!,
      v1 = z[2 * s + 3]!;
    let w0 = z[2 * s + 4]!,
      w1 = z[2 * s + 5]!,
      e0 = z[2 * s + 6]!,
      e1 = z[2 * s + 7]!;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const y1 = p0 * xi + u0;
      u0 = p1 * xi - pa1 * y1 + u1;
      u1 = p2 * xi - pa2 * y1;
      const y2 = q0 * y1 + v0;
      v0 = q1 * y1 - qa1 * y2 + v1;
      v1 = q2 * y1 - qa2 * y2;
      const y3 = r0 * y2 + w0;
      w0 = r1 * y2 - ra1 * y3 + w1;
      w1 = r2 * y2 - ra2 * y3;
      const y4 = t0 * y3 + e0;
      e0 = t1 * y3 - ta1 * y4 + e1;
      e1 = t2 * y3 - ta2 * y4;
      out[i] = y4;
    }
    z[2 * s] = u0;
    z[2 * s + 1] = u1;
    z[2 * s + 2] = v0;
    z[2 * s + 3] = v1;
    z[2 * s + 4] = w0;
    z[2 * s + 5] = w1;
    z[2 * s + 6] = e0;
    z[2 * s + 7] = e1;
  }
}

/** Samples per kernel call; longer blocks are filtered in chunks (the state carries over exactly). */
const CHUNK = 2048;
interface PairScratch {
  k: IirKernels;
  /** Kernels by section count: splatted input (first group) and paired input (later groups). */
  splat: IirKernels['cascade'][string][];
  paired: IirKernels['cascade'][string][];
  x: number;
  y: number;
  coef: number;
  state: number;
}
let pairScratch: PairScratch | null | undefined;
function getPairScratch(): PairScratch | null {
  const k = iirKernels();
  if (pairScratch === undefined || (pairScratch && pairScratch.k !== k) || (!pairScratch && k)) {
    pairScratch = k && {
      k,
      splat: [1, 2, 3, 4].map((g) => k.cascade[`cascade${g}s`]!),
      paired: [1, 2, 2, 4].map((g) => k.cascade[`cascade${g}p`]!),
      x: simdAlloc(k.memory, 8 * CHUNK),
      y: simdAlloc(k.memory, 16 * CHUNK),
      coef: simdAlloc(k.memory, 16 * 5 * 4),
      state: simdAlloc(k.memory, 16 * 2 * 4),
    };
  }
  return pairScratch;
}

let pairTmp = new Float64Array(0);

/**
 * Filter one input through two filters of the same section count, writing the outputs interleaved:
 * out[2i] = fa's sample i, out[2i + 1] = fb's, bit for bit what `fa.process(x)` and `fb.process(x)` give.
 * The two filters run in the two lanes of a WebAssembly SIMD biquad cascade where available. `fb` may be
 * null (one filter; out[2i + 1] then repeats fa's output and fa's state alone is advanced).
 */
export function processPair(fa: SosFilter, fb: SosFilter | null, x: Float64Array, out: Float64Array): void {
  const n = x.length;
  const r = fb === null || fb.nSections === fa.nSections ? getPairScratch() : null;
  if (!r) {
    if (pairTmp.length < 2 * n) pairTmp = new Float64Array(2 * n);
    const ya = fa.process(x, pairTmp.subarray(0, n));
    const yb = fb ? fb.process(x, pairTmp.subarray(n, 2 * n)) : ya;
    for (let i = 0; i < n; i++) {
      out[2 * i] = ya[i]!;
      out[2 * i + 1] = yb[i]!;
    }
    return;
  }
  const lb = fb ?? fa;
  const S = fa.nSections;
  const mem = new Float64Array(r.k.memory.buffer);
  const c = r.coef >>> 3;
  const z = r.state >>> 3;
  for (let c0 = 0; c0 < n; c0 += CHUNK) {
    const m = Math.min(CHUNK, n - c0);
    mem.set(x.subarray(c0, c0 + m), r.x >>> 3);
    for (let s0 = 0; s0 < S;) {
      // First group: up to 4 sections fed the (splatted) input; later groups: 4, 2 or 1 paired sections.
      const g = s0 === 0 ? Math.min(4, S) : S - s0 >= 4 ? 4 : S - s0 >= 2 ? 2 : 1;
      for (let j = 0; j < g; j++) {
        const o = 6 * (s0 + j);
        for (let q = 0; q < 5; q++) {
          const t = q < 3 ? q : q + 1; // b0 b1 b2 a1 a2 (a0 = 1 is skipped)
          mem[c + 10 * j + 2 * q] = fa.sos[o + t]!;
          mem[c + 10 * j + 2 * q + 1] = lb.sos[o + t]!;
        }
        for (let q = 0; q < 2; q++) {
          mem[z + 4 * j + 2 * q] = fa.state[2 * (s0 + j) + q]!;
          mem[z + 4 * j + 2 * q + 1] = lb.state[2 * (s0 + j) + q]!;
        }
      }
      (s0 === 0 ? r.splat : r.paired)[g - 1]!(s0 === 0 ? r.x : r.y, r.y, m, r.coef, r.state);
      for (let j = 0; j < g; j++) {
        for (let q = 0; q < 2; q++) {
          fa.state[2 * (s0 + j) + q] = mem[z + 4 * j + 2 * q]!;
          if (fb) fb.state[2 * (s0 + j) + q] = mem[z + 4 * j + 2 * q + 1]!;
        }
      }
      s0 += g;
    }
    out.set(mem.subarray(r.y >>> 3, (r.y >>> 3) + 2 * m), 2 * c0);
  }
}

/** Causal filtering of a whole signal from rest (scipy.signal.sosfilt(sos, x)), or from state `zi`. */
export function sosfilt(sos: Sos, x: ArrayLike<number>, zi?: ArrayLike<number>): Float64Array {
  return new SosFilter(sos, zi).process(x);
}

/** Steady-state initial conditions for a unit step input (scipy.signal.sosfilt_zi). */
export function sosfiltZi(sos: Sos): Float64Array {
  const n = checkSos(sos);
  const zi = new Float64Array(2 * n);
  let scale = 1;
  for (let s = 0; s < n; s++) {
    const [b0, b1, b2, , a1, a2] = sos.subarray(6 * s, 6 * s + 6) as unknown as number[];
    // Solve (I − Aᵀ)·zi = B for the 2-state companion form, as lfilter_zi does.
    const B0 = b1! - a1! * b0!;
    const B1 = b2! - a2! * b0!;
    const z0 = (B0 + B1) / (1 + a1! + a2!);
    const z1 = (1 + a1!) * z0 - B0;
    zi[2 * s] = scale * z0;
    zi[2 * s + 1] = scale * z1;
    scale *= (b0! + b1! + b2!) / (1 + a1! + a2!);
  }
  return zi;
}

export type PadType = 'odd' | 'even' | 'constant' | 'none';

/**
 * Zero-phase forward–backward filtering, like scipy.signal.sosfiltfilt(sos, x) with its defaults:
 * odd extension of 3·(2·nSections + 1 − #trailing-zero coefficients) samples at each end and
 * steady-state initial conditions scaled by the first sample of each pass.
 */
export function sosfiltfilt(sos: Sos, x: ArrayLike<number>, opts: { padType?: PadType; padLen?: number } = {}): Float64Array {
  const n = checkSos(sos);
  let zeroB2 = 0;
  let zeroA2 = 0;
  for (let s = 0; s < n; s++) {
    if (sos[6 * s + 2] === 0) zeroB2++;
    if (sos[6 * s + 5] === 0) zeroA2++;
  }
  const ntaps = 2 * n + 1 - Math.min(zeroB2, zeroA2);
  const padType = opts.padType ?? 'odd';
  const edge = padType === 'none' ? 0 : (opts.padLen ?? 3 * ntaps);
  const len = x.length;
  if (len <= edge) throw new RangeError(`signal of ${len} samples is too short for zero-phase filtering (needs more than ${edge})`);
  const ext = new Float64Array(len + 2 * edge);
  for (let i = 0; i < len; i++) ext[edge + i] = x[i]!;
  const first = x[0] ?? 0;
  const last = x[len - 1] ?? 0;
  for (let i = 1; i <= edge; i++) {
    const l = x[i]!;
    const r = x[len - 1 - i]!;
    if (padType === 'odd') {
      ext[edge - i] = 2 * first - l;
      ext[edge + len - 1 + i] = 2 * last - r;
    } else if (padType === 'even') {
      ext[edge - i] = l;
      ext[edge + len - 1 + i] = r;
    } else {
      ext[edge - i] = first;
      ext[edge + len - 1 + i] = last;
    }
  }
  const zi = sosfiltZi(sos);
  const f = new SosFilter(
    sos,
    zi.map((v) => v * ext[0]!),
  );
  const y = f.process(ext);
  y.reverse();
  f.reset(zi.map((v) => v * y[0]!));
  f.process(y, y);
  y.reverse();
  return y.slice(edge, edge + len);
}

/** Remove the mean ('constant') or the least-squares line ('linear'), like scipy.signal.detrend. */
export function detrend(x: ArrayLike<number>, type: 'linear' | 'constant' = 'linear'): Float64Array {
  const n = x.length;
  const out = Float64Array.from(x as ArrayLike<number>);
  if (n === 0) return out;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += out[i]!;
  mean /= n;
  if (type === 'constant' || n === 1) {
    for (let i = 0; i < n; i++) out[i]! -= mean;
    return out;
  }
  // Slope about the centre index: Σ(t−t̄)(x−x̄) / Σ(t−t̄)².
  const tMean = (n - 1) / 2;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const t = i - tMean;
    sxy += t * (out[i]! - mean);
    sxx += t * t;
  }
  const slope = sxy / sxx;
  for (let i = 0; i < n; i++) out[i] = out[i]! - mean - slope * (i - tMean);
  return out;
}
