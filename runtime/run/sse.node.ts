/**
 * `cmcrd run --serve [host:]port`: the run's events as Server-Sent Events on GET /events (each event's `type` is
 * the SSE event name, its JSON the data), and GET /health (the run's state as JSON: 200 while it runs, 503 once it
 * has stopped). Bound to 127.0.0.1 unless another host is named. A slow client does not hold the run back: while
 * its socket is full, events to it are dropped and counted (a comment tells it how many).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatEventLine, type RunEvent } from './events.js';
import type { EventHub } from './hub.js';
import type { RunStatus } from './supervisor.js';

export interface ServeTarget {
  hub: EventHub;
  status(): RunStatus;
}

export interface ServeSpec {
  host: string;
  port: number;
}

/** "8787", ":8787", "127.0.0.1:8787", "[::1]:8787", "localhost:0" → host and port (default host 127.0.0.1). */
export function parseServeSpec(s: string): ServeSpec {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*))?:?(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new RangeError(`expected [host:]port (e.g. 127.0.0.1:8787), got ${JSON.stringify(s)}`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface EventServer {
  /** e.g. http://127.0.0.1:8787 */
  readonly url: string;
  readonly port: number;
  /** Events dropped for slow clients so far. */
  readonly dropped: number;
  close(): Promise<void>;
}

interface Client {
  res: ServerResponse;
  full: boolean;
  dropped: number;
}

export async function serveRunEvents(target: ServeTarget, spec: ServeSpec): Promise<EventServer> {
  const clients = new Set<Client>();
  let seq = 0;
  let droppedTotal = 0;

  const send = (cl: Client, text: string) => {
    if (cl.full) {
      cl.dropped++;
      droppedTotal++;
      return;
    }
    if (!cl.res.write(text)) cl.full = true;
  };

  const unsubscribe = target.hub.subscribe((e: RunEvent) => {
    const frame = `id: ${++seq}\nevent: ${e.type}\ndata: ${formatEventLine(e)}\n\n`;
    for (const cl of clients) send(cl, frame);
    if (e.type === 'summary') for (const cl of clients) cl.res.end();
  });

  const health = (res: ServerResponse) => {
    const s = target.status();
    const status = s.state === 'stopped' ? 'stopped' : s.connected && s.state !== 'reconnecting' ? 'ok' : 'degraded';
    res.writeHead(status === 'stopped' ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ status, ...s, uptimeS: (s.now - s.startedAt) / 1000, sseClients: clients.size, sseDropped: droppedTotal }));
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ error: `method ${req.method} not allowed` }));
    }
    if (path === '/health') return health(res);
    if (path === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      if (target.hub.isEnded) return void res.end(': the run has ended\n\n');
      res.write('retry: 2000\n\n');
      const cl: Client = { res, full: false, dropped: 0 };
      res.on('drain', () => {
        cl.full = false;
        if (cl.dropped) {
          res.write(`: ${cl.dropped} events dropped while this client was slow\n\n`);
          cl.dropped = 0;
        }
      });
      const gone = () => clients.delete(cl);
      req.on('close', gone);
      res.on('error', gone);
      clients.add(cl);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found', endpoints: ['/events', '/health'] }));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port, spec.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const heartbeat = setInterval(() => {
    for (const cl of clients) send(cl, ': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    get dropped() {
      return droppedTotal;
    },
    async close() {
      clearInterval(heartbeat);
      unsubscribe();
      for (const cl of clients) cl.res.end();
      clients.clear();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
