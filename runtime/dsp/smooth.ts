/**
 * Feature smoothing along the windows of a trial (../shared/docs/datasets.md, docs/smoothing.md): the SEED
 * "LDS" smoother, a forward scalar Kalman filter (A = 1, C = 1, Q = 1e-4, R = 1, initial variance 0.01), and a
 * moving average, each in an offline form (needs the whole trial) and a causal form (runs live):
 *   lds                    μ₀ = the trial mean (SEED's released `_LDS` features)        offline
 *   lds-causal             μ₀ = the first valid window (or a calibration baseline)     causal
 *   moving-average         centred window (shrinking at the trial ends)                 offline
 *   moving-average-causal  trailing window                                              causal
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

export type LdsInit = 'running-mean' | 'first';

export type OnlineLdsOptions = Omit<LdsOptions, 'initialMean'> & {
  /** Fixed μ₀ per dimension (e.g. a calibration baseline); overrides `init`. */
  initialMean?: ArrayLike<number>;
  /**
   * μ₀ when `initialMean` is not given. 'first' (the causal `lds-causal` form): the first finite value of each
   * dimension since the start or the last {@link OnlineLDS.reset}. 'running-mean' (default; the live stand-in
   * for the offline `lds` form): the mean of the values seen so far, see the class comment.
   */
  init?: LdsInit;
};

/** A smoother that runs window by window with state kept across windows; `reset()` starts a new trial. */
export interface OnlineSmoother {
  readonly dim: number;
  /** Feed one window's feature vector; returns the smoothed vector (NaN where the input is not finite). */
  update(x: ArrayLike<number>, out?: Float64Array): Float64Array;
  /** Forget the state: the next finite value of each dimension is treated as the first of a trial. */
  reset(): void;
}

/**
 * Online LDS over a feature vector of `dim` dimensions, state kept across windows.
 *
 * With `initialMean` given, each output equals {@link ldsSmooth} with that μ₀ (bit for bit). With
 * `init: 'first'`, μ₀ is the first finite value, so the output equals {@link ldsSmooth} with that μ₀ and the
 * first output is the first value itself. With the default `init: 'running-mean'` the trial mean is not known
 * yet, so the running mean of the values seen so far stands in for it: the filter is linear in μ₀
 * (m_t = a_t + w_t·μ₀, with a_t the output for μ₀ = 0 and w_t = Π(1 − K)), so both parts are tracked and each
 * output equals the offline LDS of the trial so far with its mean as μ₀ — and the last output of a trial
 * equals the offline LDS value (to rounding). Only the last output does: earlier ones differ from the offline
 * form, which uses the mean of windows still to come.
 */
export class OnlineLDS implements OnlineSmoother {
  readonly dim: number;
  private readonly q: number;
  private readonly r: number;
  private readonly p0: number;
  private readonly fixedMean: Float64Array | null;
  private readonly first: boolean;
  private readonly a: Float64Array; // output for μ₀ = 0 (or the state itself when μ₀ is fixed or the first value)
  private readonly w: Float64Array; // weight of μ₀
  private readonly P: Float64Array;
  private readonly count: Float64Array;
  private readonly sum: Float64Array;

  constructor(dim: number, opts: OnlineLdsOptions = {}) {
    this.dim = dim;
    this.q = opts.q ?? 1e-4;
    this.r = opts.r ?? 1;
    this.p0 = opts.p0 ?? 0.01;
    if (opts.initialMean && opts.initialMean.length !== dim)
      throw new RangeError(`initialMean must have ${dim} values, got ${opts.initialMean.length}`);
    if (opts.init !== undefined && opts.init !== 'first' && opts.init !== 'running-mean')
      throw new RangeError(`LDS init must be "first" or "running-mean", got ${JSON.stringify(opts.init)}`);
    this.fixedMean = opts.initialMean ? Float64Array.from(opts.initialMean) : null;
    this.first = !this.fixedMean && opts.init === 'first';
    this.a = new Float64Array(dim);
    this.w = new Float64Array(dim);
    this.P = new Float64Array(dim);
    this.count = new Float64Array(dim);
    this.sum = new Float64Array(dim);
    this.reset();
  }

  reset(): void {
    if (this.fixedMean) this.a.set(this.fixedMean);
    else this.a.fill(0);
    this.w.fill(1);
    this.P.fill(0);
    this.count.fill(0);
    this.sum.fill(0);
  }

