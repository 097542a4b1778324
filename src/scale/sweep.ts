/**
 * `cmcrd train|compare … --queue redis://…`: the coordinator. It plans every fold × seed × method × network run as a
 * BullMQ job (teachers as gate × teacher flows, see ./plan.ts), writes the sweep's spec to Redis, and then watches
 * the jobs until each planned run has a result or has failed its tries: results are gathered by job id (a run is
 * counted once, whichever worker or try produced it), student checkpoints and teachers come back in the job
 * results and are written where a local run writes them, and the per-cell results are assembled through the same
 * `--resume` path as `--jobs` (./../cli/jobs.ts), so the reports are a local run's.
 *
 * The coordinator holds no state the queue needs: it can be stopped and started again (`--resume` reattaches to the
 * same jobs, whose ids come from the run's identity), and each poll re-adds any planned job Redis no longer has
 * (a Redis restarted without persistence), so a restart of either side loses at most the runs in progress.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowProducer, Job, Queue, type JobsOptions } from 'bullmq';
import { serialiseCheckpoint } from '../../export/checkpoint.js';
import { flatten } from '../datasets/types.js';
import { writeRunReport } from '../train/report.js';
import {
  datasetFingerprint,
  ExperimentConfigError,
  runExperiment,
  selectFolds,
  type ExperimentResult,
  type FoldRecord,
  type PreviousRun,
} from '../train/run.js';
import * as tf from '../train/tf.js';
import { TOOLKIT_VERSION } from '../version.js';
import { CliError } from '../cli/errors.js';
import type { JobCell, JobsOutcome, JobsRun } from '../cli/jobs.js';
import {
  planSweep,
  runKey,
  specFlags,
  specKey,
  sweepId,
  type GateUnit,
  type JobData,
  type StudentResult,
  type StudentUnit,
  type SweepSpec,
  type TeacherResult,
} from './plan.js';
import { loadRedisClient, parseQueueUrl, reachable, redisClient, type QueueTarget } from './redis.js';

export interface SweepTiming {
  /** How often the jobs are looked at (ms). */
  pollMs: number;
  /** Least time between two progress reports of a cell (ms), and between partial report writes. */
  reportMs: number;
}

const TIMING: SweepTiming = { pollMs: 500, reportMs: 2000 };

/** The error a sweep ends with when runs failed: each with its error, and where the finished runs are. */
export function queueFailed(out: string, failures: string[]): CliError {
  return new CliError(
    `${failures.length} run(s) failed on the queue:\n${failures.join('\n')}\nthe finished runs were written to ${out}; the same command with --resume retries the failed ones`,
    1,
  );
}

type CellState = { done: number; running: number; failed: number; waiting: number; planned: number };

/** Run the sweep of `p` on the queue at `url` and gather its results (as runInJobs does for --jobs). */
export async function runOnQueue(url: string, p: JobsRun, timing: Partial<SweepTiming> = {}): Promise<JobsOutcome> {
  if (p.jobs > 1)
    throw new CliError(
      '--queue and --jobs cannot be combined: with --queue the runs go to the workers (`cmcrd worker --concurrency N` uses N cores of a machine)',
    );
  let target: QueueTarget;
  try {
    target = parseQueueUrl(url);
  } catch (e) {
    throw new CliError(`--queue: ${(e as Error).message}`);
  }
  try {
    await loadRedisClient();
  } catch (e) {
    throw new CliError(`--queue: ${(e as Error).message}`);
  }
  try {
    return await sweep(target, p, { ...TIMING, ...timing });
  } catch (e) {
    if (e instanceof ExperimentConfigError) throw new CliError(e.message);
    throw e;
  }
}

