/**
 * Activation ranges for static int8 quantisation, from the values a tensor takes on calibration windows:
 *   - minmax: the smallest and largest value;
 *   - percentile (default 99.99 %): the central `p` % of the values, the rest cut evenly from both tails
 *     (onnxruntime's asymmetric percentile);
 *   - entropy: the clipping threshold that minimises KL(P‖Q) between the 2048-bin histogram P and its int8
 *     quantisation Q (the TensorRT method; onnxruntime's entropy calibrator is the same idea): on |x| with 128
 *     levels for signed tensors, on x with 256 levels for non-negative ones (ReLU outputs), so a tensor that
 *     never goes below zero keeps all 256 codes.
 * Pure functions on Float32Arrays; collecting the values (running the fp32 model) is calibrate.node.ts.
 */
import type { CalibrationMethod, Range } from './quantize.js';

export const DEFAULT_PERCENTILE = 99.99;
const ENTROPY_BINS = 2048;

function minMax(values: Float32Array): Range {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!values.length) throw new Error('no calibration values');
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error('calibration values are not finite');
  return { lo, hi };
}

/** The q-quantile (0 ≤ q ≤ 1) of sorted values, linearly interpolated (numpy's default). */
function quantile(sorted: Float32Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i]! + f * (sorted[i + 1]! - sorted[i]!) : sorted[i]!;
}

export function percentileRange(values: Float32Array, percentile = DEFAULT_PERCENTILE): Range {
  if (!(percentile > 0 && percentile <= 100)) throw new Error(`percentile must be in (0, 100], got ${percentile}`);
  minMax(values); // finite and non-empty
  const sorted = Float32Array.from(values).sort();
  const cut = (100 - percentile) / 200;
  return { lo: quantile(sorted, cut), hi: quantile(sorted, 1 - cut) };
}

/**
 * The smoothing onnxruntime (after MXNet) applies to the histogram counts before KL: empty bins get `eps`, taken
 * evenly from the others, so KL stays finite where one distribution has mass the other lacks.
 */
function smooth(p: Float64Array, eps = 1e-4): Float64Array | null {
  let zeros = 0;
  for (const v of p) if (v === 0) zeros++;
  const nonzero = p.length - zeros;
  if (!nonzero) return null;
  const eps1 = (eps * zeros) / nonzero;
  return p.map((v) => (v === 0 ? eps : v - eps1));
}

function normalised(p: Float64Array): Float64Array {
  let s = 0;
  for (const v of p) s += v;
  return s > 0 ? p.map((v) => v / s) : p;
}

/**
 * The threshold t in (0, max] minimising KL(P‖Q) for values all ≥ 0: P is the 2048-bin histogram on [0, max] cut
 * at bin i with the mass above folded into bin i−1; Q merges the i bins (without that folded mass) into `levels`
 * groups and spreads each group's mass evenly over its bins where P is non-zero (TensorRT's entropy calibration).
 */
export function entropyThreshold(values: Float32Array, levels: number, bins = ENTROPY_BINS): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  if (max === 0) return 0;
  const width = max / bins;
  const hist = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) hist[Math.min(bins - 1, Math.floor(values[i]! / width))]!++;
  let best = bins;
  let bestKl = Infinity;
  for (let i = levels; i <= bins; i++) {
    const p = hist.slice(0, i);
    for (let k = i; k < bins; k++) p[i - 1]! += hist[k]!;
    const q = new Float64Array(i);
    const per = i / levels;
    for (let j = 0; j < levels; j++) {
      const start = Math.floor(j * per);
      const end = j === levels - 1 ? i : Math.floor((j + 1) * per);
      let mass = 0;
      let nonzero = 0;
      for (let k = start; k < end; k++) {
        mass += hist[k]!;
        if (p[k]! > 0) nonzero++;
      }
      for (let k = start; k < end; k++) if (p[k]! > 0) q[k] = mass / nonzero;
    }
    const sp = smooth(p);
    const sq = smooth(q);
    if (!sp || !sq) continue;
    const ps = normalised(sp);
    const qs = normalised(sq);
    let kl = 0;
    for (let k = 0; k < i; k++) kl += ps[k]! * Math.log(ps[k]! / qs[k]!);
    if (Number.isNaN(kl)) continue;
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return Math.min(max, (best + 0.5) * width);
}

export function entropyRange(values: Float32Array): Range {
  const { lo, hi } = minMax(values);
  if (lo >= 0) return { lo: 0, hi: entropyThreshold(values, 256) };
  const t = entropyThreshold(Float32Array.from(values, Math.abs), 128);
  return { lo: Math.max(lo, -t), hi: Math.min(hi, t) };
}

export function calibrationRange(values: Float32Array, method: CalibrationMethod, percentile = DEFAULT_PERCENTILE): Range {
  if (method === 'minmax') return minMax(values);
  if (method === 'percentile') return percentileRange(values, percentile);
  if (method === 'entropy') return entropyRange(values);
  throw new Error(`unknown calibration method "${String(method)}"`);
}
