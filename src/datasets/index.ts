/**
 * Dataset readers for the SEED family and the synthetic generator. `loadDataset` picks the reader by name;
 * 'synthetic' reads a folder written by `cmcrd dataset synth` (its layout and size come from SYNTHETIC.json).
 */
import { readFileSync } from 'node:fs';
import { DataFormatError } from '../io/errors.js';
import { option, optionText, OptionError } from '../train/errors.js';
import type { CommonLoadOptions } from './common.js';
import { exists, join, listFiles } from './fsutil.js';
import { SYNTHETIC_MANIFEST, type SeedIVFeature } from './layouts.js';
import { loadSeed, type SeedFeature } from './seed.js';
import { loadSeedIV } from './seed-iv.js';
import { loadSeedV, type SeedVColumnOrder } from './seed-v.js';
import type { EmotionDataset } from './types.js';
import type { SmoothingName } from '../../runtime/dsp/smooth.js';

export * from './types.js';
export * from './layouts.js';
export { loadSeed, SEED_FEATURES, type SeedFeature, type SeedLoadOptions } from './seed.js';
export { loadSeedIV, type SeedIVLoadOptions } from './seed-iv.js';
export { loadSeedV, type SeedVLoadOptions, type SeedVColumnOrder } from './seed-v.js';
export {
  synthesize,
  synthesizeAsync,
  estimateSynth,
  checkModelParameters,
  trialWindows,
  FULL_SIZE,
  SYNTH_LIMITS,
  MODEL_PARAMETER_RANGES,
  SynthOutputError,
  SynthModelError,
  type SynthOptions,
  type SynthResult,
  type SynthLayout,
  type SynthEstimate,
  type ModelParameters,
} from './synth.js';
export { rawTrialFeatures, rawTrialFeature, type RawFeatureOptions, type RawFeatureKind, type TrialFeatures } from './raw-features.js';

export type DatasetKind = 'seed' | 'seed-iv' | 'seed-v' | 'synthetic';
export const DATASET_KINDS: readonly DatasetKind[] = ['seed', 'seed-iv', 'seed-v', 'synthetic'];

export interface LoadDatasetOptions extends CommonLoadOptions {
  /** EEG feature family (SEED / SEED-IV; SEED-V ships de_LDS only). */
  feature?: string;
  /** SEED-IV: read eeg_raw_data and compute the feature. */
  source?: 'features' | 'raw';
  /**
   * Smoothing form computed per trial from the raw EEG (implies source 'raw'; `feature` may then be just de or
   * psd). SEED and SEED-V ship no raw EEG this reader reads, so they refuse it (docs/smoothing.md).
   */
  smooth?: SmoothingName;
  eye?: boolean;
  columnOrder?: SeedVColumnOrder;
  checkLabels?: boolean;
}

export interface SyntheticManifest {
  layout: 'seed-iv' | 'seed-v';
  subjects: number;
  sessions: number;
  windowsPerTrial: number;
  seed: number;
  raw: boolean;
  /** True when the run was interrupted: the files then hold fewer subjects/sessions than the counts above. */
  stopped?: boolean;
  /**
   * True while a run writes the folder, and after a run stopped by Ctrl-C / SIGTERM (then with `stopped`).
   * Partial without `stopped` means the run was killed mid-way or is still writing: loaders refuse it.
   */
  partial?: boolean;
}

export function readSyntheticManifest(root: string): SyntheticManifest {
  const path = join(root, SYNTHETIC_MANIFEST);
  if (!exists(path))
    throw new DataFormatError(`not a synthetic dataset folder (no ${SYNTHETIC_MANIFEST}; create one with \`cmcrd dataset synth\`)`, root);
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DataFormatError(`unreadable manifest (${err instanceof Error ? err.message : String(err)})`, path);
  }
  const o = m as Partial<SyntheticManifest>;
  if (o.layout !== 'seed-iv' && o.layout !== 'seed-v')
    throw new DataFormatError(`unknown layout ${JSON.stringify(o.layout)}`, path, 'layout');
  if (!(typeof o.sessions === 'number' && o.sessions >= 1 && o.sessions <= 3))
    throw new DataFormatError(`bad sessions ${JSON.stringify(o.sessions)}`, path, 'sessions');
  if (!(typeof o.subjects === 'number' && Number.isInteger(o.subjects) && o.subjects >= 1))
    throw new DataFormatError(`bad subjects ${JSON.stringify(o.subjects)}`, path, 'subjects');
  if (o.partial === true && o.stopped !== true) {
    throw new DataFormatError(
      'the synthetic dataset is partial: the run writing it was killed, or is still running, so its last files may be missing. Wait for a running `cmcrd dataset synth` to finish, or synthesise again into a new, empty folder',
      path,
      'partial',
    );
  }
  return o as SyntheticManifest;
}

/**
 * Subjects (and, for SEED-IV, sessions) present on disk must match SYNTHETIC.json: a folder that two
 * `dataset synth` runs wrote into (possible before synth refused non-empty folders) holds leftover subjects
 * from the older run, which the loader would otherwise mix in silently. Only file names are read.
 */
