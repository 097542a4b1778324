import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  comparisonMarkdown,
  comparisonTable,
  pairedDifferences,
  type CompareCell,
  type PairedDifference,
} from '../../../../src/train/report.js';
import type { ExperimentResult } from '../../../../src/train/run.js';

/** Inputs (per-fold, per-seed accuracies) and scipy's expected statistics (scripts/fixtures/paired_differences.py). */
type Case = { ref: number[][]; other: number[][] } & Pick<PairedDifference, 'meanDiff' | 'se' | 'ci95' | 'wins' | 'ties' | 'losses'>;
const FIX = JSON.parse(readFileSync(join(import.meta.dirname, '../../../fixtures/train-pipeline/paired.json'), 'utf8')) as {
  cases: Case[];
};

/** Only what the comparison reads: per-fold, per-seed accuracies and the summary. */
function cell(method: string, arch: string, acc: number[][], foldOrder?: number[]): CompareCell {
  const order = foldOrder ?? acc.map((_, i) => i);
  const folds = order.flatMap((f) => acc[f]!.map((a, s) => ({ fold: `s${f + 1}`, seed: 2022 + s, accuracy: a })));
  const mean = folds.reduce((x, f) => x + f.accuracy, 0) / folds.length;
  const summary = { accuracy: { mean, std: 0 }, bca: { mean, std: 0 } };
  return { method, arch, result: { folds, summary, completed: folds.length, planned: folds.length } as unknown as ExperimentResult };
}

describe('paired differences in comparisons', () => {
  it('match scipy (fold means over seeds, paired by fold, Student-t interval)', () => {
    for (const c of FIX.cases) {
      // Fold order differs between the runs: pairing must go by fold name, not position.
      const reversed = c.other.map((_, i) => c.other.length - 1 - i);
      const [p] = pairedDifferences([cell('cmcrd', 'mlp', c.ref), cell('kd', 'mlp', c.other, reversed)]);
      expect(p).toBeDefined();
      expect(p!.n).toBe(c.ref.length);
      expect(p!.meanDiff).toBeCloseTo(c.meanDiff, 12);
      expect(p!.se).toBeCloseTo(c.se, 12);
      // Past 30 degrees of freedom the quantile is an approximation good to ~0.002 (in t units).
      const tol = c.ref.length > 31 ? 0.003 * c.se : 1e-3 * c.se;
      expect(Math.abs(p!.ci95[0] - c.ci95[0])).toBeLessThan(tol);
      expect(Math.abs(p!.ci95[1] - c.ci95[1])).toBeLessThan(tol);
      expect([p!.wins, p!.ties, p!.losses]).toEqual([c.wins, c.ties, c.losses]);
    }
  });

  it('compares every other method per network, uses cmcrd by default, and lists them in the Markdown table', () => {
    const c = FIX.cases[0]!;
    const cells = [cell('eeg-only', 'mlp', c.other), cell('cmcrd', 'mlp', c.ref), cell('kd', 'mlp', c.ref), cell('kd', 'dgcnn', c.other)];
    const t = comparisonTable(cells);
    expect(t.paired.map((p) => `${p.reference}-${p.method}-${p.arch}`)).toEqual(['cmcrd-eeg-only-mlp', 'cmcrd-kd-mlp']);
    expect(t.paired[1]!.meanDiff).toBe(0);
    expect(t.paired[1]!.ties).toBe(c.ref.length);
    const md = comparisonMarkdown(t, 'x');
    expect(md).toMatch(/## Paired differences: cmcrd − method/);
    const signed = `${c.meanDiff >= 0 ? '+' : ''}${(100 * c.meanDiff).toFixed(2)}`;
    expect(md).toContain(`| mlp | eeg-only | ${signed} | ${(100 * c.se).toFixed(2)} |`);
    // An explicit reference; none when cmcrd is absent and no reference is given.
    expect(comparisonTable(cells, 'kd').paired.map((p) => `${p.method}-${p.arch}`)).toEqual(['eeg-only-mlp', 'cmcrd-mlp']);
    expect(comparisonTable(cells.filter((x) => x.method !== 'cmcrd')).paired).toEqual([]);
    expect(comparisonMarkdown(comparisonTable(cells.filter((x) => x.method !== 'cmcrd')), 'x')).not.toMatch(/Paired/);
  });

  it('prints a difference that rounds to zero as +0.00, never -0.00', () => {
    const ref = [[0.5], [0.75], [0.625]];
    const md = comparisonMarkdown(
      comparisonTable([cell('cmcrd', 'mlp', ref), cell('kd', 'mlp', [[0.5 + 1e-6], [0.75], [0.625 + 2e-6]])]),
      'x',
    );
    const row = md.split('\n').find((l) => l.startsWith('| mlp | kd |'))!;
    expect(row).toMatch(/^\| mlp \| kd \| \+0\.00 \| 0\.00 \| \[\+0\.00, \+0\.00\] \| 0 \/ 1 \/ 2 \(of 3\) \|$/);
  });
});
