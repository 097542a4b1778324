/**
 * The in-memory dataset every reader returns and training consumes.
 *
 * Storage is per trial, contiguous and row-major, so a whole SEED-IV load is a few hundred typed arrays
 * rather than hundreds of thousands of small ones:
 *   trial.eeg  Float32Array [windows][channels][bands]
 *   trial.eye  Float32Array [windows][eyeFeatures]   (null when the dataset/load has no eye features)
 * Float32 because that is what the networks train on, and it halves memory (full SEED-IV ≈ 45 MB).
 * `windowsOf` / `flatten` give per-window views and training matrices.
 */
import type { SmoothingName } from '../../runtime/dsp/smooth.js';
import {
  mapToCap,
  selectChannelFeatures,
  type ChannelMapping,
  type MapOptions,
  type Montage,
} from '../../firmware-bridge/montage/index.js';

export type DatasetName = 'seed' | 'seed-iv' | 'seed-v';

export interface DatasetMeta {
  /** Which layout the data came from. */
  dataset: DatasetName;
  /** True for data written by `cmcrd dataset synth`. */
  synthetic: boolean;
  root: string;
  classNames: readonly string[];
  channelNames: readonly string[];
  bandNames: readonly string[];
  /** Eye feature count (0 when absent). */
  eyeFeatures: number;
  /** EEG feature key that was loaded, e.g. "de_LDS" (SEED-V: "de_LDS" as released). */
  feature: string;
  /** Window length in seconds (SEED 1, SEED-IV 4, SEED-V 4). */
  windowSec: number;
  /** Smoothing form of the EEG features when chosen at load time (`smooth`); otherwise implied by `feature`. */
  smoothing?: SmoothingName;
  /** For montage-selected datasets: the cap channel each channel came from. */
  sourceChannels?: readonly string[];
}

export interface TrialRecord {
  /** Subject id as in the file names ("1" … "15"). */
  subject: string;
  /** 1-based session. */
  session: number;
  /** 1-based trial within the session. */
  trial: number;
  /** Class index into meta.classNames. */
  label: number;
  windows: number;
  /** [windows][channels][bands], row-major. */
  eeg: Float32Array;
  /** [windows][eyeFeatures], row-major, or null. */
  eye: Float32Array | null;
}

export interface EmotionDataset {
  meta: DatasetMeta;
  trials: TrialRecord[];
}

export interface WindowView {
  subject: string;
  session: number;
  trial: number;
  label: number;
  /** Window index within its trial. */
  index: number;
  /** [channels][bands] view into the trial's buffer (do not mutate). */
  eeg: Float32Array;
  /** [eyeFeatures] view, or null. */
  eye: Float32Array | null;
}

/** Iterate all windows in trial order, as views (no copying). */
export function* windowsOf(ds: EmotionDataset): Generator<WindowView> {
  const per = ds.meta.channelNames.length * ds.meta.bandNames.length;
  const e = ds.meta.eyeFeatures;
  for (const t of ds.trials) {
    for (let w = 0; w < t.windows; w++) {
      yield {
        subject: t.subject,
        session: t.session,
        trial: t.trial,
        label: t.label,
        index: w,
        eeg: t.eeg.subarray(w * per, (w + 1) * per),
        eye: t.eye ? t.eye.subarray(w * e, (w + 1) * e) : null,
      };
    }
  }
}

export interface FlatDataset {
  n: number;
  /** [n][channels·bands] */
  eeg: Float32Array;
  /** [n][eyeFeatures] or null */
  eye: Float32Array | null;
  labels: Int32Array;
  /** Index into `subjectIds` per window. */
  subjects: Int32Array;
  subjectIds: string[];
  sessions: Int32Array;
  trials: Int32Array;
}

