/**
 * Raw EEG trial → SEED-IV feature families (de/psd × LDS/movingAve), using the runtime's feature code
 * (runtime/dsp), so training on raw data and on-device inference compute features identically.
 * Windows are non-overlapping, windowSec·fs samples; a trailing partial window is dropped.
 */
import { seedBandEnergy, type SeedSpectralOptions } from '../../runtime/dsp/seed-de.js';
import { ldsSmooth, movingAverage, type LdsOptions } from '../../runtime/dsp/smooth.js';
import type { SeedIVFeature } from './layouts.js';

export interface RawFeatureOptions extends SeedSpectralOptions {
  fs: number;
  windowSec: number;
  lds?: LdsOptions;
  /** Moving-average length in windows (default 5). */
  movingAverageWindow?: number;
}

export type TrialFeatures = Record<SeedIVFeature, Float64Array>;

/**
 * Compute all four feature families for one trial. `channels` holds one raw signal per channel.
 * Returns channel-major [channels][windows][bands] Float64Arrays (the file layout of eeg_feature_smooth)
 * plus the window count.
 */
export function rawTrialFeatures(channels: readonly ArrayLike<number>[], opts: RawFeatureOptions): { features: TrialFeatures; windows: number; bands: number } {
  const L = Math.round(opts.fs * opts.windowSec);
  if (!(L > 0)) throw new RangeError(`window length must be positive (fs ${opts.fs}, ${opts.windowSec} s)`);
  const n = channels[0]?.length ?? 0;
  for (const c of channels) if (c.length !== n) throw new RangeError('all channels of a trial must have the same length');
  const W = Math.floor(n / L);
  const spectral: SeedSpectralOptions = { ...(opts.nfft ? { nfft: opts.nfft } : {}), ...(opts.bands ? { bands: opts.bands } : {}) };
  const probe = seedBandEnergy(new Float64Array(L), opts.fs, spectral);
  const B = probe.length;
  const C = channels.length;
  const psd = new Float64Array(C * W * B);
  const de = new Float64Array(C * W * B);
  const win = new Float64Array(L);
  for (let c = 0; c < C; c++) {
    const x = channels[c]!;
    for (let w = 0; w < W; w++) {
      for (let i = 0; i < L; i++) win[i] = x[w * L + i]!;
      const e = seedBandEnergy(win, opts.fs, spectral);
      for (let b = 0; b < B; b++) {
        psd[(c * W + w) * B + b] = e[b]!;
        de[(c * W + w) * B + b] = Math.log2(100 * e[b]!);
      }
    }
  }
  const smooth = (src: Float64Array, kind: 'lds' | 'ma'): Float64Array => {
    const out = new Float64Array(src.length);
    const series = new Float64Array(W);
    for (let c = 0; c < C; c++) {
      for (let b = 0; b < B; b++) {
        for (let w = 0; w < W; w++) series[w] = src[(c * W + w) * B + b]!;
        const s = kind === 'lds' ? ldsSmooth(series, opts.lds) : movingAverage(series, opts.movingAverageWindow ?? 5);
        for (let w = 0; w < W; w++) out[(c * W + w) * B + b] = s[w]!;
      }
    }
    return out;
  };
  return {
    features: { de_LDS: smooth(de, 'lds'), de_movingAve: smooth(de, 'ma'), psd_LDS: smooth(psd, 'lds'), psd_movingAve: smooth(psd, 'ma') },
    windows: W,
    bands: B,
  };
}
