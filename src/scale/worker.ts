/**
 * A sweep worker (`cmcrd worker --queue …`): takes the queue's jobs one at a time and runs each through the public
 * experiment API, so a run on the queue is the same computation as in `cmcrd train`/`compare` (one fold × seed of
 * runExperiment, seeded on its own). A teacher job trains the fold's teacher and returns its checkpoint; a student
 * job puts that checkpoint in runExperiment's teacher memo (its cache key is in the checkpoint), so the teacher
 * is not trained again; a gate job adds the students once its teacher is done.
 *
 * A job this worker cannot run correctly is refused, not failed: another toolkit version, another copy of the
 * data (fingerprint), another tfjs backend, or data it cannot load. It goes back to the queue after a delay for
 * another worker, marked with the reason (the coordinator prints it), and no attempt is used up.
 *
 * Stalled jobs: the lock a worker holds on its job is renewed every lockDuration/2 from the event loop, which a
 * training step blocks for at most one epoch (fit yields once per epoch). A worker that dies stops renewing; once
 * the lock expires, the next stalled check of any worker (every stalledInterval) puts the job back, up to
 * maxStalled times. Defaults suit epochs of up to a few minutes: lock 5 min, checks every 30 s, 2 stalls.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DelayedError, Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { parseCheckpoint, type Checkpoint } from '../../export/checkpoint.js';
import { initBackend, type BackendName } from '../train/backend.js';
import * as tf from '../train/tf.js';
import { datasetFingerprint, ExperimentConfigError, runExperiment, type Direction, type RunEvent } from '../train/run.js';
import { TOOLKIT_VERSION } from '../version.js';
import { experimentConfig, type ExperimentConfig, type ExperimentFlags } from '../cli/experiment-options.js';
import {
  specKey,
  teacherMethod,
  type GateJobData,
  type JobData,
  type StudentJobData,
  type StudentResult,
  type SweepSpec,
  type TeacherJobData,
  type TeacherResult,
} from './plan.js';
import { loadRedisClient, redisClient, type QueueTarget } from './redis.js';

export interface WorkerSettings {
  target: QueueTarget;
  /** Job lock, stalled-check period (ms) and how often a job may stall before it fails. */
  lockMs?: number;
  stalledIntervalMs?: number;
  maxStalled?: number;
  /** How long a refused job waits before it is offered again (ms). */
  refuseDelayMs?: number;
  /** The version this worker claims (tests pass another to see the refusal). */
  version?: string;
  /** Dataset folders as this machine sees them: [coordinator's path prefix, this machine's]. */
  rootMap?: ReadonlyArray<readonly [string, string]>;
  name?: string;
  log: (line: string) => void;
}

export interface RunningWorker {
  readonly name: string;
  readonly stats: { completed: number; failed: number; refused: number };
  /** Stop taking jobs and wait for the one running (BullMQ's close). */
  close(): Promise<void>;
}

export const WORKER_DEFAULTS = { lockMs: 300_000, stalledIntervalMs: 30_000, maxStalled: 2, refuseDelayMs: 10_000 };

type Context = { spec: SweepSpec; cfg: ExperimentConfig } | { refusal: string; until: number };

