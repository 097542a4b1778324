/**
 * The builder behind `cmcrd deploy web --model <model-dir> --out <dir> [--engine ort|tfjs] [--force]`: a static PWA: the page and
 * a Web Worker bundled with esbuild from web/ (the .ts sources in a checkout, their compiled .js in dist/ when
 * installed; the worker does decoding, features and inference: onnxruntime-web for `ort`, a tfjs GraphModel on
 * tfjs's wasm backend for `tfjs`, never both), the model files that engine loads, the engine's SIMD wasm, a manifest with PNG icons drawn here, and a service worker that caches the whole build
 * so the app works offline after its first load. Written to a temporary folder and moved into place; an existing
 * non-empty --out is replaced only with --force.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { cardFromMetadata } from '../../../runtime/card/schema.js';
import { parseModelCard } from '../../../runtime/model-card.js';
import { TOOLKIT_VERSION } from '../../version.js';
import { CliError } from '../errors.js';
import { checkLiveSmoothing } from '../../../runtime/smoothing-guard.js';
import { prepareOutDir } from '../paths.js';
import { drawIcon, encodePng } from './deploy-icons.js';

const require = createRequire(import.meta.url);

export const WEB_ENGINES = ['ort', 'tfjs'] as const;
export type WebEngine = (typeof WEB_ENGINES)[number];

/** app.json: the same shape as AppConfig in web/protocol.ts (src/ does not import web/; the browser tests check both ends). */
interface AppJson {
  format: 'cmcrd-web-app';
  version: 1;
  engine: WebEngine;
  title: string;
  toolkit: string;
  model: { url: string; variant: string; bytes: number };
  wasm: { url: string; bytes: number };
  demo: { uri: string; segmentSec: number; prerollSec: number };
}

export interface WebFile {
  path: string;
  bytes: number;
  gzipBytes: number;
  /** Fetched (and cached by the service worker) on the first load; false: only when needed. */
  firstLoad: boolean;
}

export interface WebBuild {
  out: string;
  engine: WebEngine;
  variant: string;
  files: WebFile[];
  firstLoad: { bytes: number; gzipBytes: number };
  notes: string[];
}

export interface WebBuildOptions {
  model: string;
  out: string;
  engine: WebEngine;
  force?: boolean;
}

/**
 * Where the web app's sources are, in the form this module itself runs as: web/**.ts under the package root in a
 * checkout (tsx, vitest), web/**.js under dist/ in an installed package (compiled by tsconfig.build.json; the static
 * files copied by scripts/build/web-static.mjs). Both sit three folders above src/cli/commands/.
 */
function webSources(): { root: string; ext: string } {
  const self = fileURLToPath(import.meta.url);
  const ext = extname(self);
  const root = resolve(dirname(self), '..', '..', '..');
  for (const f of [join('web', 'app', `main${ext}`), join('web', 'static', 'index.html')])
    if (!existsSync(join(root, f)))
      throw new CliError(
        `${join(root, f)} is missing: this installation of cmcrd-edge is incomplete (reinstall it, or npm run build in a checkout)`,
      );
  return { root, ext };
}

/**
 * The folder of an installed package, looked up the way Node resolves a bare import from this module (its
 * node_modules search paths), since the package's "exports" may not expose package.json or its wasm files.
 */
function packageDir(name: string): string | null {
  for (const p of require.resolve.paths(name) ?? []) if (existsSync(join(p, name, 'package.json'))) return join(p, name);
  return null;
}

/** The packages the app for `engine` bundles, besides the toolkit's own dependencies; a clear error naming the missing ones. */
function enginePackages(engine: WebEngine): Map<string, string> {
  const needed =
    engine === 'ort' ? ['onnxruntime-web'] : ['@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-backend-wasm'];
  const found = new Map(needed.map((n) => [n, packageDir(n)] as const));
  const missing = needed.filter((n) => found.get(n) === null);
  if (missing.length)
    throw new CliError(
      `--engine ${engine} needs ${missing.join(' and ')}, which ${missing.length > 1 ? 'are' : 'is'} not installed (an optional peer dependency of cmcrd-edge): npm install ${missing.join(' ')}`,
    );
  return found as Map<string, string>;
}

