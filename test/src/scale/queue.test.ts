/**
 * Sweeps on a real Redis (redis-server started here) with real `cmcrd worker` processes: the numbers equal a local
 * `--jobs 1` run's, each teacher trains once, a worker SIGKILLed mid-job loses nothing, a job that fails is
 * reported and the rest completes, --resume reattaches after the coordinator stops, and Redis can restart.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../../src/datasets/index.js';
import { parseQueueUrl } from '../../../src/scale/queue-url.js';
import { loadRedisClient, redisClient } from '../../../src/scale/redis.js';
import { startWorker } from '../../../src/scale/worker.js';
import { cmcrd, killChildren, startRedis, type Child, type Server } from './servers.js';

const SWEEP = [
  '--dataset',
  'synthetic',
  '--protocol',
  'loso',
  '--folds',
  's1,s2',
  '--seeds',
  '1,2',
  '--epochs',
  '2',
  '--warmup',
  '1',
  '--negatives',
  '16',
  '--methods',
  'kd,eeg-only',
];
const CELLS = ['kd-mlp', 'eeg-only-mlp'];

let dir: string;
let data: string;
let redis: Server;
let local: Record<string, Run[]>;

type Run = { fold: string; seed: number; accuracy: number; teacherAccuracy?: number };

function runs(out: string): Record<string, Run[]> {
  const r: Record<string, Run[]> = {};
  for (const cell of CELLS) {
    const path = join(out, 'runs', cell, 'results.json');
    if (!existsSync(path)) continue;
    const res = JSON.parse(readFileSync(path, 'utf8'));
    r[cell] = res.folds.map((f: Run) => ({
      fold: f.fold,
      seed: f.seed,
      accuracy: f.accuracy,
      ...(f.teacherAccuracy !== undefined ? { teacherAccuracy: f.teacherAccuracy } : {}),
    }));
  }
  return r;
}

const compare = (out: string, url: string, ...more: string[]) =>
  cmcrd(['compare', '--root', data, ...SWEEP, '--out', out, '--queue', url, ...more]);
const worker = (...more: string[]) =>
  cmcrd(['worker', '--queue', redis.url, '--lock', '2', '--stalled-interval', '1', '--refuse-delay', '0.3', ...more]);

async function stop(...cs: Child[]): Promise<void> {
  for (const c of cs) if (c.proc.exitCode === null) c.proc.kill('SIGTERM');
  await Promise.all(cs.map((c) => c.exited));
}

beforeAll(async () => {
  await loadRedisClient();
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-queue-'));
  data = join(dir, 'data');
  synthesize({ layout: 'seed-iv', out: data, subjects: 3, sessions: 1, windowsPerTrial: 2 });
  redis = await startRedis();
  const ref = cmcrd(['compare', '--root', data, ...SWEEP, '--jobs', '1', '--out', join(dir, 'local')]);
  const { code } = await ref.exited;
  expect(code, ref.stderr()).toBe(0);
  local = runs(join(dir, 'local'));
  expect(Object.keys(local)).toEqual(CELLS);
});

afterAll(async () => {
  killChildren();
  await redis?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('compare --queue with cmcrd worker', () => {
  it("gives each run a --jobs 1 run's accuracy, trains each teacher once, and a worker of another version refuses with a message", async () => {
    const target = parseQueueUrl(redis.url);
    const lines: string[] = [];
    // Its stalled checks every second, as the other workers' (the check's period is shared through Redis).
    const other = await startWorker({
      target,
      version: '0.0.0-other',
      refuseDelayMs: 300,
      lockMs: 2000,
      stalledIntervalMs: 1000,
      log: (l) => lines.push(l),
    });
    const out = join(dir, 'q1');
    const c = compare(out, redis.url);
    await c.waitFor(/queue: sweep/);
    const w = worker('--concurrency', '2');
    const { code } = await c.exited;
    await other.close();
    await stop(w);
    expect(code, c.stderr()).toBe(0);
    expect(runs(out)).toEqual(local);
    // The same reports and teachers as the local run.
    expect(readdirSync(out).sort()).toEqual(readdirSync(join(dir, 'local')).sort());
    expect(readdirSync(join(out, 'teachers')).sort()).toEqual(readdirSync(join(dir, 'local', 'teachers')).sort());
    expect(c.stderr()).toMatch(/queue: kd · mlp: 4\/4 done, 0 running, 0 failed/);
    // 2 folds × 2 seeds: four teacher jobs, and no student trained its own.
    expect(w.stderr().match(/: teacher mlp fold s\d seed \d \(try /gm)).toHaveLength(4);
    expect(w.stderr()).not.toMatch(/trained again|training the teacher here/);
    expect(other.stats.refused).toBeGreaterThan(0);
    expect(other.stats.completed).toBe(0);
    expect(lines.join('\n')).toMatch(/refused: the job was enqueued by cmcrd \d+\.\d+\.\d+\S* and this worker runs cmcrd 0\.0\.0-other/);
    expect(c.stderr()).toMatch(/refused by worker \S+: the job was enqueued by cmcrd/);
    // A clean sweep leaves nothing in Redis but BullMQ's queue bookkeeping.
    const r = redisClient(target);
    const keys = await r.keys('*');
    r.disconnect();
    expect(keys.filter((k) => /cmcrd-sweep|\.s\.|\.t\.|\.g\./.test(k))).toEqual([]);
  });

  it('a worker SIGKILLed mid-job: the job goes to another worker; the coordinator stopped and resumed reattaches; nothing lost or counted twice', async () => {
    const out = join(dir, 'q2');
    const a = worker();
    await a.waitFor(/waiting for jobs/);
    const c = compare(out, redis.url);
    // Killed while it loads the data for its first job (a teacher or an eeg-only run): that job is held.
    const m = await a.waitFor(/job (\S+): reading sweep/);
    a.proc.kill('SIGKILL');
    const killed = m[1]!;
    // The coordinator is stopped too, and started again with --resume.
    c.proc.kill('SIGTERM');
    expect((await c.exited).code).toBe(143);
    const b = worker();
    const c2 = compare(out, redis.url, '--resume');
    const { code } = await c2.exited;
    await stop(b);
    expect(code, c2.stderr()).toBe(0);
    expect(c2.stderr()).toMatch(/--resume: \d+ job\(s\) of this sweep are in the queue/);
    expect(b.stderr()).toContain(`job ${killed}: `);
    expect(b.stderr()).toMatch(/taken again from 1 lost worker\(s\)\)$/m);
    expect(runs(out)).toEqual(local);
  });

  it('a job that fails is reported with its error and the rest completes; --resume tries it again', async () => {
    const out = join(dir, 'q3');
    const url = `${redis.url}?attempts=2&backoff=100`;
    const c = compare(out, url);
    const sweep = (await c.waitFor(/queue: sweep ([0-9a-f]{16})/))[1]!;
    await c.waitFor(/queue: eeg-only · mlp: 0\/4 done/);
    // Spoil one job before any worker runs: an unknown fold fails on every worker (no retry for that).
    const r = redisClient(parseQueueUrl(url));
    const q = new Queue('cmcrd', { connection: r });
    const id = `${sweep}.s.eeg-only.mlp.s1.1`;
    const job = await q.getJob(id);
    expect(job, id).toBeTruthy();
    await job!.updateData({ ...job!.data, fold: 'nosuch' });
    await q.close();
    r.disconnect();
    // A worker whose copy of the data differs (another synthetic world at the mapped path) refuses every job.
    const elsewhere = join(dir, 'other-data');
    synthesize({ layout: 'seed-iv', out: elsewhere, subjects: 3, sessions: 1, windowsPerTrial: 2, seed: 7 });
    const lines: string[] = [];
    const stranger = await startWorker({
      target: parseQueueUrl(url),
      rootMap: [[data, elsewhere]],
      refuseDelayMs: 300,
      lockMs: 2000,
      stalledIntervalMs: 1000,
      log: (l) => lines.push(l),
    });
    const w = worker();
    const { code } = await c.exited;
    await stranger.close();
    expect(stranger.stats.completed).toBe(0);
    expect(lines.join('\n')).toMatch(
      /refused: the data at \S+other-data differs from the coordinator's \(fingerprint [0-9a-f]{16}, expected [0-9a-f]{16}\)/,
    );
    expect(c.stderr()).toMatch(/refused by worker \S+: the data at \S+other-data differs/);
    expect(code, c.stderr()).toBe(1);
    expect(c.stderr()).toMatch(/1 run\(s\) failed on the queue:\neeg-only · mlp fold s1 seed 1: (folds: )?unknown fold id\(s\) nosuch/);
    expect(c.stderr()).toMatch(/the same command with --resume retries the failed ones/);
    const partial = runs(out);
    expect(partial['kd-mlp']).toEqual(local['kd-mlp']);
    expect(partial['eeg-only-mlp']).toEqual(local['eeg-only-mlp']!.filter((x) => !(x.fold === 's1' && x.seed === 1)));
    const c2 = compare(out, url, '--resume');
    const second = await c2.exited;
    await stop(w);
    expect(second.code, c2.stderr()).toBe(0);
    expect(c2.stderr()).toMatch(/1 failed: tried again/);
    expect(runs(out)).toEqual(local);
  });

  it('Redis restarted mid-sweep (its data gone): workers and coordinator reconnect and the sweep completes with the same numbers', async () => {
    const out = join(dir, 'q4');
    const w = worker();
    await w.waitFor(/waiting for jobs/);
    const c = compare(out, redis.url);
    await w.waitFor(/: done in .* test accuracy/);
    await redis.stop('SIGKILL');
    await new Promise((res) => setTimeout(res, 300));
    await redis.start();
    const { code } = await c.exited;
    await stop(w);
    expect(code, c.stderr()).toBe(0);
    expect(c.stderr()).toMatch(/queue: Redis connection lost/);
    expect(c.stderr()).toMatch(/queue: reconnected/);
    expect(w.stderr()).toMatch(/redis: reconnected/);
    expect(runs(out)).toEqual(local);
  });
});