async function sweep(target: QueueTarget, p: JobsRun, timing: SweepTiming): Promise<JobsOutcome> {
  const { cfg, log } = p;
  const folds = selectFolds(flatten(cfg.dataset), cfg.dataset, cfg.base.protocol, cfg.base.folds).map((f) => f.id);
  const seeds = cfg.base.seeds;
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
  // An earlier results.json (--resume) is checked first: same experiment, nothing outside the plan.
  for (const cell of p.cells) {
    if (!cell.resume) continue;
    try {
      await assemble(cell, cell.resume);
    } catch (e) {
      if (e instanceof ExperimentConfigError) throw new ExperimentConfigError(`${cell.method} · ${cell.arch}: ${e.message}`);
      throw e;
    }
  }
  const spec: SweepSpec = {
    version: TOOLKIT_VERSION,
    flags: specFlags(p.raw),
    backend: tf.getBackend(),
    fingerprint: datasetFingerprint(cfg.dataset),
    teacher: cfg.base.teacherCheckpoint ? serialiseCheckpoint(cfg.base.teacherCheckpoint) : null,
  };
  const id = sweepId(spec);
  const plan = planSweep(
    spec,
    id,
    p.cells.map((c) => ({
      method: c.method,
      arch: c.arch,
      checkpoint: c.checkpointDir !== null,
      skip: new Set((c.resume?.folds ?? []).map((f) => runKey(f.fold, f.seed))),
    })),
    folds,
    seeds,
    target,
  );

  let reconnected = false;
  let lost = false;
  const conn = redisClient(target, (state, detail) => {
    if (state === 'lost' && !lost) log(`queue: Redis connection lost (${detail}); waiting for it to come back`);
    if (state === 'ready' && lost) {
      log(`queue: reconnected to ${detail}`);
      reconnected = true;
    }
    lost = state === 'lost';
  });
  const closers: Array<() => Promise<unknown>> = [];
  try {
    try {
      await reachable(conn, target);
    } catch (e) {
      throw new CliError(`--queue: ${(e as Error).message}`);
    }
    const queue = new Queue<JobData>(target.queueName, { connection: conn });
    const flows = new FlowProducer({ connection: conn });
    closers.push(
      () => flows.close(),
      () => queue.close(),
    );
    const key = specKey(target.queueName, id);
    await conn.set(key, JSON.stringify(spec));
    log(
      `queue: sweep ${id} on ${target.display} (queue ${target.queueName}): ${plan.students.length} run(s), ${plan.gates.size} teacher(s) to train; start workers with \`cmcrd worker --queue ${target.display}\``,
    );
    await prepareJobs(queue, plan, p.raw.resume === true, log);
    const outcome = await watch(p, queue, flows, plan, target, timing, {
      respec: async () => {
        if (!reconnected) return;
        reconnected = false;
        await conn.set(key, JSON.stringify(spec));
      },
    });
    const results: ExperimentResult[] = [];
    for (const [i, cell] of p.cells.entries()) results.push(await assemble(cell, combineRuns(cell.resume ?? null, outcome.gathered[i]!)));
    // The reports hold the results now: completed runs leave Redis; the rest stays for --resume.
    const interrupted = p.interrupt.interrupted;
    const clean = !outcome.failures.length && !interrupted;
    const ids = clean
      ? [...plan.students.map((s) => s.id), ...[...plan.gates.values()].flatMap((g) => [g.id, g.teacherId])]
      : outcome.completedIds;
    for (const jid of ids) await queue.remove(jid, { removeChildren: true }).catch(() => 0);
    if (clean) await conn.del(key);
    return { results, failures: outcome.failures };
  } finally {
    for (const c of closers) await c().catch(() => undefined);
    conn.disconnect();
  }
}

/**
 * Before the first poll: without --resume, earlier jobs of this same sweep are removed (a fresh run, as a local
 * run replaces its results; refused while one is running on a worker); with --resume, finished jobs are kept and
 * failed ones are removed so that they are tried again.
 */
