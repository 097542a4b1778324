/**
 * Raw EEG trial → SEED-IV feature families (de/psd × LDS/movingAve), or one family with any smoothing form,
 * using the runtime's feature code (runtime/dsp), so training on raw data and on-device inference compute
 * features identically. Windows are non-overlapping, windowSec·fs samples; a trailing partial window is dropped.
 *
 * Smoothing runs along the windows of the trial (runtime/dsp/smooth.ts smoothTrial): the released families
 * use SEED's offline forms (`_LDS` = 'lds', trial mean as the initial state; `_movingAve` = 'moving-average',
 * centred); the causal forms ('lds-causal', 'moving-average-causal') run the device's online smoother from a
 * reset state at the trial start, on the channel-major vector [c·bands + b] the FeatureExtractor smooths, so
 * a model trained on them sees the same numbers on the device.
 */
import { seedBandEnergy, type SeedSpectralOptions } from '../../runtime/dsp/seed-de.js';
import { smoothTrial, type OnlineLdsOptions, type SmoothingName } from '../../runtime/dsp/smooth.js';
import type { SeedIVFeature } from './layouts.js';

export interface RawFeatureOptions extends SeedSpectralOptions {
  fs: number;
  windowSec: number;
  /** LDS parameters (Q, R, P₀; `initialMean` = a baseline for lds-causal, ignored by the offline lds). */
  lds?: Omit<OnlineLdsOptions, 'init'>;
  /** Moving-average length in windows (default 5). */
  movingAverageWindow?: number;
}

export type TrialFeatures = Record<SeedIVFeature, Float64Array>;

/** Which SEED feature family: differential entropy or band power. */
export type RawFeatureKind = 'de' | 'psd';

/** Unsmoothed band energies and DE of a trial, channel-major [channels][windows][bands]. */
function bandFeatures(
  channels: readonly ArrayLike<number>[],
  opts: RawFeatureOptions,
): { psd: Float64Array; de: Float64Array; windows: number; bands: number } {
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
  return { psd, de, windows: W, bands: B };
}

/** Smooth a channel-major [C][W][B] family along its W windows with `form` (per trial, from its start). */
function smoothFamily(src: Float64Array, C: number, W: number, B: number, form: SmoothingName, opts: RawFeatureOptions): Float64Array {
  if (form === 'none') return src;
  // Per-window vectors in the extractor's order [c·B + b].
  const rows = Array.from({ length: W }, (_, w) => {
    const v = new Float64Array(C * B);
    for (let c = 0; c < C; c++) for (let b = 0; b < B; b++) v[c * B + b] = src[(c * W + w) * B + b]!;
    return v;
  });
  const sm = smoothTrial(form, rows, {
    ...(opts.lds ? { lds: opts.lds } : {}),
    ...(opts.movingAverageWindow !== undefined ? { movingAverageWindow: opts.movingAverageWindow } : {}),
  });
  const out = new Float64Array(src.length);
  for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) for (let b = 0; b < B; b++) out[(c * W + w) * B + b] = sm[w]![c * B + b]!;
  return out;
}

/**
 * Compute all four released feature families for one trial. `channels` holds one raw signal per channel.
 * Returns channel-major [channels][windows][bands] Float64Arrays (the file layout of eeg_feature_smooth)
 * plus the window count.
 */
export function rawTrialFeatures(
  channels: readonly ArrayLike<number>[],
  opts: RawFeatureOptions,
): { features: TrialFeatures; windows: number; bands: number } {
  const { psd, de, windows: W, bands: B } = bandFeatures(channels, opts);
  const C = channels.length;
  return {
    features: {
      de_LDS: smoothFamily(de, C, W, B, 'lds', opts),
      de_movingAve: smoothFamily(de, C, W, B, 'moving-average', opts),
      psd_LDS: smoothFamily(psd, C, W, B, 'lds', opts),
      psd_movingAve: smoothFamily(psd, C, W, B, 'moving-average', opts),
    },
    windows: W,
    bands: B,
  };
}

/**
 * One feature family of a trial with the given smoothing form, channel-major [channels][windows][bands]. With a
 * causal form this is what the FeatureExtractor (method seed-de / seed-psd, the same smoothing) gives for the
 * trial streamed from its start.
 */
export function rawTrialFeature(
  channels: readonly ArrayLike<number>[],
  opts: RawFeatureOptions,
  kind: RawFeatureKind,
  smoothing: SmoothingName,
): { data: Float64Array; windows: number; bands: number } {
  const f = bandFeatures(channels, opts);
  return {
    data: smoothFamily(kind === 'de' ? f.de : f.psd, channels.length, f.windows, f.bands, smoothing, opts),
    windows: f.windows,
    bands: f.bands,
  };
}
