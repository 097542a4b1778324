/**
 * Per-sample timestamps from packet arrival times. A BLE link delivers packets with jitter (connection events,
 * retransmissions, OS scheduling), so stamping each notification with its arrival time would put samples off
 * their grid. Instead each packet contributes one (absolute index of its last sample, arrival ms) point and an
 * exponentially forgetting least-squares line through those points gives every sample a time on a regular grid.
 * The slope tracks the device clock's drift against the host clock (crystals differ by tens of ppm); it is held
 * at the nominal period until the fit spans enough data and clamped to ±2 % of nominal against outliers.
 * Link delays are one-sided (a packet is never early), so the line's offset is not the mean but a slowly
 * leaking lower envelope of the residuals: times are anchored to the fastest arrivals, and a burst of late
 * packets after a stalled link does not drag the grid. Arrivals more than `outlierMs` off the line are left out
 * of the fit; if they persist at the sampling pace the device clock really jumped and the fit re-anchors.
 *
 * Host clocks misbehave too (suspend, NTP steps, a bad timestamp source): every host time is treated as a claim
 * to check, never as a count of samples. Times that are not finite or beyond ±2^53 ms are ignored; the first
 * anchor needs two arrivals that agree; a persistent jump re-anchors the fit; isolated arrivals that are early
 * or later than any link could deliver are left out. Each of these is reported as a ClockChange (takeChanges())
 * so callers can say so, instead of guessing lost samples from the time.
 */
export interface SampleClockOptions {
  /** Half-life of a point's weight, in samples (default 60 s of data). */
  halfLifeSamples?: number;
  /** Samples of span needed before the fitted slope replaces the nominal one (default 4 s of data). */
  minSpanSamples?: number;
  /** Arrivals further than this from the fit are outliers (a stalled link delivering late); default 300 ms. */
  outlierMs?: number;
  /** When outliers persist for this many samples the device clock itself jumped (pause/restart): re-anchor. */
  reanchorSamples?: number;
  /** Arrivals this far above the envelope are delayed packets and stay out of the fit (default 80 ms). */
  lateMs?: number;
  /** How fast (ms per second of data) the lower envelope rises without a fast arrival (default 0.2). */
  envelopeLeakMsPerS?: number;
  /**
   * Longest delay a link can add to a notification (default 32 s, BLE's longest supervision timeout: a link
   * that delivers nothing for longer is dropped). Arrivals later than this, or early by more than `outlierMs`,
   * are host clock glitches, not link delays.
   */
  maxLinkDelayMs?: number;
}

/** Something the host clock did that the sample grid does not follow. */
export interface ClockChange {
  /**
   * step: the host time jumped and stayed (clock step, suspend, device pause): the grid re-anchored to it.
   * glitch: isolated host times off the grid (early, or later than any link delay): ignored.
   * invalid: a host time that is not a finite number within ±2^53 ms: ignored.
   */
  change: 'step' | 'glitch' | 'invalid';
  /** Absolute sample where it was first seen. */
  atSample: number;
  /** The host time that showed it (first of a run). */
  hostMs: number;
  /** Host time minus the grid's time for that sample (ms); null when not measurable (invalid time, no grid yet). */
  jumpMs: number | null;
  /** Notifications in the run (a step counts those seen before the re-anchor; 'invalid' is reported at the first). */
  notifications: number;
}

/** Largest magnitude a host time may have (ms); beyond it a double no longer holds whole milliseconds. */
export const MAX_HOST_MS = 2 ** 53;

export function usableHostTime(t: number): boolean {
  return Number.isFinite(t) && Math.abs(t) <= MAX_HOST_MS;
}

interface OutlierRun {
  since: number;
  sinceMs: number;
  jump: number;
  count: number;
  clockLike: boolean;
}

export class SampleClock {
  private readonly nominalMs: number;
  private readonly halfLife: number;
  private readonly minVar: number;
  private n0 = NaN;
  private t0 = 0;
  private lastN = 0;
  private w = 0;
  private mn = 0;
  private mt = 0;
  private snn = 0;
  private snt = 0;
  private readonly outlierMs: number;
  private readonly reanchorSamples: number;
  private readonly maxLinkDelayMs: number;
  private run: OutlierRun | null = null;
  private env = 0;
  private readonly leakPerSample: number;
  private readonly lateMs: number;
  /** Arrivals seen before the first anchor, waiting for one that agrees (bounded). */
  private early: { n: number; t: number }[] = [];
  private earlyDropped: { n: number; t: number; count: number } | null = null;
  private invalidRun = false;
  private changes: ClockChange[] = [];
  /** Times the clock re-anchored after a persistent jump. */
  reanchors = 0;

