/**
 * `cmcrd deploy web` and `cmcrd serve` without a browser: what a build contains (per engine, and that neither
 * bundle carries the other engine), the icons decoded by an independent PNG reader (Python's zlib), the refusals
 * (no tfjs/ for --engine tfjs, a non-empty --out, not a model directory, overlapping folders, bad options), and the
 * server's rules (MIME types, confinement to the folder, ETag revalidation, gzip, HEAD/405, https with a
 * self-signed certificate for the right addresses, a clear error without openssl or when the port is taken).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/errors.js';
import { resolveRequestPath, selfSignedCertificate, startStaticServer } from '../../src/cli/commands/serve.js';
import { crc32, encodePng } from '../../src/cli/commands/deploy-icons.js';
import type { AppConfig } from '../../web/protocol.js';
import { runCli } from '../cli-harness.js';
import { makeModelDir } from './helpers.js';

let tmp: string;
let modelDir: string;
let onnxOnly: string;
let offline: string;
const app: Record<'ort' | 'tfjs', string> = { ort: '', tfjs: '' };
const json: Record<
  'ort' | 'tfjs',
  { files: { path: string; bytes: number; gzipBytes: number; firstLoad: boolean }[]; firstLoad: { bytes: number; gzipBytes: number } }
> = {} as never;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cmcrd-deploy-'));
  modelDir = await makeModelDir(tmp);
  onnxOnly = await makeModelDir(tmp, { tfjs: false });
  offline = await makeModelDir(tmp, { tfjs: false, smoothing: 'lds' });
  for (const engine of ['ort', 'tfjs'] as const) {
    app[engine] = join(tmp, `app-${engine}`);
    const r = await runCli('deploy', 'web', '--model', modelDir, '--out', app[engine], '--engine', engine, '--json');
    expect(r.code, r.err).toBe(0);
    json[engine] = JSON.parse(r.out) as (typeof json)[typeof engine];
  }
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const read = (engine: 'ort' | 'tfjs', f: string) => readFileSync(join(app[engine], f));

describe('cmcrd deploy web', () => {
  it('builds the app per engine: shell, model files, one wasm, a service worker precaching them', () => {
    const common = [
      'app.js',
      'app.json',
      'icons/icon-192.png',
      'icons/icon-512.png',
      'icons/maskable-512.png',
      'index.html',
      'manifest.webmanifest',
      'style.css',
      'sw.js',
      'worker.js',
    ];
    expect(json.ort.files.map((f) => f.path).sort()).toEqual([...common, 'model/model.onnx', 'wasm/ort-wasm-simd-threaded.wasm'].sort());
    expect(json.tfjs.files.map((f) => f.path).sort()).toEqual(
      [
        ...common,
        'model/tfjs/group1-shard1of1.bin',
        'model/tfjs/model.json',
        'wasm/tfjs-backend-wasm-simd.wasm',
        'wasm/tfjs-backend-wasm.wasm',
      ].sort(),
    );
    // The files are the model directory's and the packages' own bytes.
    expect(read('ort', 'model/model.onnx').equals(readFileSync(join(modelDir, 'model.onnx')))).toBe(true);
    expect(read('tfjs', 'model/tfjs/group1-shard1of1.bin').equals(readFileSync(join(modelDir, 'tfjs/group1-shard1of1.bin')))).toBe(true);
    expect(
      read('ort', 'wasm/ort-wasm-simd-threaded.wasm').equals(readFileSync('node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm')),
    ).toBe(true);
    const cfg = (e: 'ort' | 'tfjs') => JSON.parse(read(e, 'app.json').toString()) as AppConfig;
    expect(cfg('ort')).toMatchObject({
      format: 'cmcrd-web-app',
      engine: 'ort',
      model: { url: 'model/model.onnx', variant: 'fp32' },
      wasm: { url: 'wasm/ort-wasm-simd-threaded.wasm' },
      demo: { uri: 'sim:muse?battery=80&drain=30', prerollSec: 4 },
    });
    expect(cfg('tfjs')).toMatchObject({
      engine: 'tfjs',
      model: { url: 'model/tfjs/model.json', variant: 'tfjs-float32' },
      wasm: { url: 'wasm/tfjs-backend-wasm-simd.wasm' },
    });
    // Sizes reported are the files' sizes; the first load leaves out only the non-SIMD fallback.
    for (const e of ['ort', 'tfjs'] as const) for (const f of json[e].files) expect(f.bytes, f.path).toBe(read(e, f.path).length);
    expect(json.tfjs.files.filter((f) => !f.firstLoad).map((f) => f.path)).toEqual(['wasm/tfjs-backend-wasm.wasm']);
    expect(json.tfjs.firstLoad.gzipBytes).toBeLessThan(json.ort.firstLoad.gzipBytes / 4);
    // The service worker precaches exactly the first-load files (and the folder URL), under a content-hashed name.
    for (const e of ['ort', 'tfjs'] as const) {
      const sw = read(e, 'sw.js').toString();
      const list = JSON.parse(/(\["\.\/",[^\]]*\])/.exec(sw)![1]!) as string[];
      expect(list.sort()).toEqual(['./', ...json[e].files.filter((f) => f.firstLoad && f.path !== 'sw.js').map((f) => f.path)].sort());
      expect(sw).toMatch(/"cmcrd-web-[0-9a-f]{12}"/);
    }
  });

  it('keeps each engine out of the other bundle', () => {
    const ort = read('ort', 'worker.js').toString();
    const tfjs = read('tfjs', 'worker.js').toString();
    expect(ort).toContain('ort-wasm-simd-threaded');
    expect(tfjs).toContain('tfjs-backend-wasm-simd.wasm');
    for (const marker of ['WASM_HAS_MULTITHREAD_SUPPORT', 'tfjs-backend-wasm', 'GraphModel']) expect(ort, marker).not.toContain(marker);
    for (const marker of ['ort-wasm-simd-threaded.mjs', 'InferenceSession', 'onnxruntime']) expect(tfjs, marker).not.toContain(marker);
    // The page script has neither (inference is in the worker).
    const page = read('ort', 'app.js').toString();
    for (const marker of ['InferenceSession', 'GraphModel', 'WASM_HAS_SIMD_SUPPORT']) expect(page, marker).not.toContain(marker);
  });

  it('draws valid PNG icons (read back by Python zlib): sizes, colours, transparent corners except the maskable one', () => {
    const script = `
import sys, struct, zlib, json
out = []
for f in sys.argv[1:]:
    b = open(f, 'rb').read()
    assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
    i, idat, ihdr = 8, b'', None
    while i < len(b):
        n, t = struct.unpack('>I4s', b[i:i+8]); d = b[i+8:i+8+n]
        assert zlib.crc32(t + d) == struct.unpack('>I', b[i+8+n:i+12+n])[0], 'crc'
        if t == b'IHDR': ihdr = struct.unpack('>IIBBBBB', d)
        if t == b'IDAT': idat += d
        i += 12 + n
    w, h, depth, ctype = ihdr[:4]
    raw = zlib.decompress(idat); stride = 1 + w * 4
    px = lambda x, y: list(raw[y*stride+1+x*4 : y*stride+1+x*4+4])
    assert all(raw[y*stride] == 0 for y in range(h))
    out.append({'w': w, 'h': h, 'depth': depth, 'ctype': ctype, 'corner': px(0, 0), 'bg': px(w//2, int(h*0.9)), 'band': px(w//2, int(h*0.29))})
print(json.dumps(out))`;
    const files = ['icon-192.png', 'icon-512.png', 'maskable-512.png'].map((f) => join(app.ort, 'icons', f));
    const py = spawnSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8' });
    expect(py.stderr).toBe('');
    const [a, b, m] = JSON.parse(py.stdout) as {
      w: number;
      h: number;
      depth: number;
      ctype: number;
      corner: number[];
      bg: number[];
      band: number[];
    }[];
    expect([a!.w, a!.h, b!.w, m!.w]).toEqual([192, 192, 512, 512]);
    for (const i of [a!, b!, m!]) {
      expect([i.depth, i.ctype]).toEqual([8, 6]);
      expect(i.bg).toEqual([0x1d, 0x35, 0x57, 255]);
    }
    expect(a!.corner[3]).toBe(0);
    expect(b!.corner[3]).toBe(0);
    expect(m!.corner).toEqual([0x1d, 0x35, 0x57, 255]); // maskable: full bleed
    expect(b!.band).toEqual([0xf4, 0xf6, 0xfa, 255]); // the headband's arc crosses the middle column
    // The encoder's CRC is the standard one (zlib's check value), and a wrong buffer size is refused.
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(() => encodePng(2, 2, new Uint8Array(15))).toThrow(/15 bytes for 2×2 RGBA/);
  });

  it('refuses what it cannot build, naming the file or option, and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--model', onnxOnly, '--out', join(tmp, 'x1'), '--engine', 'tfjs'],
        /--engine tfjs needs the model's tfjs GraphModel, and .*model-onnx-only has no tfjs\/model\.json: export it with cmcrd export <checkpoint> --out .*model-onnx-only --tfjs/,
      ],
      [['--model', join(tmp, 'nowhere'), '--out', join(tmp, 'x2')], /--model .*nowhere: no such folder/],
      [['--model', tmp, '--out', join(tmp, 'x3')], /--model .*: no card\.json; not a model directory/],
      [['--model', modelDir, '--out', app.ort], /--out .*app-ort exists and is not empty \(use --force to replace it\)/],
      [['--model', modelDir, '--out', join(modelDir, 'app')], /--out .* overlaps --model/],
      [['--model', modelDir, '--out', join(tmp, 'x4'), '--engine', 'webgpu'], /--engine must be one of ort, tfjs, got "webgpu"/],
      [['--out', join(tmp, 'x5')], /required option '--model <dir>' not specified/],
      // SEED's offline LDS needs the whole trial: a phone computing features live cannot reproduce it.
      [['--model', offline, '--out', join(tmp, 'x6')], /card\.json: .*smoothing "lds".*whole trial[\s\S]*cmcrd train/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli('deploy', 'web', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(msg);
    }
    for (const x of ['x1', 'x2', 'x3', 'x4', 'x5']) expect(existsSync(join(tmp, x))).toBe(false);
    expect(existsSync(join(modelDir, 'app'))).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // A card.json that is not a model card.
    const bad = join(tmp, 'bad-model');
    mkdirSync(bad);
    writeFileSync(join(bad, 'card.json'), JSON.stringify({ format: 'cmcrd-model-dir', card: { 'cmcrd.card_version': '1' } }));
    const r = await runCli('deploy', 'web', '--model', bad, '--out', join(tmp, 'x6'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad-model\/card\.json/);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    // --force replaces a build.
    const again = await runCli('deploy', 'web', '--model', modelDir, '--out', app.ort, '--force');
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/first load: .* MB \(.* MB gzip\)/);
  });
});

/** A request to the server (fetch undoes gzip: `raw` is the file's bytes). */
async function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(url, { method, headers });
  const raw = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, raw };
}

