/**
 * Per-user calibration for a running model. `cmcrd calibrate` records a baseline and saves each user's feature
 * statistics (the CalibrationStore of runtime/dsp, plus what they were computed for). At run time a window's raw
 * features x become (x − μ_user) / σ_user · σ_train + μ_train: the graph's own z-score (training statistics, from
 * the card's normalisation) then sees the user's z-score, i.e. per-user normalisation as in SEED-style
 * cross-subject work. Without training statistics in the card the user's z-score is fed directly.
 */
import { CalibrationStore, type CalibrationJSON } from '../dsp/normalize.js';
import type { ModelCard } from '../model-card.js';
import { RunSetupError } from './device-fit.js';

export interface CalibrationMeta {
  /** What the statistics were computed for: they only apply to the same features. */
  channels: string[];
  bands: string[];
  featureMethod: string;
  fs: number;
  windowSec: number;
  device?: string;
  seconds?: number;
  createdAt?: string;
}

export type CalibrationFile = CalibrationJSON & { meta?: CalibrationMeta };

export function calibrationMeta(card: ModelCard, extra: Pick<CalibrationMeta, 'device' | 'seconds' | 'createdAt'> = {}): CalibrationMeta {
  return {
    channels: [...card.channels],
    bands: card.bands.map((b) => b.name),
    featureMethod: card.featureMethod,
    fs: card.fs,
    windowSec: card.windowSec,
    ...extra,
  };
}

export interface AppliedCalibration {
  user: string;
  /** Windows the user's statistics were computed from (fewest over dimensions). */
  windows: number;
  apply(row: Float32Array): Float32Array;
}

function trainingStats(card: ModelCard, dim: number): { mean: number[]; std: number[] } | null {
  const s = card.raw['cmcrd.normalisation'];
  if (!s) return null;
  try {
    const n = JSON.parse(s) as { mean?: unknown; std?: unknown } | null;
    const ok = (a: unknown): a is number[] =>
      Array.isArray(a) && a.length === dim && a.every((x) => typeof x === 'number' && Number.isFinite(x));
    return n && ok(n.mean) && ok(n.std) ? { mean: n.mean, std: n.std } : null;
  } catch {
    return null;
  }
}

/** Calibration for this card from a parsed calibration file; throws RunSetupError naming the file and what does not fit. */
export function applyCalibration(json: unknown, card: ModelCard, source: string, user?: string): AppliedCalibration {
  let store: CalibrationStore;
  try {
    store = CalibrationStore.fromJSON(json);
  } catch (e) {
    throw new RunSetupError(`${source}: not a calibration file (${e instanceof Error ? e.message : String(e)})`);
  }
  const dim = card.channels.length * card.bands.length;
  if (store.dim !== dim)
    throw new RunSetupError(
      `${source}: calibration of ${store.dim} features, but the model takes ${card.channels.length} channels × ${card.bands.length} bands = ${dim}`,
    );
  const meta = (json as CalibrationFile).meta;
  if (meta) {
    const want = calibrationMeta(card);
    for (const k of ['channels', 'bands', 'featureMethod', 'fs', 'windowSec'] as const) {
      if (JSON.stringify(meta[k]) !== JSON.stringify(want[k]))
        throw new RunSetupError(
          `${source}: recorded for ${k} ${JSON.stringify(meta[k])}, but the model uses ${JSON.stringify(want[k])}; calibrate again with this model`,
        );
    }
  }
  const users = store.userIds();
  if (!users.length) throw new RunSetupError(`${source}: holds no user's statistics`);
  const who = user ?? (users.length === 1 ? users[0]! : null);
  if (who === null) throw new RunSetupError(`${source} holds several users (${users.join(', ')}): choose one with --user`);
  const stats = store.stats(who);
  if (!stats) throw new RunSetupError(`${source} has no user "${who}" (it has ${users.join(', ')})`);
  const norm = store.normalizer(who, { minCount: 2, eps: 1e-6 });
  if (!norm) throw new RunSetupError(`${source}: user "${who}" has fewer than 2 good windows for some feature; calibrate for longer`);
  const train = trainingStats(card, dim);
  const windows = Math.min(...stats.count);
  const z = new Float64Array(dim);
  return {
    user: who,
    windows,
    apply(row) {
      norm.transform(row, z);
      const out = new Float32Array(dim);
      for (let i = 0; i < dim; i++) out[i] = train ? z[i]! * train.std[i]! + train.mean[i]! : z[i]!;
      return out;
    },
  };
}
