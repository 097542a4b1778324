import { describe, expect, it } from 'vitest';
import { flatten } from '../../../../src/datasets/types.js';
import { applyNormaliser, columnStats, fitNormaliser, makeFolds, validationSplit, type Fold } from '../../../../src/train/protocols.js';
import { tinyDataset } from './helpers.js';

const key = (flat: ReturnType<typeof flatten>, i: number) => `${flat.subjectIds[flat.subjects[i]!]}/${flat.sessions[i]}/${flat.trials[i]}`;

function checkDisjoint(fold: Fold) {
  const train = new Set(fold.trainRows);
  for (const r of fold.testRows) expect(train.has(r)).toBe(false);
}

describe('protocol folds', () => {
  it('leave-one-subject-out: each subject tested once, never in training', () => {
    const ds = tinyDataset({ subjects: 4, sessions: 2 });
    const flat = flatten(ds);
    const folds = makeFolds(flat, 'loso', 'seed-iv');
    expect(folds.map((f) => f.id)).toEqual(['s1', 's2', 's3', 's4']);
    for (const f of folds) {
      checkDisjoint(f);
      const testSubject = flat.subjectIds.indexOf(f.testSubjects[0]!);
      expect(Array.from(f.testRows).every((r) => flat.subjects[r] === testSubject)).toBe(true);
      expect(Array.from(f.trainRows).some((r) => flat.subjects[r] === testSubject)).toBe(false);
      expect(f.trainRows.length + f.testRows.length).toBe(flat.n);
    }
  });

  it('within-subject SEED-IV: per session, trials 1–16 train and 17–24 test', () => {
    const ds = tinyDataset({ subjects: 2, sessions: 2 });
    const flat = flatten(ds);
    const folds = makeFolds(flat, 'within', 'seed-iv');
    expect(folds.map((f) => f.id)).toEqual(['s1-sess1', 's1-sess2', 's2-sess1', 's2-sess2']);
    for (const f of folds) {
      checkDisjoint(f);
      const subj = new Set([...f.trainRows, ...f.testRows].map((r) => flat.subjects[r]));
      const sess = new Set([...f.trainRows, ...f.testRows].map((r) => flat.sessions[r]));
      expect(subj.size).toBe(1);
      expect(sess.size).toBe(1);
      expect(new Set(Array.from(f.trainRows, (r) => flat.trials[r])).size).toBe(16);
      expect(Array.from(f.trainRows).every((r) => flat.trials[r]! <= 16)).toBe(true);
      expect(Array.from(f.testRows).every((r) => flat.trials[r]! >= 17)).toBe(true);
      expect(f.testRows.length).toBe(8 * 2);
    }
  });

  it('within-subject SEED-V: 3 folds of 5 trials per session, the subject’s other trials train', () => {
    const ds = tinyDataset({ layout: 'seed-v', subjects: 2, sessions: 3 });
    const flat = flatten(ds);
    const folds = makeFolds(flat, 'within', 'seed-v');
    expect(folds.map((f) => f.id)).toEqual(['s1-f1', 's1-f2', 's1-f3', 's2-f1', 's2-f2', 's2-f3']);
    folds.forEach((f, i) => {
      checkDisjoint(f);
      const k = i % 3;
      const testTrials = [...new Set(Array.from(f.testRows, (r) => flat.trials[r]!))].sort((a, b) => a - b);
      expect(testTrials).toEqual([1, 2, 3, 4, 5].map((t) => t + 5 * k));
      expect(new Set(Array.from(f.testRows, (r) => flat.sessions[r])).size).toBe(3);
      expect(f.trainRows.length).toBe(10 * 3 * 2);
      expect(Array.from(f.trainRows).every((r) => !testTrials.includes(flat.trials[r]!))).toBe(true);
    });
  });

  it('cross-session: the held-out session never trains; needs two sessions', () => {
    const ds = tinyDataset({ subjects: 2, sessions: 3 });
    const flat = flatten(ds);
    const folds = makeFolds(flat, 'cross-session', 'seed-iv');
    expect(folds).toHaveLength(6);
    for (const f of folds) {
      checkDisjoint(f);
      const testSess = flat.sessions[f.testRows[0]!]!;
      expect(Array.from(f.trainRows).some((r) => flat.sessions[r] === testSess)).toBe(false);
      expect(new Set(Array.from(f.trainRows, (r) => flat.subjects[r])).size).toBe(1);
    }
    expect(() => makeFolds(flatten(tinyDataset({ sessions: 1 })), 'cross-session', 'seed-iv')).toThrow(/at least 2 sessions/);
  });
});

