/**
 * Run and comparison reports: results.json (summary + per fold/seed), results.csv and results.md per run;
 * comparison.{json,csv,md,svg} for `cmcrd compare` (methods × networks, mean ± std, bar chart with error bars).
 * Accuracies are fractions in JSON/CSV and percentages in Markdown/SVG.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { dirname, join } from 'node:path';
import type { ExperimentResult, FoldRecord, PreviousRun } from './run.js';

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(2) : 'n/a');
const pm = (m: { mean: number; std: number }) => `${pct(m.mean)} ± ${pct(m.std)}`;

function csvCell(v: unknown): string {
  const s = Array.isArray(v) ? JSON.stringify(v) : v === undefined || v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function runCsv(r: ExperimentResult): string {
  const head = [
    'fold',
    'seed',
    'test_subjects',
    'train_windows',
    'val_windows',
    'test_windows',
    'accuracy',
    'bca',
    'teacher_accuracy',
    'teacher_bca',
    'best_epoch',
    'epochs_run',
    'best_val_accuracy',
    'seconds',
    'confusion',
  ];
  const rows = r.folds.map((f) =>
    [
      f.fold,
      f.seed,
      f.testSubjects.join(' '),
      f.trainWindows,
      f.valWindows,
      f.testWindows,
      f.accuracy,
      f.bca,
      f.teacherAccuracy,
      f.teacherBca,
      f.bestEpoch,
      f.epochsRun,
      f.bestValAccuracy,
      f.seconds.toFixed(2),
      f.confusion,
    ]
      .map(csvCell)
      .join(','),
  );
  return [head.join(','), ...rows].join('\n') + '\n';
}

export function runMarkdown(r: ExperimentResult): string {
  const c = r.config;
  const lines = [
    `# ${c.method} · ${c.arch} · ${c.protocol} · ${c.dataset}${c.synthetic ? ' (synthetic)' : ''}${c.montage ? ` · montage ${c.montage}` : ''}`,
    '',
    `Completed ${r.completed}/${r.planned} fold × seed runs${r.interrupted ? ' (not finished: the run was stopped, or is still going; `--resume` continues it)' : ''}; seeds ${(c.seeds as number[]).join(', ')}; backend ${c.backend}.`,
    '',
    '| metric | mean ± std over folds (%) | std over seeds (%) |',
    '|---|---|---|',
    `| accuracy | ${pm(r.summary.accuracy)} | ${pct(r.summary.accuracy.seedStd)} |`,
    `| balanced accuracy | ${pm(r.summary.bca)} | ${pct(r.summary.bca.seedStd)} |`,
  ];
  if (r.teacherSummary)
    lines.push(
      `| teacher accuracy (${c.direction === 'eeg-to-eye' ? 'EEG' : 'eye'}) | ${pm(r.teacherSummary.accuracy)} | ${pct(r.teacherSummary.accuracy.seedStd)} |`,
    );
  lines.push(
    '',
    `Normalisation: ${c.normalisation}${r.transductiveSubjects.length ? ` (transductive for subject(s) ${r.transductiveSubjects.join(', ')}: their own unlabelled test features set their statistics)` : ' (training statistics only)'}. Early stopping: best validation accuracy on ${c.valFraction} of the training ${c.valBy === 'subject' ? 'subjects' : 'trials'} (never test data).`,
  );
  lines.push(
    '',
    '## Per fold and seed',
    '',
    '| fold | seed | test windows | accuracy % | BCA % | teacher % | best epoch |',
    '|---|---|---|---|---|---|---|',
  );
  for (const f of r.folds)
    lines.push(
      `| ${f.fold} | ${f.seed} | ${f.testWindows} | ${pct(f.accuracy)} | ${pct(f.bca)} | ${f.teacherAccuracy === undefined ? '' : pct(f.teacherAccuracy)} | ${f.bestEpoch} |`,
    );
  lines.push(
    '',
    '## Confusion matrix (all folds and seeds; rows = truth, columns = prediction)',
    '',
    `| | ${r.classes.join(' | ')} |`,
    `|---|${r.classes.map(() => '---').join('|')}|`,
  );
  r.summary.confusion.forEach((row, i) => lines.push(`| ${r.classes[i]} | ${row.join(' | ')} |`));
  return lines.join('\n') + '\n';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
const isFraction = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;

/** Checks of the FoldRecord fields a resumed run reuses, each with what the field must be. */
const RECORD_FIELDS: readonly [keyof FoldRecord, string, (v: unknown) => boolean][] = [
  ['fold', 'a string', (v) => typeof v === 'string'],
  ['seed', 'an integer ≥ 0', isCount],
  ['testSubjects', 'an array of strings', (v) => Array.isArray(v) && v.every((x) => typeof x === 'string')],
  ['trainWindows', 'an integer ≥ 0', isCount],
  ['valWindows', 'an integer ≥ 0', isCount],
  ['testWindows', 'an integer ≥ 0', isCount],
  ['accuracy', 'a fraction in [0, 1]', isFraction],
  ['bca', 'a fraction in [0, 1]', isFraction],
  ['confusion', 'a matrix of counts', (v) => Array.isArray(v) && v.every((row) => Array.isArray(row) && row.every(isCount))],
  ['bestEpoch', 'an integer ≥ 0', isCount],
  ['epochsRun', 'an integer ≥ 0', isCount],
  ['bestValAccuracy', 'a fraction in [0, 1] or null', (v) => v === null || isFraction(v)],
  ['seconds', 'a number ≥ 0', (v) => typeof v === 'number' && v >= 0],
];

