/**
 * Dataset readers for the SEED family and the synthetic generator. `loadDataset` picks the reader by name;
 * 'synthetic' reads a folder written by `cmcrd dataset synth` (its layout and size come from SYNTHETIC.json).
 */
import { readFileSync } from 'node:fs';
import { DataFormatError } from '../io/errors.js';
import type { CommonLoadOptions } from './common.js';
import { exists, join } from './fsutil.js';
import { SYNTHETIC_MANIFEST, type SeedIVFeature } from './layouts.js';
import { loadSeed, type SeedFeature } from './seed.js';
import { loadSeedIV } from './seed-iv.js';
import { loadSeedV, type SeedVColumnOrder } from './seed-v.js';
import type { EmotionDataset } from './types.js';

export * from './types.js';
export * from './layouts.js';
export { loadSeed, SEED_FEATURES, type SeedFeature, type SeedLoadOptions } from './seed.js';
export { loadSeedIV, type SeedIVLoadOptions } from './seed-iv.js';
export { loadSeedV, type SeedVLoadOptions, type SeedVColumnOrder } from './seed-v.js';
export { synthesize, trialWindows, FULL_SIZE, type SynthOptions, type SynthResult, type SynthLayout } from './synth.js';
export { rawTrialFeatures, type RawFeatureOptions, type TrialFeatures } from './raw-features.js';

export type DatasetKind = 'seed' | 'seed-iv' | 'seed-v' | 'synthetic';
export const DATASET_KINDS: readonly DatasetKind[] = ['seed', 'seed-iv', 'seed-v', 'synthetic'];

export interface LoadDatasetOptions extends CommonLoadOptions {
  /** EEG feature family (SEED / SEED-IV; SEED-V ships de_LDS only). */
  feature?: string;
  /** SEED-IV: read eeg_raw_data and compute the feature. */
  source?: 'features' | 'raw';
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
}

export function readSyntheticManifest(root: string): SyntheticManifest {
  const path = join(root, SYNTHETIC_MANIFEST);
  if (!exists(path)) throw new DataFormatError(`not a synthetic dataset folder (no ${SYNTHETIC_MANIFEST}; create one with \`cmcrd dataset synth\`)`, root);
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DataFormatError(`unreadable manifest (${err instanceof Error ? err.message : String(err)})`, path);
  }
  const o = m as Partial<SyntheticManifest>;
  if (o.layout !== 'seed-iv' && o.layout !== 'seed-v') throw new DataFormatError(`unknown layout ${JSON.stringify(o.layout)}`, path, 'layout');
  if (!(typeof o.sessions === 'number' && o.sessions >= 1 && o.sessions <= 3)) throw new DataFormatError(`bad sessions ${JSON.stringify(o.sessions)}`, path, 'sessions');
  return o as SyntheticManifest;
}

export function loadDataset(kind: DatasetKind, root: string, opts: LoadDatasetOptions = {}): EmotionDataset {
  const common: CommonLoadOptions = {
    ...(opts.subjects ? { subjects: opts.subjects } : {}),
    ...(opts.sessions ? { sessions: opts.sessions } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  switch (kind) {
    case 'seed':
      return loadSeed(root, { ...common, ...(opts.feature ? { feature: opts.feature as SeedFeature } : {}) });
    case 'seed-iv':
      return loadSeedIV(root, {
        ...common,
        ...(opts.feature ? { feature: opts.feature as SeedIVFeature } : {}),
        ...(opts.source ? { source: opts.source } : {}),
        ...(opts.eye !== undefined ? { eye: opts.eye } : {}),
      });
    case 'seed-v':
      if (opts.feature && opts.feature !== 'de_LDS') throw new DataFormatError(`SEED-V releases only DE features (de_LDS); got --feature ${opts.feature}`);
      return loadSeedV(root, {
        ...common,
        ...(opts.columnOrder ? { columnOrder: opts.columnOrder } : {}),
        ...(opts.eye !== undefined ? { eye: opts.eye } : {}),
        ...(opts.checkLabels !== undefined ? { checkLabels: opts.checkLabels } : {}),
      });
    case 'synthetic': {
      const m = readSyntheticManifest(root);
      const sessions = opts.sessions ?? Array.from({ length: m.sessions }, (_, i) => i + 1);
      return loadDataset(m.layout, root, { ...opts, sessions });
    }
  }
  throw new DataFormatError(`unknown dataset "${String(kind)}" (one of ${DATASET_KINDS.join(', ')})`);
}
