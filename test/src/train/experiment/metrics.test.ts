import { describe, expect, it } from 'vitest';
import { confusionMatrix, foldMetrics, meanStd, summarise } from '../../../../src/train/metrics.js';

describe('fold metrics', () => {
  it('match hand-computed accuracy, balanced accuracy and confusion matrix', () => {
    // truth: 0 0 0 0 1 1 2 2 2 2 ; pred: 0 0 0 1 1 0 2 2 1 2
    const truth = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2];
    const pred = [0, 0, 0, 1, 1, 0, 2, 2, 1, 2];
    const m = foldMetrics(pred, truth, 3);
    expect(m.confusion).toEqual([
      [3, 1, 0],
      [1, 1, 0],
      [0, 1, 3],
    ]);
    expect(m.accuracy).toBeCloseTo(7 / 10, 12);
    // recalls 3/4, 1/2, 3/4 → mean 2/3
    expect(m.bca).toBeCloseTo((0.75 + 0.5 + 0.75) / 3, 12);
    expect(m.n).toBe(10);
  });

  it('leaves classes absent from the truth out of BCA', () => {
    const m = foldMetrics([0, 1, 1, 3], [0, 1, 0, 1], 4);
    // class 0 recall 1/2, class 1 recall 1/2; classes 2, 3 absent
    expect(m.bca).toBeCloseTo(0.5, 12);
    expect(m.accuracy).toBeCloseTo(0.5, 12);
    expect(m.confusion[1]).toEqual([0, 1, 0, 1]);
  });

  it('rejects labels outside the class range', () => {
    expect(() => confusionMatrix([0, 5], [0, 1], 3)).toThrow(/outside 0\.\.2/);
    expect(() => confusionMatrix([0], [0, 1], 3)).toThrow(/1 predictions but 2 labels/);
  });
});

describe('aggregation over folds and seeds', () => {
  it('mean over all runs, std across folds of seed-averaged values, std across seeds of fold-averaged values', () => {
    const m = (accuracy: number, bca: number) => ({
      accuracy,
      bca,
      confusion: [
        [1, 0],
        [0, 1],
      ],
      n: 2,
    });
    const results = [
      { fold: 'a', seed: 1, metrics: m(0.6, 0.5) },
      { fold: 'a', seed: 2, metrics: m(0.8, 0.7) },
      { fold: 'b', seed: 1, metrics: m(0.4, 0.3) },
      { fold: 'b', seed: 2, metrics: m(0.2, 0.1) },
    ];
    const s = summarise(results, 2);
    expect(s.accuracy.mean).toBeCloseTo(0.5, 12);
    // fold means 0.7, 0.3 → population std 0.2; seed means 0.5, 0.5 → 0
    expect(s.accuracy.std).toBeCloseTo(0.2, 12);
    expect(s.accuracy.seedStd).toBeCloseTo(0, 12);
    expect(s.bca.mean).toBeCloseTo(0.4, 12);
    expect(s.folds).toBe(2);
    expect(s.seeds).toBe(2);
    expect(s.confusion).toEqual([
      [4, 0],
      [0, 4],
    ]);
    const ms = meanStd([1, 2, 3, 4]);
    expect(ms.mean).toBe(2.5);
    expect(ms.std).toBeCloseTo(Math.sqrt(1.25), 12);
  });
});