interface ModelDirCard {
  format?: unknown;
  card?: unknown;
  variants?: { name: string; format: string; file: string; bytes: number }[];
  runtimes?: { runtime: string; load: string }[];
}

function readModelDir(dir: string): ModelDirCard {
  const cardPath = join(dir, 'card.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CliError(`--model ${dir}: no such folder (a model directory from cmcrd export <checkpoint> --out <dir>)`);
  if (!existsSync(cardPath))
    throw new CliError(`--model ${dir}: no card.json; not a model directory (make one with cmcrd export <checkpoint> --out <dir>)`);
  let j: ModelDirCard;
  try {
    j = JSON.parse(readFileSync(cardPath, 'utf8')) as ModelDirCard;
  } catch (e) {
    throw new CliError(`${cardPath}: not JSON (${(e as Error).message})`);
  }
  if (j?.format !== 'cmcrd-model-dir')
    throw new CliError(`${cardPath}: format is ${JSON.stringify(j?.format)}, expected "cmcrd-model-dir"`);
  if (!j.card || typeof j.card !== 'object') throw new CliError(`${cardPath}: no "card" object`);
  return j;
}

/** The ONNX file onnxruntime-web should load: the card's choice for that runtime, else fp32. */
function onnxVariant(dir: string, j: ModelDirCard): { file: string; variant: string } {
  const load = j.runtimes?.find((r) => r.runtime === 'onnxruntime-web')?.load;
  const v = j.variants?.find((x) => x.name === load && x.format === 'onnx') ?? j.variants?.find((x) => x.name === 'fp32');
  const file = v?.file ?? 'model.onnx';
  if (!existsSync(join(dir, file))) throw new CliError(`--model ${dir}: ${file} is missing`);
  return { file, variant: v?.name ?? 'fp32' };
}

/** The virtual headband the demo uses: the device the model was trained for. */
function demoUri(card: { montage: { device: string; sites: string[] } | null; channels: string[] }): string {
  const device = card.montage?.device ?? 'open-eeg';
  const sites = card.montage?.sites ?? card.channels;
  const common = 'battery=80&drain=30';
  if (device === 'muse' || device === 'muse-athena') return `sim:${device}?${common}`;
  return `sim:${device === 'ganglion' ? 'ganglion' : 'open-eeg'}?sites=${sites.join(',')}&${common}`;
}

/** Files in `dir`, recursively, as paths relative to it with '/' separators. */
function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .flatMap((n) =>
      statSync(join(dir, n)).isDirectory() ? listFiles(join(dir, n), base) : [relative(base, join(dir, n)).split(sep).join('/')],
    )
    .sort();
}

