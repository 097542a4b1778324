/**
 * Filtering with second-order sections: causal `sosfilt` (with state carried between blocks, for
 * streaming), zero-phase `sosfiltfilt` (offline; scipy's default odd padding and steady-state initial
 * conditions), and detrending. Same arithmetic as scipy.signal (transposed direct form II per section).
 */
import type { Sos } from './butter.js';

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
    const { sos, state: z, nSections } = this;
    const n = x.length;
    for (let i = 0; i < n; i++) out[i] = x[i]!;
    // Section by section over the whole block: the same operations per sample as `step`, in a cache-friendly order.
    for (let s = 0; s < nSections; s++) {
      const o = 6 * s;
      const b0 = sos[o]!, b1 = sos[o + 1]!, b2 = sos[o + 2]!, a1 = sos[o + 4]!, a2 = sos[o + 5]!;
      let z0 = z[2 * s]!, z1 = z[2 * s + 1]!;
      for (let i = 0; i < n; i++) {
        const xi = out[i]!;
        const y = b0 * xi + z0;
        z0 = b1 * xi - a1 * y + z1;
        z1 = b2 * xi - a2 * y;
        out[i] = y;
      }
      z[2 * s] = z0;
      z[2 * s + 1] = z1;
    }
    return out;
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
  const edge = padType === 'none' ? 0 : opts.padLen ?? 3 * ntaps;
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
  const f = new SosFilter(sos, zi.map((v) => v * ext[0]!));
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