  constructor(
    readonly sampleRate: number,
    opts: SampleClockOptions = {},
  ) {
    if (!(sampleRate > 0)) throw new RangeError(`sample rate must be > 0, got ${sampleRate}`);
    this.nominalMs = 1000 / sampleRate;
    this.halfLife = opts.halfLifeSamples ?? 60 * sampleRate;
    const span = opts.minSpanSamples ?? 4 * sampleRate;
    // Variance of indices spread uniformly over `span` samples.
    this.minVar = (span * span) / 12;
    this.outlierMs = opts.outlierMs ?? 300;
    this.reanchorSamples = opts.reanchorSamples ?? sampleRate;
    this.lateMs = opts.lateMs ?? 80;
    this.maxLinkDelayMs = opts.maxLinkDelayMs ?? 32_000;
    // The envelope may rise by 2 ms per second of data when no fast arrival refreshes it.
    this.leakPerSample = (opts.envelopeLeakMsPerS ?? 0.2) / sampleRate;
  }

  /** Forget the fit: the next observations anchor a new one. Pending reports stay available (takeChanges()). */
  reset(): void {
    this.finish();
    this.clearFit();
    this.early = [];
    this.earlyDropped = null;
  }

  private clearFit(): void {
    this.n0 = NaN;
    this.w = this.mn = this.mt = this.snn = this.snt = this.env = 0;
    this.run = null;
  }

  /** True once the clock has an anchor (possibly provisional: one arrival, not yet confirmed by a second). */
  get ready(): boolean {
    return !Number.isNaN(this.n0) || this.early.length > 0;
  }

  /** Reports since the last call, oldest first. */
  takeChanges(): ClockChange[] {
    const c = this.changes;
    this.changes = [];
    return c;
  }

  /** Report whatever is still pending (an unfinished glitch run, dropped early arrivals): end of stream. */
  finish(): void {
    this.endRun();
    this.reportEarlyDropped();
  }

  /** A notification whose host time is unusable arrived near absolute sample `atSample` (reported at the first of a run). */
  invalid(atSample: number, hostMs: number): void {
    if (this.invalidRun) return;
    this.invalidRun = true;
    this.changes.push({ change: 'invalid', atSample, hostMs, jumpMs: null, notifications: 1 });
  }

  /** A notification with a usable host time arrived (ends a run of unusable ones). */
  valid(): void {
    this.invalidRun = false;
  }

  /**
   * Record that the packet ending with absolute sample `lastSample` arrived at host time `hostMs`. With
   * `fit` false the arrival is only checked (steps and glitches), not added to the fit: for further packets of a
   * block already observed (Muse sends one per electrode), whose times must be checked all the same.
   */
  observe(lastSample: number, hostMs: number, fit = true): void {
    if (!usableHostTime(hostMs)) return this.invalid(lastSample, hostMs);
    this.valid();
    if (Number.isNaN(this.n0)) return fit ? this.observeEarly(lastSample, hostMs) : undefined;
    const r = hostMs - this.timeOf(lastSample);
    // Until the fit has a few points only gross outliers are judged (a wild first timestamp must not set the grid).
    const limit = this.w >= 8 ? this.outlierMs : Math.max(this.outlierMs, this.maxLinkDelayMs);
    if (Math.abs(r) > limit) {
      const clockLike = r < -this.outlierMs || r > this.maxLinkDelayMs;
      if (!this.run) this.run = { since: lastSample, sinceMs: hostMs, jump: r, count: 0, clockLike };
      const run = this.run;
      run.count++;
      run.clockLike ||= clockLike;
      // Re-anchor only when the outliers keep arriving at the sampling pace: a burst after a stalled link
      // delivers many samples in no time and must not move the clock.
      const samples = lastSample - run.since;
      if (samples < this.reanchorSamples || hostMs - run.sinceMs < 0.5 * samples * this.nominalMs) return;
      this.changes.push({ change: 'step', atSample: run.since, hostMs: run.sinceMs, jumpMs: r, notifications: run.count });
      this.clearFit();
      this.reanchors++;
      this.anchor(lastSample, hostMs);
      return;
    }
    this.endRun();
    if (fit) this.fit(lastSample, hostMs);
  }