  update(x: ArrayLike<number>, out: Float64Array = new Float64Array(this.dim)): Float64Array {
    if (x.length !== this.dim) throw new RangeError(`expected ${this.dim} features, got ${x.length}`);
    for (let i = 0; i < this.dim; i++) {
      const v = x[i]!;
      if (!Number.isFinite(v)) {
        out[i] = NaN;
        continue;
      }
      const started = this.count[i]! > 0;
      const Pp = started ? this.P[i]! + this.q : this.p0;
      const K = Pp / (Pp + this.r);
      this.P[i] = (1 - K) * Pp;
      this.count[i]! += 1;
      this.sum[i]! += v;
      if (this.first && !started) this.a[i] = v;
      const a = this.a[i]!;
      this.a[i] = a + K * (v - a);
      if (this.fixedMean || this.first) out[i] = this.a[i]!;
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
export class OnlineMovingAverage implements OnlineSmoother {
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

  reset(): void {
    this.filled.fill(0);
    this.pos.fill(0);
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

// ---- the smoothing forms a model card can name -----------------------------------------------------------

export type SmoothingName = 'none' | 'lds' | 'lds-causal' | 'moving-average' | 'moving-average-causal';

export interface SmoothingForm {
  readonly name: SmoothingName;
  /**
   * True when the output for a window depends only on that window and the earlier ones since the trial start,
   * so the device computes exactly what training computed (state reset at the trial start in training, at the
   * session start and after a reconnect on the device). False: the form needs the whole trial.
   */
  readonly causal: boolean;
  /** The causal form to retrain with so that the model runs live (the form itself when causal). */
  readonly liveForm: SmoothingName;
  readonly description: string;
}

export const SMOOTHING_FORMS: readonly SmoothingForm[] = [
  { name: 'none', causal: true, liveForm: 'none', description: 'no smoothing along windows' },
  {
    name: 'lds',
    causal: false,
    liveForm: 'lds-causal',
    description:
      "SEED's offline LDS (forward Kalman filter, Q 1e-4, R 1, P₀ 0.01) started from the trial mean: needs the whole trial (the released _LDS features)",
  },
  {
    name: 'lds-causal',
    causal: true,
    liveForm: 'lds-causal',
    description:
      'the same Kalman filter started from the first valid window (or a calibration baseline), restarted at each trial / session start',
  },
  {
    name: 'moving-average',
    causal: false,
    liveForm: 'moving-average-causal',
    description:
      'centred moving average over the trial (default 5 windows, shrinking at the ends; the _movingAve family): needs windows after the current one',
  },
  {
    name: 'moving-average-causal',
    causal: true,
    liveForm: 'moving-average-causal',
    description: 'trailing moving average of the current and up to window−1 previous windows',
  },
];

export const SMOOTHING_NAMES: readonly SmoothingName[] = SMOOTHING_FORMS.map((f) => f.name);

/** The form named `name`, or undefined when no form has that name. */
export function smoothingForm(name: string): SmoothingForm | undefined {
  return SMOOTHING_FORMS.find((f) => f.name === name);
}

/** True when the device can compute the form exactly as training did; false for offline and unknown names. */
export function smoothingIsCausal(name: string): boolean {
  return smoothingForm(name)?.causal === true;
}

export interface SmoothingOptions {
  /** LDS parameters; `initialMean` fixes μ₀ (lds-causal: a calibration baseline). */
  lds?: OnlineLdsOptions;
  /** Moving-average length in windows. Default 5. */
  movingAverageWindow?: number;
}

function checkName(name: string): SmoothingForm {
  const f = smoothingForm(name);
  if (!f) throw new RangeError(`unknown smoothing "${name}" (expected ${SMOOTHING_NAMES.join(', ')})`);
  return f;
}

/**
 * The online smoother the device runs for `name` over `dim` features (null for 'none'). Causal forms are exact.
 * An offline form has no exact online version; its stand-in (lds: the running mean as μ₀, which matches the
 * offline value only at a trial's last window; moving-average: the trailing window, i.e. the centred output
 * delayed by half a window) is returned only with `allowOffline`, otherwise this throws.
 */
export function onlineSmoother(name: SmoothingName, dim: number, opts: SmoothingOptions = {}, allowOffline = false): OnlineSmoother | null {
  const f = checkName(name);
  if (!f.causal && !allowOffline)
    throw new RangeError(`smoothing "${name}" needs the whole trial and has no online form; use "${f.liveForm}"`);
  switch (f.name) {
    case 'none':
      return null;
    case 'lds':
      return new OnlineLDS(dim, { ...opts.lds, init: 'running-mean' });
    case 'lds-causal':
      return new OnlineLDS(dim, { ...opts.lds, init: 'first' });
    case 'moving-average':
    case 'moving-average-causal':
      return new OnlineMovingAverage(dim, opts.movingAverageWindow ?? 5);
  }
}

/**
 * Smooth one trial given as per-window feature vectors (all of one length). Causal forms run the online
 * smoother the device runs, from a reset state at the trial start, so training features equal the device's
 * bit for bit; offline forms run the whole-trial functions per dimension ({@link ldsSmooth} with the trial
 * mean, {@link movingAverage} centred). NaN entries stay NaN and are skipped.
 */
export function smoothTrial(name: SmoothingName, windows: readonly ArrayLike<number>[], opts: SmoothingOptions = {}): Float64Array[] {
  const f = checkName(name);
  const W = windows.length;
  const D = W ? windows[0]!.length : 0;
  for (const w of windows) if (w.length !== D) throw new RangeError(`all windows of a trial must have ${D} features, got ${w.length}`);
  if (f.name === 'none') return windows.map((w) => Float64Array.from(w));
  if (f.causal) {
    const s = onlineSmoother(f.name, D, opts)!;
    return windows.map((w) => s.update(w));
  }
  const out = windows.map(() => new Float64Array(D));
  const series = new Float64Array(W);
  for (let d = 0; d < D; d++) {
    for (let t = 0; t < W; t++) series[t] = windows[t]![d]!;
    // The offline form is defined by μ₀ = the trial mean: a given initialMean (a causal baseline) does not apply.
    const sm =
      f.name === 'lds'
        ? ldsSmooth(series, { q: opts.lds?.q, r: opts.lds?.r, p0: opts.lds?.p0 })
        : movingAverage(series, opts.movingAverageWindow ?? 5, 'centered');
    for (let t = 0; t < W; t++) out[t]![d] = sm[t]!;
  }
  return out;
}
