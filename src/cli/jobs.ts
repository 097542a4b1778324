/**
 * `--jobs N` for `cmcrd train` and `cmcrd compare`: the folds are split into N groups and each group runs in its
 * own `cmcrd` child process. A training step (tfjs-wasm, or the MLP's onnxruntime engine) uses one core, so N
 * processes use N cores; every fold × seed run is seeded on its own, so the results equal a sequential run's.
 *
 * The children write to <out>/.jobs/job<k>/ and share the teacher cache (a teacher belongs to one fold and seed,
 * and the groups share no fold, so no two children write the same teacher). When all have exited, their
 * results.json files are merged through the `--resume` machinery, which checks that every child ran the same
 * experiment on the same data, into the usual reports in <out>. A stop (Ctrl-C, SIGTERM) is passed on to each
 * child once; each finishes its epoch and keeps its finished runs, the merge keeps all of them, and the same
 * command with `--resume` continues. Child processes are used rather than worker threads so that each has its
 * own tfjs backend and onnxruntime sessions, exactly as a sequential run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { flatten } from '../datasets/types.js';
import { readRunResults, writeRunResults } from '../train/report.js';
import { ExperimentConfigError, runExperiment, selectFolds, type ExperimentResult, type PreviousRun } from '../train/run.js';
import { CliError } from './errors.js';
import type { MethodName } from '../train/methods/index.js';
import type { ArchName } from '../train/nets/index.js';
import type { Interrupt } from './progress.js';
import { configError, type ExperimentConfig } from './experiment-options.js';

/** Fold ids dealt round-robin into at most `jobs` groups (folds take about equally long). */
export function splitFolds(ids: readonly string[], jobs: number): string[][] {
  const n = Math.max(1, Math.min(jobs, ids.length));
  const groups = Array.from({ length: n }, () => [] as string[]);
  ids.forEach((id, i) => groups[i % n]!.push(id));
  return groups;
}

/** The command line of `cmd` rebuilt from its parsed options, without the options named in `drop`. */
export function argsFromOptions(cmd: Command, raw: Record<string, unknown>, drop: ReadonlySet<string>): string[] {
  const args: string[] = [];
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    const v = raw[key];
    if (drop.has(key) || v === undefined || !opt.long) continue;
    if (opt.negate) {
      if (v === false) args.push(opt.long);
    } else if (opt.isBoolean()) {
      if (v === true) args.push(opt.long);
    } else {
      args.push(opt.long, String(v));
    }
  }
  return args;
}

/** One method × network of the run, and where its results live relative to an output folder. */
export interface JobCell {
  method: MethodName;
  arch: ArchName;
  /** '' for `train`, runs/<method>-<arch> for `compare`. */
  rel: string;
  /** Where this cell's student checkpoints go, or null for none. */
  checkpointDir: string | null;
  /** The earlier results with --resume. */
  resume?: PreviousRun;
}

export interface JobsRun {
  command: 'train' | 'compare';
  /** The command and its parsed options: the children get the same ones, but --jobs, --out, --folds, --teacher-cache
   * and --resume; with --resume the run continues from the cells' earlier results and from jobs an earlier --jobs
   * run left unmerged. */
  cmd: Command;
  raw: Record<string, unknown>;
  out: string;
  jobs: number;
  cfg: ExperimentConfig;
  cells: JobCell[];
  log: (line: string) => void;
  interrupt: Interrupt;
}

export interface JobsOutcome {
  /** Per cell, in order: everything the children finished, as one result (interrupted when short of the plan). */
  results: ExperimentResult[];
  /** Children that failed (not a requested stop), with the last lines they printed. */
  failures: string[];
}

const STOPPED = new Set([130, 143]);
const JOB_OPTIONS_DROPPED: ReadonlySet<string> = new Set(['jobs', 'out', 'folds', 'teacherCache', 'resume']);

export const jobDir = (out: string, k: number): string => join(out, '.jobs', `job${k + 1}`);

