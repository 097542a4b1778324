/**
 * Scale-out (`npm run bench -- --only scale`): one fixed small comparison run locally with `--jobs 1` and `--jobs 2`
 * and on a BullMQ queue with 1, 2 and 4 `cmcrd worker` processes, all on this machine (so on 2 cores, 4 workers
 * show the cost of oversubscription, not a speed-up); the queue's overhead per job (a no-op job's round trip, and
 * the sweep's wall time over --jobs 1 per job); MQTT messages per second from one publisher sending prediction
 * events as fast as the broker acknowledges them. Starts its own redis-server and mosquitto on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../src/datasets/index.js';
import { parseQueueUrl } from '../src/scale/queue-url.js';
import { createMqttPublisher } from '../runtime/telemetry/mqtt.node.js';
import type { BenchResult, BenchSuite } from './harness.js';
import { startMosquitto, startRedis, type Server } from '../test/src/scale/servers.js';

const REDIS = '/usr/bin/redis-server';
const MOSQUITTO = '/usr/sbin/mosquitto';

function cli(args: string[]): { proc: ChildProcess; exited: Promise<{ code: number | null; stderr: string }>; stderr: () => string } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return { proc, stderr: () => err, exited: new Promise((resolve) => proc.on('exit', (code) => resolve({ code, stderr: err }))) };
}

async function until(pred: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`bench scale: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const scaleSuite: BenchSuite = {
  name: 'scale',
  async run(ctx) {
    if (!existsSync(REDIS) || !existsSync(MOSQUITTO)) {
      ctx.log(`skipped: needs ${REDIS} and ${MOSQUITTO} (Debian redis-server, mosquitto)`);
      return [];
    }
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-bench-scale-'));
    // The same loopback servers the tests start (test/src/scale/servers.ts).
    const servers: Server[] = [];
    const results: BenchResult[] = [];
    try {
      const redis = await startRedis();
      servers.push(redis);
      const broker = await startMosquitto();
      servers.push(broker);
      const url = redis.url;

      // The fixed sweep: LOSO folds × 2 seeds × {kd, eeg-only}, plus one teacher per fold × seed.
      const subjects = ctx.quick ? 3 : 4;
      const data = join(dir, 'data');
      synthesize({ layout: 'seed-iv', out: data, subjects, sessions: 1, windowsPerTrial: ctx.quick ? 3 : 6 });
      const sweep = [
        'compare',
        '--dataset',
        'synthetic',
        '--root',
        data,
        '--protocol',
        'loso',
        '--seeds',
        '1,2',
        '--epochs',
        ctx.quick ? '3' : '20',
        '--warmup',
        '1',
        '--negatives',
        '16',
        '--methods',
        'kd,eeg-only',
      ];
      const students = subjects * 2 * 2;
      const jobs = students + subjects * 2;
      const detail = { folds: subjects, seeds: 2, methods: 2, students, teachers: subjects * 2, cores: 2 };
      const timed = async (label: string, args: string[]) => {
        const t0 = performance.now();
        const r = await cli(args).exited;
        const s = (performance.now() - t0) / 1000;
        if (r.code !== 0) throw new Error(`bench scale: ${label} exited ${r.code}:\n${r.stderr.slice(-2000)}`);
        ctx.log(`${label}: ${s.toFixed(1)} s`);
        return s;
      };
      const local1 = await timed('--jobs 1', [...sweep, '--out', join(dir, 'jobs1')]);
      results.push({ name: 'scale.sweep.jobs1', value: local1, unit: 's', detail });
      const local2 = await timed('--jobs 2', [...sweep, '--jobs', '2', '--out', join(dir, 'jobs2')]);
      results.push({ name: 'scale.sweep.jobs2', value: local2, unit: 's', detail: { ...detail, speedup: +(local1 / local2).toFixed(2) } });
      let queue1 = 0;
      for (const n of [1, 2, 4]) {
        const workers = Array.from({ length: n }, () => cli(['worker', '--queue', url]));
        await until(() => workers.every((w) => /waiting for jobs/.test(w.stderr())), 'the workers');
        const s = await timed(`queue, ${n} worker(s)`, [...sweep, '--queue', url, '--out', join(dir, `queue${n}`)]);
        for (const w of workers) w.proc.kill('SIGTERM');
        await Promise.all(workers.map((w) => w.exited));
        if (n === 1) queue1 = s;
        results.push({ name: `scale.sweep.queue${n}`, value: s, unit: 's', detail: { ...detail, vsJobs1: +(local1 / s).toFixed(2) } });
      }
      results.push({
        name: 'scale.queue.sweep-overhead-per-job',
        value: (1000 * (queue1 - local1)) / jobs,
        unit: 'ms/job',
        detail: { note: '(queue with 1 worker − --jobs 1) / jobs, teachers and gates included', jobs },
      });

      // A no-op job's round trip: enqueue, take, complete, seen by the producer. (Loaded here: the Redis client is
      // needed by this suite only.)
      const { Queue, Worker } = await import('bullmq');
      const { loadRedisClient, redisClient } = await import('../src/scale/redis.js');
      await loadRedisClient();
      const n = ctx.quick ? 200 : 1000;
      const target = parseQueueUrl(`${url}?queue=bench-noop`);
      const conn = redisClient(target);
      const wconn = redisClient(target);
      const q = new Queue(target.queueName, { connection: conn });
      let done = 0;
      const t0 = performance.now();
      const w = new Worker(target.queueName, async () => ({ ok: true }), { connection: wconn, concurrency: 1 });
      w.on('completed', () => done++);
      await q.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { i }, opts: { jobId: `noop.${i}` } })));
      await until(() => done === n, 'the no-op jobs');
      const ms = (performance.now() - t0) / n;
      await w.close();
      await q.obliterate({ force: true });
      await q.close();
      wconn.disconnect();
      conn.disconnect();
      results.push({ name: 'scale.queue.noop-job', value: ms, unit: 'ms/job', detail: { jobs: n, concurrency: 1 } });
      ctx.log(`no-op job: ${ms.toFixed(2)} ms`);

      // MQTT: prediction events from one publisher, QoS 1, until the broker acknowledged all.
      const m = ctx.quick ? 5000 : 20000;
      const pub = createMqttPublisher(`${broker.url}/bench`, { device: 'band-1', bufferLimit: m + 10 });
      await until(() => pub.stats.connected, 'the MQTT connection');
      const t1 = performance.now();
      for (let i = 0; i < m; i++) {
        pub.publish({
          type: 'prediction',
          t: i * 250,
          start: i * 250 - 4000,
          label: 'neutral',
          probabilities: { neutral: 0.7, sad: 0.1, fear: 0.1, happy: 0.1 },
          quality: 1,
          mode: 'full',
          variant: 'int8',
          latencyMs: 2.5,
        });
        if (i % 500 === 499) await new Promise((r) => setImmediate(r));
      }
      await until(() => pub.stats.delivered === m, 'the MQTT acknowledgements', 120_000);
      const rate = m / ((performance.now() - t1) / 1000);
      await pub.close();
      results.push({ name: 'scale.mqtt.publish', value: rate, unit: 'msg/s', detail: { messages: m, qos: 1, dropped: pub.stats.dropped } });
      ctx.log(`MQTT: ${rate.toFixed(0)} messages/s`);
      return results;
    } finally {
      for (const s of servers) await s.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