/**
 * The finished fold × seed runs of an earlier results.json, for `--resume`; null when the file does not exist.
 * Throws an error naming the file and the field when it is not a results.json this toolkit wrote.
 */
export function readRunResults(path: string): PreviousRun | null {
  if (!existsSync(path)) return null;
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(o) || !isObject(o.config) || !Array.isArray(o.folds))
    throw new Error(`${path}: not a results.json (needs the fields "config" and "folds")`);
  const folds = o.folds.map((f: unknown, i: number) => {
    if (!isObject(f)) throw new Error(`${path}: folds[${i}] must be an object`);
    for (const [key, what, ok] of RECORD_FIELDS)
      if (!ok(f[key])) throw new Error(`${path}: folds[${i}].${key} must be ${what}, got ${JSON.stringify(f[key])}`);
    for (const key of ['teacherAccuracy', 'teacherBca'] as const)
      if (f[key] !== undefined && !isFraction(f[key])) throw new Error(`${path}: folds[${i}].${key} must be a fraction in [0, 1]`);
    return f as unknown as FoldRecord;
  });
  const engines = o.config.engines;
  if (!Array.isArray(engines) || !engines.every((e) => typeof e === 'string'))
    throw new Error(`${path}: config.engines must be an array of strings`);
  const transductive = o.transductiveSubjects ?? [];
  if (!Array.isArray(transductive) || !transductive.every((x) => typeof x === 'string'))
    throw new Error(`${path}: transductiveSubjects must be an array of strings`);
  return { source: path, config: o.config as ExperimentResult['config'], folds, transductiveSubjects: transductive as string[] };
}

/**
 * An earlier run as a results.json that {@link readRunResults} reads back (config, records, transductive subjects;
 * no summary): how `--jobs` hands each job the finished runs of its folds.
 */
export function writeRunResults(path: string, prev: PreviousRun): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, JSON.stringify({ config: prev.config, folds: prev.folds, transductiveSubjects: prev.transductiveSubjects }));
}

/** results.json, results.csv, results.md in `dir` (rewritten after every finished run, so each write is atomic). */
export function writeRunReport(dir: string, r: ExperimentResult): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'results.json'), join(dir, 'results.csv'), join(dir, 'results.md')];
  writeFileAtomic(files[0]!, JSON.stringify(r, null, 1) + '\n');
  writeFileAtomic(files[1]!, runCsv(r));
  writeFileAtomic(files[2]!, runMarkdown(r));
  return files;
}

export interface CompareCell {
  method: string;
  arch: string;
  result: ExperimentResult;
}

export interface ComparisonTable {
  methods: string[];
  archs: string[];
  cells: {
    method: string;
    arch: string;
    accuracy: { mean: number; std: number };
    bca: { mean: number; std: number };
    completed: number;
    planned: number;
  }[];
  /** Mean over networks per method. */
  methodMeans: Record<string, number>;
  /** Every other method against the reference method, network by network (see {@link pairedDifferences}). */
  paired: PairedDifference[];
}

/**
 * One method against a reference on the same folds: per fold the accuracy is averaged over seeds (seeds of one
 * fold share its test subjects, so they are not independent samples), then differences are paired by fold.
 */