/** {@link runJobsChecked}, with configuration errors (unknown folds, a run --resume cannot continue) as CLI errors. */
export async function runInJobs(p: JobsRun): Promise<JobsOutcome> {
  try {
    return await runJobsChecked(p);
  } catch (e) {
    throw configError(e);
  }
}

async function runJobsChecked(p: JobsRun): Promise<JobsOutcome> {
  const { cfg, out } = p;
  const folds = selectFolds(flatten(cfg.dataset), cfg.dataset, cfg.base.protocol, cfg.base.folds).map((f) => f.id);
  const groups = splitFolds(folds, p.jobs);
  // The cell's result from finished runs alone: nothing is trained (a missing run ends the loop at once, as a
  // stop would), and `resume` goes through the checks that it is this experiment on this data.
  const assemble = (cell: JobCell, resume: PreviousRun | null) =>
    runExperiment({
      ...cfg.base,
      dataset: cfg.dataset,
      method: cell.method,
      arch: cell.arch,
      ...(resume ? { resume } : {}),
      interrupt: { interrupted: true },
      checkpointDir: null,
    });
  // With --resume, the earlier run is <out>'s results plus whatever jobs of an earlier --jobs run finished but never
  // merged (their parent was killed). It is checked here first (same experiment, no finished record left out of
  // the plan); then each child continues from the records of its own folds.
  const earlier: Array<PreviousRun | null> = [];
  for (const cell of p.cells) {
    const stale =
      p.raw.resume === true
        ? mergeJobs(
            staleJobs(out).map((d) => join(d, cell.rel, 'results.json')),
            join(out, '.jobs'),
            cell.checkpointDir,
          )
        : null;
    const prev = combineRuns(cell.resume ?? null, stale);
    if (stale)
      p.log(
        `${cell.method} · ${cell.arch}: --resume: ${stale.folds.length} finished run(s) found in ${join(out, '.jobs')} from an earlier --jobs run`,
      );
    if (prev) {
      try {
        await assemble(cell, prev);
      } catch (e) {
        if (e instanceof ExperimentConfigError) throw e.prefixed(`${cell.method} · ${cell.arch}: `);
        throw e;
      }
    }
    earlier.push(prev);
  }
  rmSync(join(out, '.jobs'), { recursive: true, force: true });
  p.cells.forEach((cell, i) => {
    const prev = earlier[i];
    if (!prev) return;
    groups.forEach((group, k) => {
      const dir = join(jobDir(out, k), cell.rel);
      writeRunResults(join(dir, 'results.json'), { ...prev, folds: prev.folds.filter((f) => group.includes(f.fold)) });
    });
  });
  p.log(`--jobs ${groups.length}: ${groups.map((g, k) => `job ${k + 1} runs ${g.join(',')}`).join('; ')}`);
  const exits = p.interrupt.interrupted ? [] : await spawnJobs(p, groups);
  // A child stopped by the signal we passed on exits 130/143, or dies of it if it came before its handler was set.
  const stopped = (e: JobExit) => (e.code !== null && STOPPED.has(e.code)) || (e.signal !== null && p.interrupt.interrupted);
  const failures = exits.flatMap((e, k) =>
    e.code === 0 || stopped(e)
      ? []
      : [`job ${k + 1} (folds ${groups[k]!.join(',')}) exited with ${e.code ?? e.signal}:\n${e.tail.join('\n')}`],
  );
  const results: ExperimentResult[] = [];
  for (const cell of p.cells) {
    const merged = mergeJobs(
      groups.map((_, k) => join(jobDir(out, k), cell.rel, 'results.json')),
      join(out, '.jobs'),
      cell.checkpointDir,
    );
    results.push(await assemble(cell, merged));
  }
  if (!failures.length) rmSync(join(out, '.jobs'), { recursive: true, force: true });
  return { results, failures };
}

/** The error a run ends with when jobs failed: what each printed last, and where the finished runs are. */
export function jobsFailed(out: string, failures: string[]): CliError {
  return new CliError(`${failures.join('\n')}\nthe finished runs were written to ${out}; ${join(out, '.jobs')} keeps the jobs' files`, 1);
}

