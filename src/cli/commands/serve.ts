/**
 * `cmcrd serve <dir> [--host 127.0.0.1] [--port N] [--https]`: a static server for a built web app (`cmcrd deploy
 * web`), with the MIME types browsers insist on (application/wasm for streaming compilation, JavaScript for module
 * workers and the service worker, application/manifest+json), revalidation by ETag, gzip for text and wasm, and
 * paths confined to <dir>. Web Bluetooth needs a secure context: http://localhost is one, a phone on the LAN needs
 * https — `--https` makes a self-signed certificate with openssl for the machine's addresses. Ctrl-C stops it.
 *
 * node:http rather than a package: the app is a handful of static files and the rules above are all it needs.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { intOption } from '../options.js';

const gzipAsync = promisify(gzip);

export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};
/** Worth compressing (PNG is compressed already). */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.webmanifest', '.wasm', '.svg', '.txt', '.onnx', '.bin']);

export interface ServeOptions {
  dir: string;
  host?: string;
  /** 0: any free port. */
  port?: number;
  https?: boolean;
  /** Called once per request: method, path, status. */
  onRequest?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  /** Every URL it answers on (the LAN addresses when listening on all interfaces). */
  urls: string[];
  server: Server;
  close(): Promise<void>;
}

interface Cached {
  mtimeMs: number;
  size: number;
  etag: string;
  gzip?: Buffer;
}

/** Addresses of this machine a phone may reach (IPv4, not internal). */
export function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a): a is NonNullable<typeof a> => !!a && a.family === 'IPv4' && !a.internal)
    .map((a) => a.address);
}

/**
 * A self-signed certificate for `hosts` (IP addresses and names) from openssl, valid 30 days. Throws a CliError
 * when openssl is not installed.
 */
export function selfSignedCertificate(hosts: readonly string[]): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'cmcrd-cert-'));
  try {
    const san = [...new Set(['localhost', '127.0.0.1', ...hosts])].map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '30',
        '-subj',
        '/CN=cmcrd serve',
        '-addext',
        `subjectAltName=${san}`,
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    );
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(
        '--https makes a self-signed certificate with openssl, which is not installed (Debian/Ubuntu: apt-get install openssl); or serve over http and open the app on http://localhost',
      );
    }
    if (r.status !== 0) throw new CliError(`--https: openssl could not make a certificate: ${(r.stderr || r.error?.message || '').trim()}`);
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The file under `root` a URL path names, or null when it leaves the root or does not exist. */
export function resolveRequestPath(root: string, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath.split('?')[0]!.split('#')[0]!);
  } catch {
    return null;
  }
  if (p.includes('\0')) return null;
  const full = resolve(root, '.' + normalize('/' + p));
  if (full !== root && !full.startsWith(root + sep)) return null;
  try {
    const st = statSync(full);
    if (st.isDirectory()) {
      const index = join(full, 'index.html');
      return existsSync(index) ? index : null;
    }
    return st.isFile() ? full : null;
  } catch {
    return null;
  }
}

