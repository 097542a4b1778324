/**
 * `--queue redis://[user:password@]host:port[/db][?queue=NAME&attempts=N&backoff=MS]` (rediss:// for TLS): where a
 * sweep's BullMQ jobs live. Credentials may also come from CMCRD_REDIS_USERNAME / CMCRD_REDIS_PASSWORD, so that
 * they stay out of shell history and process lists. Parsing only (no client is loaded), so the CLI can check the
 * option while it parses the command line.
 */
import { Option } from 'commander';
import { CliError } from '../cli/errors.js';

export interface QueueTarget {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
  /** The BullMQ queue's name (default cmcrd). */
  queueName: string;
  /** Tries per job before it is reported failed (default 3), and the first retry's delay (exponential after). */
  attempts: number;
  backoffMs: number;
  /** The URL without its password, for messages. */
  display: string;
}

const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Parse and check a queue URL; the error names the part that is wrong. */
export function parseQueueUrl(text: string, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(text)} (expected redis://host:port[/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new Error(`${JSON.stringify(text)}: the scheme must be redis:// or rediss:// (TLS), got ${u.protocol}//`);
  if (!u.hostname) throw new Error(`${JSON.stringify(text)}: no host`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15 || !/^\d*$/.test(dbText))
    throw new Error(`${JSON.stringify(text)}: the database must be an integer 0–15, got ${JSON.stringify(dbText)}`);
  const known = new Set(['queue', 'attempts', 'backoff']);
  for (const k of u.searchParams.keys())
    if (!known.has(k)) throw new Error(`${JSON.stringify(text)}: unknown parameter ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
  const queueName = u.searchParams.get('queue') ?? 'cmcrd';
  if (!QUEUE_NAME.test(queueName))
    throw new Error(`${JSON.stringify(text)}: queue name must be 1–64 of A–Z a–z 0–9 _ . -, got ${JSON.stringify(queueName)}`);
  const int = (key: string, dflt: number, min: number) => {
    const v = u.searchParams.get(key);
    if (v === null) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${JSON.stringify(text)}: ${key} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  const username = u.username ? decodeURIComponent(u.username) : env.CMCRD_REDIS_USERNAME;
  const password = u.password ? decodeURIComponent(u.password) : env.CMCRD_REDIS_PASSWORD;
  const shown = new URL(text);
  shown.password = '';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    tls: u.protocol === 'rediss:',
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    queueName,
    attempts: int('attempts', 3, 1),
    backoffMs: int('backoff', 5000, 0),
    display: shown.toString(),
  };
}

/** `--queue <redis-url>` for `train` and `compare`, checked while the command line is parsed. */
export function queueOption(): Option {
  return new Option(
    '--queue <redis-url>',
    'put every fold × seed × method × network run on this BullMQ queue (redis://host:port[/db]) for `cmcrd worker`s on any machine; results are gathered here as in a local run',
  ).argParser((v: string) => {
    try {
      parseQueueUrl(v);
    } catch (e) {
      throw new CliError(`--queue: ${(e as Error).message}`);
    }
    return v;
  });
}
