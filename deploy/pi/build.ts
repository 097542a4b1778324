/**
 * `cmcrd deploy pi`'s builder: a self-contained folder that turns a Raspberry Pi into a headband host:
 *   main.js            the runtime bundled with esbuild (bundle.ts), options baked in (argv.ts)
 *   model/             the model directory, copied
 *   calibration.json   the user's calibration (--calibration)
 *   package.json, package-lock.json, .npmrc   only the native packages, locked against the registry here
 *   install.sh, <name>.service, README.md
 * Everything is checked first (the model loads, the calibration fits its card) and written to a folder beside
 * --out that replaces it only at the end, so a failed build leaves --out as it was; an existing non-empty --out
 * is replaced only with `force`.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseSimUri } from '../../firmware-bridge/sim/uri.js';
import { applyCalibration } from '../../runtime/run/calibration.js';
import { RunSetupError } from '../../runtime/run/device-fit.js';
import { loadRunModel } from '../../runtime/run/model-dir.node.js';
import { TOOLKIT_VERSION } from '../../src/version.js';
import type { BakedRunOptions } from './argv.js';
import { BundleError, bundleRuntime } from './bundle.js';
import { installScript } from './install-script.js';
import { bundleReadme } from './readme.js';
import { systemdUnit } from './unit.js';

export class PiDeployError extends Error {}

export interface PiBuildOptions {
  model: string;
  out: string;
  device?: string;
  calibration?: string;
  force?: boolean;
  /** systemd service name, also the system user's (default cmcrd-run). */
  name?: string;
  /** Lock the native packages against the registry (default true); false: package.json only (offline, tests). */
  lock?: boolean;
}

export interface PiBuildFile {
  path: string;
  bytes: number;
}

export interface PiBuild {
  out: string;
  name: string;
  files: PiBuildFile[];
  bytes: { mainJs: number; model: number; total: number };
  dependencies: Record<string, string>;
  /** Versions in package-lock.json, or why there is none. */
  lock: { ok: true; packages: number; resolved: Record<string, string> } | { ok: false; reason: string };
  wasmRuntime: string;
  notes: string[];
  ms: number;
}

export const DEFAULT_SERVICE = 'cmcrd-run';
/** onnxruntime-node 1.21 dies with "Illegal instruction" on a Raspberry Pi 4 (fixed in 1.22): edge.md. */
export const MIN_ORT_NODE = [1, 22] as const;

const require = createRequire(import.meta.url);

function installedVersion(pkg: string): string | null {
  try {
    const v = (require(`${pkg}/package.json`) as { version?: unknown }).version;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

export function atLeast(version: string, min: readonly [number, number]): boolean {
  const m = /^(\d+)\.(\d+)\./.exec(version);
  if (!m) return false;
  const [maj, min_] = [Number(m[1]), Number(m[2])];
  return maj > min[0] || (maj === min[0] && min_ >= min[1]);
}

/** Versions pinned in the bundle: the ones this toolkit runs with (tested together), onnxruntime-node ≥ 1.22. */
export function nativeDependencies(): { dependencies: Record<string, string>; notes: string[] } {
  const notes: string[] = [];
  const ortV = installedVersion('onnxruntime-node');
  let ort: string;
  if (ortV && atLeast(ortV, MIN_ORT_NODE)) ort = ortV;
  else {
    ort = `^${MIN_ORT_NODE.join('.')}.0`;
    notes.push(
      ortV
        ? `this toolkit runs onnxruntime-node ${ortV}, which crashes on a Pi 4; the bundle asks for ${ort}`
        : `onnxruntime-node is not installed here; the bundle asks for ${ort}`,
    );
  }
  const nobleV = installedVersion('@stoprocent/noble');
  if (!nobleV) notes.push('@stoprocent/noble is not installed here (an optional dependency); the bundle asks for ^2.8.0');
  return { dependencies: { 'onnxruntime-node': ort, '@stoprocent/noble': nobleV ?? '^2.8.0' }, notes };
}

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,30}$/;

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : e.isFile() ? statSync(p).size : 0;
  }
  return n;
}

function listFiles(dir: string, base = dir): PiBuildFile[] {
  const out: PiBuildFile[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, base));
    else if (e.isFile()) out.push({ path: relative(base, p).split(sep).join('/'), bytes: statSync(p).size });
  }
  return out;
}

const inside = (child: string, parent: string) => {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !r.startsWith(sep) && r !== '..');
};