export async function startWorker(s: WorkerSettings): Promise<RunningWorker> {
  const version = s.version ?? TOOLKIT_VERSION;
  const name = s.name ?? `${hostname()}:${process.pid}`;
  const log = s.log;
  const t = s.target;
  const stats = { completed: 0, failed: 0, refused: 0 };
  await loadRedisClient();
  let lostSaid = false;
  const onState = (state: 'ready' | 'lost', detail: string) => {
    if (state === 'lost' && !lostSaid) log(`redis: connection lost (${detail}); reconnecting`);
    if (state === 'ready' && lostSaid) log(`redis: reconnected to ${detail}`);
    lostSaid = state === 'lost';
  };
  const conn = redisClient(t, onState);
  const queue = new Queue(t.queueName, { connection: conn });
  const scratch = mkdtempSync(join(tmpdir(), 'cmcrd-worker-'));
  const contexts = new Map<string, Context>();
  const said = new Set<string>();

  const mapRoot = (root: string): string => {
    for (const [from, to] of s.rootMap ?? [])
      if (root === from || root.startsWith(from.endsWith('/') ? from : from + '/')) return to + root.slice(from.length);
    return root;
  };

  /** The sweep's spec and this machine's copy of its data, or why this worker cannot run its jobs. */
  async function context(sweep: string): Promise<Context> {
    const known = contexts.get(sweep);
    if (known && (!('refusal' in known) || known.until > Date.now())) return known;
    const text = await conn.get(specKey(t.queueName, sweep));
    if (!text)
      return { refusal: `sweep ${sweep}: its settings are not in Redis (the coordinator writes them again when it runs)`, until: 0 };
    const spec = JSON.parse(text) as SweepSpec;
    let ctx: Context;
    try {
      const flags = { ...spec.flags, root: mapRoot(String(spec.flags.root)) } as unknown as ExperimentFlags;
      try {
        await initBackend(spec.backend as BackendName, () => {});
      } catch (e) {
        throw new Error(`the sweep trains on the tfjs ${spec.backend} backend, which does not load here (${(e as Error).message})`);
      }
      const cfg = experimentConfig(flags, join(scratch, 'out'), (l) => log(`sweep ${sweep}: ${l}`));
      const fp = datasetFingerprint(cfg.dataset);
      if (fp !== spec.fingerprint)
        throw new Error(
          `the data at ${flags.root} differs from the coordinator's (fingerprint ${fp}, expected ${spec.fingerprint}); give this worker the same copy (or --root-map)`,
        );
      if (spec.teacher !== null) cfg.base = { ...cfg.base, teacherCheckpoint: parseCheckpoint(spec.teacher, `sweep ${sweep}'s --teacher`) };
      ctx = { spec, cfg };
      log(`sweep ${sweep}: ${cfg.kind} data from ${flags.root}, tfjs ${tf.getBackend()}`);
    } catch (e) {
      ctx = { refusal: (e as Error).message, until: Date.now() + 30_000 };
    }
    for (const k of contexts.keys()) if (contexts.size >= 2 && k !== sweep) contexts.delete(k);
    contexts.set(sweep, ctx);
    return ctx;
  }

  async function refuse(job: Job<JobData>, token: string | undefined, why: string): Promise<never> {
    stats.refused++;
    if (!said.has(why)) log(`job ${job.id}: refused: ${why}`);
    said.add(why);
    await job.updateData({ ...job.data, refused: `worker ${name}: ${why}` });
    await job.moveToDelayed(Date.now() + (s.refuseDelayMs ?? WORKER_DEFAULTS.refuseDelayMs), token);
    throw new DelayedError();
  }

  async function teacherJob(d: TeacherJobData, ctx: { cfg: ExperimentConfig }): Promise<TeacherResult> {
    const dir = mkdtempSync(join(scratch, 'teacher-'));
    try {
      const t0 = performance.now();
      const r = await runExperiment({
        ...ctx.cfg.base,
        dataset: ctx.cfg.dataset,
        method: teacherMethod((ctx.cfg.base.direction ?? 'eye-to-eeg') as Direction),
        arch: d.arch,
        teacherArch: d.arch,
        folds: [d.fold],
        seeds: [d.seed],
        teacherCacheDir: dir,
        teacherMemo: new Map(),
        checkpointDir: null,
      });
      const file = readdirSync(dir).find((f) => f.endsWith('.json'));
      if (r.completed !== 1 || !file) throw new Error('the teacher run did not finish');
      return {
        file,
        text: readFileSync(join(dir, file), 'utf8'),
        accuracy: r.folds[0]!.accuracy,
        worker: name,
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function studentJob(job: Job<JobData>, d: StudentJobData, ctx: { cfg: ExperimentConfig }): Promise<StudentResult> {
    const memo = new Map<string, Checkpoint>();
    if (d.teacher) {
      const tj = await Job.fromId<TeacherJobData, TeacherResult>(queue, d.teacher);
      const tv = tj?.returnvalue;
      if (tv && typeof tv.text === 'string') {
        const ck = parseCheckpoint(tv.text, `teacher job ${d.teacher}`);
        memo.set(String(ck.provenance.cacheKey), ck);
      } else log(`job ${job.id}: the teacher job ${d.teacher} has no result (lost with Redis?): training the teacher here`);
    }
    const dir = d.checkpoint ? mkdtempSync(join(scratch, 'student-')) : null;
    let teacherSource: string | null = null;
    try {
      const r = await runExperiment({
        ...ctx.cfg.base,
        dataset: ctx.cfg.dataset,
        method: d.method,
        arch: d.arch,
        folds: [d.fold],
        seeds: [d.seed],
        teacherMemo: memo,
        teacherCacheDir: null,
        checkpointDir: dir,
        onEvent: (e: RunEvent) => {
          if (e.type === 'teacher') teacherSource = e.source;
        },
      });
      const record = r.folds[0];
      if (r.completed !== 1 || !record) throw new Error('the run did not finish');
      if (d.teacher && teacherSource === 'trained' && memo.size)
        log(`job ${job.id}: warning: the teacher's checkpoint did not match this run's teacher settings, so it was trained again`);
      let checkpoint: StudentResult['checkpoint'] = null;
      if (record.checkpoint) {
        checkpoint = { file: basename(record.checkpoint), text: readFileSync(record.checkpoint, 'utf8') };
        delete record.checkpoint;
      }
      return { config: r.config, record, transductiveSubjects: r.transductiveSubjects, checkpoint, teacherSource, worker: name };
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }

  async function gateJob(d: GateJobData): Promise<{ students: number }> {
    await queue.addBulk(
      d.students.map((st) => ({
        name: 'student',
        data: st.data,
        opts: {
          jobId: st.id,
          attempts: d.attempts,
          backoff: { type: 'exponential', delay: d.backoffMs },
          removeOnComplete: false,
          removeOnFail: false,
        },
      })),
    );
    return { students: d.students.length };
  }

  const describe = (d: JobData) =>
    d.kind === 'student' ? `${d.method} · ${d.arch} fold ${d.fold} seed ${d.seed}` : `${d.kind} ${d.arch} fold ${d.fold} seed ${d.seed}`;

  const processor = async (job: Job<JobData>, token?: string): Promise<unknown> => {
    const d = job.data;
    if (d.v !== version)
      return refuse(
        job,
        token,
        `the job was enqueued by cmcrd ${d.v} and this worker runs cmcrd ${version}; start workers of the coordinator's version`,
      );
    if (d.kind === 'gate') return gateJob(d);
    if (!contexts.has(d.sweep)) log(`job ${job.id}: reading sweep ${d.sweep}'s settings and data`);
    const ctx = await context(d.sweep);
    if ('refusal' in ctx) return refuse(job, token, ctx.refusal);
    log(
      `job ${job.id}: ${describe(d)} (try ${job.attemptsMade + 1}${job.stalledCounter ? `; taken again from ${job.stalledCounter} lost worker(s)` : ''})`,
    );
    const t0 = performance.now();
    try {
      const res = d.kind === 'teacher' ? await teacherJob(d, ctx) : await studentJob(job, d, ctx);
      const acc = 'record' in res ? res.record.accuracy : res.accuracy;
      log(`job ${job.id}: done in ${((performance.now() - t0) / 1000).toFixed(2)} s, test accuracy ${(100 * acc).toFixed(1)} %`);
      return res;
    } catch (e) {
      // The same job would fail the same way on any worker: no retry.
      if (e instanceof ExperimentConfigError) throw new UnrecoverableError(e.message);
      throw e;
    }
  };

  const workerConn = redisClient(t);
  const worker = new Worker<JobData>(t.queueName, processor, {
    connection: workerConn,
    name,
    concurrency: 1,
    lockDuration: s.lockMs ?? WORKER_DEFAULTS.lockMs,
    stalledInterval: s.stalledIntervalMs ?? WORKER_DEFAULTS.stalledIntervalMs,
    maxStalledCount: s.maxStalled ?? WORKER_DEFAULTS.maxStalled,
  });
  worker.on('completed', () => {
    stats.completed++;
  });
  worker.on('failed', (job, err) => {
    if (err instanceof DelayedError || err.name === 'DelayedError') return;
    stats.failed++;
    log(`job ${job?.id ?? '?'}: failed (try ${job?.attemptsMade ?? '?'}): ${err.message}`);
  });
  let lastError = '';
  worker.on('error', (e) => {
    if (e.message !== lastError) log(`worker: ${e.message}`);
    lastError = e.message;
  });
  await worker.waitUntilReady();
  log(`worker ${name} (cmcrd ${version}) on ${t.display}, queue ${t.queueName}: waiting for jobs`);
  return {
    name,
    stats,
    async close() {
      await worker.close();
      await queue.close();
      // BullMQ leaves connections it was given open.
      workerConn.disconnect();
      conn.disconnect();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
