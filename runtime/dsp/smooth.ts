/**
 * Feature smoothing along the windows of a trial (../shared/docs/datasets.md): the SEED "LDS" smoother,
 * a forward scalar Kalman filter (A = 1, C = 1, Q = 1e-4, R = 1, initial variance 0.01, initial state =
 * the trial mean), and a moving average.
 *
 * Kalman recursion per feature dimension, t = 0, 1, …:
 *   prediction  m⁻ = μ₀, P⁻ = P₀ at t = 0;  m⁻ = m_{t−1}, P⁻ = P_{t−1} + Q afterwards
 *   gain        K = P⁻ / (P⁻ + R)
 *   update      m_t = m⁻ + K·(x_t − m⁻),  P_t = (1 − K)·P⁻;  output m_t.
 *
 * Missing values (NaN, e.g. a window with a gap) give NaN output and leave the state untouched, so the
 * next valid window continues as if the missing one did not exist; trial means ignore them too.
 */

export interface LdsOptions {
  /** Process noise Q. Default 1e-4. */
  q?: number;
  /** Observation noise R. Default 1. */
  r?: number;
  /** Initial state variance P₀. Default 0.01. */
  p0?: number;
  /** Initial state μ₀. Default: the mean of the finite values (the trial mean). */
  initialMean?: number;
}

function finiteMean(values: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  return n ? s / n : 0;
}

/** LDS (forward Kalman) smoothing of one feature dimension along the windows of a trial. */
export function ldsSmooth(values: ArrayLike<number>, opts: LdsOptions = {}): Float64Array {
  const q = opts.q ?? 1e-4;
  const r = opts.r ?? 1;
  const p0 = opts.p0 ?? 0.01;
  const out = new Float64Array(values.length);
  let m = opts.initialMean ?? finiteMean(values);
  let P = p0;
  let started = false;
  for (let t = 0; t < values.length; t++) {
    const x = values[t]!;
    if (!Number.isFinite(x)) {
      out[t] = NaN;
      continue;
    }
    const Pp = started ? P + q : p0;
    const K = Pp / (Pp + r);
    m = m + K * (x - m);
    P = (1 - K) * Pp;
    started = true;
    out[t] = m;
  }
  return out;
}

/**
 * Online LDS over a feature vector of `dim` dimensions, state kept across windows.
 *
 * With `initialMean` given, each output equals {@link ldsSmooth} with that μ₀ (bit for bit). Without
 * it the trial mean is not known yet, so the running mean of the values seen so far stands in for it:
 * the filter is linear in μ₀ (m_t = a_t + w_t·μ₀, with a_t the output for μ₀ = 0 and w_t = Π(1 − K)),
 * so both parts are tracked and each output equals the offline LDS of the trial so far with its mean
 * as μ₀ — and the last output of a trial equals the offline LDS value (to rounding).
 */
export class OnlineLDS {
  readonly dim: number;
  private readonly q: number;
  private readonly r: number;
  private readonly p0: number;
  private readonly fixedMean: Float64Array | null;
  private readonly a: Float64Array; // output for μ₀ = 0 (or the state itself when μ₀ is fixed)
  private readonly w: Float64Array; // weight of μ₀
  private readonly P: Float64Array;
  private readonly count: Float64Array;
  private readonly sum: Float64Array;

  constructor(dim: number, opts: Omit<LdsOptions, 'initialMean'> & { initialMean?: ArrayLike<number> } = {}) {
    this.dim = dim;
    this.q = opts.q ?? 1e-4;
    this.r = opts.r ?? 1;
    this.p0 = opts.p0 ?? 0.01;
    if (opts.initialMean && opts.initialMean.length !== dim) throw new RangeError(`initialMean must have ${dim} values, got ${opts.initialMean.length}`);
    this.fixedMean = opts.initialMean ? Float64Array.from(opts.initialMean) : null;
    this.a = this.fixedMean ? Float64Array.from(this.fixedMean) : new Float64Array(dim);
    this.w = new Float64Array(dim).fill(1);
    this.P = new Float64Array(dim);
    this.count = new Float64Array(dim);
    this.sum = new Float64Array(dim);
  }

