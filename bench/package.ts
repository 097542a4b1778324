/**
 * Packaging suite: CLI start-up (`cmcrd --version`) of the compiled bin against the sources run through tsx (how
 * the bin ran before 0.2), and the install size of the packed package against the dependency set it had before
 * (the whole @tensorflow/tfjs, onnxruntime-web and tsx as runtime dependencies), both measured in this run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, BenchSuite } from './harness.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** The runtime dependencies before this change (package.json at 0.1.0), for the side-by-side install. */
const BEFORE_DEPENDENCIES: Record<string, string> = {
  '@tensorflow/tfjs': '^4.22.0',
  '@tensorflow/tfjs-backend-wasm': '^4.22.0',
  'cli-progress': '^3.12.0',
  commander: '^14.0.3',
  fflate: '^0.8.3',
  'fft.js': '^4.0.4',
  'onnx-proto': '^8.0.1',
  'onnxruntime-node': '^1.30.0',
  'onnxruntime-web': '^1.30.0',
  tsx: '^4.23.15',
  '@stoprocent/noble': '^2.8.0',
};

/** Bytes of the files under `dir` (links not followed), as `du -sb` would count them. */
export function duBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    total += st.isDirectory() ? duBytes(p) : st.size;
  }
  return total;
}

function medianMs(cmd: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, cmd, { cwd: ROOT, encoding: 'utf8' });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_fund: 'false', npm_config_audit: 'false' };

function installSizeMb(dir: string, deps: string[]): number {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench-app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', ...deps], { cwd: dir, stdio: 'ignore', env });
  return duBytes(join(dir, 'node_modules')) / 2 ** 20;
}

export const packageSuite: BenchSuite = {
  name: 'package',
  async run(ctx) {
    const out: BenchResult[] = [];
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'ignore', env });
    const runs = ctx.quick ? 5 : 15;
    const compiled = medianMs(['bin/cmcrd.js', '--version'], runs);
    const viaTsx = medianMs(['--import', 'tsx', 'src/cli/bin.ts', '--version'], runs);
    ctx.log(`cmcrd --version: compiled ${compiled.toFixed(0)} ms, sources through tsx ${viaTsx.toFixed(0)} ms (median of ${runs})`);
    out.push({ name: 'package.startup.compiled', value: compiled, unit: 'ms', detail: { runs } });
    out.push({ name: 'package.startup.tsx', value: viaTsx, unit: 'ms', detail: { runs, note: 'how bin/cmcrd.js ran before' } });
    out.push({ name: 'package.startup.speedup', value: viaTsx / compiled, unit: 'x' });
    if (ctx.quick) return out;
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-bench-pack-'));
    try {
      const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
        cwd: ROOT,
        encoding: 'utf8',
        env,
      })
        .trim()
        .split('\n')
        .pop()!;
      const now = installSizeMb(join(dir, 'now'), [join(dir, tgz)]);
      const before = installSizeMb(
        join(dir, 'before'),
        Object.entries(BEFORE_DEPENDENCIES).map(([n, v]) => `${n}@${v}`),
      );
      ctx.log(`install node_modules: ${now.toFixed(0)} MB (before: ${before.toFixed(0)} MB with the old dependency set)`);
      out.push({ name: 'package.install.mb', value: now, unit: 'MB' });
      out.push({
        name: 'package.install.before.mb',
        value: before,
        unit: 'MB',
        detail: { note: '0.1.0 runtime dependencies installed side by side' },
      });
      out.push({ name: 'package.install.ratio', value: before / now, unit: 'x' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};
