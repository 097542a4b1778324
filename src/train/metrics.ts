/**
 * Classification metrics for one fold (accuracy, balanced accuracy, confusion matrix) and their aggregation
 * over folds and seeds. Plain numbers, no tfjs.
 */

export interface FoldMetrics {
  accuracy: number;
  /** Balanced classification accuracy: mean per-class recall over the classes present in the truth. */
  bca: number;
  /** confusion[truth][predicted] counts. */
  confusion: number[][];
  n: number;
}

export function confusionMatrix(pred: ArrayLike<number>, truth: ArrayLike<number>, classes: number): number[][] {
  if (pred.length !== truth.length) throw new RangeError(`confusionMatrix: ${pred.length} predictions but ${truth.length} labels`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < pred.length; i++) {
    const t = truth[i]!;
    const p = pred[i]!;
    if (!(t >= 0 && t < classes && p >= 0 && p < classes))
      throw new RangeError(`confusionMatrix: label ${t} / prediction ${p} outside 0..${classes - 1}`);
    m[t]![p]!++;
  }
  return m;
}

/** Accuracy, BCA and confusion matrix. Classes absent from the truth are left out of BCA (their recall is undefined). */
export function foldMetrics(pred: ArrayLike<number>, truth: ArrayLike<number>, classes: number): FoldMetrics {
  const confusion = confusionMatrix(pred, truth, classes);
  let correct = 0;
  let recallSum = 0;
  let present = 0;
  for (let c = 0; c < classes; c++) {
    const row = confusion[c]!;
    const total = row.reduce((a, b) => a + b, 0);
    correct += row[c]!;
    if (total > 0) {
      recallSum += row[c]! / total;
      present++;
    }
  }
  const n = pred.length;
  return { accuracy: n ? correct / n : NaN, bca: present ? recallSum / present : NaN, confusion, n };
}

export interface MeanStd {
  mean: number;
  /** Population standard deviation (ddof = 0, numpy's default). */
  std: number;
}

export function meanStd(values: readonly number[]): MeanStd {
  if (!values.length) return { mean: NaN, std: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const v = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(v) };
}

export interface SeededFoldResult {
  fold: string;
  seed: number;
  metrics: FoldMetrics;
}

export interface SummaryStat extends MeanStd {
  /** Std across seeds of the per-seed mean over folds (how much the seed matters). */
  seedStd: number;
}

export interface Summary {
  /** mean over every (fold, seed) result; std across folds of each fold's seed-averaged value (the paper's "± std over subjects"). */
  accuracy: SummaryStat;
  bca: SummaryStat;
  folds: number;
  seeds: number;
  /** Sum of the confusion matrices of every fold and seed. */
  confusion: number[][];
}

export function summarise(results: readonly SeededFoldResult[], classes: number): Summary {
  const stat = (key: 'accuracy' | 'bca'): SummaryStat => {
    const all = results.map((r) => r.metrics[key]);
    const byFold = groupMeans(results, (r) => r.fold, key);
    const bySeed = groupMeans(results, (r) => String(r.seed), key);
    return { mean: meanStd(all).mean, std: meanStd(byFold).std, seedStd: meanStd(bySeed).std };
  };
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (const r of results) r.metrics.confusion.forEach((row, t) => row.forEach((v, p) => (confusion[t]![p]! += v)));
  return {
    accuracy: stat('accuracy'),
    bca: stat('bca'),
    folds: new Set(results.map((r) => r.fold)).size,
    seeds: new Set(results.map((r) => r.seed)).size,
    confusion,
  };
}

function groupMeans(results: readonly SeededFoldResult[], key: (r: SeededFoldResult) => string, metric: 'accuracy' | 'bca'): number[] {
  const groups = new Map<string, number[]>();
  for (const r of results) {
    const k = key(r);
    const g = groups.get(k) ?? [];
    g.push(r.metrics[metric]);
    groups.set(k, g);
  }
  return [...groups.values()].map((g) => meanStd(g).mean);
}
