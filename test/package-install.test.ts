/**
 * The package as a user gets it: `npm pack` the built tree, install the tarball into an empty folder with only
 * the npm registry, import every "exports" subpath in plain Node ESM, run the installed `cmcrd` bin (export a
 * checkpoint, deploy it to a Pi folder and, once the app has onnxruntime-web, as a web app), and keep the install's
 * node_modules under a budget (README, "Installing the package").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duBytes } from '../bench/package.js';
import { serialiseCheckpoint } from '../export/checkpoint.js';
import { trainedCheckpoint } from './export/helpers.js';
import { useWasm } from './src/train/experiment/helpers.js';

const ROOT = resolve(__dirname, '..');
/**
 * Measured 455 MB on linux-x64: onnxruntime-node's binaries for every platform are 294 MB of it, esbuild (which
 * `cmcrd deploy` bundles with) 22 MB.
 */
export const INSTALL_BUDGET_MB = 480;

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_fund: 'false', npm_config_audit: 'false' },
  });

describe('installed package', () => {
  let dir = '';
  let app = '';
  // The install as npm left it, measured before the deploy test adds onnxruntime-web as a user would.
  let installedMb = 0;
  let installed: string[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-pack-'));
    app = join(dir, 'app');
    // dist/ is fresh: `npm test` builds it first (pretest). --ignore-scripts: do not build twice.
    const tgz = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').pop()!;
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    npm(['install', '--no-audit', '--no-fund', join(dir, tgz)], app);
    installedMb = duBytes(join(app, 'node_modules')) / 2 ** 20;
    installed = readdirSync(join(app, 'node_modules'));
  }, 300_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('imports every exports subpath in plain Node ESM', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const subpaths = Object.keys(pkg.exports).filter((s) => !s.endsWith('.json'));
    expect(subpaths.length).toBeGreaterThanOrEqual(4);
    for (const s of subpaths) {
      const spec = 'cmcrd-edge' + s.slice(1);
      const r = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `const m = await import(${JSON.stringify(spec)}); console.log(Object.keys(m).length);`],
        { cwd: app, encoding: 'utf8' },
      );
      expect(r.stderr, spec).toBe('');
      expect(Number(r.stdout.trim()), spec).toBeGreaterThan(0);
    }
  });

  it('runs the installed bin: --version and --help', () => {
    const bin = join(app, 'node_modules', '.bin', 'cmcrd');
    const version = spawnSync(bin, ['--version'], { cwd: app, encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const help = spawnSync(bin, ['--help'], { cwd: app, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: cmcrd/);
    expect(help.stdout).toMatch(/\btrain\b/);
  });

  it(`keeps node_modules under ${INSTALL_BUDGET_MB} MB and ships neither sources twice nor dev tools`, () => {
    expect(installedMb).toBeLessThan(INSTALL_BUDGET_MB);
    for (const dev of ['tsx', 'typescript', 'vitest', 'onnxruntime-web']) expect(installed).not.toContain(dev);
    // esbuild is a dependency: cmcrd deploy bundles the compiled runtime and web app with it.
    expect(installed).toContain('esbuild');
    expect(readdirSync(join(app, 'node_modules', '@tensorflow'))).not.toContain('tfjs');
    const own = readdirSync(join(app, 'node_modules', 'cmcrd-edge'));
    expect(own).toEqual(expect.arrayContaining(['dist', 'bin', 'LICENSE']));
    expect(own).not.toContain('src');
  });

  it('exports a checkpoint and deploys it to a Pi folder and as a web app from the installed package', async () => {
    await useWasm();
    const bin = join(app, 'node_modules', '.bin', 'cmcrd');
    const run = (...args: string[]) => spawnSync(bin, args, { cwd: app, encoding: 'utf8' });
    writeFileSync(
      join(dir, 'ck.json'),
      serialiseCheckpoint({
        ...trainedCheckpoint('mlp'),
        features: { ...trainedCheckpoint('mlp').features, smoothing: 'lds-causal' as const },
      }),
    );
    const model = join(dir, 'model');
    const exp = run('export', join(dir, 'ck.json'), '--out', model, '--latency-runs', '0');
    expect(exp.status, exp.stderr).toBe(0);
    expect(existsSync(join(model, 'card.json'))).toBe(true);

    const pi = run('deploy', 'pi', '--model', model, '--out', join(dir, 'pi'), '--no-lock');
    expect(pi.status, pi.stderr).toBe(0);
    expect(statSync(join(dir, 'pi', 'main.js')).size).toBeGreaterThan(10_000);

    // onnxruntime-web is an optional peer: without it the error names the package to install. (The tfjs engine's
    // optional peer, @tensorflow/tfjs-converter, is not checked the same way: npm 10 leaves it in this install as an
    // extraneous package.)
    const noOrt = run('deploy', 'web', '--model', model, '--out', join(dir, 'web'), '--engine', 'ort');
    expect(noOrt.status).toBe(2);
    expect(noOrt.stderr).toMatch(/npm install onnxruntime-web\b/);
    expect(noOrt.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'web'))).toBe(false);

    npm(['install', '--no-audit', '--no-fund', 'onnxruntime-web'], app);
    const web = run('deploy', 'web', '--model', model, '--out', join(dir, 'web'), '--engine', 'ort');
    expect(web.status, web.stderr).toBe(0);
    for (const f of ['index.html', 'app.js', 'worker.js', 'sw.js', 'app.json', 'wasm/ort-wasm-simd-threaded.wasm'])
      expect(existsSync(join(dir, 'web', f)), f).toBe(true);
    expect(readFileSync(join(dir, 'web', 'worker.js'), 'utf8')).not.toMatch(/@tensorflow/);
  }, 300_000);
});
