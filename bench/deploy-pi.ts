/**
 * Pi deploy suite: what `cmcrd deploy pi` produces and what a Pi installs. The bundle (main.js, the folder before
 * install), node_modules as `npm ci` leaves it (every platform's onnxruntime-node) and after install.sh's pruning —
 * measured for this host (linux-x64 here), and for linux-arm64 (64-bit Pi OS) computed from the same unpruned tree by
 * install.sh's rules (the computed x64 figure is checked against the measured one), and for linux-arm (32-bit:
 * onnxruntime-web instead of native binaries) from a CMCRD_ORT=web install by the same rules. Also: the build and install times, and main.js's
 * start-up (which loads onnxruntime-node). Needs the npm registry.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPiBundle } from '../deploy/pi/build.js';
import { modelDir } from '../test/runtime/run/helpers.js';
import type { BenchResult, BenchSuite } from './harness.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const MB = 2 ** 20;

/** install.sh's prebuild rule: node-gyp-build folders such as linux-arm64 or darwin-x64+arm64. */
const keepPrebuild = (name: string, plat: string, arch: string) =>
  name === `${plat}-${arch}` || name.startsWith(`${plat}-${arch}+`) || (name.startsWith(`${plat}-`) && name.endsWith(`+${arch}`));
const WEB_DIST_KEPT = new Set(['ort.node.min.mjs', 'ort.node.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']);

/** Bytes of `dir` left after install.sh's pruning for plat/arch (`web`: onnxruntime-web's pruning too). */
function keptBytes(dir: string, rel: string, plat: string, arch: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(p);
    if (st.isDirectory()) {
      const parent = rel;
      if (/^onnxruntime-node\/bin\/napi-v[^/]+$/.test(parent) && name !== plat) continue;
      if (/^onnxruntime-node\/bin\/napi-v[^/]+\/[^/]+$/.test(parent) && name !== arch) continue;
      if (basename(parent) === 'prebuilds' && !keepPrebuild(name, plat, arch)) continue;
      if (/^onnxruntime-web$/.test(parent) && (name === 'lib' || name === 'docs')) continue;
      n += keptBytes(p, r, plat, arch);
    } else {
      if (dirname(r) === 'onnxruntime-web/dist' && !WEB_DIST_KEPT.has(name)) continue;
      n += st.size;
    }
  }
  return n;
}

function du(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const st = lstatSync(join(dir, name));
    n += st.isDirectory() ? du(join(dir, name)) : st.size;
  }
  return n;
}

const env = () => {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) e[k] = v;
  return { ...e, ONNXRUNTIME_NODE_INSTALL: 'skip', CMCRD_NO_SERVICE: '1' };
};

