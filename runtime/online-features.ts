/**
 * Live feature extraction for a headband: device-rate sample rows in, model-rate feature vectors out,
 * with the model card's conventions (resampling to the model rate, window, hop, SEED-lab DE, channel-major
 * layout). Windows containing lost samples (NaN) are reported as skipped rather than featurised.
 */
import { StreamingResampler } from './dsp/resample.js';
import { seedDE } from './dsp/seed-de.js';
import type { Band } from './dsp/bands.js';

export interface OnlineFeatureOptions {
  channels: number;
  deviceFs: number;
  modelFs: number;
  windowSec: number;
  hopSec: number;
  nfft?: number;
  bands: readonly Band[];
}

export interface FeatureWindow {
  /** device-clock time (ms) of the window's first and last sample */
  startMs: number;
  endMs: number;
  /** channel-major [channel][band] features, or null when the window had lost samples */
  features: Float32Array | null;
  skipped?: 'gap';
}

export class OnlineFeaturizer {
  private readonly resamplers: StreamingResampler[];
  private readonly buffers: Float64Array[];
  private filled = 0;
  private readonly win: number;
  private readonly hop: number;
  private t0: number | null = null; // device time of model-rate sample 0
  private consumed = 0; // model-rate samples dropped from the buffer's front so far

  constructor(readonly opts: OnlineFeatureOptions) {
    this.resamplers = Array.from({ length: opts.channels }, () => new StreamingResampler(opts.deviceFs, opts.modelFs));
    this.win = Math.round(opts.windowSec * opts.modelFs);
    this.hop = Math.round(opts.hopSec * opts.modelFs);
    if (this.win < 1 || this.hop < 1) throw new RangeError('window and hop must be at least one sample');
    this.buffers = Array.from({ length: opts.channels }, () => new Float64Array(this.win * 4));
  }

  /** Push rows: one array per channel (same length), and the device time of the first row. */
  push(channels: Float64Array[], firstSampleMs: number): FeatureWindow[] {
    if (channels.length !== this.opts.channels) throw new RangeError(`expected ${this.opts.channels} channels, got ${channels.length}`);
    if (this.t0 === null) this.t0 = firstSampleMs;
    const resampled = channels.map((c, i) => this.resamplers[i]!.push(c));
    const n = resampled[0]!.length;
    this.ensure(this.filled + n);
    resampled.forEach((r, i) => this.buffers[i]!.set(r, this.filled));
    this.filled += n;
    const out: FeatureWindow[] = [];
    const dtMs = 1000 / this.opts.modelFs;
    while (this.filled >= this.win) {
      const startMs = this.t0 + this.consumed * dtMs;
      const feats = new Float32Array(this.opts.channels * this.opts.bands.length);
      let gap = false;
      for (let c = 0; c < this.opts.channels && !gap; c++) {
        const w = this.buffers[c]!.subarray(0, this.win);
        if (w.some((v) => Number.isNaN(v))) gap = true;
        else feats.set(seedDE(w, this.opts.modelFs, { nfft: this.opts.nfft, bands: this.opts.bands }), c * this.opts.bands.length);
      }
      out.push(gap ? { startMs, endMs: startMs + (this.win - 1) * dtMs, features: null, skipped: 'gap' } : { startMs, endMs: startMs + (this.win - 1) * dtMs, features: feats });
      for (const b of this.buffers) b.copyWithin(0, this.hop, this.filled);
      this.filled -= this.hop;
      this.consumed += this.hop;
    }
    return out;
  }

  private ensure(n: number): void {
    if (n <= this.buffers[0]!.length) return;
    for (let i = 0; i < this.buffers.length; i++) {
      const b = new Float64Array(Math.max(n, this.buffers[i]!.length * 2));
      b.set(this.buffers[i]!.subarray(0, this.filled));
      this.buffers[i] = b;
    }
  }
}
