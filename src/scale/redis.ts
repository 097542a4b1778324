/**
 * The Redis connections of the queue: ioredis clients (BullMQ 6 takes a client instance in ESM), which reconnect by
 * themselves after Redis restarts; commands issued meanwhile wait.
 */
import type { Redis } from 'ioredis';
import type { QueueTarget } from './queue-url.js';

export type { QueueTarget } from './queue-url.js';
export { parseQueueUrl } from './queue-url.js';

let RedisClass: typeof Redis | null = null;

/**
 * Load the Redis client library (once). It is loaded when a queue is used rather than with the CLI, and its absence
 * is said plainly: BullMQ 6 lists ioredis as an optional peer dependency, so an install may lack it.
 */
export async function loadRedisClient(): Promise<void> {
  if (RedisClass) return;
  try {
    RedisClass = (await import('ioredis')).Redis;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND')
      throw new Error('the Redis client library is not installed (npm install ioredis: BullMQ needs it beside it)');
    throw e;
  }
}

/**
 * A client for BullMQ: `maxRetriesPerRequest: null` (BullMQ's requirement: a blocked command waits for the
 * reconnection instead of failing) and a quick, capped reconnect so a restarted Redis is found again within ~2 s.
 */
export function redisClient(t: QueueTarget, onState?: (state: 'ready' | 'lost', detail: string) => void): Redis {
  if (!RedisClass) throw new Error('redisClient: call loadRedisClient() first');
  const r = new RedisClass({
    host: t.host,
    port: t.port,
    db: t.db,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(t.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: false,
  });
  let up = false;
  let lastError = '';
  r.on('ready', () => {
    up = true;
    onState?.('ready', t.display);
  });
  r.on('error', (e: Error) => {
    lastError = e.message;
  });
  r.on('close', () => {
    if (up) onState?.('lost', lastError || 'connection closed');
    up = false;
  });
  return r;
}

/** Wait until `r` answers PING, or fail after `ms` with a message naming the URL. */
export async function reachable(r: Redis, t: QueueTarget, ms = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      r.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`cannot reach Redis at ${t.display} within ${ms / 1000} s (is redis-server running there?)`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
