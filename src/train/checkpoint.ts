/**
 * Trained networks → the framework-neutral checkpoint of export/checkpoint.ts (architecture spec, weights,
 * feature conventions, normalisation, montage, classes, provenance, metrics), and checkpoint files in and out.
 * Nothing here imports tfjs (the Network type is type-only); rebuilding a tfjs network from a checkpoint is
 * `networkFromCheckpoint` in ./run.ts.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import {
  parseCheckpoint,
  serialiseCheckpoint,
  type Checkpoint,
  type FeatureSpec,
  type ParseCheckpointOptions,
} from '../../export/checkpoint.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';
import type { DatasetMeta } from '../datasets/types.js';
import type { Network } from './nets/types.js';

export type { Checkpoint } from '../../export/checkpoint.js';

/** How the dataset's features were computed, as the runtime must reproduce them. */
export function featureSpecOf(meta: DatasetMeta, modality: 'eeg' | 'eye'): FeatureSpec {
  if (modality === 'eye') return { method: 'eye', fs: 0, windowSec: meta.windowSec, hopSec: meta.windowSec, bands: [], smoothing: 'none' };
  const f = meta.feature.toLowerCase();
  const smoothing = meta.smoothing ?? (f.includes('lds') ? 'lds' : f.includes('movingave') ? 'moving-average' : 'none');
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

/**
 * Largest checkpoint file read (a 62×5-input MLP with hidden 2048 is ~25 MB; V8 strings stop at ~512 MiB, so a
 * bigger file could not be parsed anyway).
 */
export const MAX_CHECKPOINT_BYTES = 256 * 2 ** 20;

/**
 * Read and validate a checkpoint file (no tfjs involved): every field, and every weight against the architecture
 * (export/checkpoint.ts). Errors name the file and the field (`ck.json: normalisation.std[3] must be > 0 …`).
 */
export function readCheckpoint(path: string, options: ParseCheckpointOptions = {}): Checkpoint {
  let text: string;
  try {
    const st = statSync(path);
    // Not a FIFO or device either: reading /dev/zero would never end.
    if (!st.isFile()) throw new Error(st.isDirectory() ? 'it is a directory' : 'not a regular file');
    if (st.size > MAX_CHECKPOINT_BYTES) throw new Error(`${st.size} bytes, more than the ${MAX_CHECKPOINT_BYTES} a checkpoint may have`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read checkpoint (${(e as Error).message})`);
  }
  return parseCheckpoint(text, path, options);
}

/** One trial of a dataset: the unit the protocols split by and a checkpoint's provenance records. */
export interface TrialId {
  subject: string;
  session: number;
  trial: number;
}

/** A set of trials read back from {@link encodeTrials}' text. */
export interface TrialSet {
  has(t: TrialId): boolean;
  /** How many trials it holds. */
  readonly count: number;
}

/** Subject ids in natural order: numerically when both are integers ("2" before "10"), else by code unit. */
function compareSubjects(a: string, b: string): number {
  const num = /^\d+$/;
  if (num.test(a) && num.test(b) && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A set of trials as compact text, e.g. "1/1/1-16;1/2/1-16;2/1/1-5,7-16": one group per subject and session,
 * `<subject>/<session>/<trials>`, groups joined by ";" in subject (natural order) and session order; `<trials>` is
 * ascending runs "a-b" (a < b) or single trials "a", joined by ",". The subject is written with
 * encodeURIComponent, so an id holding "/", ";" or "," cannot be misread (plain ids like "12" are unchanged).
 * The empty set is "". A fold of full SEED-IV (~1000 trials, ~28k windows) takes a few hundred characters.
 */
export function encodeTrials(trials: Iterable<TrialId>): string {
  const bySubject = new Map<string, Map<number, Set<number>>>();
  for (const t of trials) {
    let sessions = bySubject.get(t.subject);
    if (!sessions) bySubject.set(t.subject, (sessions = new Map()));
    let set = sessions.get(t.session);
    if (!set) sessions.set(t.session, (set = new Set()));
    set.add(t.trial);
  }
  const groups: string[] = [];
  for (const subject of [...bySubject.keys()].sort(compareSubjects)) {
    const sessions = bySubject.get(subject)!;
    for (const session of [...sessions.keys()].sort((a, b) => a - b)) {
      const list = [...sessions.get(session)!].sort((a, b) => a - b);
      const runs: string[] = [];
      for (let i = 0; i < list.length;) {
        let j = i;
        while (j + 1 < list.length && list[j + 1] === list[j]! + 1) j++;
        runs.push(j > i ? `${list[i]}-${list[j]}` : `${list[i]}`);
        i = j + 1;
      }
      groups.push(`${encodeURIComponent(subject)}/${session}/${runs.join(',')}`);
    }
  }
  return groups.join(';');
}

/** Read {@link encodeTrials}' text back; malformed text is an error saying where. Ranges are kept as ranges. */
export function parseTrials(text: string): TrialSet {
  const ranges = new Map<string, Array<[number, number]>>();
  let count = 0;
  const key = (subject: string, session: number) => `${subject}\u0000${session}`;
  if (text !== '') {
    for (const group of text.split(';')) {
      const m = /^([^/;,]+)\/(\d+)\/(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)$/.exec(group);
      let subject: string | null = null;
      try {
        subject = m ? decodeURIComponent(m[1]!) : null;
      } catch {
        subject = null;
      }
      if (!m || subject === null) throw new Error(`"${group}" is not <subject>/<session>/<trials> (e.g. 1/2/1-16)`);
      const k = key(subject, Number(m[2]));
      const list = ranges.get(k) ?? [];
      for (const run of m[3]!.split(',')) {
        const [a, b = a] = run.split('-').map(Number) as [number, number?];
        if (!(a <= b!)) throw new Error(`"${group}": trial range ${run} runs backwards`);
        list.push([a, b!]);
        count += b! - a + 1;
      }
      ranges.set(k, list);
    }
  }
  return {
    count,
    has: (t) => (ranges.get(key(t.subject, t.session)) ?? []).some(([a, b]) => t.trial >= a && t.trial <= b),
  };
}