export async function buildWebApp(o: WebBuildOptions): Promise<WebBuild> {
  const modelDir = resolve(o.model);
  const out = resolve(o.out);
  const j = readModelDir(modelDir);
  if (out === modelDir || modelDir.startsWith(out + sep) || out.startsWith(modelDir + sep))
    throw new CliError(`--out ${o.out} overlaps --model ${o.model}: choose a separate folder`);
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0) && !o.force)
    throw new CliError(`--out ${o.out} exists and is not empty (use --force to replace it)`);
  // Its parent folder is made (one level at a time: mkdirSync(recursive) never returns for /proc/nope/x) and checked now.
  prepareOutDir(dirname(out), '--out', { reuse: true });

  const { root, ext } = webSources();
  const pkgs = enginePackages(o.engine);

  // The card, validated by the runtime's own schema (the device's contract).
  let card;
  try {
    card = cardFromMetadata(new Map(Object.entries(j.card as Record<string, string>)), join(o.model, 'card.json'));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (card.modality !== 'eeg')
    throw new CliError(
      `${join(o.model, 'card.json')}: the model reads ${card.modality} features; the web app runs EEG models on a headband`,
    );
  // The phone computes features live: a smoothing that needs the whole trial cannot be reproduced there (as in run).
  try {
    checkLiveSmoothing(card, { allowOffline: false });
  } catch (e) {
    // The run's escape hatch (--allow-offline-smoothing) does not exist here: the app has no stand-in to announce it.
    throw new CliError(
      `${join(o.model, 'card.json')}: ${(e as Error).message.replace(/ To run this model anyway, add --allow-offline-smoothing\.?$/, '')}`,
    );
  }

  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new CliError(
      `esbuild, which bundles the web app, could not be loaded (${(e as Error).message.split('\n')[0]}): reinstall cmcrd-edge (esbuild is one of its dependencies)`,
    );
  }

  const notes: string[] = [];
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'model'), { recursive: true });
  mkdirSync(join(tmp, 'wasm'), { recursive: true });
  mkdirSync(join(tmp, 'icons'), { recursive: true });
  const lazy = new Set<string>(); // files not fetched on the first load
  try {
    // Model files for the engine.
    let model: AppJson['model'];
    let wasm: AppJson['wasm'];
    if (o.engine === 'ort') {
      const v = onnxVariant(modelDir, j);
      const bytes = readFileSync(join(modelDir, v.file));
      try {
        parseModelCard(new Uint8Array(bytes), join(o.model, v.file));
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      writeFileSync(join(tmp, 'model', v.file), bytes);
      model = { url: `model/${v.file}`, variant: v.variant, bytes: bytes.length };
      const w = join(pkgs.get('onnxruntime-web')!, 'dist', 'ort-wasm-simd-threaded.wasm');
      if (!existsSync(w)) throw new CliError(`${w} is missing: reinstall onnxruntime-web`);
      copyFileSync(w, join(tmp, 'wasm', 'ort-wasm-simd-threaded.wasm'));
      wasm = { url: 'wasm/ort-wasm-simd-threaded.wasm', bytes: statSync(w).size };
    } else {
      const mj = join(modelDir, 'tfjs', 'model.json');
      if (!existsSync(mj))
        throw new CliError(
          `--engine tfjs needs the model's tfjs GraphModel, and ${o.model} has no tfjs/model.json: export it with cmcrd export <checkpoint> --out ${o.model} --tfjs --force (or use --engine ort)`,
        );
      let graph: { weightsManifest?: { paths?: string[] }[]; userDefinedMetadata?: { card?: unknown } };
      try {
        graph = JSON.parse(readFileSync(mj, 'utf8')) as typeof graph;
      } catch (e) {
        throw new CliError(`${mj}: not JSON (${(e as Error).message})`);
      }
      if (!graph.userDefinedMetadata?.card)
        throw new CliError(`${mj}: no model card (userDefinedMetadata.card); export it again with cmcrd export --tfjs`);
      mkdirSync(join(tmp, 'model', 'tfjs'));
      copyFileSync(mj, join(tmp, 'model', 'tfjs', 'model.json'));
      let bytes = statSync(mj).size;
      for (const p of (graph.weightsManifest ?? []).flatMap((g) => g.paths ?? [])) {
        if (p.includes('/') || p.includes('\\') || p.startsWith('.'))
          throw new CliError(`${mj}: weight shard path ${JSON.stringify(p)} leaves the tfjs/ folder`);
        if (!existsSync(join(modelDir, 'tfjs', p))) throw new CliError(`${mj} lists the weight shard ${p}, which is missing`);
        copyFileSync(join(modelDir, 'tfjs', p), join(tmp, 'model', 'tfjs', p));
        bytes += statSync(join(modelDir, 'tfjs', p)).size;
      }
      const variant = (j.variants ?? []).find((v) => v.format === 'tfjs')?.name ?? 'tfjs';
      model = { url: 'model/tfjs/model.json', variant, bytes };
      const dist = join(pkgs.get('@tensorflow/tfjs-backend-wasm')!, 'dist');
      for (const f of ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm'])
        if (!existsSync(join(dist, f))) throw new CliError(`${join(dist, f)} is missing: reinstall @tensorflow/tfjs-backend-wasm`);
      copyFileSync(join(dist, 'tfjs-backend-wasm-simd.wasm'), join(tmp, 'wasm', 'tfjs-backend-wasm-simd.wasm'));
      copyFileSync(join(dist, 'tfjs-backend-wasm.wasm'), join(tmp, 'wasm', 'tfjs-backend-wasm.wasm'));
      lazy.add('wasm/tfjs-backend-wasm.wasm');
      wasm = { url: 'wasm/tfjs-backend-wasm-simd.wasm', bytes: statSync(join(dist, 'tfjs-backend-wasm-simd.wasm')).size };
    }
    if (!card.montage) notes.push('the card has no montage: the model channels are taken as the headband electrode names');

    // Page and worker.
    const built = await esbuild.build({
      absWorkingDir: root,
      entryPoints: { app: join(root, 'web', 'app', `main${ext}`), worker: join(root, 'web', 'worker', `${o.engine}${ext}`) },
      outdir: tmp,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome91', 'edge91', 'safari15', 'firefox100'],
      minify: true,
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    // One engine per app: the other's package must not have slipped into the bundles.
    const foreign = o.engine === 'ort' ? /@tensorflow[\\/]/ : /onnxruntime-/;
    const leaked = Object.keys(built.metafile.inputs).filter((f) => foreign.test(f));
    if (leaked.length) throw new Error(`the ${o.engine} bundle contains the other engine: ${leaked.slice(0, 3).join(', ')}`);

    for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', 'static', f), join(tmp, f));
    const title = `Emotion (${card.arch}, ${card.classes.join(' / ')})`;
    writeFileSync(
      join(tmp, 'manifest.webmanifest'),
      JSON.stringify(
        {
          name: `cmcrd emotion — ${card.classes.join(', ')}`,
          short_name: 'Emotion',
          description: 'Emotion recognition from a BLE EEG headband, on the phone (cmcrd-edge).',
          start_url: './',
          scope: './',
          display: 'standalone',
          orientation: 'portrait',
          background_color: '#f4f6fa',
          theme_color: '#1d3557',
          icons: [
            { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
            { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
            { src: 'icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          ],
        },
        null,
        2,
      ),
    );
    for (const [name, size, maskable] of [
      ['icon-192.png', 192, false],
      ['icon-512.png', 512, false],
      ['maskable-512.png', 512, true],
    ] as const) {
      writeFileSync(join(tmp, 'icons', name), encodePng(size, size, drawIcon(size, maskable)));
    }
    const app: AppJson = {
      format: 'cmcrd-web-app',
      version: 1,
      engine: o.engine,
      title,
      toolkit: `cmcrd-edge ${TOOLKIT_VERSION}`,
      model,
      wasm,
      demo: { uri: demoUri(card), segmentSec: 20, prerollSec: card.window_s },
    };
    writeFileSync(join(tmp, 'app.json'), JSON.stringify(app, null, 2));

    // The service worker last: it precaches every file above, under a cache name that changes with their contents.
    const precache = listFiles(tmp).filter((f) => !lazy.has(f));
    const hash = createHash('sha256');
    for (const f of precache) hash.update(f).update(readFileSync(join(tmp, f)));
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: [join(root, 'web', `sw${ext}`)],
      outfile: join(tmp, 'sw.js'),
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: ['chrome91', 'safari15'],
      minify: true,
      logLevel: 'silent',
      define: {
        __PRECACHE__: JSON.stringify(['./', ...precache.filter((f) => f !== 'index.html'), 'index.html']),
        __CACHE_NAME__: JSON.stringify(`cmcrd-web-${hash.digest('hex').slice(0, 12)}`),
      },
    });

    const files: WebFile[] = listFiles(tmp).map((f) => {
      const b = readFileSync(join(tmp, f));
      return { path: f, bytes: b.length, gzipBytes: gzipSync(b, { level: 9 }).length, firstLoad: !lazy.has(f) };
    });
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    mkdirSync(dirname(out), { recursive: true });
    renameSync(tmp, out);
    const first = files.filter((f) => f.firstLoad);
    return {
      out,
      engine: o.engine,
      variant: model.variant,
      files,
      firstLoad: { bytes: first.reduce((a, f) => a + f.bytes, 0), gzipBytes: first.reduce((a, f) => a + f.gzipBytes, 0) },
      notes,
    };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
