// size: one streaming pipeline whose stages share carried state, with its offline twin beside it
/**
 * Streaming EEG feature extraction with an offline twin that gives identical numbers.
 *
 * Pipeline per channel: lost-sample handling → optional polyphase resampling to `resampleTo` →
 * optional causal pre-filters (notch, Butterworth band-pass) → windows of `windowSec` every `hopSec`
 * → band features (SEED DE/PSD, textbook Gaussian DE, Welch band powers) → optional smoothing along
 * windows (runtime/dsp/smooth.ts: causal LDS or trailing moving average exactly as training computes them;
 * the offline forms only by a stand-in, see `smoothingCausal`). Every stage is causal with carried state and does the
 * same arithmetic per sample whatever the block sizes, so `extractFeatures(x)` (one push + flush) and
 * any sequence of `push` calls + `flush` produce the same frames bit for bit.
 *
 * Lost samples (NaN) policy:
 *  - a NaN is replaced by the channel's last finite sample (0 before the first one) so the filters see
 *    no step, and the sample is marked lost;
 *  - a resampled sample is lost if any input sample in its FIR support was lost;
 *  - with IIR stages (pre-filters, gauss-de band-passes) the `settleSec` after a lost sample are also
 *    marked, since the filters' memory still holds the substituted values;
 *  - a window containing any marked sample is invalid for that channel: its features are NaN,
 *    `valid[c]` is false, and the smoothers skip it (their state is untouched).
 */
import { SEED_BANDS, type Band } from './bands.js';
import { butterSos, iirNotchSos } from './butter.js';
import { processPair, SosFilter } from './filter.js';
import { channelQuality, type ChannelQuality, type QualityOptions } from './quality.js';
import { StreamingResampler } from './resample.js';
import { SeedSpectrum, type SeedWindow } from './seed-de.js';
import {
  onlineSmoother,
  smoothingForm,
  smoothTrial,
  SMOOTHING_NAMES,
  type OnlineLdsOptions,
  type OnlineSmoother,
  type SmoothingName,
  type SmoothingOptions,
} from './smooth.js';
import { bandFilterBank, pairedGaussianEntropies, WelchSpectrum } from './spectral.js';

export type FeatureMethod = 'seed-de' | 'seed-psd' | 'gauss-de' | 'welch' | 'welch-rel';
export const FEATURE_METHODS: readonly FeatureMethod[] = ['seed-de', 'seed-psd', 'gauss-de', 'welch', 'welch-rel'];
/** The smoothing forms (runtime/dsp/smooth.ts SMOOTHING_FORMS). */
export type SmoothMethod = SmoothingName;
export const SMOOTH_METHODS: readonly SmoothMethod[] = SMOOTHING_NAMES;

export interface FeatureExtractorOptions {
  /** Input sampling rate (Hz). */
  fs: number;
  /** Channel names, or the channel count. */
  channels: number | readonly string[];
  /** Default 'seed-de'. */
  method?: FeatureMethod;
  /** Window length in seconds (at the feature rate it must be a whole number of samples). Default 4. */
  windowSec?: number;
  /** Hop in seconds; smaller than the window for overlapping windows. Default = windowSec. */
  hopSec?: number;
  /** FFT length for seed-de / seed-psd. Default max(512, next power of two ≥ window). */
  nfft?: number;
  /** Bands. Default SEED (δ θ α β γ). */
  bands?: readonly Band[];
  /** SEED taper variant. Default 'matlab-hanning'. */
  seedWindow?: SeedWindow;
  /** SEED bin offset. Default −1. */
  binOffset?: number;
  /** Butterworth order of the gauss-de band-passes. Default 4. */
  gaussOrder?: number;
  /** Welch segment length / overlap (samples) for welch / welch-rel. */
  welchNperseg?: number;
  welchNoverlap?: number;
  /**
   * Smoothing along windows. Default 'none'. The causal forms (lds-causal, moving-average-causal) equal what
   * training computes per trial; the offline forms (lds, moving-average) need the whole trial and run here as
   * a stand-in only (lds: the running mean as μ₀; moving-average: trailing), see `smoothingCausal`.
   */
  smooth?: SmoothMethod;
  /** Moving-average length in windows. Default 5. */
  movingAverageWindow?: number;
  /**
   * LDS parameters; `initialMean` (channel-major [c·nBands + b]) fixes μ₀ (lds-causal: a calibration
   * baseline), else lds-causal starts from the first valid window and lds from the running mean.
   */
  lds?: Omit<OnlineLdsOptions, 'init'>;
  /** Resample to this rate (Hz) before everything else (e.g. Muse 256 → 200). */
  resampleTo?: number;
  /** Causal notch at this mains frequency (Hz). */
  notchHz?: number;
  /** Notch quality factor. Default 30. */
  notchQ?: number;
  /** Causal Butterworth band-pass [lo, hi] Hz before featurising (e.g. [1, 75] as in SEED). */
  bandpass?: readonly [number, number];
  /** Band-pass order. Default 4. */
  bandpassOrder?: number;
  /** Seconds marked as affected after a lost sample when IIR stages are present. Default max(0.5, 2 / lowest IIR edge). */
  settleSec?: number;
  /** Per-window signal quality (computed before pre-filters). Default on; `false` to skip. */
  quality?: Omit<QualityOptions, 'fs'> | false;
}