async function prepareJobs(
  queue: Queue<JobData>,
  plan: { students: StudentUnit[]; gates: Map<string, GateUnit> },
  resume: boolean,
  log: (l: string) => void,
): Promise<void> {
  const ids = [...plan.students.map((s) => s.id), ...[...plan.gates.values()].flatMap((g) => [g.id, g.teacherId])];
  const states = await Promise.all(ids.map((jid) => queue.getJobState(jid)));
  const existing = ids.filter((_, i) => states[i] !== 'unknown');
  if (!existing.length) return;
  if (!resume) {
    const active = ids.filter((_, i) => states[i] === 'active');
    if (active.length)
      throw new CliError(
        `--queue: ${active.length} job(s) of this same sweep are running on workers now (e.g. ${active[0]}); add --resume to reattach to them, or wait`,
      );
    log(`queue: removing ${existing.length} job(s) left by an earlier run of this sweep (--resume would keep their results)`);
    for (const jid of existing) await queue.remove(jid, { removeChildren: true }).catch(() => 0);
    return;
  }
  const failed = ids.filter((_, i) => states[i] === 'failed');
  const done = ids.filter((_, i) => states[i] === 'completed').length;
  log(
    `queue: --resume: ${existing.length} job(s) of this sweep are in the queue (${done} finished${failed.length ? `, ${failed.length} failed: tried again` : ''})`,
  );
  // A failed teacher fails its gate: both go, and the flow is added again.
  const failedGates = [...plan.gates.values()].filter((g) => failed.includes(g.id) || failed.includes(g.teacherId));
  for (const g of failedGates) {
    await queue.remove(g.id, { removeChildren: true }).catch(() => 0);
    await queue.remove(g.teacherId).catch(() => 0);
  }
  for (const jid of failed) await queue.remove(jid).catch(() => 0);
}

interface Watched {
  /** Per cell, the runs gathered from the queue (null when none). */
  gathered: Array<PreviousRun | null>;
  failures: string[];
  completedIds: string[];
}