function checkSyntheticCounts(root: string, m: SyntheticManifest): void {
  const subjects = new Set<string>();
  let sessions: number | null = null;
  if (m.layout === 'seed-iv') {
    const base = join(root, 'eeg_feature_smooth');
    if (!exists(base)) return; // the loader reports the missing folder
    sessions = 0;
    for (const s of [1, 2, 3]) {
      const dir = join(base, String(s));
      const files = exists(dir) ? listFiles(dir, '.mat') : [];
      if (files.length) sessions++;
      for (const f of files) subjects.add(f.split('_')[0]!);
    }
  } else {
    const dir = join(root, 'EEG_DE_features');
    if (!exists(dir)) return;
    for (const f of listFiles(dir, '.npz')) subjects.add(f.split('_')[0]!);
  }
  // An interrupted run (stopped) legitimately wrote fewer subjects/sessions than it recorded, never more.
  const off = (disk: number, manifest: number) => (m.stopped ? disk > manifest : disk !== manifest);
  if (off(subjects.size, m.subjects) || (sessions !== null && off(sessions, m.sessions))) {
    const what = (n: number, s: number | null) =>
      `${n} subject${n === 1 ? '' : 's'}${s === null ? '' : ` × ${s} session${s === 1 ? '' : 's'}`}`;
    throw new DataFormatError(
      `${SYNTHETIC_MANIFEST} describes ${what(m.subjects, sessions === null ? null : m.sessions)}, but the ${m.layout} files hold ${what(subjects.size, sessions)}. ` +
        'The folder probably mixes two synthetic datasets; synthesise again into a new, empty folder',
      root,
    );
  }
}

/** SEED and SEED-V: the released features exist only in the offline-smoothed forms, and no raw reader exists. */
function noRawEeg(name: string, smooth: SmoothingName): DataFormatError {
  return new DataFormatError(
    `smoothing "${smooth}" is computed per trial from the raw EEG, and ${name}'s released features exist only in SEED's offline forms (de_LDS: LDS from the trial mean${name === 'SEED' ? '; de_movingAve' : ''}). ` +
      'cmcrd reads raw EEG for SEED-IV (eeg_raw_data) and for synthetic data written with its raw EEG (dataset synth, SEED-IV layout, raw option): train a deployable model on one of those (see docs/smoothing.md)',
  );
}

export function loadDataset(kind: DatasetKind, root: string, opts: LoadDatasetOptions = {}): EmotionDataset {
  const common: CommonLoadOptions = {
    ...(opts.subjects ? { subjects: opts.subjects } : {}),
    ...(opts.sessions ? { sessions: opts.sessions } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  switch (kind) {
    case 'seed':
      if (opts.smooth) throw noRawEeg('SEED', opts.smooth);
      return loadSeed(root, { ...common, ...(opts.feature ? { feature: opts.feature as SeedFeature } : {}) });
    case 'seed-iv': {
      // With a smoothing form the family is just de or psd; the loader takes it as the _LDS key of that family.
      const feature = opts.smooth && (opts.feature === 'de' || opts.feature === 'psd') ? `${opts.feature}_LDS` : opts.feature;
      return loadSeedIV(root, {
        ...common,
        ...(feature ? { feature: feature as SeedIVFeature } : {}),
        ...(opts.smooth ? { smooth: opts.smooth, source: 'raw' as const } : opts.source ? { source: opts.source } : {}),
        ...(opts.eye !== undefined ? { eye: opts.eye } : {}),
      });
    }
    case 'seed-v':
      if (opts.smooth) throw noRawEeg('SEED-V', opts.smooth);
      if (opts.feature && opts.feature !== 'de_LDS')
        throw new OptionError('feature', optionText`SEED-V releases only DE features (de_LDS); got ${option('feature')} ${opts.feature}`);
      return loadSeedV(root, {
        ...common,
        ...(opts.columnOrder ? { columnOrder: opts.columnOrder } : {}),
        ...(opts.eye !== undefined ? { eye: opts.eye } : {}),
        ...(opts.checkLabels !== undefined ? { checkLabels: opts.checkLabels } : {}),
      });
    case 'synthetic': {
      const m = readSyntheticManifest(root);
      if (opts.smooth && !(m.layout === 'seed-iv' && m.raw)) {
        throw new DataFormatError(
          `smoothing "${opts.smooth}" is computed from the raw EEG, which this synthetic dataset does not hold; synthesise one that keeps it (dataset synth, SEED-IV layout, raw option)`,
          root,
        );
      }
      checkSyntheticCounts(root, m);
      const sessions = opts.sessions ?? Array.from({ length: m.sessions }, (_, i) => i + 1);
      return loadDataset(m.layout, root, { ...opts, sessions });
    }
  }
  throw new DataFormatError(`unknown dataset "${String(kind)}" (one of ${DATASET_KINDS.join(', ')})`);
}
