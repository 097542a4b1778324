/**
 * Evaluation protocols (method.md "Evaluation"): which windows train and which test, per fold, plus the two
 * pieces that must only ever see training data: the validation split used for early stopping and the feature
 * normaliser.
 *
 * - within-subject: SEED-IV per (subject, session), trials 1–16 train / 17–24 test; SEED per (subject,
 *   session), trials 1–9 / 10–15 (the dataset's customary split); SEED-V per subject, 3 folds: fold k tests
 *   on trials 5k+1…5k+5 of every session and trains on the subject's other trials.
 * - cross-session: per subject, each session in turn is the test set, the subject's other sessions train.
 * - leave-one-subject-out (loso): each subject in turn is the test set, all other subjects train.
 */
import type { DatasetName, FlatDataset } from '../datasets/types.js';
import { SeededRandom } from './nets/layers.js';
import { shuffle } from './trainer.js';

export type ProtocolName = 'within' | 'cross-session' | 'loso';
export const PROTOCOLS: readonly ProtocolName[] = ['within', 'cross-session', 'loso'];

export interface Fold {
  /** Stable id used in file names and results, e.g. "s3", "s3-sess2", "s3-f1". */
  id: string;
  protocol: ProtocolName;
  /** Subject ids whose windows are in the test set. */
  testSubjects: string[];
  /** Rows of the flat dataset, ascending. */
  trainRows: Int32Array;
  testRows: Int32Array;
}

/** The folds of a protocol on a flattened dataset. `layout` picks the within-subject trial split. */
export function makeFolds(flat: FlatDataset, protocol: ProtocolName, layout: DatasetName): Fold[] {
  const subjects = flat.subjectIds;
  const sessionsOf = (s: number) =>
    [...new Set(rowsWhere(flat, (i) => flat.subjects[i] === s).map((i) => flat.sessions[i]!))].sort((a, b) => a - b);
  const folds: Fold[] = [];
  const make = (id: string, testSubjects: string[], isTest: (i: number) => boolean, isTrain: (i: number) => boolean) => {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < flat.n; i++) {
      if (isTest(i)) test.push(i);
      else if (isTrain(i)) train.push(i);
    }
    if (!train.length || !test.length) return; // e.g. a subject whose file lacks the test trials
    folds.push({ id, protocol, testSubjects, trainRows: Int32Array.from(train), testRows: Int32Array.from(test) });
  };
  switch (protocol) {
    case 'loso':
      if (subjects.length < 2) throw new RangeError(`leave-one-subject-out needs at least 2 subjects, the dataset has ${subjects.length}`);
      subjects.forEach((sid, s) =>
        make(
          `s${sid}`,
          [sid],
          (i) => flat.subjects[i] === s,
          () => true,
        ),
      );
      break;
    case 'cross-session':
      subjects.forEach((sid, s) => {
        const sessions = sessionsOf(s);
        if (sessions.length < 2)
          throw new RangeError(`cross-session needs at least 2 sessions per subject; subject ${sid} has ${sessions.length}`);
        for (const sess of sessions) {
          make(
            `s${sid}-sess${sess}`,
            [sid],
            (i) => flat.subjects[i] === s && flat.sessions[i] === sess,
            (i) => flat.subjects[i] === s,
          );
        }
      });
      break;
    case 'within': {
      if (layout === 'seed-v') {
        const per = maxTrial(flat); // 15
        const third = Math.ceil(per / 3);
        subjects.forEach((sid, s) => {
          for (let k = 0; k < 3; k++) {
            const inPart = (i: number) => flat.trials[i]! > k * third && flat.trials[i]! <= (k + 1) * third;
            make(
              `s${sid}-f${k + 1}`,
              [sid],
              (i) => flat.subjects[i] === s && inPart(i),
              (i) => flat.subjects[i] === s,
            );
          }
        });
      } else {
        const firstTest = layout === 'seed-iv' ? 17 : 10;
        subjects.forEach((sid, s) => {
          for (const sess of sessionsOf(s)) {
            const mine = (i: number) => flat.subjects[i] === s && flat.sessions[i] === sess;
            make(
              `s${sid}-sess${sess}`,
              [sid],
              (i) => mine(i) && flat.trials[i]! >= firstTest,
              (i) => mine(i) && flat.trials[i]! < firstTest,
            );
          }
        });
      }
      break;
    }
    default:
      throw new RangeError(`unknown protocol "${String(protocol)}" (one of ${PROTOCOLS.join(', ')})`);
  }
  if (!folds.length) throw new RangeError(`protocol ${protocol} produced no fold with both training and test windows`);
  return folds;
}

