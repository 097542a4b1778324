/**
 * Feature normalisation: z-score with statistics from training data, and per-user calibration
 * statistics gathered on the device. All state round-trips through plain JSON.
 */

/** Running mean and variance per dimension (Welford; mergeable, so calibration can be split over sessions). */
export class RunningStats {
  readonly dim: number;
  readonly count: Float64Array;
  readonly mean: Float64Array;
  /** Σ (x − mean)² per dimension. */
  readonly m2: Float64Array;

  constructor(dim: number) {
    this.dim = dim;
    this.count = new Float64Array(dim);
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim);
  }

  /** Add one feature vector; non-finite entries (gaps) are skipped per dimension. */
  push(x: ArrayLike<number>): void {
    if (x.length !== this.dim) throw new RangeError(`expected ${this.dim} features, got ${x.length}`);
    for (let i = 0; i < this.dim; i++) {
      const v = x[i]!;
      if (!Number.isFinite(v)) continue;
      const n = ++this.count[i]!;
      const d = v - this.mean[i]!;
      this.mean[i]! += d / n;
      this.m2[i]! += d * (v - this.mean[i]!);
    }
  }

  merge(other: RunningStats): void {
    if (other.dim !== this.dim) throw new RangeError(`cannot merge stats of ${other.dim} dims into ${this.dim}`);
    for (let i = 0; i < this.dim; i++) {
      const na = this.count[i]!;
      const nb = other.count[i]!;
      const n = na + nb;
      if (nb === 0) continue;
      const d = other.mean[i]! - this.mean[i]!;
      this.mean[i]! += (d * nb) / n;
      this.m2[i]! += other.m2[i]! + (d * d * na * nb) / n;
      this.count[i] = n;
    }
  }

  /** Population standard deviation per dimension. */
  std(): Float64Array {
    return this.m2.map((m, i) => (this.count[i]! > 0 ? Math.sqrt(m / this.count[i]!) : 0));
  }

  toJSON(): RunningStatsJSON {
    return { kind: 'running-stats', dim: this.dim, count: [...this.count], mean: [...this.mean], m2: [...this.m2] };
  }

  static fromJSON(j: unknown): RunningStats {
    const o = expectObject(j, 'running-stats');
    const dim = expectInt(o, 'dim');
    const s = new RunningStats(dim);
    s.count.set(expectNumbers(o, 'count', dim));
    s.mean.set(expectNumbers(o, 'mean', dim));
    s.m2.set(expectNumbers(o, 'm2', dim));
    return s;
  }
}

export interface RunningStatsJSON {
  kind: 'running-stats';
  dim: number;
  count: number[];
  mean: number[];
  m2: number[];
}

export interface ZScoreJSON {
  kind: 'zscore';
  mean: number[];
  std: number[];
  eps: number;
}

/** z = (x − mean) / max(std, eps) per dimension, with statistics fixed at fit time. */
export class ZScoreNormalizer {
  readonly mean: Float64Array;
  readonly std: Float64Array;
  readonly eps: number;

  constructor(mean: ArrayLike<number>, std: ArrayLike<number>, eps = 1e-8) {
    if (mean.length !== std.length) throw new RangeError(`mean (${mean.length}) and std (${std.length}) differ in length`);
    this.mean = Float64Array.from(mean);
    this.std = Float64Array.from(std);
    this.eps = eps;
  }

  get dim(): number {
    return this.mean.length;
  }

  /** Fit on training rows (each a feature vector); population std, non-finite entries skipped. */
  static fit(rows: Iterable<ArrayLike<number>>, eps = 1e-8): ZScoreNormalizer {
    let stats: RunningStats | null = null;
    for (const r of rows) {
      stats ??= new RunningStats(r.length);
      stats.push(r);
    }
    if (!stats) throw new RangeError('cannot fit a z-score normaliser on zero rows');
    return ZScoreNormalizer.fromStats(stats, eps);
  }