  private endRun(): void {
    const run = this.run;
    this.run = null;
    if (run?.clockLike)
      this.changes.push({ change: 'glitch', atSample: run.since, hostMs: run.sinceMs, jumpMs: run.jump, notifications: run.count });
  }

  /** Before the first anchor: wait for two arrivals that agree (at the nominal rate, within outlierMs). */
  private observeEarly(n: number, t: number): void {
    const agree = this.early.findIndex((e) => Math.abs(t - e.t - (n - e.n) * this.nominalMs) <= this.outlierMs);
    if (agree < 0) {
      this.early.push({ n, t });
      if (this.early.length > 8) this.dropEarly(this.early.shift()!);
      return;
    }
    const mate = this.early[agree]!;
    const others = this.early.filter((_, i) => i !== agree);
    this.early = [];
    const [a, b] = mate.n <= n ? [mate, { n, t }] : [{ n, t }, mate];
    this.anchor(a.n, a.t);
    this.fit(b.n, b.t);
    for (const o of others) this.dropEarly(o);
    this.reportEarlyDropped();
  }

  private dropEarly(e: { n: number; t: number }): void {
    if (!this.earlyDropped) this.earlyDropped = { ...e, count: 1 };
    else this.earlyDropped.count++;
  }

  private reportEarlyDropped(): void {
    const d = this.earlyDropped;
    if (!d) return;
    this.earlyDropped = null;
    const jump = Number.isNaN(this.n0) ? null : d.t - this.timeOf(d.n);
    this.changes.push({ change: 'glitch', atSample: d.n, hostMs: d.t, jumpMs: jump, notifications: d.count });
  }

  private anchor(n: number, t: number): void {
    this.n0 = n;
    this.t0 = t;
    this.lastN = 0;
    this.fit(n, t);
  }

  private fit(lastSample: number, hostMs: number): void {
    const n = lastSample - this.n0;
    const t = hostMs - this.t0;
    // Clearly delayed packets (well above the envelope) would pull the line up: keep them out of the fit.
    if (this.w >= 8 && t - (this.mt + this.env + this.periodMs * (n - this.mn)) > this.lateMs) {
      this.lastN = Math.max(this.lastN, n);
      return;
    }
    const dn = Math.max(0, n - this.lastN);
    this.lastN = Math.max(this.lastN, n);
    const decay = this.w === 0 ? 0 : Math.pow(0.5, dn / this.halfLife);
    this.w = this.w * decay + 1;
    this.snn *= decay;
    this.snt *= decay;
    const en = n - this.mn;
    const et = t - this.mt;
    this.mn += en / this.w;
    this.mt += et / this.w;
    this.snn += en * (n - this.mn);
    this.snt += en * (t - this.mt);
    const r = t - (this.mt + this.periodMs * (n - this.mn));
    // Rise slowly; fall a tenth of the way to a faster arrival (a single early outlier cannot yank the grid).
    if (this.w <= 1) this.env = r;
    else {
      this.env += this.leakPerSample * dn;
      if (r < this.env) this.env += 0.1 * (r - this.env);
    }
  }

  /** ms per sample currently in use. */
  get periodMs(): number {
    if (this.w === 0 || this.snn / this.w < this.minVar) return this.nominalMs;
    const s = this.snt / this.snn;
    return Math.min(this.nominalMs * 1.02, Math.max(this.nominalMs * 0.98, s));
  }

  /** Host time of absolute sample n (NaN before the first usable observation). */
  timeOf(n: number): number {
    if (Number.isNaN(this.n0)) {
      // Provisional: the latest unconfirmed arrival at the nominal rate.
      const e = this.early[this.early.length - 1];
      return e ? e.t + this.nominalMs * (n - e.n) : NaN;
    }
    return this.t0 + this.mt + this.env + this.periodMs * (n - this.n0 - this.mn);
  }

  /** Absolute sample index the clock expects at host time t (NaN without a confirmed anchor or a usable t). */
  sampleAt(hostMs: number): number {
    if (Number.isNaN(this.n0) || !usableHostTime(hostMs)) return NaN;
    return this.n0 + this.mn + (hostMs - this.t0 - this.mt - this.env) / this.periodMs;
  }
}