describe('validation split', () => {
  it('holds out whole training trials, stratified by class, never test trials', () => {
    const ds = tinyDataset({ subjects: 3, windows: 3 });
    const flat = flatten(ds);
    for (const fold of makeFolds(flat, 'loso', 'seed-iv')) {
      const val = validationSplit(flat, fold.trainRows, 0.25, 2022);
      const valRows = Array.from(val, (p) => fold.trainRows[p]!);
      const valTrials = new Set(valRows.map((r) => key(flat, r)));
      const testTrials = new Set(Array.from(fold.testRows, (r) => key(flat, r)));
      for (const t of valTrials) expect(testTrials.has(t)).toBe(false);
      // whole trials: every window of a validation trial is in validation
      const trainPosOfTrial = Array.from(fold.trainRows.keys()).filter((p) => valTrials.has(key(flat, fold.trainRows[p]!)));
      expect(trainPosOfTrial).toEqual(Array.from(val));
      // each class: 25 % of its 12 training trials (2 subjects × 6 trials) = 3 trials
      for (let c = 0; c < 4; c++) expect(new Set(valRows.filter((r) => flat.labels[r] === c).map((r) => key(flat, r))).size).toBe(3);
      // seeded: same seed same split, another seed another split
      expect(validationSplit(flat, fold.trainRows, 0.25, 2022)).toEqual(val);
      expect(validationSplit(flat, fold.trainRows, 0.25, 2023)).not.toEqual(val);
    }
    expect(validationSplit(flat, makeFolds(flat, 'loso', 'seed-iv')[0]!.trainRows, 0, 1)).toHaveLength(0);
  });
});

describe('validation by subject', () => {
  it('holds out whole training subjects, never the test subject', () => {
    const ds = tinyDataset({ subjects: 5 });
    const flat = flatten(ds);
    for (const fold of makeFolds(flat, 'loso', 'seed-iv')) {
      const val = validationSplit(flat, fold.trainRows, 0.25, 3, 'subject');
      const valSubjects = new Set(Array.from(val, (p) => flat.subjects[fold.trainRows[p]!]));
      expect(valSubjects.size).toBe(1); // round(4 × 0.25)
      const s = [...valSubjects][0]!;
      expect(flat.subjectIds[s]).not.toBe(fold.testSubjects[0]);
      // every training row of that subject is in validation
      expect(val.length).toBe(Array.from(fold.trainRows).filter((r) => flat.subjects[r] === s).length);
    }
    const within = makeFolds(flat, 'within', 'seed-iv')[0]!;
    expect(() => validationSplit(flat, within.trainRows, 0.2, 1, 'subject')).toThrow(/at least 2 training subjects/);
  });
});

describe('normalisation', () => {
  it('global statistics come from training rows only', () => {
    const ds = tinyDataset({ subjects: 3 });
    const flat = flatten(ds);
    const d = 20;
    const fold = makeFolds(flat, 'loso', 'seed-iv')[0]!;
    const before = fitNormaliser(flat.eeg, d, flat, fold, 'global');
    // Poison the test rows: a normaliser that looked at them would change.
    const poisoned = Float32Array.from(flat.eeg);
    for (const r of fold.testRows) poisoned.fill(1e6, r * d, (r + 1) * d);
    const after = fitNormaliser(poisoned, d, flat, fold, 'global');
    expect(Array.from(after.global.mean)).toEqual(Array.from(before.global.mean));
    expect(Array.from(after.global.std)).toEqual(Array.from(before.global.std));
    // and equal an independent two-pass mean / population std over the training rows
    const j = 7;
    const vals = Array.from(fold.trainRows, (r) => flat.eeg[r * d + j]!);
    const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
    const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
    expect(before.global.mean[j]).toBeCloseTo(mean, 5);
    expect(before.global.std[j]).toBeCloseTo(std, 5);
    const z = applyNormaliser(flat.eeg, d, flat, fold.trainRows, before);
    const zs = columnStats(
      z,
      d,
      Int32Array.from({ length: fold.trainRows.length }, (_, i) => i),
    );
    expect(Math.abs(zs.mean[j]!)).toBeLessThan(1e-5);
    expect(zs.std[j]).toBeCloseTo(1, 5);
    expect(before.transductiveSubjects).toEqual([]);
  });

  it('per-subject mode normalises each training subject by its own rows and labels the held-out subject transductive', () => {
    const ds = tinyDataset({ subjects: 3 });
    const flat = flatten(ds);
    const d = 20;
    const fold = makeFolds(flat, 'loso', 'seed-iv')[1]!; // test subject "2"
    const n = fitNormaliser(flat.eeg, d, flat, fold, 'per-subject');
    expect(n.transductiveSubjects).toEqual(['2']);
    const s0 = Int32Array.from(Array.from(fold.trainRows).filter((r) => flat.subjects[r] === 0));
    expect(Array.from(n.perSubject!.get(0)!.mean)).toEqual(Array.from(columnStats(flat.eeg, d, s0).mean));
    const within = makeFolds(flat, 'within', 'seed-iv')[0]!;
    const w = fitNormaliser(flat.eeg, d, flat, within, 'per-subject');
    expect(w.transductiveSubjects).toEqual([]); // the subject has training rows: test rows are never used
  });
});