  /** Feed one window's feature vector; returns the smoothed vector (NaN where the input is not finite). */
  update(x: ArrayLike<number>, out: Float64Array = new Float64Array(this.dim)): Float64Array {
    if (x.length !== this.dim) throw new RangeError(`expected ${this.dim} features, got ${x.length}`);
    for (let i = 0; i < this.dim; i++) {
      const v = x[i]!;
      if (!Number.isFinite(v)) {
        out[i] = NaN;
        continue;
      }
      const Pp = this.count[i]! > 0 ? this.P[i]! + this.q : this.p0;
      const K = Pp / (Pp + this.r);
      this.P[i] = (1 - K) * Pp;
      this.count[i]! += 1;
      this.sum[i]! += v;
      const a = this.a[i]!;
      this.a[i] = a + K * (v - a);
      if (this.fixedMean) out[i] = this.a[i]!;
      else {
        this.w[i] = this.w[i]! * (1 - K);
        out[i] = this.a[i]! + this.w[i]! * (this.sum[i]! / this.count[i]!);
      }
    }
    return out;
  }
}

export type MovingAverageMode = 'causal' | 'centered';

/**
 * Moving average of one feature dimension over `window` windows. 'causal' (default; runs on a device):
 * mean of the current and up to window−1 previous values. 'centered': mean of the ⌊(w−1)/2⌋ values
 * before and ⌈(w−1)/2⌉ after (shrinking at the ends, like MATLAB movmean). NaN values give NaN and are
 * left out of their neighbours' means.
 */
export function movingAverage(values: ArrayLike<number>, window = 5, mode: MovingAverageMode = 'causal'): Float64Array {
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`moving-average window must be a positive integer, got ${window}`);
  const n = values.length;
  const out = new Float64Array(n);
  if (mode === 'centered') {
    const before = Math.floor((window - 1) / 2);
    const after = window - 1 - before;
    for (let t = 0; t < n; t++) {
      if (!Number.isFinite(values[t]!)) {
        out[t] = NaN;
        continue;
      }
      let s = 0;
      let c = 0;
      for (let j = Math.max(0, t - before); j <= Math.min(n - 1, t + after); j++) {
        const v = values[j]!;
        if (Number.isFinite(v)) {
          s += v;
          c++;
        }
      }
      out[t] = s / c;
    }
    return out;
  }
  const ma = new OnlineMovingAverage(1, window);
  const one = new Float64Array(1);
  for (let t = 0; t < n; t++) {
    one[0] = values[t]!;
    out[t] = ma.update(one)[0]!;
  }
  return out;
}

/** Causal moving average over the last `window` finite values of each dimension (state kept across windows). */
export class OnlineMovingAverage {
  readonly dim: number;
  readonly window: number;
  private readonly ring: Float64Array;
  private readonly filled: Int32Array;
  private readonly pos: Int32Array;

  constructor(dim: number, window = 5) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`moving-average window must be a positive integer, got ${window}`);
    this.dim = dim;
    this.window = window;
    this.ring = new Float64Array(dim * window);
    this.filled = new Int32Array(dim);
    this.pos = new Int32Array(dim);
  }

  update(x: ArrayLike<number>, out: Float64Array = new Float64Array(this.dim)): Float64Array {
    if (x.length !== this.dim) throw new RangeError(`expected ${this.dim} features, got ${x.length}`);
    const w = this.window;
    for (let i = 0; i < this.dim; i++) {
      const v = x[i]!;
      if (!Number.isFinite(v)) {
        out[i] = NaN;
        continue;
      }
      this.ring[i * w + this.pos[i]!] = v;
      this.pos[i] = (this.pos[i]! + 1) % w;
      if (this.filled[i]! < w) this.filled[i]! += 1;
      // Sum oldest → newest so the causal offline function and this class agree bit for bit.
      const c = this.filled[i]!;
      let s = 0;
      for (let k = c; k >= 1; k--) s += this.ring[i * w + ((this.pos[i]! - k + w) % w)]!;
      out[i] = s / c;
    }
    return out;
  }
}
