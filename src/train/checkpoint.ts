/**
 * Trained networks → the framework-neutral checkpoint of export/checkpoint.ts (architecture spec, weights,
 * feature conventions, normalisation, montage, classes, provenance, metrics), and checkpoint files in and out.
 * Nothing here imports tfjs (the Network type is type-only); rebuilding a tfjs network from a checkpoint is
 * `networkFromCheckpoint` in ./run.ts.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { parseCheckpoint, serialiseCheckpoint, type Checkpoint, type FeatureSpec } from '../../export/checkpoint.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';
import type { DatasetMeta } from '../datasets/types.js';
import type { Network } from './nets/types.js';

export type { Checkpoint } from '../../export/checkpoint.js';

/** How the dataset's features were computed, as the runtime must reproduce them. */
export function featureSpecOf(meta: DatasetMeta, modality: 'eeg' | 'eye'): FeatureSpec {
  if (modality === 'eye') return { method: 'eye', fs: 0, windowSec: meta.windowSec, hopSec: meta.windowSec, bands: [], smoothing: 'none' };
  const f = meta.feature.toLowerCase();
  const smoothing = f.includes('lds') ? 'lds' : f.includes('movingave') ? 'moving-average' : 'none';
  return {
    method: f.startsWith('psd') ? 'seed-psd' : 'seed-de',
    fs: 200,
    windowSec: meta.windowSec,
    hopSec: meta.windowSec,
    bands: SEED_BANDS.filter((b) => meta.bandNames.includes(b.name)).map((b) => ({ ...b })),
    smoothing,
  };
}

export interface CheckpointInfo {
  modality: 'eeg' | 'eye';
  meta: DatasetMeta;
  /** Channel names in input order (eye: feature names). */
  channels: string[];
  normalisation: { mean: ArrayLike<number>; std: ArrayLike<number> };
  montage?: Checkpoint['montage'];
  provenance: Record<string, string | number | boolean>;
  metrics?: Record<string, number>;
}

export function makeCheckpoint(net: Network, info: CheckpointInfo): Checkpoint {
  return {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: info.modality,
    arch: { arch: net.spec.arch, input: { ...net.spec.input }, classes: net.spec.classes, params: { ...net.spec.params } },
    weights: net.getWeights(),
    classes: [...info.meta.classNames],
    channels: info.channels,
    ...(info.montage ? { montage: info.montage } : {}),
    features: featureSpecOf(info.meta, info.modality),
    normalisation: { mean: Array.from(info.normalisation.mean), std: Array.from(info.normalisation.std) },
    provenance: info.provenance,
    ...(info.metrics ? { metrics: info.metrics } : {}),
  };
}

export function writeCheckpoint(path: string, ck: Checkpoint): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, serialiseCheckpoint(ck));
}

/** Read and validate a checkpoint file (no tfjs involved); errors name the file. */
export function readCheckpoint(path: string): Checkpoint {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read checkpoint (${(e as Error).message})`);
  }
  return parseCheckpoint(text, path);
}
