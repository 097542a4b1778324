/**
 * The Pi bundle as a Pi gets it, from the npm registry: `cmcrd deploy pi` locks the native packages against the
 * registry, the folder is copied to a clean temporary directory, its install.sh runs `npm ci` there (no systemd
 * here: the service step is skipped and says so) and prunes onnxruntime-node to this platform, and main.js — run
 * from yet another directory — streams a virtual headband into the model with the baked options, overridable by
 * argv and environment, on onnxruntime-node and on onnxruntime-web's wasm (the 32-bit Pi OS engine, installed and
 * pruned by install.sh). The service branch runs with systemd's tools stubbed.
 * Needs the npm registry (as `npm ci` does).
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../runtime/run/events.js';
import { runCli } from '../cli-harness.js';
import { modelDir, ofType, parseLines } from '../runtime/run/helpers.js';

/** The environment of a shell on the Pi: no npm_* variables inherited from the npm/npx that started the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && !/^(ONNXRUNTIME_|CMCRD_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function sh(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    c.on('close', (code) => {
      clearTimeout(t);
      res({ code: code ?? -1, out, err });
    });
  });
}

let model: string;
let calib: string;
let installed: string;
let bundle: string;
let runDir: string;
let install: { code: number; out: string; err: string };
let build: { lock: { ok: boolean; resolved?: Record<string, string> }; bytes: { total: number } };

beforeAll(async () => {
  const work = mkdtempSync(join(tmpdir(), 'cmcrd-pi-install-'));
  model = await modelDir({ int8: true, card: { faster: { 'onnxruntime-node': 'int8' } } });
  calib = join(work, 'calib.json');
  const c = await runCli(
    'calibrate',
    '--model',
    model,
    '--device',
    'sim:muse?seed=5&subject=2',
    '--seconds',
    '20',
    '--out',
    calib,
    '--user',
    'ann',
  );
  expect(c.code, c.err).toBe(0);
  const out = join(work, 'bundle');
  bundle = out;
  const d = await runCli(
    'deploy',
    'pi',
    '--model',
    model,
    '--out',
    out,
    '--device',
    'sim:muse?seed=5&subject=2',
    '--calibration',
    calib,
    '--json',
  );
  expect(d.code, d.err).toBe(0);
  build = (JSON.parse(d.out) as { build: typeof build }).build;
  // "A clean temporary directory": a fresh folder elsewhere, holding only what the bundle holds.
  installed = join(mkdtempSync(join(tmpdir(), 'cmcrd-pi-clean-')), 'cmcrd-run');
  cpSync(out, installed, { recursive: true });
  runDir = mkdtempSync(join(tmpdir(), 'cmcrd-pi-cwd-'));
  install = await sh('sh', [join(installed, 'install.sh')], { cwd: runDir, timeoutMs: 170_000 });
}, 200_000);

const run = (args: string[], env: Record<string, string> = {}) =>
  sh(process.execPath, [join(installed, 'main.js'), ...args], { cwd: runDir, env: cleanEnv(env) });

describe('the Pi bundle from the registry, in a clean directory', () => {
  it('is locked against the registry with only the native packages, onnxruntime-node ≥ 1.22', () => {
    expect(build.lock.ok).toBe(true);
    const [maj, min] = build.lock.resolved!['onnxruntime-node']!.split('.').map(Number) as [number, number];
    expect(maj > 1 || min >= 22).toBe(true);
    const lock = JSON.parse(readFileSync(join(installed, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; dependencies?: Record<string, string> }>;
    };
    expect(Object.keys(lock.packages['']!.dependencies!).sort()).toEqual(['@stoprocent/noble', 'onnxruntime-node']);
    const names = Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/'));
    expect(names).toContain('node_modules/onnxruntime-node');
    expect(names).toContain('node_modules/@stoprocent/noble');
    // Nothing the toolkit itself bundles or trains with.
    for (const p of ['commander', '@tensorflow/tfjs-core', 'valibot', 'fft.js', 'esbuild', 'onnxruntime-web', 'cmcrd-edge'])
      expect(names, p).not.toContain(`node_modules/${p}`);
  });

  it('install.sh: npm ci from the lock, only this platform/architecture kept, main.js starts, the service step skipped and said so', () => {
    expect(install.code, install.err + install.out).toBe(0);
    expect(install.out).toMatch(/systemd is not running on this host \(no \/run\/systemd\/system\): service step skipped/);
    expect(install.out.trim().split('\n').at(-1)).toBe('install.sh: done (service: skipped)');
    expect(install.out).toMatch(/main\.js starts \(engine: onnxruntime-node\)/);
    const m = /node_modules: (\d+) kB -> (\d+) kB/.exec(install.out)!;
    expect(Number(m[2])).toBeLessThan(Number(m[1]) / 2);
    const bin = join(installed, 'node_modules/onnxruntime-node/bin');
    for (const napi of readdirSync(bin)) {
      expect(readdirSync(join(bin, napi))).toEqual([process.platform]);
      expect(readdirSync(join(bin, napi, process.platform))).toEqual([process.arch]);
      expect(readdirSync(join(bin, napi, process.platform, process.arch)).some((f) => f.endsWith('.node'))).toBe(true);
    }
    const noble = join(installed, 'node_modules/@stoprocent/noble/prebuilds');
    if (existsSync(noble)) expect(readdirSync(noble)).toEqual([`${process.platform}-${process.arch}`]);
    expect(existsSync(join(installed, 'node_modules/@tensorflow'))).toBe(false);
  });

  it('main.js streams the virtual headband into the model with the baked device and calibration', async () => {
    const r = await run(['--duration', '20', '--speed', '2000']);
    expect(r.code, r.err).toBe(0);
    const ev = parseLines(r.out);
    const start = ofType(ev, 'start')[0]!;
    expect(start.device).toBe('sim:muse?seed=5&subject=2');
    expect(start.model).toBe(join(installed, 'model'));
    expect(start.calibration).toMatch(/^user ann \(\d+ windows\)$/);
    const preds = ofType(ev, 'prediction');
    expect(preds.length).toBeGreaterThanOrEqual(15); // 4-s windows, one a second, over 20 simulated seconds
    for (const p of preds) {
      const probs = Object.values(p.probabilities!);
      expect(Object.keys(p.probabilities!)).toEqual(['neutral', 'sad', 'fear', 'happy']);
      expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    }
    const s = ev.at(-1) as Extract<RunEvent, { type: 'summary' }>;
    expect(s.type).toBe('summary');
    expect(s.predictions).toBe(preds.length);
    expect(s.windows).toBe(preds.length);
    expect(s.stoppedBy).toBe('duration');
    expect(r.err).toContain(`run: ${preds.length} predictions`);
  });

  it('argv and environment override the baked options', async () => {
    const a = await run(['--device', 'sim:muse?seed=6', '--duration', '6', '--speed', '2000']);
    expect(a.code, a.err).toBe(0);
    expect(ofType(parseLines(a.out), 'start')[0]!.device).toBe('sim:muse?seed=6');
    const e = await run(['--duration', '6', '--speed', '2000'], { CMCRD_DEVICE: 'sim:muse?seed=8', CMCRD_CALIBRATION: '' });
    expect(e.code, e.err).toBe(0);
    const st = ofType(parseLines(e.out), 'start')[0]!;
    expect(st.device).toBe('sim:muse?seed=8');
    expect(st.calibration).toBeNull();
    const bad = await run(['--device', 'sim:nosuch', '--duration', '6']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^main\.js: .*nosuch/m);
    expect(bad.err).not.toMatch(/\n\s+at /);
  });

  it('the 32-bit path: CMCRD_ORT=web installs onnxruntime-web (pruned) and main.js runs its wasm in Node, predicting what onnxruntime-node predicts', async () => {
    const missing = await run(['--duration', '6'], { CMCRD_ORT: 'web' });
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/main\.js: cannot load onnxruntime-web .*install it next to main\.js/);
    // What install.sh does on armv7, forced on this host.
    const web = join(mkdtempSync(join(tmpdir(), 'cmcrd-pi-web-')), 'cmcrd-run');
    cpSync(bundle, web, { recursive: true });
    const lockBefore = readFileSync(join(web, 'package-lock.json'));
    const inst = await sh('sh', [join(web, 'install.sh')], { cwd: runDir, env: cleanEnv({ CMCRD_ORT: 'web' }), timeoutMs: 170_000 });
    expect(inst.code, inst.err + inst.out).toBe(0);
    expect(inst.out).toMatch(/CMCRD_ORT=web: installing onnxruntime-web@1\.\d+\.\d+/);
    expect(inst.out).toMatch(/main\.js starts \(engine: onnxruntime-web\)/);
    expect(readFileSync(join(web, 'package-lock.json'))).toEqual(lockBefore);
    expect(readdirSync(join(web, 'node_modules/onnxruntime-web/dist')).sort()).toEqual([
      'ort-wasm-simd-threaded.mjs',
      'ort-wasm-simd-threaded.wasm',
      'ort.node.min.js',
      'ort.node.min.mjs',
    ]);
    const args = ['--duration', '12', '--speed', '2000', '--policy', 'fixed:performance'];
    const node = (env: Record<string, string>) =>
      sh(process.execPath, [join(web, 'main.js'), ...args], { cwd: runDir, env: cleanEnv(env) });
    const [w, n] = await Promise.all([node({ CMCRD_ORT: 'web' }), node({})]);
    expect(w.code, w.err).toBe(0);
    expect(n.code, n.err).toBe(0);
    const pw = ofType(parseLines(w.out), 'prediction');
    const pn = ofType(parseLines(n.out), 'prediction');
    expect(pw.length).toBe(pn.length);
    expect(pw.length).toBeGreaterThan(5);
    for (let i = 0; i < pw.length; i++) {
      expect(pw[i]!.label).toBe(pn[i]!.label);
      for (const k of Object.keys(pn[i]!.probabilities!)) expect(pw[i]!.probabilities![k]).toBeCloseTo(pn[i]!.probabilities![k]!, 4);
    }
  }, 200_000);

  // The service branch of install.sh, with systemd's tools replaced by stubs that log their calls (no systemd here)
  // and its paths moved into a temporary folder: user, copy to the prefix, unit with the paths filled, defaults.
  it.skipIf(process.getuid?.() !== 0)(
    'with systemd: creates the user, installs a copy in the prefix, writes the unit and the defaults, restarts the service',
    async () => {
      const t = mkdtempSync(join(tmpdir(), 'cmcrd-pi-systemd-'));
      const stubs = join(t, 'bin');
      mkdirSync(stubs);
      const log = join(t, 'calls.log');
      for (const tool of ['systemctl', 'useradd', 'usermod', 'getent']) {
        writeFileSync(join(stubs, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\n`);
        chmodSync(join(stubs, tool), 0o755);
      }
      for (const d of ['run-systemd', 'units', 'default']) mkdirSync(join(t, d));
      const prefix = join(t, 'opt', 'cmcrd-run');
      const env = cleanEnv({
        PATH: `${stubs}:${process.env.PATH}`,
        CMCRD_SYSTEMD_RUN: join(t, 'run-systemd'),
        CMCRD_UNIT_DIR: join(t, 'units'),
        CMCRD_DEFAULTS_DIR: join(t, 'default'),
        CMCRD_PREFIX: prefix,
      });
      const r = await sh('sh', [join(installed, 'install.sh')], { cwd: runDir, env, timeoutMs: 170_000 });
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.out.trim().split('\n').at(-1)).toBe('install.sh: done (service: started)');
      const calls = readFileSync(log, 'utf8').trim().split('\n');
      expect(calls).toContain(
        'useradd --system --user-group --home-dir /var/lib/cmcrd-run --no-create-home --shell /usr/sbin/nologin cmcrd-run',
      );
      expect(calls).toContain('usermod -a -G bluetooth cmcrd-run');
      const sc = calls.filter((c) => c.startsWith('systemctl'));
      expect(sc.indexOf('systemctl daemon-reload')).toBeLessThan(sc.indexOf('systemctl enable cmcrd-run'));
      expect(sc.indexOf('systemctl enable cmcrd-run')).toBeLessThan(sc.indexOf('systemctl restart cmcrd-run'));
      const unit = readFileSync(join(t, 'units', 'cmcrd-run.service'), 'utf8');
      expect(unit).not.toMatch(/@(PREFIX|NODE)@/);
      expect(unit).toContain(`WorkingDirectory=${prefix}\n`);
      expect(unit).toMatch(new RegExp(`ExecStart=/\\S*node ${prefix}/main\\.js \\$CMCRD_ARGS`));
      expect(readFileSync(join(t, 'default', 'cmcrd-run'), 'utf8')).toMatch(/^#CMCRD_DEVICE=/m);
      expect(statSync(join(prefix, 'main.js')).mode & 0o044).toBe(0o044); // readable by the service user
      expect(readFileSync(join(prefix, 'main.js'))).toEqual(readFileSync(join(installed, 'main.js')));
      // What the unit would start, from the prefix.
      const s = await sh(process.execPath, [join(prefix, 'main.js'), '--duration', '6', '--speed', '2000'], { cwd: prefix });
      expect(s.code, s.err).toBe(0);
      expect(ofType(parseLines(s.out), 'prediction').length).toBe(2);
    },
  );
});