interface JobExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  tail: string[];
}

/**
 * How a child runs the CLI that is running now: the compiled module from dist/, or — when this process runs the
 * TypeScript sources (tests, `npm start`) — the same sources through tsx, so parent and children never differ.
 */
function childCommand(): string[] {
  const self = fileURLToPath(import.meta.url);
  const binModule = fileURLToPath(new URL(`./bin${extname(self)}`, import.meta.url));
  return extname(self) === '.ts' ? ['--import', 'tsx', binModule] : [binModule];
}

function spawnJobs(p: JobsRun, groups: string[][]): Promise<JobExit[]> {
  const bin = childCommand();
  const waits = groups.map((group, k) => {
    const args = [
      ...bin,
      p.command,
      ...argsFromOptions(p.cmd, p.raw, JOB_OPTIONS_DROPPED),
      '--folds',
      group.join(','),
      '--out',
      jobDir(p.out, k),
      '--teacher-cache',
      p.cfg.base.teacherCacheDir ?? join(p.out, 'teachers'),
      '--resume',
    ];
    // Detached: a terminal's Ctrl-C reaches only this process, which passes the stop on exactly once (a second
    // signal would make a child abort its epoch instead of finishing it).
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const tail: string[] = [];
    const prefix = `[job ${k + 1}/${groups.length}] `;
    createInterface({ input: child.stderr! }).on('line', (line) => {
      p.log(prefix + line);
      tail.push(line);
      if (tail.length > 20) tail.shift();
    });
    p.interrupt.onInterrupt(() => {
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
    });
    return new Promise<JobExit>((resolve) => {
      child.on('error', (e) => {
        tail.push(e.message);
        resolve({ code: null, signal: null, tail });
      });
      child.on('close', (code, signal) => resolve({ code, signal, tail }));
    });
  });
  return Promise.all(waits);
}

/** The job folders an earlier --jobs run left in <out>/.jobs. */
function staleJobs(out: string): string[] {
  const root = join(out, '.jobs');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((d) => /^job\d+$/.test(d))
    .map((d) => join(root, d));
}

/** Two earlier runs of one cell as one: `a`'s records, then `b`'s of the fold × seed runs `a` lacks. */
function combineRuns(a: PreviousRun | null, b: PreviousRun | null): PreviousRun | null {
  if (!a || !b) return a ?? b;
  const have = new Set(a.folds.map((f) => `${f.fold}#${f.seed}`));
  return {
    source: a.source,
    config: { ...a.config, engines: [...new Set([...(a.config.engines as string[]), ...(b.config.engines as string[])])] },
    folds: [...a.folds, ...b.folds.filter((f) => !have.has(`${f.fold}#${f.seed}`))],
    transductiveSubjects: [...new Set([...a.transductiveSubjects, ...b.transductiveSubjects])],
  };
}

/**
 * The children's results for one cell as one earlier run: their records (student checkpoints moved from the job
 * folders to `checkpointDir`), the union of their engines and transductive subjects. Null when none has any.
 */
function mergeJobs(paths: string[], source: string, checkpointDir: string | null): PreviousRun | null {
  const parts = paths.filter((path) => existsSync(path)).map((path) => readRunResults(path)!);
  if (!parts.length) return null;
  const folds = parts
    .flatMap((r) => r.folds)
    .map((rec) => {
      if (!rec.checkpoint || !checkpointDir || !existsSync(rec.checkpoint)) return rec;
      mkdirSync(checkpointDir, { recursive: true });
      const dest = join(checkpointDir, basename(rec.checkpoint));
      renameSync(rec.checkpoint, dest);
      return { ...rec, checkpoint: dest };
    });
  const engines = [...new Set(parts.flatMap((r) => r.config.engines as string[]))];
  const transductiveSubjects = [...new Set(parts.flatMap((r) => r.transductiveSubjects))];
  return { source, config: { ...parts[0]!.config, engines }, folds, transductiveSubjects };
}