async function watch(
  p: JobsRun,
  queue: Queue<JobData>,
  flows: FlowProducer,
  plan: { students: StudentUnit[]; gates: Map<string, GateUnit> },
  target: QueueTarget,
  timing: SweepTiming,
  hooks: { respec: () => Promise<void> },
): Promise<Watched> {
  const { log, cells } = p;
  const jobOpts: JobsOptions = {
    attempts: target.attempts,
    backoff: { type: 'exponential', delay: target.backoffMs },
    removeOnComplete: false,
    removeOnFail: false,
  };
  const results = new Map<string, StudentResult>();
  const failed = new Map<string, string>();
  const teachersWritten = new Set<string>();
  const refusals = new Set<string>();
  const gathered: Array<{
    config: ExperimentResult['config'] | null;
    folds: FoldRecord[];
    engines: Set<string>;
    transductive: Set<string>;
  }> = cells.map(() => ({ config: null, folds: [], engines: new Set(), transductive: new Set() }));
  const kept = cells.map((c) => c.resume?.folds.length ?? 0);
  const planned = (i: number) => kept[i]! + plan.students.filter((s) => s.cell === i).length;
  const shown = cells.map(() => '');
  const dirty = new Set<number>();
  const unsaved: string[] = [];
  let lastReport = 0;
  let lastWrite = 0;
  let lastActivity = Date.now();
  let idleSaid = false;
  const label = (c: JobCell) => `${c.method} · ${c.arch}`;
  const describe = (s: StudentUnit) => `${s.data.method} · ${s.data.arch} fold ${s.data.fold} seed ${s.data.seed}`;

  const gatherResult = async (s: StudentUnit, r: StudentResult) => {
    const cell = cells[s.cell]!;
    const g = gathered[s.cell]!;
    const record = { ...r.record };
    if (r.checkpoint && cell.checkpointDir) {
      mkdirSync(cell.checkpointDir, { recursive: true });
      const path = join(cell.checkpointDir, r.checkpoint.file);
      writeFileSync(path, r.checkpoint.text);
      record.checkpoint = path;
    }
    g.config ??= r.config;
    g.folds.push(record);
    for (const e of (r.config.engines as string[] | undefined) ?? []) g.engines.add(e);
    for (const x of r.transductiveSubjects) g.transductive.add(x);
    results.set(s.id, r);
    unsaved.push(s.id);
    dirty.add(s.cell);
    // The teacher goes to the teacher cache, as a local run leaves it there.
    const tid = s.data.teacher;
    const dir = p.cfg.base.teacherCacheDir;
    if (tid && dir && !teachersWritten.has(tid)) {
      teachersWritten.add(tid);
      const tj = await Job.fromId<JobData, TeacherResult>(queue, tid);
      const tv = tj?.returnvalue;
      if (tv && typeof tv.file === 'string' && !existsSync(join(dir, tv.file))) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, tv.file), tv.text);
      }
    }
  };

  const prevOf = (i: number): PreviousRun | null => {
    const g = gathered[i]!;
    if (!g.config || !g.folds.length) return null;
    return {
      source: `the queue at ${target.display}`,
      config: { ...g.config, engines: [...g.engines] },
      folds: [...g.folds],
      transductiveSubjects: [...g.transductive],
    };
  };

  for (;;) {
    await hooks.respec();
    const pending = plan.students.filter((s) => !results.has(s.id) && !failed.has(s.id));
    const states = await Promise.all(pending.map((s) => queue.getJobState(s.id)));
    const gateStates = new Map<string, string>();
    const gateState = async (g: string) => {
      if (!gateStates.has(g)) gateStates.set(g, await queue.getJobState(g));
      return gateStates.get(g)!;
    };
    const running = new Set<string>();
    const delayed: StudentUnit[] = [];
    for (const [i, s] of pending.entries()) {
      const st = states[i]!;
      if (st === 'completed') {
        const job = await Job.fromId<JobData, StudentResult>(queue, s.id);
        const r = job?.returnvalue;
        if (r && typeof r === 'object' && r.record) await gatherResult(s, r);
        else failed.set(s.id, `${describe(s)}: the job completed without a result (made by another program?)`);
        lastActivity = Date.now();
      } else if (st === 'failed') {
        const job = await Job.fromId(queue, s.id);
        failed.set(s.id, `${describe(s)}: ${job?.failedReason ?? 'failed'}`);
        dirty.add(s.cell);
        lastActivity = Date.now();
      } else if (st === 'active') {
        running.add(s.id);
        lastActivity = Date.now();
      } else if (st === 'delayed') {
        delayed.push(s);
      } else if (st === 'unknown') {
        const g = s.gate ? plan.gates.get(s.gate)! : null;
        if (!g) await queue.add('student', s.data, { ...jobOpts, jobId: s.id });
        else {
          const gs = await gateState(g.id);
          if (gs === 'unknown') {
            gateStates.set(g.id, 'waiting-children');
            await addFlow(queue, flows, g, jobOpts);
          } else if (gs === 'completed') await queue.add('student', s.data, { ...jobOpts, jobId: s.id });
          else if (gs === 'failed') {
            const tj = await Job.fromId(queue, g.teacherId);
            const gj = tj?.failedReason ? null : await Job.fromId(queue, g.id);
            failed.set(
              s.id,
              tj?.failedReason
                ? `${describe(s)}: its teacher (job ${g.teacherId}) failed: ${tj.failedReason}`
                : `${describe(s)}: its gate job ${g.id} failed: ${gj?.failedReason ?? 'unknown error'}`,
            );
            dirty.add(s.cell);
          } else if (gs === 'active') running.add(g.id);
        }
      }
    }
    // Teachers training count as running for their students' cells.
    for (const g of plan.gates.values())
      if (!running.has(g.teacherId) && pending.some((s) => s.gate === g.id))
        if ((await queue.getJobState(g.teacherId)) === 'active') running.add(g.teacherId);
    for (const s of delayed.slice(0, 20)) {
      const job = await Job.fromId<JobData>(queue, s.id);
      const why = job?.data.refused;
      if (why && !refusals.has(why)) {
        refusals.add(why);
        log(`queue: ${describe(s)}: refused by ${why}`);
      }
    }
    const left = plan.students.filter((s) => !results.has(s.id) && !failed.has(s.id)).length;
    const now = Date.now();
    if (now - lastReport >= timing.reportMs || left === 0 || p.interrupt.interrupted) {
      lastReport = now;
      report(
        cells.map((c, i) => {
          const mine = plan.students.filter((s) => s.cell === i);
          const st: CellState = {
            planned: planned(i),
            done: kept[i]! + mine.filter((s) => results.has(s.id)).length,
            failed: mine.filter((s) => failed.has(s.id)).length,
            running: mine.filter(
              (s) => running.has(s.id) || (s.gate !== null && !results.has(s.id) && running.has(plan.gates.get(s.gate)!.teacherId)),
            ).length,
            waiting: 0,
          };
          st.waiting = st.planned - st.done - st.failed - st.running;
          return st;
        }),
      );
    }
    if (now - lastWrite >= 5 * timing.reportMs || left === 0 || p.interrupt.interrupted) {
      lastWrite = now;
      for (const i of dirty) {
        const cell = cells[i]!;
        const prev = combineRuns(cell.resume ?? null, prevOf(i));
        if (prev)
          writeRunReport(
            join(p.out, cell.rel),
            await runExperiment({
              ...p.cfg.base,
              dataset: p.cfg.dataset,
              method: cell.method,
              arch: cell.arch,
              resume: prev,
              interrupt: { interrupted: true },
              checkpointDir: null,
            }),
          );
      }
      dirty.clear();
      // Saved in results.json now (what --resume reads): the job results, checkpoints included, leave Redis.
      for (const jid of unsaved.splice(0)) await queue.remove(jid).catch(() => 0);
    }
    if (left === 0 || p.interrupt.interrupted) break;
    if (!idleSaid && now - lastActivity > 30_000) {
      idleSaid = true;
      log(`queue: no worker has taken a job for 30 s; start one where the data is: cmcrd worker --queue ${target.display}`);
    }
    await new Promise((r) => setTimeout(r, timing.pollMs));
  }
  if (p.interrupt.interrupted)
    log(`queue: stopped watching; the jobs stay queued and workers go on (the same command with --resume gathers them)`);

  function report(states: CellState[]) {
    states.forEach((st, i) => {
      const line = `${st.done}/${st.planned} done, ${st.running} running, ${st.failed} failed`;
      if (line === shown[i]) return;
      shown[i] = line;
      log(`queue: ${label(cells[i]!)}: ${line}`);
    });
  }

  return {
    gathered: cells.map((_, i) => prevOf(i)),
    failures: [...failed.values()],
    completedIds: [...results.keys()],
  };
}

