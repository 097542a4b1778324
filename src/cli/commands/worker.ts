/**
 * `cmcrd worker --queue redis://…`: take the sweep jobs that `cmcrd train|compare --queue` enqueue, on any machine
 * that has the data (src/scale/worker.ts). A training step uses one core, so `--concurrency N` runs N worker
 * processes (as `--jobs N` does) rather than N jobs interleaved in one. The first Ctrl-C / SIGTERM lets the running
 * job finish and stops; a second stops at once (the job is then taken again elsewhere after its lock expires).
 */
import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { parseQueueUrl } from '../../scale/queue-url.js';
import { CliError } from '../errors.js';
import { argsFromOptions } from '../jobs.js';
import { intOption, numberOption } from '../options.js';
import { Interrupt } from '../progress.js';

type WorkerFlags = {
  queue: string;
  concurrency: number;
  lock: number;
  stalledInterval: number;
  maxStalled: number;
  refuseDelay: number;
  rootMap: Array<[string, string]>;
};

const seconds = (flags: string, description: string, dflt: number) =>
  numberOption(flags, description, 'a positive number of seconds', (x) => x > 0).default(dflt);

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('take sweep jobs (cmcrd train|compare --queue) from a BullMQ queue on Redis and run them here')
    .addOption(
      new Option(
        '--queue <redis-url>',
        'the queue: redis://[user:password@]host:port[/db][?queue=NAME] (rediss:// for TLS; or CMCRD_REDIS_USERNAME/PASSWORD)',
      )
        .makeOptionMandatory()
        .argParser((v: string) => {
          try {
            parseQueueUrl(v);
          } catch (e) {
            throw new CliError(`--queue: ${(e as Error).message}`);
          }
          return v;
        }),
    )
    .addOption(intOption('--concurrency <n>', 'worker processes on this machine (one core each)', 1).default(1))
    .addOption(
      seconds(
        '--lock <s>',
        'job lock: a worker that stops renewing it (killed, or an epoch longer than half of it) loses the job to another',
        300,
      ),
    )
    .addOption(
      seconds('--stalled-interval <s>', "how often expired locks are looked for (a dead worker's job is back within --lock plus this)", 30),
    )
    .addOption(intOption('--max-stalled <n>', 'times a job may lose its worker before it is failed', 0).default(2))
    .addOption(
      seconds('--refuse-delay <s>', 'a job this worker refuses (other version, data or backend) goes back to the queue for this long', 10),
    )
    .addOption(
      new Option(
        '--root-map <from=to>',
        "the dataset folder as this machine sees it: the coordinator's path prefix = this machine's (repeatable)",
      )
        .argParser((v: string, prev: Array<[string, string]> | undefined) => {
          const i = v.indexOf('=');
          if (i <= 0 || i === v.length - 1) throw new CliError(`--root-map must be FROM=TO (two folder paths), got ${JSON.stringify(v)}`);
          return [...(prev ?? []), [v.slice(0, i), v.slice(i + 1)] as [string, string]];
        })
        .default([], 'none'),
    )
    .action(async (f: WorkerFlags, cmd: Command) => {
      const log = (l: string) => process.stderr.write(l + '\n');
      if (f.concurrency > 1) return runMany(f, cmd, log);
      const { startWorker } = await import('../../scale/worker.js');
      const { loadRedisClient, redisClient, reachable } = await import('../../scale/redis.js');
      const target = parseQueueUrl(f.queue);
      try {
        await loadRedisClient();
      } catch (e) {
        throw new CliError(`--queue: ${(e as Error).message}`);
      }
      const probe = redisClient(target);
      try {
        await reachable(probe, target);
      } catch (e) {
        throw new CliError(`--queue: ${(e as Error).message}`);
      } finally {
        probe.disconnect();
      }
      const interrupt = new Interrupt();
      // A child of `--concurrency N` stops (after its job) when its parent is gone, even if that was killed.
      process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
      const w = await startWorker({
        target,
        lockMs: f.lock * 1000,
        stalledIntervalMs: f.stalledInterval * 1000,
        maxStalled: f.maxStalled,
        refuseDelayMs: f.refuseDelay * 1000,
        rootMap: f.rootMap,
        log,
      });
      await new Promise<void>((resolve) => interrupt.onInterrupt(resolve));
      await w.close();
      interrupt.dispose();
      log(`worker ${w.name}: stopped after ${w.stats.completed} job(s), ${w.stats.failed} failed try(s), ${w.stats.refused} refusal(s)`);
      if (process.connected) process.disconnect(); // the channel to a --concurrency parent would keep this process alive
    });
}

/** `--concurrency N`: N child workers, their lines prefixed, a stop passed on once. */
async function runMany(f: WorkerFlags, cmd: Command, log: (l: string) => void): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const binModule = fileURLToPath(new URL(`../bin${extname(self)}`, import.meta.url));
  const bin = extname(self) === '.ts' ? ['--import', 'tsx', binModule] : [binModule];
  const args = [
    'worker',
    ...argsFromOptions(cmd, f, new Set(['concurrency', 'rootMap'])),
    ...f.rootMap.flatMap(([a, b]) => ['--root-map', `${a}=${b}`]),
  ];
  const interrupt = new Interrupt();
  const exits = await Promise.all(
    Array.from({ length: f.concurrency }, (_, k) => {
      const child = spawn(process.execPath, [...bin, ...args, '--concurrency', '1'], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        detached: true,
      });
      createInterface({ input: child.stderr! }).on('line', (line) => log(`[worker ${k + 1}/${f.concurrency}] ${line}`));
      interrupt.onInterrupt(() => {
        if (child.exitCode === null) child.kill('SIGTERM');
      });
      child.on('message', () => {});
      return new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    }),
  );
  interrupt.dispose();
  const bad = exits.filter((c) => c !== 0 && c !== 130 && c !== 143);
  if (bad.length) throw new CliError(`${bad.length} of ${f.concurrency} worker processes exited with an error (${bad.join(', ')})`, 1);
}
