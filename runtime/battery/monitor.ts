/**
 * Battery levels from several sources (the headband's own reports, the host's power supply, a browser's Battery
 * API), each source's drain rate estimated from its history, and the time to empty, per mode. Browser-safe.
 *
 * Drain is measured per mode, since a mode changes what the battery spends: a least-squares line through the
 * readings since the mode began (the last `windowMs` of them), once they span `minSpanMs`. A source's rate in a
 * mode it has not been seen in is predicted from the current rate scaled by the modes' relative load.
 */

export interface BatteryReading {
  /** e.g. "headband", "host:BAT0", "browser". */
  source: string;
  /** Percent 0–100, or null when the source has no battery or cannot tell. */
  percent: number | null;
  /** true charging or full on mains, false discharging, null unknown ("Unknown" is normal on a mains-powered Pi). */
  charging: boolean | null;
  /** The source's own words for its state (e.g. sysfs `status`). */
  status?: string;
}

export interface BatteryEstimate {
  source: string;
  percent: number | null;
  charging: boolean | null;
  /** % per hour in the current mode (positive = draining); null until enough history. */
  drainPerHour: number | null;
  /** percent / drainPerHour; null when not draining or not yet known. */
  hoursToEmpty: number | null;
}

export interface DrainOptions {
  /** Readings older than this (ms) are left out of the fit (default 15 min). */
  windowMs?: number;
  /** The readings must span this long (ms) before a rate is given (default 60 s). */
  minSpanMs?: number;
  /** …and number at least this many (default 3). */
  minPoints?: number;
}

/** Least-squares drain rate of one source in one stretch of time. */
export class DrainEstimator {
  private ts: number[] = [];
  private ps: number[] = [];
  private readonly windowMs: number;
  private readonly minSpanMs: number;
  private readonly minPoints: number;

  constructor(o: DrainOptions = {}) {
    this.windowMs = o.windowMs ?? 15 * 60_000;
    this.minSpanMs = o.minSpanMs ?? 60_000;
    this.minPoints = o.minPoints ?? 3;
  }

  push(t: number, percent: number): void {
    this.ts.push(t);
    this.ps.push(percent);
    let k = 0;
    while (k < this.ts.length - 1 && this.ts[k]! < t - this.windowMs) k++;
    if (k) {
      this.ts.splice(0, k);
      this.ps.splice(0, k);
    }
  }

  reset(): void {
    this.ts = [];
    this.ps = [];
  }

  /** % per hour, positive when draining; null until the readings span minSpanMs. */
  rate(): number | null {
    const n = this.ts.length;
    if (n < this.minPoints || this.ts[n - 1]! - this.ts[0]! < this.minSpanMs) return null;
    let mt = 0;
    let mp = 0;
    for (let i = 0; i < n; i++) {
      mt += this.ts[i]!;
      mp += this.ps[i]!;
    }
    mt /= n;
    mp /= n;
    let sxy = 0;
    let sxx = 0;
    for (let i = 0; i < n; i++) {
      const dt = this.ts[i]! - mt;
      sxy += dt * (this.ps[i]! - mp);
      sxx += dt * dt;
    }
    if (sxx === 0) return null;
    return (-sxy / sxx) * 3_600_000;
  }
}

interface SourceState {
  reading: BatteryReading;
  t: number;
  active: DrainEstimator;
  /** Last good rate seen in each mode. */
  rates: Map<string, number>;
  reported: { floor: number | null; charging: boolean | null } | null;
}

export interface MonitorOptions extends DrainOptions {
  /** Relative load of a mode for a source (1 = continuous streaming); used to predict drain in unseen modes. */
  load?: (source: string, mode: string) => number;
}

export class BatteryMonitor {
  private readonly sources = new Map<string, SourceState>();
  private mode: string;
  private readonly opts: MonitorOptions;

  constructor(mode: string, opts: MonitorOptions = {}) {
    this.mode = mode;
    this.opts = opts;
  }

  /** Record a reading at time t (ms). Returns true when it is worth an event: first reading, a whole percent crossed, charging changed. */
  update(r: BatteryReading, t: number): boolean {
    let s = this.sources.get(r.source);
    if (!s) {
      s = { reading: r, t, active: new DrainEstimator(this.opts), rates: new Map(), reported: null };
      this.sources.set(r.source, s);
    }
    if (s.reading.charging !== r.charging) s.active.reset();
    s.reading = r;
    s.t = t;
    if (r.percent !== null && Number.isFinite(r.percent) && r.charging !== true) s.active.push(t, r.percent);
    const rate = s.active.rate();
    if (rate !== null) s.rates.set(this.mode, rate);
    const floor = r.percent === null ? null : Math.floor(r.percent);
    const changed = !s.reported || s.reported.floor !== floor || s.reported.charging !== r.charging;
    if (changed) s.reported = { floor, charging: r.charging };
    return changed;
  }

  /** The mode changed: drain is measured afresh (the last rate of each mode is kept for predictions). */
  setMode(mode: string): void {
    if (mode === this.mode) return;
    this.mode = mode;
    for (const s of this.sources.values()) s.active.reset();
  }

  estimate(source: string): BatteryEstimate | null {
    const s = this.sources.get(source);
    if (!s) return null;
    const rate = s.reading.charging === true ? null : (s.active.rate() ?? s.rates.get(this.mode) ?? null);
    return {
      source,
      percent: s.reading.percent,
      charging: s.reading.charging,
      drainPerHour: rate,
      hoursToEmpty: rate !== null && rate > 0 && s.reading.percent !== null ? s.reading.percent / rate : null,
    };
  }

  estimates(): BatteryEstimate[] {
    return [...this.sources.keys()].map((k) => this.estimate(k)!);
  }

  /** The lowest level among sources that have a battery and are not charging (what a policy must protect). */
  constrainingLevel(): { source: string; percent: number } | null {
    let best: { source: string; percent: number } | null = null;
    for (const [k, s] of this.sources) {
      const p = s.reading.percent;
      if (p === null || !Number.isFinite(p) || s.reading.charging === true) continue;
      if (!best || p < best.percent) best = { source: k, percent: p };
    }
    return best;
  }

  /**
   * Hours until the first discharging source empties if the run were in `mode`: each source's rate measured in
   * that mode if known, else its current rate scaled by load(mode) / load(current). null when no source has a
   * rate yet; Infinity when nothing drains.
   */
  predictHours(mode: string): number | null {
    let hours = Infinity;
    let known = false;
    for (const [k, s] of this.sources) {
      const p = s.reading.percent;
      if (p === null || s.reading.charging === true) continue;
      let rate = mode === this.mode ? (s.active.rate() ?? s.rates.get(mode) ?? null) : (s.rates.get(mode) ?? null);
      if (rate === null) {
        const cur = s.active.rate() ?? s.rates.get(this.mode) ?? null;
        if (cur === null) continue;
        const load = this.opts.load ?? (() => 1);
        const lc = load(k, this.mode);
        rate = lc > 0 ? (cur * load(k, mode)) / lc : cur;
      }
      known = true;
      if (rate > 0) hours = Math.min(hours, p / rate);
    }
    return known ? hours : null;
  }
}
