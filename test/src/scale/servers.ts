/**
 * Real servers and CLI child processes for the scale-out tests: a redis-server and a mosquitto started on
 * 127.0.0.1 with a free port and a temp dir (never a mock), and `cmcrd` children run from the sources through tsx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Server {
  port: number;
  url: string;
  /** Stop (SIGTERM, or SIGKILL) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port (after stop). */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

function server(cmd: string, args: (port: number, dir: string) => string[], scheme: string, port: number): Server {
  const dir = mkdtempSync(join(tmpdir(), `cmcrd-${scheme}-`));
  chmodSync(dir, 0o777); // mosquitto started as root drops to its own user, which must write its database here
  let child: ChildProcess | null = null;
  const s: Server = {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    async start() {
      child = spawn(cmd, args(port, dir), { stdio: ['ignore', 'ignore', 'ignore'] });
      await waitForPort(port);
    },
    async stop(signal = 'SIGTERM') {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill(signal);
      });
    },
    async dispose() {
      await s.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s;
}

export async function startRedis(): Promise<Server> {
  const s = server(
    '/usr/bin/redis-server',
    (port, dir) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    'redis',
    await freePort(),
  );
  await s.start();
  return s;
}

export async function startMosquitto(): Promise<Server> {
  const port = await freePort();
  const s = server(
    '/usr/sbin/mosquitto',
    (p, dir) => {
      const conf = join(dir, 'mosquitto.conf');
      // Persistence (saved at a clean stop) so that a restart keeps retained messages and durable sessions.
      writeFileSync(conf, `listener ${p} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\n`);
      return ['-c', conf];
    },
    'mqtt',
    port,
  );
  await s.start();
  return s;
}

export interface Child {
  proc: ChildProcess;
  stderr(): string;
  stdout(): string;
  /** Resolves when stderr matches `re` (rejects after `ms`, or when the process exits first). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

/** `node --import tsx src/cli/bin.ts <args>` in the worktree. */
export function cmcrd(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return nodeChild(['--import', 'tsx', 'src/cli/bin.ts', ...args], env);
}

export function nodeChild(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(proc);
  let err = '';
  let out = '';
  const waiters: Array<() => void> = [];
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
    for (const w of [...waiters]) w();
  });
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
  });
  // On exit, with what the pipes still deliver within a moment ('close' would also wait for any grandchild that
  // inherited them).
  const ended = (s: NodeJS.ReadableStream) => new Promise<void>((r) => s.once('end', r));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      children.delete(proc);
      void Promise.race([Promise.all([ended(proc.stdout!), ended(proc.stderr!)]), new Promise((r) => setTimeout(r, 300))]).then(() => {
        for (const w of [...waiters]) w();
        resolve({ code, signal });
      });
    }),
  );
  return {
    proc,
    stderr: () => err,
    stdout: () => out,
    exited,
    waitFor(re, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${re} in:\n${err.slice(-3000)}`));
        }, ms);
        const check = () => {
          const m = err.match(re);
          if (m) {
            done();
            resolve(m);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`exited (${proc.exitCode ?? proc.signalCode}) before ${re} appeared:\n${err.slice(-3000)}`));
          }
        };
        const done = () => {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
        };
        waiters.push(check);
        check();
      });
    },
  };
}

/** SIGKILL every child still running (afterAll). */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
}