export interface PairedDifference {
  reference: string;
  method: string;
  arch: string;
  /** Folds present in both runs. */
  n: number;
  /** Mean of (reference − method) accuracy over folds, as a fraction. */
  meanDiff: number;
  /** Standard error of that mean (sample std / √n). */
  se: number;
  /** 95 % confidence interval of the mean difference (Student t, n − 1 degrees of freedom). */
  ci95: [number, number];
  /** Folds where the reference is better / equal / worse. */
  wins: number;
  ties: number;
  losses: number;
}

// Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom (scipy.stats.t.ppf(0.975, df)).
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

function foldMeans(r: ExperimentResult): Map<string, number> {
  const acc = new Map<string, number[]>();
  for (const f of r.folds) acc.set(f.fold, [...(acc.get(f.fold) ?? []), f.accuracy]);
  return new Map([...acc].map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length]));
}

/** {@link PairedDifference}s of every method against `reference` (default: cmcrd when present), per network. */
export function pairedDifferences(cells: readonly CompareCell[], reference?: string): PairedDifference[] {
  const ref = reference ?? (cells.some((c) => c.method === 'cmcrd') ? 'cmcrd' : undefined);
  if (!ref) return [];
  const out: PairedDifference[] = [];
  for (const r of cells.filter((c) => c.method === ref)) {
    const refFolds = foldMeans(r.result);
    for (const c of cells.filter((k) => k.arch === r.arch && k.method !== ref)) {
      const other = foldMeans(c.result);
      const d = [...refFolds].filter(([fold]) => other.has(fold)).map(([fold, a]) => a - other.get(fold)!);
      const n = d.length;
      if (n === 0) continue;
      const mean = d.reduce((a, b) => a + b, 0) / n;
      const se = n > 1 ? Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n) : NaN;
      // Beyond the table: z + (z³ + z)/(4·df), within 0.002 of the exact quantile for df > 30.
      const t = n > 1 ? (T975[n - 2] ?? 1.96 + 2.3722 / (n - 1)) : NaN;
      const eps = 1e-9;
      out.push({
        reference: ref,
        method: c.method,
        arch: c.arch,
        n,
        meanDiff: mean,
        se,
        ci95: [mean - t * se, mean + t * se],
        wins: d.filter((x) => x > eps).length,
        ties: d.filter((x) => Math.abs(x) <= eps).length,
        losses: d.filter((x) => x < -eps).length,
      });
    }
  }
  return out;
}

export function comparisonTable(cells: readonly CompareCell[], reference?: string): ComparisonTable {
  const methods = [...new Set(cells.map((c) => c.method))];
  const archs = [...new Set(cells.map((c) => c.arch))];
  const out = cells.map((c) => ({
    method: c.method,
    arch: c.arch,
    accuracy: { mean: c.result.summary.accuracy.mean, std: c.result.summary.accuracy.std },
    bca: { mean: c.result.summary.bca.mean, std: c.result.summary.bca.std },
    completed: c.result.completed,
    planned: c.result.planned,
  }));
  const methodMeans: Record<string, number> = {};
  for (const m of methods) {
    const v = out.filter((c) => c.method === m).map((c) => c.accuracy.mean);
    methodMeans[m] = v.reduce((a, b) => a + b, 0) / v.length;
  }
  return { methods, archs, cells: out, methodMeans, paired: pairedDifferences(cells, reference) };
}

