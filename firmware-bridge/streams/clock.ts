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
  private outlierSince = NaN;
  private outlierSinceMs = NaN;
  private env = 0;
  private readonly leakPerSample: number;
  private readonly lateMs: number;
  /** Times the clock re-anchored after a persistent jump. */
  reanchors = 0;

  constructor(readonly sampleRate: number, opts: SampleClockOptions = {}) {
    if (!(sampleRate > 0)) throw new RangeError(`sample rate must be > 0, got ${sampleRate}`);
    this.nominalMs = 1000 / sampleRate;
    this.halfLife = opts.halfLifeSamples ?? 60 * sampleRate;
    const span = opts.minSpanSamples ?? 4 * sampleRate;
    // Variance of indices spread uniformly over `span` samples.
    this.minVar = (span * span) / 12;
    this.outlierMs = opts.outlierMs ?? 300;
    this.reanchorSamples = opts.reanchorSamples ?? sampleRate;
    this.lateMs = opts.lateMs ?? 80;
    // The envelope may rise by 2 ms per second of data when no fast arrival refreshes it.
    this.leakPerSample = (opts.envelopeLeakMsPerS ?? 0.2) / sampleRate;
  }

  /** Forget everything: the next observation anchors a new fit. */
  reset(): void {
    this.n0 = NaN;
    this.w = this.mn = this.mt = this.snn = this.snt = this.env = 0;
    this.outlierSince = NaN;
    this.outlierSinceMs = NaN;
  }

  get ready(): boolean {
    return !Number.isNaN(this.n0);
  }

  /** Record that the packet ending with absolute sample `lastSample` arrived at host time `hostMs`. */
  observe(lastSample: number, hostMs: number): void {
    if (!Number.isFinite(hostMs)) return;
    if (!Number.isNaN(this.n0) && this.w >= 8) {
      const r = hostMs - this.timeOf(lastSample);
      if (Math.abs(r) > this.outlierMs) {
        if (Number.isNaN(this.outlierSince)) {
          this.outlierSince = lastSample;
          this.outlierSinceMs = hostMs;
        }
        // Re-anchor only when the outliers keep arriving at the sampling pace: a burst after a stalled link
        // delivers many samples in no time and must not move the clock.
        const samples = lastSample - this.outlierSince;
        if (samples < this.reanchorSamples || hostMs - this.outlierSinceMs < 0.5 * samples * this.nominalMs) return;
        this.reset();
        this.reanchors++;
      } else this.outlierSince = NaN;
    }
    if (Number.isNaN(this.n0)) {
      this.n0 = lastSample;
      this.t0 = hostMs;
      this.lastN = 0;
    }
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

  /** Host time of absolute sample n (NaN before the first observation). */
  timeOf(n: number): number {
    if (Number.isNaN(this.n0)) return NaN;
    return this.t0 + this.mt + this.env + this.periodMs * (n - this.n0 - this.mn);
  }

  /** Absolute sample index the clock expects at host time t (for resolving counter wrap-around after long gaps). */
  sampleAt(hostMs: number): number {
    if (Number.isNaN(this.n0)) return NaN;
    return this.n0 + this.mn + (hostMs - this.t0 - this.mt - this.env) / this.periodMs;
  }
}