/** `npm install --package-lock-only` in `dir` (no scripts, nothing downloaded but metadata). */
function lockAgainstRegistry(dir: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  return new Promise((res) => {
    const env = {
      ...process.env,
      ONNXRUNTIME_NODE_INSTALL: 'skip',
      ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip',
      npm_config_update_notifier: 'false',
    };
    let err = '';
    let child;
    try {
      child = spawn('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--omit=dev'], {
        cwd: dir,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (e) {
      res({ ok: false, reason: `npm could not be started (${(e as Error).message})` });
      return;
    }
    const timer = setTimeout(() => child.kill('SIGTERM'), 180_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      res({ ok: false, reason: `npm could not be started (${e.message})` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && existsSync(join(dir, 'package-lock.json'))) res({ ok: true });
      else {
        const line = err
          .split('\n')
          .map((l) => l.replace(/^npm (error|ERR!) ?/, '').trim())
          .filter(Boolean)
          .find((l) => !/^(A complete log|Log files)/.test(l));
        res({
          ok: false,
          reason: `npm install --package-lock-only ${signal ? `timed out` : `exited with ${code}`}${line ? `: ${line}` : ''}`,
        });
      }
    });
  });
}

export async function buildPiBundle(o: PiBuildOptions): Promise<PiBuild> {
  const t0 = Date.now();
  const name = o.name ?? DEFAULT_SERVICE;
  if (!SERVICE_NAME.test(name))
    throw new PiDeployError(
      `--name must be a service name of 1–31 lower-case letters, digits or -, starting with a letter, got ${JSON.stringify(name)}`,
    );
  const out = resolve(o.out);
  const modelDir = resolve(o.model);
  if (!existsSync(modelDir)) throw new PiDeployError(`--model ${o.model}: no such directory`);
  if (!statSync(modelDir).isDirectory())
    throw new PiDeployError(`--model ${o.model}: expected a model directory (cmcrd export <checkpoint> --out <dir>), got a file`);
  if (inside(out, modelDir) || inside(modelDir, out))
    throw new PiDeployError(`--out ${o.out} and --model ${o.model} overlap; write the bundle somewhere else`);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new PiDeployError(`--out ${o.out}: a file is in the way`);
    if (readdirSync(out).length && !o.force) throw new PiDeployError(`--out ${o.out} exists and is not empty; pass --force to replace it`);
  }
  if (o.device !== undefined && !o.device.trim()) throw new PiDeployError('--device is empty');
  // A simulator URI is checked here (a typo would otherwise only show in the Pi's journal); saved names and ids are
  // the Pi's allow-list's business, and a replay's capture lives on the Pi.
  if (o.device?.trim().startsWith('sim:')) {
    try {
      parseSimUri(o.device);
    } catch (e) {
      throw new PiDeployError(`--device ${o.device}: ${(e as Error).message}`);
    }
  }

  // The model must load as cmcrd run loads it, and the calibration must fit its card.
  const notes: string[] = [];
  const model = await loadRunModel(modelDir).catch((e: unknown) => {
    throw new PiDeployError(e instanceof RunSetupError || e instanceof Error ? e.message : String(e));
  });
  try {
    if (o.calibration !== undefined) {
      if (model.userCalibration === 'none')
        throw new PiDeployError(
          `${o.model}: the model card says it takes no per-user calibration (user_calibration "none"); drop --calibration`,
        );
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(o.calibration, 'utf8')) as unknown;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new PiDeployError(
          `--calibration ${o.calibration}: ${code ? `cannot read it (${code})` : `not valid JSON (${(e as Error).message})`}`,
        );
      }
      try {
        applyCalibration(json, model.card, `--calibration ${o.calibration}`);
      } catch (e) {
        throw new PiDeployError((e as Error).message);
      }
    } else if (model.userCalibration === 'required') {
      notes.push(
        `the model card asks for per-user calibration: on the Pi, record one (node main.js calibrate --out /var/lib/${name}/calib.json) and set CMCRD_CALIBRATION in /etc/default/${name}; the service will not start without it`,
      );
    }
  } finally {
    await model.dispose();
  }
  if (o.device === undefined)
    notes.push(`no --device: set CMCRD_DEVICE in /etc/default/${name} on the Pi (install.sh installs the service but starts it only then)`);
  else if (o.device.startsWith('replay:')) notes.push(`--device ${o.device}: the capture file must exist at that path on the Pi`);

  const { dependencies, notes: depNotes } = nativeDependencies();
  notes.push(...depNotes);
  const baked: BakedRunOptions = {
    model: 'model',
    toolkit: TOOLKIT_VERSION,
    ...(o.device !== undefined ? { device: o.device.trim() } : {}),
    ...(o.calibration !== undefined ? { calibration: 'calibration.json' } : {}),
  };

  const work = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    let mainJs: number;
    try {
      mainJs = (await bundleRuntime(join(work, 'main.js'), baked)).bytes;
    } catch (e) {
      throw e instanceof BundleError ? new PiDeployError(e.message) : e;
    }
    cpSync(modelDir, join(work, 'model'), { recursive: true });
    if (o.calibration !== undefined) cpSync(o.calibration, join(work, 'calibration.json'));

    const user = name;
    const packageJson = (wasmRuntime?: string) => ({
      name: `cmcrd-pi-${name}`,
      version: TOOLKIT_VERSION === 'unknown' ? '0.0.0' : TOOLKIT_VERSION,
      private: true,
      description: `cmcrd run as the ${name} service (built by cmcrd deploy pi)`,
      type: 'module',
      main: 'main.js',
      engines: { node: '>=20' },
      scripts: { start: 'node main.js' },
      dependencies,
      cmcrd: { bundle: 'pi', toolkit: TOOLKIT_VERSION, service: name, baked, ...(wasmRuntime ? { wasmRuntime } : {}) },
    });
    writeFileSync(join(work, 'package.json'), JSON.stringify(packageJson(), null, 2) + '\n');
    writeFileSync(join(work, '.npmrc'), 'fund=false\naudit=false\nupdate-notifier=false\n');

    let lock: PiBuild['lock'];
    if (o.lock === false) lock = { ok: false, reason: 'not asked for' };
    else {
      const r = await lockAgainstRegistry(work);
      if (r.ok) {
        const l = JSON.parse(readFileSync(join(work, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { version?: string }> };
        const pk = l.packages ?? {};
        const resolved: Record<string, string> = {};
        for (const d of Object.keys(dependencies)) resolved[d] = pk[`node_modules/${d}`]?.version ?? '?';
        if (!atLeast(resolved['onnxruntime-node']!, MIN_ORT_NODE))
          throw new PiDeployError(
            `the lock resolved onnxruntime-node ${resolved['onnxruntime-node']}, below ${MIN_ORT_NODE.join('.')} (1.21 crashes on a Pi 4)`,
          );
        lock = { ok: true, packages: Object.keys(pk).filter((k) => k.startsWith('node_modules/')).length, resolved };
      } else {
        lock = r;
        notes.push(`no package-lock.json (${r.reason}): install.sh will resolve the versions in package.json at install time`);
      }
    }
    const ortVersion = lock.ok ? lock.resolved['onnxruntime-node']! : dependencies['onnxruntime-node']!.replace(/^\^/, '');
    const wasmRuntime = `onnxruntime-web@${ortVersion}`;
    writeFileSync(join(work, 'package.json'), JSON.stringify(packageJson(wasmRuntime), null, 2) + '\n');

    writeFileSync(join(work, 'install.sh'), installScript({ name, user, wasmRuntime, hasDevice: o.device !== undefined }), { mode: 0o755 });
    writeFileSync(join(work, `${name}.service`), systemdUnit({ name, user }));
    const resolvedV = (d: string) => (lock.ok ? lock.resolved[d]! : dependencies[d]!);
    writeFileSync(
      join(work, 'README.md'),
      bundleReadme({
        name,
        user,
        toolkit: TOOLKIT_VERSION,
        model: basename(modelDir),
        folder: basename(out),
        onnxruntimeNode: resolvedV('onnxruntime-node'),
        noble: resolvedV('@stoprocent/noble'),
        wasmRuntime,
        ...(baked.device ? { device: baked.device } : {}),
        ...(o.calibration !== undefined ? { calibration: basename(o.calibration) } : {}),
      }),
    );

    const files = listFiles(work);
    const modelBytes = dirBytes(join(work, 'model'));
    const total = files.reduce((a, f) => a + f.bytes, 0);
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    mkdirSync(dirname(out), { recursive: true });
    renameSync(work, out);
    return { out, name, files, bytes: { mainJs, model: modelBytes, total }, dependencies, lock, wasmRuntime, notes, ms: Date.now() - t0 };
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
}