export function comparisonMarkdown(t: ComparisonTable, title: string): string {
  const cell = (m: string, a: string) => t.cells.find((c) => c.method === m && c.arch === a);
  const lines = [
    `# ${title}`,
    '',
    'Accuracy (%) mean ± std over folds (each fold averaged over seeds); BCA in parentheses.',
    '',
    `| method | ${t.archs.join(' | ')} | mean |`,
    `|---|${t.archs.map(() => '---').join('|')}|---|`,
  ];
  for (const m of t.methods) {
    const cols = t.archs.map((a) => {
      const c = cell(m, a);
      if (!c) return '–';
      const partial = c.completed < c.planned ? ` [${c.completed}/${c.planned}]` : '';
      return `${pm(c.accuracy)} (${pct(c.bca.mean)})${partial}`;
    });
    lines.push(`| ${m} | ${cols.join(' | ')} | ${pct(t.methodMeans[m]!)} |`);
  }
  if (t.paired.length) {
    const ref = t.paired[0]!.reference;
    // Rounded first, so a difference that rounds to zero prints as +0.00, never as -0.00.
    const signed = (x: number) => {
      if (!Number.isFinite(x)) return 'n/a';
      const r = Number((100 * x).toFixed(2)) + 0;
      return `${r >= 0 ? '+' : ''}${r.toFixed(2)}`;
    };
    lines.push(
      '',
      `## Paired differences: ${ref} − method`,
      '',
      'Accuracy points, paired by fold (each fold averaged over seeds). A 95 % interval that contains 0 means this benchmark cannot tell the two apart.',
      '',
      '| network | method | mean difference | ± s.e. | 95 % interval | folds better / equal / worse |',
      '|---|---|---|---|---|---|',
    );
    for (const p of t.paired) {
      lines.push(
        `| ${p.arch} | ${p.method} | ${signed(p.meanDiff)} | ${pct(p.se)} | [${signed(p.ci95[0])}, ${signed(p.ci95[1])}] | ${p.wins} / ${p.ties} / ${p.losses} (of ${p.n}) |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

export function comparisonCsv(t: ComparisonTable): string {
  return (
    [
      'method,arch,accuracy_mean,accuracy_std,bca_mean,bca_std,completed,planned',
      ...t.cells.map((c) => [c.method, c.arch, c.accuracy.mean, c.accuracy.std, c.bca.mean, c.bca.std, c.completed, c.planned].join(',')),
    ].join('\n') + '\n'
  );
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped bar chart: one group per method, one bar per network, error bars = ± std over folds. */
export function comparisonSvg(t: ComparisonTable, title: string): string {
  const W = 120 + t.methods.length * (t.archs.length * 22 + 24);
  const H = 340;
  const left = 60;
  const top = 40;
  const plotH = 220;
  const bottom = top + plotH;
  const palette = ['#4878d0', '#ee854a', '#6acc64', '#d65f5f', '#956cb4'];
  const y = (v: number) => bottom - Math.max(0, Math.min(1, v)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (let g = 0; g <= 10; g += 2) {
    const v = g / 10;
    parts.push(
      `<line x1="${left}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${g * 10}</text>`,
    );
  }
  parts.push(`<text x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle">accuracy (%)</text>`);
  let x = left + 12;
  for (const m of t.methods) {
    const gx = x;
    t.archs.forEach((a, i) => {
      const c = t.cells.find((k) => k.method === m && k.arch === a);
      if (c && Number.isFinite(c.accuracy.mean)) {
        const bx = x + i * 22;
        const top1 = y(c.accuracy.mean);
        parts.push(
          `<rect x="${bx}" y="${top1.toFixed(1)}" width="18" height="${(bottom - top1).toFixed(1)}" fill="${palette[i % palette.length]}"><title>${esc(`${m} ${a}: ${pm(c.accuracy)} %`)}</title></rect>`,
        );
        const lo = y(c.accuracy.mean - c.accuracy.std);
        const hi = y(c.accuracy.mean + c.accuracy.std);
        const cx = bx + 9;
        parts.push(
          `<path d="M${cx} ${hi.toFixed(1)}V${lo.toFixed(1)}M${cx - 4} ${hi.toFixed(1)}H${cx + 4}M${cx - 4} ${lo.toFixed(1)}H${cx + 4}" stroke="black" fill="none"/>`,
        );
      }
    });
    const gw = t.archs.length * 22;
    parts.push(
      `<text x="${gx + gw / 2 - 2}" y="${bottom + 14}" text-anchor="end" transform="rotate(-35 ${gx + gw / 2 - 2} ${bottom + 14})">${esc(m)}</text>`,
    );
    x += gw + 24;
  }
  parts.push(`<line x1="${left}" x2="${W - 20}" y1="${bottom}" y2="${bottom}" stroke="black"/>`);
  t.archs.forEach((a, i) => {
    const lx = left + 10 + i * 90;
    parts.push(
      `<rect x="${lx}" y="${H - 18}" width="10" height="10" fill="${palette[i % palette.length]}"/>`,
      `<text x="${lx + 14}" y="${H - 9}">${esc(a)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export function writeComparison(dir: string, cells: readonly CompareCell[], title: string, reference?: string): string[] {
  mkdirSync(dir, { recursive: true });
  const t = comparisonTable(cells, reference);
  const files = ['comparison.json', 'comparison.csv', 'comparison.md', 'comparison.svg'].map((f) => join(dir, f));
  writeFileAtomic(files[0]!, JSON.stringify({ title, ...t }, null, 1) + '\n');
  writeFileAtomic(files[1]!, comparisonCsv(t));
  writeFileAtomic(files[2]!, comparisonMarkdown(t, title));
  writeFileAtomic(files[3]!, comparisonSvg(t, title));
  return files;
}