export interface FeatureFrame {
  /** Window number (0-based). */
  index: number;
  /** Window start in seconds from the first sample. */
  tStart: number;
  /** Features [channel][band] (smoothed if smoothing is on). */
  features: Float64Array[];
  /** Per channel: false when the window contains lost samples (features NaN). */
  valid: boolean[];
  /** Per-channel quality, unless disabled. */
  quality?: ChannelQuality[];
}

/** Sorted, disjoint, inclusive integer intervals, appended in nondecreasing order. */
class Intervals {
  private a: number[] = [];
  private b: number[] = [];
  add(lo: number, hi: number): void {
    const n = this.a.length;
    if (n && lo <= this.b[n - 1]! + 1) this.b[n - 1] = Math.max(this.b[n - 1]!, hi);
    else {
      this.a.push(lo);
      this.b.push(hi);
    }
  }
  /** Number of integers of [lo, hi] covered. */
  overlap(lo: number, hi: number): number {
    let c = 0;
    for (let i = 0; i < this.a.length && this.a[i]! <= hi; i++) {
      const s = Math.max(lo, this.a[i]!);
      const e = Math.min(hi, this.b[i]!);
      if (e >= s) c += e - s + 1;
    }
    return c;
  }
  get empty(): boolean {
    return this.a.length === 0;
  }
  /** Forget intervals ending before `x`. */
  prune(x: number): void {
    let k = 0;
    while (k < this.a.length && this.b[k]! < x) k++;
    if (k) {
      this.a.splice(0, k);
      this.b.splice(0, k);
    }
  }
}

/**
 * Growable sample store addressed by absolute sample index, `width` numbers per sample. `data[off + i·width]`
 * starts sample `start + i`; discarded samples are only compacted away once they make up half the store
 * (amortised O(1)).
 */
class SampleBuffer {
  data: Float64Array;
  off = 0; // data index of sample `start`
  start = 0; // absolute index of the oldest kept sample
  len = 0; // kept samples
  constructor(readonly width = 1) {
    this.data = new Float64Array(1024 * width);
  }
  get end(): number {
    return this.start + this.len;
  }
  /** Index into `data` of absolute sample `abs`. */
  at(abs: number): number {
    return this.off + (abs - this.start) * this.width;
  }
  push(x: Float64Array): void {
    this.append(x.length / this.width).set(x);
  }
  /** Make room for n samples at the end and return that (writable) region. */
  append(n: number): Float64Array {
    const w = this.width;
    if (this.off + (this.len + n) * w > this.data.length) {
      if (this.off > 0) {
        this.data.copyWithin(0, this.off, this.off + this.len * w);
        this.off = 0;
      }
      if ((this.len + n) * w > this.data.length) {
        const g = new Float64Array(Math.max(2 * this.data.length, (this.len + n) * w));
        g.set(this.data.subarray(0, this.len * w));
        this.data = g;
      }
    }
    const at = this.off + this.len * w;
    this.len += n;
    return this.data.subarray(at, at + n * w);
  }
  discardBefore(abs: number): void {
    const d = Math.min(abs - this.start, this.len);
    if (d <= 0) return;
    this.off += d * this.width;
    this.start += d;
    this.len -= d;
  }
}