function rowsWhere(flat: FlatDataset, f: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < flat.n; i++) if (f(i)) out.push(i);
  return out;
}

function maxTrial(flat: FlatDataset): number {
  let m = 0;
  for (let i = 0; i < flat.n; i++) m = Math.max(m, flat.trials[i]!);
  return m;
}

/**
 * Validation rows for early stopping, carved from the training rows by whole trials (windows of one trial are
 * strongly correlated, so a window-level split would make validation optimistic): per class, a `fraction` of
 * that class's training trials (rounded, at least one when the class has two or more), chosen with the seed.
 * Returns positions into `trainRows` (not dataset rows), ascending.
 */
export function validationSplit(
  flat: FlatDataset,
  trainRows: Int32Array,
  fraction: number,
  seed: number,
  by: ValidationUnit = 'trial',
): Int32Array {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${fraction}`);
  if (fraction === 0) return new Int32Array(0);
  if (by === 'subject') return subjectValidation(flat, trainRows, fraction, seed);
  const trialKey = (i: number) => `${flat.subjects[i]}/${flat.sessions[i]}/${flat.trials[i]}`;
  const trialsByClass = new Map<number, string[]>();
  const seen = new Set<string>();
  for (const r of trainRows) {
    const k = trialKey(r);
    if (seen.has(k)) continue;
    seen.add(k);
    const c = flat.labels[r]!;
    const list = trialsByClass.get(c) ?? [];
    list.push(k);
    trialsByClass.set(c, list);
  }
  const rng = new SeededRandom((seed ^ 0x1b873593) >>> 0);
  const chosen = new Set<string>();
  for (const c of [...trialsByClass.keys()].sort((a, b) => a - b)) {
    const list = trialsByClass.get(c)!;
    if (list.length < 2) continue;
    shuffle(list, rng);
    const k = Math.min(list.length - 1, Math.max(1, Math.round(list.length * fraction)));
    for (const t of list.slice(0, k)) chosen.add(t);
  }
  const out: number[] = [];
  trainRows.forEach((r, pos) => {
    if (chosen.has(trialKey(r))) out.push(pos);
  });
  return Int32Array.from(out);
}

/**
 * 'trial': whole training trials per class (default); 'subject': whole training subjects — under LOSO this makes
 * early stopping track cross-subject generalisation instead of within-subject accuracy.
 */
export type ValidationUnit = 'trial' | 'subject';

/** A `fraction` of the training subjects (rounded, at least one, never all), chosen with the seed. */
function subjectValidation(flat: FlatDataset, trainRows: Int32Array, fraction: number, seed: number): Int32Array {
  const subjects = [...new Set(Array.from(trainRows, (r) => flat.subjects[r]!))].sort((a, b) => a - b);
  if (subjects.length < 2)
    throw new RangeError(`validation by subject needs at least 2 training subjects, the fold has ${subjects.length}`);
  shuffle(subjects, new SeededRandom((seed ^ 0x1b873593) >>> 0));
  const k = Math.min(subjects.length - 1, Math.max(1, Math.round(subjects.length * fraction)));
  const chosen = new Set(subjects.slice(0, k));
  const out: number[] = [];
  trainRows.forEach((r, pos) => {
    if (chosen.has(flat.subjects[r]!)) out.push(pos);
  });
  return Int32Array.from(out);
}

export type NormalisationMode = 'global' | 'per-subject';

export interface FittedNormaliser {
  mode: NormalisationMode;
  /** Statistics of all training rows (what a deployed model stores). */
  global: { mean: Float64Array; std: Float64Array };
  /** per-subject mode: statistics per subject index; see {@link fitNormaliser}. */
  perSubject?: Map<number, { mean: Float64Array; std: Float64Array }>;
  /** per-subject mode: subjects normalised with their own unlabelled test features (transductive). */
  transductiveSubjects: string[];
}

/** Per-dimension mean and population std of the given rows of a row-major [n, d] matrix; std 0 → 1. */
export function columnStats(x: Float32Array, d: number, rows: ArrayLike<number>): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(d);
  const m2 = new Float64Array(d);
  const n = rows.length;
  if (!n) throw new RangeError('cannot fit normalisation statistics on zero rows');
  for (let k = 0; k < n; k++) {
    const o = rows[k]! * d;
    for (let j = 0; j < d; j++) mean[j]! += x[o + j]!;
  }
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (let k = 0; k < n; k++) {
    const o = rows[k]! * d;
    for (let j = 0; j < d; j++) m2[j]! += (x[o + j]! - mean[j]!) ** 2;
  }
  const std = m2.map((v) => Math.sqrt(v / n) || 1);
  return { mean, std };
}

/**
 * Fit the z-score on training rows only. Global mode: one set of statistics from every training row. Per-subject
 * mode (explicit option, reported as such): each subject is normalised with statistics of its own training rows;
 * a subject without training rows (the held-out subject under LOSO) uses its own *unlabelled* test features,
 * which is a transductive assumption (calibration data from the new wearer) and is listed in
 * `transductiveSubjects`.
 */
export function fitNormaliser(x: Float32Array, d: number, flat: FlatDataset, fold: Fold, mode: NormalisationMode): FittedNormaliser {
  const global = columnStats(x, d, fold.trainRows);
  if (mode === 'global') return { mode, global, transductiveSubjects: [] };
  const perSubject = new Map<number, { mean: Float64Array; std: Float64Array }>();
  const transductive: string[] = [];
  const bySubject = (rows: Int32Array) => {
    const m = new Map<number, number[]>();
    for (const r of rows) {
      const s = flat.subjects[r]!;
      const l = m.get(s) ?? [];
      l.push(r);
      m.set(s, l);
    }
    return m;
  };
  for (const [s, rows] of bySubject(fold.trainRows)) perSubject.set(s, columnStats(x, d, rows));
  for (const [s, rows] of bySubject(fold.testRows)) {
    if (perSubject.has(s)) continue;
    perSubject.set(s, columnStats(x, d, rows));
    transductive.push(flat.subjectIds[s]!);
  }
  return { mode, global, perSubject, transductiveSubjects: transductive };
}

/** Normalised copy of the given rows (row-major [rows.length, d]). */
export function applyNormaliser(x: Float32Array, d: number, flat: FlatDataset, rows: Int32Array, norm: FittedNormaliser): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, k) => {
    const st = norm.perSubject?.get(flat.subjects[r]!) ?? norm.global;
    const o = r * d;
    for (let j = 0; j < d; j++) out[k * d + j] = (x[o + j]! - st.mean[j]!) / st.std[j]!;
  });
  return out;
}

/** Apply fixed statistics (e.g. from a supplied teacher checkpoint) to rows. */
export function applyStats(
  x: Float32Array,
  d: number,
  rows: Int32Array,
  st: { mean: ArrayLike<number>; std: ArrayLike<number> },
): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, k) => {
    const o = r * d;
    for (let j = 0; j < d; j++) out[k * d + j] = (x[o + j]! - st.mean[j]!) / (st.std[j]! || 1);
  });
  return out;
}