  static fromStats(stats: RunningStats, eps = 1e-8): ZScoreNormalizer {
    return new ZScoreNormalizer(stats.mean, stats.std(), eps);
  }

  transform(x: ArrayLike<number>, out: Float64Array = new Float64Array(this.dim)): Float64Array {
    if (x.length !== this.dim) throw new RangeError(`expected ${this.dim} features, got ${x.length}`);
    for (let i = 0; i < this.dim; i++) out[i] = (x[i]! - this.mean[i]!) / Math.max(this.std[i]!, this.eps);
    return out;
  }

  toJSON(): ZScoreJSON {
    return { kind: 'zscore', mean: [...this.mean], std: [...this.std], eps: this.eps };
  }

  static fromJSON(j: unknown): ZScoreNormalizer {
    const o = expectObject(j, 'zscore');
    const mean = expectNumbers(o, 'mean');
    return new ZScoreNormalizer(mean, expectNumbers(o, 'std', mean.length), typeof o.eps === 'number' ? o.eps : 1e-8);
  }
}

export interface CalibrationJSON {
  kind: 'calibration';
  dim: number;
  users: Record<string, RunningStatsJSON>;
}

/**
 * Per-user calibration statistics: feed each user's resting/calibration feature vectors, then
 * normalise that user's live features with their own mean/std (falling back to a global normaliser
 * for users without enough calibration data).
 */
export class CalibrationStore {
  readonly dim: number;
  private readonly users = new Map<string, RunningStats>();

  constructor(dim: number) {
    this.dim = dim;
  }

  add(user: string, x: ArrayLike<number>): void {
    let s = this.users.get(user);
    if (!s) {
      s = new RunningStats(this.dim);
      this.users.set(user, s);
    }
    s.push(x);
  }

  stats(user: string): RunningStats | undefined {
    return this.users.get(user);
  }

  userIds(): string[] {
    return [...this.users.keys()];
  }

  /**
   * The user's normaliser once every dimension has at least `minCount` finite samples, else `fallback`
   * (or undefined).
   */
  normalizer(user: string, opts: { minCount?: number; fallback?: ZScoreNormalizer; eps?: number } = {}): ZScoreNormalizer | undefined {
    const s = this.users.get(user);
    const min = opts.minCount ?? 2;
    if (s && s.count.every((c) => c >= min)) return ZScoreNormalizer.fromStats(s, opts.eps);
    return opts.fallback;
  }

  toJSON(): CalibrationJSON {
    const users: Record<string, RunningStatsJSON> = {};
    for (const [k, v] of this.users) users[k] = v.toJSON();
    return { kind: 'calibration', dim: this.dim, users };
  }

  static fromJSON(j: unknown): CalibrationStore {
    const o = expectObject(j, 'calibration');
    const dim = expectInt(o, 'dim');
    const store = new CalibrationStore(dim);
    const users = o.users;
    if (typeof users !== 'object' || users === null) throw new TypeError('calibration JSON: "users" must be an object');
    for (const [k, v] of Object.entries(users as Record<string, unknown>)) {
      const s = RunningStats.fromJSON(v);
      if (s.dim !== dim) throw new TypeError(`calibration JSON: user "${k}" has ${s.dim} dims, expected ${dim}`);
      store.users.set(k, s);
    }
    return store;
  }
}

function expectObject(j: unknown, kind: string): Record<string, unknown> {
  if (typeof j !== 'object' || j === null) throw new TypeError(`${kind} JSON: expected an object`);
  const o = j as Record<string, unknown>;
  if (o.kind !== kind) throw new TypeError(`${kind} JSON: "kind" must be "${kind}", got ${JSON.stringify(o.kind)}`);
  return o;
}

function expectInt(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new TypeError(`"${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function expectNumbers(o: Record<string, unknown>, key: string, len?: number): number[] {
  const v = o[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new TypeError(`"${key}" must be an array of numbers`);
  if (len !== undefined && v.length !== len) throw new TypeError(`"${key}" must have ${len} values, got ${v.length}`);
  return v as number[];
}