interface ChannelState {
  hold: number;
  nIn: number;
  inGaps: Intervals; // lost input samples (input index space)
  marks: Intervals; // affected samples at the feature rate
  resampler: StreamingResampler | null;
  pre: SosFilter[];
  raw: SampleBuffer; // feature-rate signal before pre-filters (quality)
  sig: SampleBuffer; // after pre-filters (features); same object as raw without pre-filters
  bandFilters: SosFilter[];
  /** gauss-de band-passed signals, two bands per buffer (interleaved: band 2p, band 2p + 1). */
  bandPairs: SampleBuffer[];
}

/**
 * True when no sample is NaN or ±Infinity: any of those makes its partial sum NaN or infinite. (A sum can
 * also overflow with huge finite samples; then the caller just takes the exact per-sample path.) Four
 * partial sums keep the adds independent.
 */
function allFinite(x: Float64Array): boolean {
  const n = x.length;
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i]!;
    s1 += x[i + 1]!;
    s2 += x[i + 2]!;
    s3 += x[i + 3]!;
  }
  for (; i < n; i++) s0 += x[i]!;
  return Number.isFinite(s0) && Number.isFinite(s1) && Number.isFinite(s2) && Number.isFinite(s3);
}

function toSamples(sec: number, fs: number, what: string): number {
  const n = sec * fs;
  const r = Math.round(n);
  if (!(sec > 0) || Math.abs(n - r) > 1e-6 * Math.max(1, n) || r < 1) {
    throw new RangeError(`${what} of ${sec} s is not a positive whole number of samples at ${fs} Hz`);
  }
  return r;
}

export class FeatureExtractor {
  readonly fs: number;
  /** Rate features are computed at (resampleTo, or fs). */
  readonly featureFs: number;
  readonly channelNames: string[];
  readonly bands: readonly Band[];
  readonly method: FeatureMethod;
  /** Window and hop in samples at the feature rate. */
  readonly windowLength: number;
  readonly hopLength: number;
  private readonly ch: ChannelState[];
  private readonly seed: SeedSpectrum | null = null;
  private readonly welch: WelchSpectrum | null = null;
  /** The smoothing form, and whether it is computed exactly (false: an offline form's stand-in). */
  readonly smoothing: SmoothMethod;
  readonly smoothingCausal: boolean;
  private readonly smoother: OnlineSmoother | null;
  private readonly settle: number;
  private readonly qualityOpts: QualityOptions | null;
  private nextWindow = 0;
  private flushed = false;
  /** gauss-de scratch: each band-pair buffer's array and window offset. */
  private readonly bandData: Float64Array[] = [];
  private readonly bandOffsets: Int32Array;
  /** Cleaned input block handed to the resampler (which copies it). */
  private scratch = new Float64Array(0);