export const deployPiSuite: BenchSuite = {
  name: 'deploy-pi',
  async run(ctx) {
    const out: BenchResult[] = [];
    const work = mkdtempSync(join(tmpdir(), 'cmcrd-bench-pi-'));
    const model = await modelDir({ int8: true, card: { faster: { 'onnxruntime-node': 'int8' } } });
    const t0 = performance.now();
    const b = await buildPiBundle({ model, out: join(work, 'bundle'), device: 'sim:muse' });
    const buildMs = performance.now() - t0;
    if (!b.lock.ok) throw new Error(`the bundle could not be locked: ${b.lock.reason}`);
    ctx.log(
      `deploy-pi: bundle ${(b.bytes.total / 1e3).toFixed(0)} kB in ${(buildMs / 1000).toFixed(1)} s (lock against the registry included)`,
    );
    out.push({
      name: 'deploy-pi.build',
      value: buildMs / 1000,
      unit: 's',
      detail: { lockedPackages: b.lock.packages, ...b.lock.resolved },
    });
    out.push({ name: 'deploy-pi.bundle.main-js', value: b.bytes.mainJs / 1e3, unit: 'kB' });
    out.push({
      name: 'deploy-pi.bundle.folder',
      value: b.bytes.total / 1e3,
      unit: 'kB',
      detail: { model: b.bytes.model, files: b.files.length },
    });

    // The tree `npm ci` leaves before pruning, the same command install.sh runs.
    const full = join(work, 'full');
    cpSync(b.out, full, { recursive: true });
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: full, stdio: 'ignore', env: env() });
    const nm = join(full, 'node_modules');
    const unpruned = du(nm);
    out.push({
      name: 'deploy-pi.node_modules.unpruned',
      value: unpruned / MB,
      unit: 'MB',
      detail: { note: 'npm ci --omit=dev: onnxruntime-node ships 5 platform/architecture builds' },
    });

    // install.sh on this host, measured.
    const inst = join(work, 'installed');
    cpSync(b.out, inst, { recursive: true });
    const t1 = performance.now();
    const r = spawnSync('sh', [join(inst, 'install.sh')], { cwd: work, env: env(), encoding: 'utf8' });
    const installS = (performance.now() - t1) / 1000;
    if (r.status !== 0) throw new Error(`install.sh failed: ${r.stderr}${r.stdout}`);
    const here = `${process.platform}-${process.arch}`;
    const measured = du(join(inst, 'node_modules'));
    const computedHere = keptBytes(nm, '', process.platform, process.arch);
    out.push({
      name: 'deploy-pi.install',
      value: installS,
      unit: 's',
      detail: { note: 'npm ci from the lock + prune + start check; the npm cache may be warm' },
    });
    out.push({
      name: `deploy-pi.node_modules.pruned.${here}`,
      value: measured / MB,
      unit: 'MB',
      detail: { measured: true, computedByRulesMB: +(computedHere / MB).toFixed(2), ofUnpruned: +(measured / unpruned).toFixed(3) },
    });
    if (Math.abs(computedHere - measured) > 0.01 * measured)
      throw new Error(`the pruning rules here (${computedHere} B) disagree with install.sh (${measured} B)`);

    const arm64 = keptBytes(nm, '', 'linux', 'arm64');
    out.push({
      name: 'deploy-pi.node_modules.pruned.linux-arm64',
      value: arm64 / MB,
      unit: 'MB',
      detail: {
        measured: false,
        note: '64-bit Pi OS: computed from the unpruned tree by install.sh rules',
        ofUnpruned: +(arm64 / unpruned).toFixed(3),
      },
    });
    // 32-bit: no onnxruntime-node build fits; install.sh adds onnxruntime-web (as CMCRD_ORT=web does here) and prunes it.
    const webInst = join(work, 'web');
    cpSync(b.out, webInst, { recursive: true });
    const w = spawnSync('sh', [join(webInst, 'install.sh')], { cwd: work, env: { ...env(), CMCRD_ORT: 'web' }, encoding: 'utf8' });
    if (w.status !== 0) throw new Error(`CMCRD_ORT=web install.sh failed: ${w.stderr}${w.stdout}`);
    const arm = keptBytes(join(webInst, 'node_modules'), '', 'linux', 'arm');
    const webKept = du(join(webInst, 'node_modules', 'onnxruntime-web'));
    out.push({
      name: 'deploy-pi.node_modules.pruned.linux-arm',
      value: arm / MB,
      unit: 'MB',
      detail: {
        measured: false,
        note: '32-bit Pi OS: the CMCRD_ORT=web install of this host, pruned by install.sh rules for linux/arm (no onnxruntime-node build)',
        onnxruntimeWebPrunedMB: +(webKept / MB).toFixed(1),
        onnxruntimeWebFullMB: +(du(join(ROOT, 'node_modules', 'onnxruntime-web')) / MB).toFixed(1),
      },
    });

    // main.js start-up (loads onnxruntime-node): median of 5.
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      const v = spawnSync(process.execPath, [join(inst, 'main.js'), '--version'], { cwd: work, encoding: 'utf8' });
      times.push(performance.now() - s);
      if (v.status !== 0) throw new Error(`main.js --version failed: ${v.stderr}`);
    }
    times.sort((a, c) => a - c);
    out.push({
      name: 'deploy-pi.main-js.startup',
      value: times[2]!,
      unit: 'ms',
      detail: { note: 'node main.js --version, onnxruntime-node loaded' },
    });
    ctx.log(
      `deploy-pi: node_modules ${(unpruned / MB).toFixed(1)} MB → ${(measured / MB).toFixed(1)} MB (${here}); arm64 ${(arm64 / MB).toFixed(1)} MB, arm ${(arm / MB).toFixed(1)} MB`,
    );
    return out;
  },
};