describe('cmcrd serve', () => {
  it('serves the app with the right MIME types, revalidation, gzip and nothing outside the folder', async () => {
    const s = await startStaticServer({ dir: app.ort, port: 0 });
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const types: [string, string][] = [
        ['', 'text/html; charset=utf-8'],
        ['app.js', 'text/javascript; charset=utf-8'],
        ['sw.js', 'text/javascript; charset=utf-8'],
        ['style.css', 'text/css; charset=utf-8'],
        ['app.json', 'application/json; charset=utf-8'],
        ['manifest.webmanifest', 'application/manifest+json; charset=utf-8'],
        ['wasm/ort-wasm-simd-threaded.wasm', 'application/wasm'],
        ['icons/icon-192.png', 'image/png'],
        ['model/model.onnx', 'application/octet-stream'],
      ];
      for (const [p, type] of types) {
        const r = await get(s.url + p);
        expect(r.status, p).toBe(200);
        expect(r.headers.get('content-type'), p).toBe(type);
        expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      }
      expect((await get(s.url + 'sw.js')).headers.get('service-worker-allowed')).toBe('/');
      // fetch() asks for gzip and undoes it: the body is the file either way; the wasm travels compressed.
      const wasm = await fetch(s.url + 'wasm/ort-wasm-simd-threaded.wasm');
      expect(wasm.headers.get('content-encoding')).toBe('gzip');
      expect(Buffer.from(await wasm.arrayBuffer()).equals(read('ort', 'wasm/ort-wasm-simd-threaded.wasm'))).toBe(true);
      const png = await get(s.url + 'icons/icon-512.png');
      expect(png.headers.get('content-encoding')).toBeNull();
      // Revalidation by ETag.
      const etag = (await get(s.url + 'app.js')).headers.get('etag')!;
      expect((await get(s.url + 'app.js', { 'If-None-Match': etag })).status).toBe(304);
      expect((await get(s.url + 'app.js', { 'If-None-Match': '"other"' })).status).toBe(200);
      // HEAD, other methods, missing files, and paths that leave the folder.
      const head = await get(s.url + 'app.json', {}, 'HEAD');
      expect([head.status, head.raw.length]).toEqual([200, 0]);
      expect((await get(s.url + 'app.json', {}, 'POST')).status).toBe(405);
      expect((await get(s.url + 'nope.js')).status).toBe(404);
      for (const p of ['../card.json', '..%2fcard.json', '%2e%2e/%2e%2e/etc/passwd', 'model/../../model/card.json', '%00'])
        expect((await get(s.url + p)).status, p).toBe(404);
      expect(resolveRequestPath(app.ort, '/../../etc/passwd')).toBeNull();
      expect(resolveRequestPath(app.ort, '/icons/')).toBeNull(); // a folder without index.html
      expect(resolveRequestPath(app.ort, '/?demo=sim:muse')).toBe(join(app.ort, 'index.html'));
      // The port is taken: named.
      const port = Number(new URL(s.url).port);
      await expect(startStaticServer({ dir: app.ort, port })).rejects.toThrow(
        new CliError(`--port ${port}: already in use on 127.0.0.1 (choose another, or --port 0 for any free port)`),
      );
    } finally {
      await s.close();
    }
  });

  it('--https: a self-signed certificate for localhost and the address served', async () => {
    const s = await startStaticServer({ dir: app.tfjs, port: 0, https: true });
    try {
      expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
      const { status, type, san } = await new Promise<{ status: number; type: string; san: string }>((ok, fail) => {
        const req = httpsRequest(s.url + 'wasm/tfjs-backend-wasm-simd.wasm', { rejectUnauthorized: false }, (res) => {
          const cert = (res.socket as TLSSocket).getPeerCertificate();
          res.resume();
          res.on('end', () => ok({ status: res.statusCode!, type: String(res.headers['content-type']), san: cert.subjectaltname ?? '' }));
        });
        req.on('error', fail);
        req.end();
      });
      expect(status).toBe(200);
      expect(type).toBe('application/wasm');
      expect(san).toContain('DNS:localhost');
      expect(san).toContain('IP Address:127.0.0.1');
    } finally {
      await s.close();
    }
    // Without openssl on the PATH: a clear error instead.
    const path = process.env.PATH;
    process.env.PATH = join(tmp, 'empty-path');
    try {
      expect(() => selfSignedCertificate(['127.0.0.1'])).toThrow(
        /--https makes a self-signed certificate with openssl, which is not installed/,
      );
    } finally {
      process.env.PATH = path;
    }
  });

  it('refuses a folder that is not a built app', async () => {
    for (const [dir, msg] of [
      [join(tmp, 'nowhere'), /nowhere: no such folder/],
      [modelDir, /no index\.html \(build the app with cmcrd deploy web --out/],
      [join(modelDir, 'card.json'), /card\.json: not a folder/],
    ] as const) {
      const r = await runCli('serve', dir, '--port', '0');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
    }
    const r = await runCli('serve', app.ort, '--port', '-1');
    expect(r.err).toMatch(/--port must be an integer ≥ 0, got "-1"/);
  });
});