  constructor(opts: FeatureExtractorOptions) {
    if (!(opts.fs > 0)) throw new RangeError(`fs must be a positive number of Hz, got ${opts.fs}`);
    this.fs = opts.fs;
    this.featureFs = opts.resampleTo ?? opts.fs;
    if (!(this.featureFs > 0)) throw new RangeError(`resampleTo must be a positive number of Hz, got ${opts.resampleTo}`);
    const names = typeof opts.channels === 'number' ? Array.from({ length: opts.channels }, (_, i) => `ch${i + 1}`) : [...opts.channels];
    if (names.length < 1 || (typeof opts.channels === 'number' && !Number.isInteger(opts.channels))) {
      throw new RangeError(`channels must be a positive integer or a non-empty list of names, got ${String(opts.channels)}`);
    }
    this.channelNames = names;
    this.bands = opts.bands ?? SEED_BANDS;
    if (this.bands.length === 0) throw new RangeError('at least one band is needed');
    this.method = opts.method ?? 'seed-de';
    if (!FEATURE_METHODS.includes(this.method))
      throw new RangeError(`unknown feature method "${this.method}" (expected ${FEATURE_METHODS.join(', ')})`);
    const windowSec = opts.windowSec ?? 4;
    const fsF = this.featureFs;
    this.windowLength = toSamples(windowSec, fsF, 'window');
    this.hopLength = toSamples(opts.hopSec ?? windowSec, fsF, 'hop');
    const L = this.windowLength;

    if (this.method === 'seed-de' || this.method === 'seed-psd') {
      this.seed = new SeedSpectrum(L, fsF, { nfft: opts.nfft, bands: this.bands, window: opts.seedWindow, binOffset: opts.binOffset });
    } else if (this.method === 'welch' || this.method === 'welch-rel') {
      this.welch = new WelchSpectrum(L, fsF, { nperseg: opts.welchNperseg, noverlap: opts.welchNoverlap, bands: this.bands });
    }

    const preSos: Float64Array[] = [];
    const iirEdges: number[] = [];
    if (opts.notchHz !== undefined) {
      preSos.push(iirNotchSos(opts.notchHz, opts.notchQ ?? 30, fsF));
      iirEdges.push(opts.notchHz / (opts.notchQ ?? 30));
    }
    if (opts.bandpass) {
      preSos.push(butterSos(opts.bandpassOrder ?? 4, opts.bandpass, 'bandpass', { fs: fsF }));
      iirEdges.push(opts.bandpass[0]);
    }
    if (this.method === 'gauss-de') for (const b of this.bands) iirEdges.push(b.lo);
    const settleSec = opts.settleSec ?? (iirEdges.length ? Math.max(0.5, 2 / Math.min(...iirEdges)) : 0);
    this.settle = Math.round(settleSec * fsF);

    // Design the band-passes once; each channel gets its own filter state.
    const bankSos = this.method === 'gauss-de' ? bandFilterBank(fsF, { bands: this.bands, order: opts.gaussOrder }).map((f) => f.sos) : [];
    this.ch = names.map(() => {
      const raw = new SampleBuffer();
      const bandFilters = bankSos.map((s) => new SosFilter(s));
      return {
        hold: 0,
        nIn: 0,
        inGaps: new Intervals(),
        marks: new Intervals(),
        resampler: opts.resampleTo !== undefined && opts.resampleTo !== opts.fs ? new StreamingResampler(opts.fs, opts.resampleTo) : null,
        pre: preSos.map((s) => new SosFilter(s)),
        raw,
        sig: preSos.length ? new SampleBuffer() : raw,
        bandFilters,
        bandPairs: Array.from({ length: (bandFilters.length + 1) >> 1 }, () => new SampleBuffer(2)),
      };
    });

    const dim = names.length * this.bands.length;
    const smooth = opts.smooth ?? 'none';
    const form = smoothingForm(smooth);
    if (!form) throw new RangeError(`unknown smoothing "${smooth}" (expected ${SMOOTH_METHODS.join(', ')})`);
    this.smoothing = smooth;
    this.smoothingCausal = form.causal;
    this.smoother = onlineSmoother(
      smooth,
      dim,
      {
        ...(opts.lds ? { lds: opts.lds } : {}),
        ...(opts.movingAverageWindow !== undefined ? { movingAverageWindow: opts.movingAverageWindow } : {}),
      },
      true,
    );
    this.qualityOpts = opts.quality === false ? null : { ...(opts.quality ?? {}), fs: fsF };
    this.bandOffsets = new Int32Array(this.bands.length);
  }

  get channelCount(): number {
    return this.ch.length;
  }

  /**
   * Start a new smoothing trial: the next valid window of each feature initialises the smoother, as the first
   * window of a trial does in training. Call it at the session start and after a reconnect. Sample-level state
   * (filters, resampler, the window grid, gap marks) is kept; frames already returned are not changed.
   */
  reset(): void {
    this.smoother?.reset();
  }

  /**
   * Push the next block of samples for every channel (blocks may differ in length between channels and
   * calls; NaN = lost sample). Returns the frames completed by this block.
   */
  push(blockPerChannel: readonly ArrayLike<number>[]): FeatureFrame[] {
    if (this.flushed) throw new Error('FeatureExtractor: push after flush');
    if (blockPerChannel.length !== this.ch.length)
      throw new RangeError(`expected ${this.ch.length} channel blocks, got ${blockPerChannel.length}`);
    for (let c = 0; c < this.ch.length; c++) this.ingest(this.ch[c]!, blockPerChannel[c]!);
    return this.emit();
  }

  /** End of the recording: emit the resampler's tail (zero-padded like resample_poly) and any windows it completes. */
  flush(): FeatureFrame[] {
    if (this.flushed) return [];
    this.flushed = true;
    for (const st of this.ch) if (st.resampler) this.afterResample(st, st.resampler.flush());
    return this.emit();
  }

