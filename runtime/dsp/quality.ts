/**
 * Signal quality per channel and window. Thresholds assume microvolts (the unit of SEED and of the
 * firmware-bridge decoders); change them for other units.
 */
import { realFft } from './seed-de.js';

export interface QualityOptions {
  /** Sampling rate of the window (Hz). */
  fs: number;
  /** Flat line: standard deviation below this. Default 0.5 µV. */
  flatStd?: number;
  /** Excessive amplitude: peak-to-peak above this. Default 500 µV. */
  maxPeakToPeak?: number;
  /** ADC full-scale value (|x| at the rail), if known. */
  railValue?: number;
  /** Railed if at least this fraction of samples is within 1 % of the rail. Default 0.01. */
  railFraction?: number;
  /** Clipped (saturated) if a run of at least this many identical samples sits at the window's max or min. Default 5. */
  clipRun?: number;
  /** Mains frequency (Hz). Default 50. */
  lineHz?: number;
  /** Poor if (power within lineHz ± 1 Hz) / (power in 1–40 Hz) exceeds this. Default 1. */
  maxLineNoiseRatio?: number;
}

export interface ChannelQuality {
  std: number;
  peakToPeak: number;
  flat: boolean;
  railed: boolean;
  excessive: boolean;
  /** Line-noise power over 1–40 Hz EEG power; NaN if the line frequency is above Nyquist. */
  lineNoiseRatio: number;
  /** Fraction of the window made of lost (NaN) samples or samples they affected. */
  gapFraction: number;
  good: boolean;
}

/**
 * Quality of one window. `lost` optionally marks samples that were missing (replaced upstream);
 * NaN samples in `x` also count as lost and are ignored by the statistics.
 */
export function channelQuality(x: ArrayLike<number>, opts: QualityOptions, lost = 0): ChannelQuality {
  const n = x.length;
  let mean = 0;
  let count = 0;
  let max = -Infinity;
  let min = Infinity;
  let nanCount = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) {
      nanCount++;
      continue;
    }
    mean += v;
    count++;
    if (v > max) max = v;
    if (v < min) min = v;
  }
  mean = count ? mean / count : 0;
  let v2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (Number.isFinite(v)) v2 += (v - mean) ** 2;
  }
  const std = count ? Math.sqrt(v2 / count) : 0;
  const ptp = count ? max - min : 0;
  const flat = std < (opts.flatStd ?? 0.5);
  const excessive = ptp > (opts.maxPeakToPeak ?? 500);

  let railed = false;
  if (opts.railValue !== undefined && count) {
    const thr = 0.99 * Math.abs(opts.railValue);
    let atRail = 0;
    for (let i = 0; i < n; i++) if (Math.abs(x[i]!) >= thr) atRail++;
    railed = atRail / count >= (opts.railFraction ?? 0.01);
  }
  if (!railed && !flat && count) {
    const need = opts.clipRun ?? 5;
    let run = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      if ((v === max || v === min) && i > 0 && v === x[i - 1]) run++;
      else run = v === max || v === min ? 1 : 0;
      if (run >= need) {
        railed = true;
        break;
      }
    }
  }

  const lineNoiseRatio = count ? lineRatio(x, mean, opts.fs, opts.lineHz ?? 50) : NaN;
  const gapFraction = (nanCount + lost) / Math.max(n, 1);
  const noisy = lineNoiseRatio > (opts.maxLineNoiseRatio ?? 1);
  return {
    std,
    peakToPeak: ptp,
    flat,
    railed,
    excessive,
    lineNoiseRatio,
    gapFraction,
    good: !flat && !railed && !excessive && !noisy && gapFraction === 0,
  };
}

/** Hann-windowed periodogram: power within lineHz ± 1 Hz over power in 1–40 Hz. */
function lineRatio(x: ArrayLike<number>, mean: number, fs: number, lineHz: number): number {
  if (lineHz + 1 >= fs / 2) return NaN;
  const n = x.length;
  let nfft = 4;
  while (nfft < n) nfft *= 2;
  const f = realFft(nfft);
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
    f.input[i] = Number.isFinite(v) ? (v - mean) * w : 0;
  }
  f.input.fill(0, n);
  f.fft.realTransform(f.out as unknown as number[], f.input);
  const df = fs / nfft;
  const band = (lo: number, hi: number) => {
    let s = 0;
    for (let k = Math.ceil(lo / df); k <= Math.min(Math.floor(hi / df), nfft / 2); k++) s += f.out[2 * k]! ** 2 + f.out[2 * k + 1]! ** 2;
    return s;
  };
  const eeg = band(1, 40);
  const line = band(lineHz - 1, lineHz + 1);
  return eeg > 0 ? line / eeg : line > 0 ? Infinity : 0;
}