export async function startStaticServer(o: ServeOptions): Promise<RunningServer> {
  const root = resolve(o.dir);
  const host = o.host ?? '127.0.0.1';
  const cache = new Map<string, Cached>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const path = req.url ?? '/';
      const done = (status: number) => o.onRequest?.(`${req.method} ${path} ${status}`);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
        return done(405);
      }
      const file = resolveRequestPath(root, path);
      if (!file) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
        return done(404);
      }
      const st = statSync(file);
      let c = cache.get(file);
      if (!c || c.mtimeMs !== st.mtimeMs || c.size !== st.size) {
        c = {
          mtimeMs: st.mtimeMs,
          size: st.size,
          etag: `"${createHash('sha1').update(`${file}:${st.size}:${st.mtimeMs}`).digest('hex').slice(0, 20)}"`,
        };
        cache.set(file, c);
      }
      const ext = extname(file).toLowerCase();
      const headers: Record<string, string> = {
        'Content-Type': MIME_TYPES[ext] ?? 'application/octet-stream',
        // Revalidate every time (cheap with the ETag): the service worker does the offline caching, and a rebuilt
        // app must reach the browser at once.
        'Cache-Control': 'no-cache',
        ETag: c.etag,
        'X-Content-Type-Options': 'nosniff',
        Vary: 'Accept-Encoding',
      };
      // A service worker controls its own folder and below; say so explicitly for the app's sw.js.
      if (/(^|\/)sw\.js$/.test(file.split(sep).join('/')))
        headers['Service-Worker-Allowed'] =
          '/' +
          file
            .slice(root.length + 1)
            .split(sep)
            .slice(0, -1)
            .map((s) => s + '/')
            .join('');
      if (req.headers['if-none-match'] === c.etag) {
        res.writeHead(304, headers).end();
        return done(304);
      }
      let body: Buffer = readFileSync(file);
      if (COMPRESSIBLE.has(ext) && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && body.length > 1024) {
        c.gzip ??= await gzipAsync(body, { level: 6 });
        body = c.gzip;
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = String(body.length);
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
      done(200);
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    });
  };

  const any = host === '0.0.0.0' || host === '::';
  const server: Server = o.https
    ? createHttpsServer(selfSignedCertificate(any ? lanAddresses() : [host]), handler)
    : createHttpServer(handler);
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'EADDRINUSE'
          ? new CliError(`--port ${o.port}: already in use on ${host} (choose another, or --port 0 for any free port)`)
          : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND'
            ? new CliError(`--host ${host}: not an address of this machine`)
            : e.code === 'EACCES'
              ? new CliError(`--port ${o.port}: not allowed for this user (ports below 1024 need privileges)`)
              : e,
      ),
    );
    server.listen(o.port ?? 8080, host, () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = o.https ? 'https' : 'http';
  const hostUrl = (h: string) => `${scheme}://${h.includes(':') ? `[${h}]` : h}:${port}/`;
  const urls = any ? ['localhost', ...lanAddresses()].map(hostUrl) : [hostUrl(host)];
  return {
    url: urls[0]!,
    urls,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a built web app (cmcrd deploy web) over http, or https for phones on the LAN')
    .argument('<dir>', 'the folder `cmcrd deploy web --out` wrote')
    .option('--host <address>', 'address to listen on (0.0.0.0: every interface, for a phone on the LAN)', '127.0.0.1')
    .addOption(intOption('--port <n>', 'port (0: any free port)', 0).default(8080))
    .option('--https', 'serve over https with a fresh self-signed certificate (phones need https for Web Bluetooth)')
    .option('--quiet', 'do not log requests')
    .action(async (dir: string, o: { host: string; port: number; https?: boolean; quiet?: boolean }) => {
      let st;
      try {
        st = statSync(dir);
      } catch {
        throw new CliError(`${dir}: no such folder`);
      }
      if (!st.isDirectory()) throw new CliError(`${dir}: not a folder`);
      if (!existsSync(join(dir, 'index.html')))
        throw new CliError(`${dir}: no index.html (build the app with cmcrd deploy web --out ${dir})`);
      const s = await startStaticServer({
        dir,
        host: o.host,
        port: o.port,
        https: !!o.https,
        ...(o.quiet ? {} : { onRequest: (l: string) => process.stderr.write(`${l}\n`) }),
      });
      const out = (l: string) => process.stdout.write(l + '\n');
      out(`serving ${resolve(dir)} on ${s.urls.join(' , ')}`);
      if (o.https)
        out(
          'the certificate is self-signed: the browser warns once; accept it to continue (a service worker, i.e. offline use, needs the certificate trusted: install it on the phone, or use http://localhost through `adb reverse tcp:PORT tcp:PORT`)',
        );
      else if (o.host !== '127.0.0.1' && o.host !== 'localhost')
        out('plain http: Web Bluetooth and offline use work on http://localhost only; a phone on the LAN needs --https');
      out('Ctrl-C stops the server');
      await new Promise<void>((ok) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void s.close().then(ok);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      out('stopped');
    });
}