  private ingest(st: ChannelState, block: ArrayLike<number>): void {
    const n = block.length;
    const first = st.nIn;
    st.nIn += n;
    // Without resampling the cleaned samples are written straight into the channel's buffer; the
    // resampler copies its input, so a reused scratch block serves it.
    const direct = st.resampler === null;
    const x = direct ? st.raw.append(n) : this.scratchBlock(n);
    // Common case: a typed block without lost samples is one block copy (checked on the copy, which is
    // then in cache, so the caller's data is read once).
    let copied = false;
    if (block instanceof Float64Array) {
      x.set(block);
      copied = allFinite(x);
    }
    if (copied) {
      if (n) st.hold = x[n - 1]!;
    } else {
      let hold = st.hold;
      for (let i = 0; i < n; i++) {
        const v = block[i]!;
        if (Number.isFinite(v)) hold = v;
        else st.inGaps.add(first + i, first + i);
        x[i] = hold;
      }
      st.hold = hold;
    }
    if (!direct) {
      this.afterResample(st, st.resampler!.push(x));
    } else {
      // Lost inputs map one to one onto the feature-rate samples.
      st.inGaps.prune(first);
      if (!st.inGaps.empty) this.markLost(st, first, first + n - 1, (i) => st.inGaps.overlap(i, i) > 0);
      this.filterNew(st, x);
    }
  }

  private scratchBlock(n: number): Float64Array {
    if (this.scratch.length < n) this.scratch = new Float64Array(Math.max(n, 2 * this.scratch.length));
    return this.scratch.subarray(0, n);
  }

  private afterResample(st: ChannelState, y: Float64Array): void {
    const r = st.resampler!;
    const m0 = r.outputCount - y.length;
    if (y.length) {
      st.inGaps.prune(r.support(m0)[0]);
      this.markLost(st, m0, m0 + y.length - 1, (m) => {
        const [lo, hi] = r.support(m);
        return st.inGaps.overlap(lo, hi) > 0;
      });
    }
    this.process(st, y);
  }

  private markLost(st: ChannelState, from: number, to: number, lost: (i: number) => boolean): void {
    if (st.inGaps.empty) return;
    for (let i = from; i <= to; i++) if (lost(i)) st.marks.add(i, i + this.settle);
  }

  private process(st: ChannelState, y: Float64Array): void {
    if (!y.length) return;
    st.raw.push(y);
    this.filterNew(st, y);
  }

  /** Run the pre-filters and band filters over samples `y` just appended to `st.raw`. */
  private filterNew(st: ChannelState, y: Float64Array): void {
    if (!y.length) return;
    let feed = y;
    if (st.pre.length) {
      feed = st.sig.append(y.length);
      feed.set(y);
      for (const f of st.pre) f.process(feed, feed);
    }
    // Band-passes two at a time (SIMD lanes where available), bit for bit the same as one by one.
    const bf = st.bandFilters;
    for (let b = 0; b < bf.length; b += 2)
      processPair(bf[b]!, b + 1 < bf.length ? bf[b + 1]! : null, feed, st.bandPairs[b >> 1]!.append(feed.length));
  }

  private emit(): FeatureFrame[] {
    const frames: FeatureFrame[] = [];
    const L = this.windowLength;
    const nb = this.bands.length;
    for (;;) {
      const start = this.nextWindow * this.hopLength;
      const end = start + L; // exclusive
      let ready = true;
      for (const st of this.ch) if (st.raw.end < end) ready = false;
      if (!ready) break;
      const features: Float64Array[] = [];
      const valid: boolean[] = [];
      const quality: ChannelQuality[] = [];
      let pending = -1; // a valid channel waiting for a partner (seed / welch run two channels per FFT)
      for (let c = 0; c < this.ch.length; c++) {
        const st = this.ch[c]!;
        const out = new Float64Array(nb);
        const lostCount = st.marks.overlap(start, end - 1);
        const ok = lostCount === 0;
        features.push(out);
        valid.push(ok);
        if (!ok) out.fill(NaN);
        else if (this.method === 'gauss-de') this.compute(st, start, out);
        else if (pending < 0) pending = c;
        else {
          this.compute2(this.ch[pending]!, features[pending]!, st, out, start);
          pending = -1;
        }
        if (this.qualityOpts) {
          const o = st.raw.at(start);
          quality.push(channelQuality(st.raw.data.subarray(o, o + L), this.qualityOpts, lostCount));
        }
      }
      if (pending >= 0) this.compute(this.ch[pending]!, start, features[pending]!);
      if (this.smoother) {
        const flat = new Float64Array(features.length * nb);
        features.forEach((f, c) => flat.set(f, c * nb));
        const sm = this.smoother.update(flat);
        features.forEach((f, c) => f.set(sm.subarray(c * nb, (c + 1) * nb)));
      }
      const frame: FeatureFrame = { index: this.nextWindow, tStart: start / this.featureFs, features, valid };
      if (this.qualityOpts) frame.quality = quality;
      frames.push(frame);
      this.nextWindow++;
      const keep = this.nextWindow * this.hopLength;
      for (const st of this.ch) {
        st.raw.discardBefore(keep);
        if (st.sig !== st.raw) st.sig.discardBefore(keep);
        for (const b of st.bandPairs) b.discardBefore(keep);
        st.marks.prune(keep);
      }
    }
    return frames;
  }

