/**
 * The package as a user gets it: `npm pack` the built tree, install the tarball into an empty folder with only
 * the npm registry, import every "exports" subpath in plain Node ESM, run the installed `cmcrd` bin, and keep the
 * install's node_modules under a budget (README, "Installing the package").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duBytes } from '../bench/package.js';

const ROOT = resolve(__dirname, '..');
/** Measured 416 MB on linux-x64 (onnxruntime-node's binaries for every platform are 294 MB of it). */
export const INSTALL_BUDGET_MB = 450;

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
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-pack-'));
    app = join(dir, 'app');
    // dist/ is fresh: `npm test` builds it first (pretest). --ignore-scripts: do not build twice.
    const tgz = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').pop()!;
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    npm(['install', '--no-audit', '--no-fund', join(dir, tgz)], app);
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
    const mb = duBytes(join(app, 'node_modules')) / 2 ** 20;
    expect(mb).toBeLessThan(INSTALL_BUDGET_MB);
    const installed = readdirSync(join(app, 'node_modules'));
    for (const dev of ['tsx', 'esbuild', 'typescript', 'vitest', 'onnxruntime-web']) expect(installed).not.toContain(dev);
    expect(readdirSync(join(app, 'node_modules', '@tensorflow'))).not.toContain('tfjs');
    const own = readdirSync(join(app, 'node_modules', 'cmcrd-edge'));
    expect(own).toEqual(expect.arrayContaining(['dist', 'bin', 'LICENSE']));
    expect(own).not.toContain('src');
  });
});