/** Concatenate the selected trials (default: all) into training matrices. */
export function flatten(ds: EmotionDataset, filter: (t: TrialRecord) => boolean = () => true): FlatDataset {
  const trials = ds.trials.filter(filter);
  const per = ds.meta.channelNames.length * ds.meta.bandNames.length;
  const e = ds.meta.eyeFeatures;
  const n = trials.reduce((s, t) => s + t.windows, 0);
  const hasEye = e > 0 && trials.every((t) => t.eye !== null);
  const out: FlatDataset = {
    n,
    eeg: new Float32Array(n * per),
    eye: hasEye ? new Float32Array(n * e) : null,
    labels: new Int32Array(n),
    subjects: new Int32Array(n),
    subjectIds: [...new Set(ds.trials.map((t) => t.subject))],
    sessions: new Int32Array(n),
    trials: new Int32Array(n),
  };
  const sIndex = new Map(out.subjectIds.map((s, i) => [s, i]));
  let o = 0;
  for (const t of trials) {
    out.eeg.set(t.eeg, o * per);
    if (out.eye && t.eye) out.eye.set(t.eye, o * e);
    out.labels.fill(t.label, o, o + t.windows);
    out.subjects.fill(sIndex.get(t.subject)!, o, o + t.windows);
    out.sessions.fill(t.session, o, o + t.windows);
    out.trials.fill(t.trial, o, o + t.windows);
    o += t.windows;
  }
  return out;
}

export interface DatasetSummary {
  subjects: number;
  sessions: number;
  trials: number;
  windows: number;
  eegFeatures: number;
  eyeFeatures: number;
  classCounts: Record<string, number>;
}

/** Counts as printed by `cmcrd dataset info` (classCounts: windows per class). */
export function summarize(ds: EmotionDataset): DatasetSummary {
  const classCounts: Record<string, number> = Object.fromEntries(ds.meta.classNames.map((c) => [c, 0]));
  let windows = 0;
  for (const t of ds.trials) {
    windows += t.windows;
    classCounts[ds.meta.classNames[t.label]!]! += t.windows;
  }
  return {
    subjects: new Set(ds.trials.map((t) => t.subject)).size,
    sessions: new Set(ds.trials.map((t) => t.session)).size,
    trials: ds.trials.length,
    windows,
    eegFeatures: ds.meta.channelNames.length * ds.meta.bandNames.length,
    eyeFeatures: ds.meta.eyeFeatures,
    classCounts,
  };
}

/**
 * Keep only the cap channels a headband montage maps to (nearest site on the 10-05 template), in the
 * montage's site order, for training a headband model. Channel names become the device sites; the cap
 * channels they came from are kept in meta.sourceChannels. Pass a precomputed mapping to force choices.
 */
export function selectMontage(
  ds: EmotionDataset,
  montage: Montage | ChannelMapping,
  opts: MapOptions = {},
): { dataset: EmotionDataset; mapping: ChannelMapping } {
  const mapping = 'matches' in montage ? montage : mapToCap(montage, { capChannels: ds.meta.channelNames, ...opts });
  const indices = mapping.matches.map((m) => {
    const i = ds.meta.channelNames.findIndex((c) => c.toUpperCase() === m.channel.toUpperCase());
    if (i < 0) throw new RangeError(`mapped channel ${m.channel} is not in this dataset's channels`);
    return i;
  });
  const bands = ds.meta.bandNames.length;
  const C = ds.meta.channelNames.length;
  const trials = ds.trials.map((t) => {
    const eeg = new Float32Array(t.windows * indices.length * bands);
    for (let w = 0; w < t.windows; w++) {
      eeg.set(selectChannelFeatures(t.eeg.subarray(w * C * bands, (w + 1) * C * bands), bands, indices), w * indices.length * bands);
    }
    return { ...t, eeg };
  });
  return {
    dataset: {
      meta: { ...ds.meta, channelNames: mapping.matches.map((m) => m.site), sourceChannels: mapping.matches.map((m) => m.channel) },
      trials,
    },
    mapping,
  };
}

/** One window's EEG as nested arrays [channel][band] (for JSON dumps and debugging). */
export function nestedWindow(ds: EmotionDataset, t: TrialRecord, w: number): number[][] {
  const C = ds.meta.channelNames.length;
  const B = ds.meta.bandNames.length;
  const base = w * C * B;
  return Array.from({ length: C }, (_, c) => Array.from(t.eeg.subarray(base + c * B, base + (c + 1) * B)));
}
