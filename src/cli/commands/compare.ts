/**
 * `cmcrd compare`: the methods × networks table (like the paper's) under one protocol. Every cell is a full
 * `cmcrd train` run (results in <out>/runs/<method>-<arch>/); teachers are trained once per fold, seed and
 * network and shared by all methods (memory + <out>/teachers). Writes comparison.{json,csv,md,svg} after
 * every cell, so an interrupted comparison keeps the finished cells; `--resume` continues it where it stopped.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Checkpoint } from '../../train/checkpoint.js';
import { METHOD_NAMES, type MethodName } from '../../train/methods/index.js';
import { ARCH_NAMES, type ArchName } from '../../train/nets/index.js';
import { comparisonTable, writeComparison, writeRunReport, type CompareCell } from '../../train/report.js';
import { runExperiment } from '../../train/run.js';
import { CliError } from '../errors.js';
import {
  addExperimentOptions,
  checkTeacherUpFront,
  configError,
  experimentConfig,
  previousRun,
  progressReporter,
  runTracker,
  startBackend,
  summaryLine,
  type ExperimentFlags,
} from '../experiment-options.js';
import { choiceEntry, choiceOption, listOption } from '../options.js';
import { Interrupt } from '../progress.js';
import { jobsFailed, runInJobs } from '../jobs.js';

type CompareFlags = ExperimentFlags & {
  methods: MethodName[];
  archs: ArchName[];
  title?: string;
  reference?: MethodName;
  out: string;
  checkpoints?: boolean;
};

/**
 * What `cmcrd compare` prints on stdout: one JSON document with the files written and the key figures (out, cells
 * and interrupted are the keys it printed before the document had more).
 */
export function compareDocument(
  out: string,
  files: string[],
  cells: readonly CompareCell[],
  title: string,
  reference: string | undefined,
  interrupted: boolean,
) {
  const table = comparisonTable(cells, reference);
  return {
    out,
    cells: cells.map((c) => ({
      method: c.method,
      arch: c.arch,
      accuracy: c.result.summary.accuracy.mean,
      std: c.result.summary.accuracy.std,
      bca: c.result.summary.bca.mean,
      bcaStd: c.result.summary.bca.std,
      completed: c.result.completed,
      planned: c.result.planned,
      dir: join(out, 'runs', `${c.method}-${c.arch}`),
    })),
    interrupted,
    command: 'compare',
    title,
    files,
    methodMeans: table.methodMeans,
    reference: table.paired[0]?.reference ?? reference ?? null,
    paired: table.paired,
  };
}

export function registerCompare(program: Command): void {
  const cmd = program
    .command('compare')
    .description('run several methods × networks under one protocol and tabulate them (Markdown, CSV, JSON, SVG bar chart)')
    .addOption(
      listOption('--methods <list>', `comma-separated: ${METHOD_NAMES.join(', ')}`, choiceEntry(METHOD_NAMES)).default(
        [...METHOD_NAMES],
        METHOD_NAMES.join(','),
      ),
    )
    .addOption(listOption('--archs <list>', `comma-separated: ${ARCH_NAMES.join(', ')}`, choiceEntry(ARCH_NAMES)).default(['mlp'], 'mlp'))
    .option('--title <text>', 'title of the table and chart')
    .addOption(
      choiceOption(
        '--reference <method>',
        'method the others are compared with, fold by fold (default: cmcrd when it is in --methods)',
        METHOD_NAMES,
      ),
    )
    .requiredOption('--out <dir>', 'output folder (comparison.*, runs/<method>-<arch>/, teachers/)')
    .option('--checkpoints', 'also write every student checkpoint (off by default: many files)');
  addExperimentOptions(cmd).action(async (raw: CompareFlags) => {
    const log = (l: string) => process.stderr.write(l + '\n');
    const { methods, archs, out, reference, jobs } = raw;
    if (reference !== undefined && !methods.includes(reference)) {
      throw new CliError(`--reference ${reference} is not one of --methods (${methods.join(', ')})`);
    }
    const cfg = experimentConfig(raw, out, log);
    checkTeacherUpFront(cfg, methods, log);
    await startBackend(raw, log);
    const title =
      raw.title !== undefined
        ? raw.title
        : `${cfg.dataset.meta.dataset}${cfg.dataset.meta.synthetic ? ' (synthetic)' : ''} · ${cfg.base.protocol}${cfg.montage ? ` · ${cfg.montage.device}` : ''} · seeds ${cfg.base.seeds.join(',')}`;
    const memo = new Map<string, Checkpoint>();
    const cells: CompareCell[] = [];
    const interrupt = new Interrupt();
    const total = methods.length * archs.length;
    let interrupted = false;
    let failures: string[] = [];
    const q = raw.queue !== undefined ? await import('../../scale/sweep.js') : null;
    try {
      if (jobs > 1 || q) {
        const grid = archs.flatMap((arch) => methods.map((method) => ({ method, arch, rel: join('runs', `${method}-${arch}`) })));
        const done = await (q ? q.runOnQueue.bind(null, raw.queue!) : runInJobs)({
          command: 'compare',
          cmd,
          raw,
          out,
          jobs,
          cfg,
          cells: grid.map((c) => {
            const resume = previousRun(raw, join(out, c.rel), log, `${c.method} · ${c.arch}: `);
            return { ...c, checkpointDir: raw.checkpoints ? join(out, c.rel, 'checkpoints') : null, ...(resume ? { resume } : {}) };
          }),
          log,
          interrupt,
        });
        failures = done.failures;
        done.results.forEach((result, i) => {
          const { method, arch, rel } = grid[i]!;
          writeRunReport(join(out, rel), result);
          if (result.completed > 0) cells.push({ method, arch, result });
          log(`  ${summaryLine(result)}`);
          interrupted ||= result.interrupted;
        });
      } else
        outer: for (const arch of archs) {
          for (const method of methods) {
            log(`[${cells.length + 1}/${total}] ${method} · ${arch}`);
            const runDir = join(out, 'runs', `${method}-${arch}`);
            const resume = previousRun(raw, runDir, log, '  ');
            let result;
            const tracker = runTracker(`${method} · ${arch}`, progressReporter('  ', log));
            try {
              result = await runExperiment({
                ...cfg.base,
                dataset: cfg.dataset,
                method,
                arch,
                teacherMemo: memo,
                checkpointDir: raw.checkpoints ? join(runDir, 'checkpoints') : null,
                ...(resume ? { resume } : {}),
                interrupt,
                onEvent: tracker.onEvent,
                onPartial: (partial) => writeRunReport(runDir, partial),
              });
            } catch (e) {
              throw configError(tracker.fail(e), `${method} · ${arch}: `);
            }
            writeRunReport(runDir, result);
            if (result.completed > 0) cells.push({ method, arch, result });
            log(`  ${summaryLine(result)}`);
            writeComparison(out, cells, title, reference);
            if (result.interrupted) {
              interrupted = true;
              break outer;
            }
          }
        }
    } finally {
      interrupt.dispose();
    }
    const files = writeComparison(out, cells, title, reference);
    log(`wrote ${files.join(', ')}`);
    process.stdout.write(JSON.stringify(compareDocument(out, files, cells, title, reference, interrupted)) + '\n');
    if (failures.length) throw q ? q.queueFailed(out, failures) : jobsFailed(out, failures);
    if (interrupted)
      throw new CliError(
        `interrupted: the ${cells.length} finished cells were written to ${out} (the same command with --resume continues)`,
        interrupt.exitCode,
      );
  });
}
