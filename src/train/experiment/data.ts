/** The data side of an experiment: feature matrices per modality, the folds, and the trials a set of rows covers. */
import type { EmotionDataset, FlatDataset } from '../../datasets/types.js';
import type { TrialId } from '../checkpoint.js';
import { foldMetrics, type FoldMetrics } from '../metrics.js';
import type { Network } from '../nets/types.js';
import { makeFolds, type Fold, type ProtocolName } from '../protocols.js';
import { argmaxRows, predictLogits, type Matrix } from '../trainer.js';
import { ExperimentConfigError, option, optionText, OptionError } from '../errors.js';
import type { Modality } from './types.js';

export interface ModalityData {
  name: Modality | 'fusion';
  x: Float32Array;
  d: number;
  input: { channels: number; bands: number };
  channels: string[];
}

/** Features of one modality as a row-major matrix over the flattened dataset. */
export function modalityData(ds: EmotionDataset, flat: FlatDataset, name: Modality | 'fusion'): ModalityData {
  const C = ds.meta.channelNames.length;
  const B = ds.meta.bandNames.length;
  const E = ds.meta.eyeFeatures;
  const eyeNames = Array.from({ length: E }, (_, i) => `eye${i + 1}`);
  if (name === 'eeg') return { name, x: flat.eeg, d: C * B, input: { channels: C, bands: B }, channels: [...ds.meta.channelNames] };
  if (!flat.eye || E === 0) {
    throw new ExperimentConfigError(
      `the ${ds.meta.dataset} dataset as loaded has no eye-movement features, which ${name === 'eye' ? 'the eye network' : 'fusion'} needs`,
    );
  }
  if (name === 'eye') return { name, x: flat.eye, d: E, input: { channels: 1, bands: E }, channels: eyeNames };
  // Fusion: EEG channels followed by ⌈E/B⌉ pseudo-channels carrying the eye features (zero-padded), so every
  // network (MLP, EEGNet-mini, DGCNN) reads it as channels × bands; for the MLP this is plain concatenation.
  const P = Math.ceil(E / B);
  const d = (C + P) * B;
  const x = new Float32Array(flat.n * d);
  for (let i = 0; i < flat.n; i++) {
    x.set(flat.eeg.subarray(i * C * B, (i + 1) * C * B), i * d);
    x.set(flat.eye.subarray(i * E, (i + 1) * E), i * d + C * B);
  }
  return {
    name,
    x,
    d,
    input: { channels: C + P, bands: B },
    channels: [...ds.meta.channelNames, ...Array.from({ length: P }, (_, i) => `eye-pack${i + 1}`)],
  };
}

/** Leave-subjects-out folds: each group of subjects is tested on, every other subject trains (ids "s9+s10"). */
function subjectFoldsOf(flat: FlatDataset, groups: readonly (readonly string[])[]): Fold[] {
  const known = new Map(flat.subjectIds.map((s, i) => [s, i]));
  return groups.map((group) => {
    const unknown = group.filter((s) => !known.has(s));
    if (!group.length || unknown.length || new Set(group).size !== group.length) {
      const why = !group.length
        ? 'an empty group'
        : unknown.length
          ? `unknown subject(s) ${unknown.join(', ')} (known: ${flat.subjectIds.join(', ')})`
          : `subjects listed twice in ${group.join(',')}`;
      throw new OptionError('subjectFolds', optionText`${option('subjectFolds')}: ${why}`);
    }
    const test = new Set(group.map((s) => known.get(s)!));
    const testRows: number[] = [];
    const trainRows: number[] = [];
    for (let i = 0; i < flat.n; i++) (test.has(flat.subjects[i]!) ? testRows : trainRows).push(i);
    if (!trainRows.length)
      throw new OptionError('subjectFolds', optionText`${option('subjectFolds')}: fold ${group.join(',')} leaves no subject to train on`);
    return {
      id: group.map((s) => `s${s}`).join('+'),
      protocol: 'loso',
      testSubjects: [...group],
      trainRows: Int32Array.from(trainRows),
      testRows: Int32Array.from(testRows),
    };
  });
}

/**
 * The protocol's folds on this dataset, restricted to `only` (fold ids) when given; unknown ids are an error.
 * `subjectFolds` replaces the protocol's folds by leave-subjects-out ones (protocol loso only).
 */
export function selectFolds(
  flat: FlatDataset,
  ds: EmotionDataset,
  protocol: ProtocolName,
  only?: readonly string[],
  subjectFolds?: readonly (readonly string[])[],
): Fold[] {
  if (subjectFolds) {
    if (protocol !== 'loso')
      throw new OptionError(
        'subjectFolds',
        optionText`${option('subjectFolds')} are leave-subjects-out folds: they need ${option('protocol')} loso, not ${protocol}`,
      );
    if (only?.length)
      throw new OptionError('subjectFolds', optionText`${option('subjectFolds')} and ${option('folds')} cannot be combined`);
    return subjectFoldsOf(flat, subjectFolds);
  }
  let folds: Fold[];
  try {
    folds = makeFolds(flat, protocol, ds.meta.dataset);
  } catch (e) {
    throw new ExperimentConfigError((e as Error).message);
  }
  if (!only?.length) return folds;
  const known = new Set(folds.map((f) => f.id));
  const bad = only.filter((f) => !known.has(f));
  if (bad.length)
    throw new OptionError(
      'folds',
      optionText`${option('folds')}: unknown fold id(s) ${bad.join(', ')} for protocol ${protocol} (known: ${[...known].join(', ')})`,
    );
  return folds.filter((f) => only.includes(f.id));
}

/** The rows 0..n-1 that are not in `val`. */
export function complement(n: number, val: Int32Array): Int32Array {
  const isVal = new Uint8Array(n);
  for (const v of val) isVal[v] = 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (!isVal[i]) out.push(i);
  return Int32Array.from(out);
}

/** The distinct trials of these rows of the flat dataset, in row order. */
export function trialsOf(flat: FlatDataset, rows: Int32Array): TrialId[] {
  const seen = new Set<string>();
  const out: TrialId[] = [];
  for (const r of rows) {
    const subject = flat.subjectIds[flat.subjects[r]!]!;
    const session = flat.sessions[r]!;
    const trial = flat.trials[r]!;
    const k = `${flat.subjects[r]}/${session}/${trial}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ subject, session, trial });
  }
  return out;
}

export function evaluate(net: Network, m: Matrix, truth: Int32Array, classes: number): FoldMetrics {
  return foldMetrics(argmaxRows(predictLogits(net, m), classes), truth, classes);
}