/**
 * The gate × teacher flow of `g`. A teacher job already finished (its gate removed since) is not added again:
 * the gate goes alone and runs at once; a teacher left failed or waiting without its gate is replaced.
 */
async function addFlow(queue: Queue<JobData>, flows: FlowProducer, g: GateUnit, opts: JobsOptions): Promise<void> {
  const ts = await queue.getJobState(g.teacherId);
  const gateOpts = { jobId: g.id, removeOnComplete: false, removeOnFail: false, attempts: opts.attempts ?? 1 };
  if (ts === 'completed') {
    await queue.add('gate', g.data, gateOpts);
    return;
  }
  if (ts === 'active') return; // its old gate's students will be re-added when it has one again
  if (ts !== 'unknown') await queue.remove(g.teacherId).catch(() => 0);
  await flows.add({
    name: 'gate',
    queueName: queue.name,
    data: g.data,
    opts: gateOpts,
    children: [
      { name: 'teacher', queueName: queue.name, data: g.teacher, opts: { ...opts, jobId: g.teacherId, failParentOnFailure: true } },
    ],
  });
}

/** Two earlier runs of one cell as one: `a`'s records, then `b`'s of the fold × seed runs `a` lacks. */
function combineRuns(a: PreviousRun | null, b: PreviousRun | null): PreviousRun | null {
  if (!a || !b) return a ?? b;
  const have = new Set(a.folds.map((f) => runKey(f.fold, f.seed)));
  return {
    source: a.source,
    config: { ...a.config, engines: [...new Set([...(a.config.engines as string[]), ...(b.config.engines as string[])])] },
    folds: [...a.folds, ...b.folds.filter((f) => !have.has(runKey(f.fold, f.seed)))],
    transductiveSubjects: [...new Set([...a.transductiveSubjects, ...b.transductiveSubjects])],
  };
}
