/**
 * `cmcrd train`: one method × network × protocol on a dataset, over folds and seeds. Writes results.json,
 * results.csv, results.md, the student checkpoints (checkpoints/) and the cached teachers (teachers/) to --out.
 * The results are rewritten after every finished fold × seed run, so a run that is stopped (Ctrl-C, SIGTERM)
 * or killed keeps them, and `--resume` continues it. The options it shares with `cmcrd compare` are in
 * ../experiment-options.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { METHOD_NAMES, type MethodName } from '../../train/methods/index.js';
import { ARCH_NAMES, type ArchName } from '../../train/nets/index.js';
import { writeRunReport } from '../../train/report.js';
import { runExperiment, type ExperimentResult } from '../../train/run.js';
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
import { choiceOption } from '../options.js';
import { Interrupt } from '../progress.js';
import { jobsFailed, runInJobs } from '../jobs.js';

type TrainFlags = ExperimentFlags & { method: MethodName; arch: ArchName; out: string; checkpoints: boolean };

/**
 * What `cmcrd train` prints on stdout: one JSON document with the files written (reports, student checkpoints, the
 * teacher cache folder when there is one) and the key figures. Its first five keys are the ones it printed before.
 */
export function trainDocument(out: string, files: string[], teacherCache: string | null, r: ExperimentResult) {
  return {
    out,
    summary: { accuracy: r.summary.accuracy, bca: r.summary.bca },
    completed: r.completed,
    planned: r.planned,
    interrupted: r.interrupted,
    command: 'train',
    method: r.config.method,
    arch: r.config.arch,
    protocol: r.config.protocol,
    files,
    checkpoints: r.folds.flatMap((f) => (f.checkpoint ? [f.checkpoint] : [])),
    teacherCache,
    ...(r.teacherSummary ? { teacherSummary: { accuracy: r.teacherSummary.accuracy, bca: r.teacherSummary.bca } } : {}),
    folds: r.folds.map((f) => ({
      fold: f.fold,
      seed: f.seed,
      accuracy: f.accuracy,
      bca: f.bca,
      ...(f.teacherAccuracy !== undefined ? { teacherAccuracy: f.teacherAccuracy } : {}),
    })),
  };
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train and evaluate one method × network under a protocol (eye teacher → EEG student by default)')
    .addOption(choiceOption('--method <m>', 'distillation method (or a single-modality baseline)', METHOD_NAMES).default('cmcrd'))
    .addOption(choiceOption('--arch <a>', 'student network', ARCH_NAMES).default('mlp'))
    .requiredOption('--out <dir>', 'output folder (results.json/csv/md, checkpoints/, teachers/)')
    .option('--no-checkpoints', 'do not write student checkpoints');
  addExperimentOptions(cmd).action(async (raw: TrainFlags) => {
    const log = (l: string) => process.stderr.write(l + '\n');
    const { method, arch, out, jobs } = raw;
    const cfg = experimentConfig(raw, out, log);
    checkTeacherUpFront(cfg, [method], log);
    const resume = previousRun(raw, out, log);
    await startBackend(raw, log);
    const interrupt = new Interrupt();
    const checkpointDir = raw.checkpoints === false ? null : join(out, 'checkpoints');
    const tracker = runTracker(`${method} · ${arch}`, progressReporter('', log));
    let result: ExperimentResult;
    let failures: string[] = [];
    const q = raw.queue !== undefined ? await import('../../scale/sweep.js') : null;
    try {
      if (jobs > 1 || q) {
        const done = await (q ? q.runOnQueue.bind(null, raw.queue!) : runInJobs)({
          command: 'train',
          cmd,
          raw,
          out,
          jobs,
          cfg,
          cells: [{ method, arch, rel: '', checkpointDir, ...(resume ? { resume } : {}) }],
          log,
          interrupt,
        });
        result = done.results[0]!;
        failures = done.failures;
      } else
        result = await runExperiment({
          ...cfg.base,
          dataset: cfg.dataset,
          method,
          arch,
          checkpointDir,
          ...(resume ? { resume } : {}),
          interrupt,
          onEvent: tracker.onEvent,
          onPartial: (partial) => writeRunReport(out, partial),
        });
    } catch (e) {
      throw configError(tracker.fail(e));
    } finally {
      interrupt.dispose();
    }
    const files = writeRunReport(out, result);
    log(summaryLine(result));
    log(`wrote ${files.join(', ')}`);
    const teachers = cfg.base.teacherCacheDir;
    process.stdout.write(JSON.stringify(trainDocument(out, files, teachers && existsSync(teachers) ? teachers : null, result)) + '\n');
    if (failures.length) throw q ? q.queueFailed(out, failures) : jobsFailed(out, failures);
    if (result.interrupted)
      throw new CliError(
        `interrupted: results of the ${result.completed} completed fold × seed runs were written to ${out} (the same command with --resume continues)`,
        interrupt.exitCode,
      );
  });
}