  /** `compute` for two channels at once (seed / welch methods). */
  private compute2(sa: ChannelState, outA: Float64Array, sb: ChannelState, outB: Float64Array, start: number): void {
    const oa = sa.sig.at(start);
    const ob = sb.sig.at(start);
    if (this.seed) {
      this.seed.energy2(sa.sig.data, oa, outA, sb.sig.data, ob, outB);
      if (this.method === 'seed-de') {
        for (let b = 0; b < outA.length; b++) outA[b] = Math.log2(100 * outA[b]!);
        for (let b = 0; b < outB.length; b++) outB[b] = Math.log2(100 * outB[b]!);
      }
    } else this.welch!.bandPowers2(sa.sig.data, oa, outA, sb.sig.data, ob, outB, this.method === 'welch-rel');
  }

  private compute(st: ChannelState, start: number, out: Float64Array): void {
    const L = this.windowLength;
    const o = st.sig.at(start);
    switch (this.method) {
      case 'seed-de':
      case 'seed-psd':
        this.seed!.energy(st.sig.data, out, o);
        if (this.method === 'seed-de') for (let b = 0; b < out.length; b++) out[b] = Math.log2(100 * out[b]!);
        return;
      case 'welch':
      case 'welch-rel':
        this.welch!.bandPowers(st.sig.data, o, out, this.method === 'welch-rel');
        return;
      case 'gauss-de': {
        const bufs = st.bandPairs;
        const data = this.bandData;
        const offs = this.bandOffsets;
        for (let p = 0; p < bufs.length; p++) {
          data[p] = bufs[p]!.data;
          offs[p] = bufs[p]!.at(start);
        }
        pairedGaussianEntropies(data, offs, L, out.length, out);
        return;
      }
    }
  }
}

export type ExtractOptions = Omit<FeatureExtractorOptions, 'channels'> & { channels?: FeatureExtractorOptions['channels'] };

/** Offline extraction of whole recordings: all frames (one push of everything, then flush). */
export function extractFeatureFrames(signalPerChannel: readonly ArrayLike<number>[], opts: ExtractOptions): FeatureFrame[] {
  const fx = new FeatureExtractor({ ...opts, channels: opts.channels ?? signalPerChannel.length });
  return [...fx.push(signalPerChannel), ...fx.flush()];
}

/** Offline extraction: features indexed [window][channel][band]. */
export function extractFeatures(signalPerChannel: readonly ArrayLike<number>[], opts: ExtractOptions): Float64Array[][] {
  return extractFeatureFrames(signalPerChannel, opts).map((f) => f.features);
}

/**
 * Smooth finished frames as one trial with `form` (smoothTrial: causal forms with the online code from a reset
 * state, offline forms over the whole trial, e.g. SEED's `lds` with the trial mean). For frames extracted with
 * `smooth: 'none'`; returns new frames, the input is not changed.
 */
export function smoothFrames(frames: readonly FeatureFrame[], form: SmoothMethod, opts: SmoothingOptions = {}): FeatureFrame[] {
  const nb = frames[0]?.features[0]?.length ?? 0;
  const rows = frames.map((f) => {
    const v = new Float64Array(f.features.length * nb);
    f.features.forEach((ch, c) => v.set(ch, c * nb));
    return v;
  });
  const sm = smoothTrial(form, rows, opts);
  return frames.map((f, w) => ({ ...f, features: f.features.map((_, c) => sm[w]!.slice(c * nb, (c + 1) * nb)) }));
}
