/**
 * `cmcrd deploy pi` without the registry or a remote host: main.js's option precedence and engine choice, the
 * --ssh spec, the unit (checked by systemd-analyze where installed) and install.sh (checked by sh -n), the bundle's
 * contents (no tfjs, no training code; the guard fails a bundle that pulls tfjs in), and refusals before anything is
 * written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleArgs, type BakedRunOptions } from '../../deploy/pi/argv.js';
import { buildPiBundle, atLeast } from '../../deploy/pi/build.js';
import { bundleRuntime } from '../../deploy/pi/bundle.js';
import { installScript } from '../../deploy/pi/install-script.js';
import { chooseEngine } from '../../deploy/pi/ort.js';
import { parseSshTarget, sshErrorLine, sshHint } from '../../deploy/pi/ssh.js';
import { systemdUnit } from '../../deploy/pi/unit.js';
import { TOOLKIT_VERSION } from '../../src/version.js';
import { runCli } from '../cli-harness.js';
import { modelDir } from '../runtime/run/helpers.js';

const baked: BakedRunOptions = { model: 'model', device: 'sim:muse?seed=1', calibration: 'calibration.json', toolkit: '9.9.9' };
const B = '/opt/b';

describe('main.js options: argv > environment > baked', () => {
  it('bakes model, device and calibration (paths in the bundle) when nothing else is given', () => {
    expect(bundleArgs([], {}, baked, B)).toEqual([
      'run',
      '--model',
      '/opt/b/model',
      '--device',
      'sim:muse?seed=1',
      '--calibration',
      '/opt/b/calibration.json',
    ]);
  });
  it('argv wins, in either flag form, and keeps its other options', () => {
    const a = bundleArgs(['--device=sim:ganglion', '--duration', '5', '--model', 'm2'], {}, baked, B);
    expect(a).toEqual(['run', '--calibration', '/opt/b/calibration.json', '--device=sim:ganglion', '--duration', '5', '--model', 'm2']);
  });
  it('the environment wins over baked; an empty CMCRD_CALIBRATION drops the baked one', () => {
    const a = bundleArgs(['--speed', '10'], { CMCRD_DEVICE: 'sim:muse?seed=7', CMCRD_MODEL: '/data/m', CMCRD_CALIBRATION: '' }, baked, B);
    expect(a).toEqual(['run', '--model', '/data/m', '--device', 'sim:muse?seed=7', '--speed', '10']);
    expect(bundleArgs([], { CMCRD_CALIBRATION: 'c.json' }, baked, B)).toContain('c.json');
  });
  it('calibrate gets model and device but no calibration; help and version pass through', () => {
    expect(bundleArgs(['calibrate', '--seconds', '30'], {}, baked, B)).toEqual([
      'calibrate',
      '--model',
      '/opt/b/model',
      '--device',
      'sim:muse?seed=1',
      '--seconds',
      '30',
    ]);
    expect(bundleArgs(['--version'], {}, baked, B)).toEqual(['--version']);
    expect(bundleArgs(['--help'], {}, baked, B)).toEqual(['--help']);
    expect(bundleArgs(['run', '--help'], {}, baked, B)).toEqual(['run', '--help']);
    expect(bundleArgs(['help', 'run'], {}, baked, B)).toEqual(['help', 'run']);
  });
  it('without a baked device none is invented', () => {
    expect(bundleArgs([], {}, { model: 'model', toolkit: 'x' }, B)).toEqual(['run', '--model', '/opt/b/model']);
  });
});

describe('engine choice', () => {
  it('native by default, onnxruntime-web on 32-bit ARM or when asked; a bad value is refused', () => {
    expect(chooseEngine({}, 'arm64')).toBe('node');
    expect(chooseEngine({}, 'x64')).toBe('node');
    expect(chooseEngine({}, 'arm')).toBe('web');
    expect(chooseEngine({ CMCRD_ORT: 'web' }, 'arm64')).toBe('web');
    expect(chooseEngine({ CMCRD_ORT: 'node' }, 'arm')).toBe('node');
    expect(() => chooseEngine({ CMCRD_ORT: 'gpu' }, 'x64')).toThrow(/CMCRD_ORT must be node or web, got "gpu"/);
  });
  it('onnxruntime-node ≥ 1.22 (1.21 crashes on a Pi 4)', () => {
    expect(atLeast('1.22.0', [1, 22])).toBe(true);
    expect(atLeast('1.30.0', [1, 22])).toBe(true);
    expect(atLeast('2.0.0', [1, 22])).toBe(true);
    expect(atLeast('1.21.1', [1, 22])).toBe(false);
    expect(atLeast('^1.22.0', [1, 22])).toBe(false);
  });
});

describe('--ssh', () => {
  it('parses user@host[:port] with names, IPv4 and bracketed IPv6', () => {
    expect(parseSshTarget('pi@raspberrypi.local')).toEqual({ user: 'pi', host: 'raspberrypi.local', port: 22 });
    expect(parseSshTarget('root@127.0.0.1:2222')).toEqual({ user: 'root', host: '127.0.0.1', port: 2222 });
    expect(parseSshTarget('pi@[fe80::1]:22')).toEqual({ user: 'pi', host: 'fe80::1', port: 22 });
    for (const bad of [
      'raspberrypi',
      'pi@',
      '@host',
      'pi@host:0',
      'pi@host:70000',
      'pi@-oProxyCommand=x',
      '-l@host',
      'pi@host:22:1',
      'pi@ho st',
    ])
      expect(() => parseSshTarget(bad), bad).toThrow(/--ssh/);
  });
  it("takes ssh's own error line and says what to do about keys", () => {
    expect(sshErrorLine('Warning: Permanently added x\nroot@h: Permission denied (publickey).\n')).toBe(
      'root@h: Permission denied (publickey).',
    );
    const t = { user: 'pi', host: 'h', port: 2222 };
    expect(sshHint('Host key verification failed.', t)).toMatch(/ssh -p 2222 pi@h.*StrictHostKeyChecking=accept-new/);
    expect(sshHint('pi@h: Permission denied (publickey).', t)).toMatch(/ssh-copy-id -p 2222 pi@h/);
    expect(sshHint('ssh: connect to host h port 2222: Connection refused', t)).toBe('');
  });
});

describe('unit and install script', () => {
  it('the unit restarts with a limit, runs as its user with exactly the radio capabilities, logs to the journal, is hardened', () => {
    const u = systemdUnit({ name: 'cmcrd-run', user: 'cmcrd-run' });
    const kv = new Map<string, string[]>();
    for (const l of u.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(l);
      if (m) kv.set(m[1]!, [...(kv.get(m[1]!) ?? []), m[2]!]);
    }
    const one = (k: string) => kv.get(k)?.join(' ');
    expect(one('Restart')).toBe('on-failure');
    expect(Number(one('StartLimitBurst'))).toBeGreaterThan(1);
    expect(Number(one('StartLimitIntervalSec'))).toBeGreaterThan(0);
    expect(one('User')).toBe('cmcrd-run');
    expect(one('AmbientCapabilities')!.split(' ').sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    expect(one('CapabilityBoundingSet')!.split(' ').sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    expect(one('StandardOutput')).toBe('journal');
    expect(one('StandardError')).toBe('journal');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBe('/var/lib/cmcrd-run');
    expect(one('WorkingDirectory')).toBe('@PREFIX@');
    expect(one('ExecStart')).toBe('@NODE@ @PREFIX@/main.js $CMCRD_ARGS');
    expect(kv.has('MemoryDenyWriteExecute')).toBe(false); // V8's JIT
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('systemd-analyze verify accepts the unit once install.sh has filled its paths', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-pi-unit-'));
    const unit = systemdUnit({ name: 'cmcrd-run', user: 'root' }).replaceAll('@PREFIX@', dir).replaceAll('@NODE@', process.execPath);
    writeFileSync(join(dir, 'main.js'), '');
    writeFileSync(join(dir, 'cmcrd-run.service'), unit);
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'cmcrd-run.service')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Unknown (key|section)|Failed to parse|Invalid/i);
  });

  it('install.sh is valid POSIX sh and quotes what it was given', () => {
    const s = installScript({ name: 'cmcrd-run', user: "o'brien", wasmRuntime: 'onnxruntime-web@1.30.0', hasDevice: true });
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-pi-sh-'));
    writeFileSync(join(dir, 'install.sh'), s);
    for (const sh of ['/bin/sh', '/usr/bin/dash'].filter((p) => existsSync(p))) {
      const r = spawnSync(sh, ['-n', join(dir, 'install.sh')], { encoding: 'utf8' });
      expect(r.status, `${sh}: ${r.stderr}`).toBe(0);
    }
    expect(s).toContain(`SERVICE_USER='o'\\''brien'`);
    expect(s).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(s).toMatch(/npm ci --omit=dev/);
    expect(s).toMatch(/SYSTEMD_RUN=\$\{CMCRD_SYSTEMD_RUN:-\/run\/systemd\/system\}/);
    expect(s).toMatch(/if \[ ! -d "\$SYSTEMD_RUN" \]; then/);
    // --help prints the usage lines from its own header.
    const h = spawnSync('/bin/sh', [join(dir, 'install.sh'), '--help'], { encoding: 'utf8' });
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/Usage: sh install.sh \[--no-service\]/);
    const bad = spawnSync('/bin/sh', [join(dir, 'install.sh'), '--bogus'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown option --bogus/);
  });
});

describe('the bundle', () => {
  let model: string;
  let dir: string;
  beforeAll(async () => {
    model = await modelDir({ int8: true, card: { faster: { 'onnxruntime-node': 'int8' } } });
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-pi-build-'));
  });

  it('main.js carries the runtime and the CLI pieces it needs, never tfjs or training code; the guard refuses a bundle that pulls tfjs in', async () => {
    const r = await bundleRuntime(join(dir, 'x', 'main.js'), baked);
    expect(r.inputs).toContain('src/cli/commands/run.ts');
    expect(r.inputs).toContain('deploy/pi/ort.ts');
    expect(r.inputs).toContain('runtime/run/supervisor.ts');
    expect(r.inputs.filter((p) => /@tensorflow|tfjs|src\/train\/|^export\//.test(p))).toEqual([]);
    const js = readFileSync(join(dir, 'x', 'main.js'), 'utf8');
    expect(/import\(names\[engine\]\)/.test(js)).toBe(true); // onnxruntime-node/-web stay external, loaded at start
    expect(/toolkit: "9\.9\.9"/.test(js)).toBe(true); // the baked options
    expect(r.bytes).toBe(Buffer.byteLength(js));
    const bad = join(resolve(__dirname, '../..'), 'deploy', 'pi', `.test-entry-${process.pid}.ts`);
    writeFileSync(bad, "import * as tf from '../../src/train/tf.js';\nconsole.log(tf);\n");
    try {
      await expect(bundleRuntime(join(dir, 'y', 'main.js'), baked, bad)).rejects.toThrow(
        /@tensorflow\/tfjs-core imported by src\/train\/tf\.ts: tfjs must not reach the Pi runtime/,
      );
    } finally {
      spawnSync('rm', ['-f', bad]);
    }
  });

  it('writes the folder: main.js, model/, package.json pinning only the native packages, install.sh, unit, README with the 32-bit path', async () => {
    const out = join(dir, 'pi');
    const b = await buildPiBundle({ model, out, device: 'sim:muse?seed=4', lock: false });
    const names = readdirSync(out).sort();
    expect(names).toEqual(['.npmrc', 'README.md', 'cmcrd-run.service', 'install.sh', 'main.js', 'model', 'package.json']);
    expect(readdirSync(join(out, 'model')).sort()).toEqual(readdirSync(model).sort());
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      cmcrd: { bundle: string; baked: BakedRunOptions; wasmRuntime: string };
      devDependencies?: unknown;
      type: string;
    };
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@stoprocent/noble', 'onnxruntime-node']);
    expect(atLeast(pkg.dependencies['onnxruntime-node']!.replace(/^\^/, ''), [1, 22])).toBe(true);
    expect(pkg.devDependencies).toBeUndefined();
    expect(pkg.type).toBe('module');
    expect(pkg.cmcrd.bundle).toBe('pi');
    expect(pkg.cmcrd.baked).toMatchObject({ model: 'model', device: 'sim:muse?seed=4' });
    expect(pkg.cmcrd.wasmRuntime).toMatch(/^onnxruntime-web@1\.\d+\.\d+$/);
    expect(b.lock).toEqual({ ok: false, reason: 'not asked for' });
    expect(b.bytes.total).toBe(b.files.reduce((a, f) => a + f.bytes, 0));
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    expect(readme).toMatch(/32-bit Pi OS/);
    expect(readme).toMatch(/CMCRD_ORT=web/);
    expect(readme).toContain(pkg.cmcrd.wasmRuntime);
    expect(readme).toMatch(/service step skipped/);
    expect(readFileSync(join(out, 'install.sh'), 'utf8')).toContain(`WASM_RUNTIME='${pkg.cmcrd.wasmRuntime}'`);
  });

  it('main.js without a baked device asks for one; --version is the toolkit version (node_modules linked from the toolkit)', async () => {
    const out = join(dir, 'nodevice');
    const b = await buildPiBundle({ model, out, lock: false });
    expect(b.notes.join(' ')).toMatch(/no --device: set CMCRD_DEVICE in \/etc\/default\/cmcrd-run/);
    expect(readFileSync(join(out, 'install.sh'), 'utf8')).toContain('HAS_DEVICE=0');
    symlinkSync(resolve(__dirname, '../../node_modules'), join(out, 'node_modules'), 'dir');
    const node = (...args: string[]) =>
      spawnSync(process.execPath, [join(out, 'main.js'), ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, CMCRD_DEVICE: '' },
      });
    const none = node('--duration', '5');
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^main\.js: no headband: pass --device .* set CMCRD_DEVICE/);
    expect(node('--version').stdout.trim()).toBe(TOOLKIT_VERSION);
    const ok = node('--device', 'sim:muse', '--duration', '6', '--speed', '1000');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout.split('\n').filter((l) => l.includes('"type":"prediction"')).length).toBe(2);
  });

  it('refuses before writing: a non-empty --out without --force, overlapping folders, a bad model, a calibration that does not fit, a bad service name', async () => {
    const out = join(dir, 'taken');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const fast = ['--no-lock', '--device', 'sim:muse'];
    const nonModel = mkdtempSync(join(tmpdir(), 'cmcrd-pi-nomodel-'));
    writeFileSync(join(nonModel, 'notes.txt'), 'x');
    writeFileSync(join(dir, 'calib-bad.json'), '{"kind":"calibration","dim":7,"users":{}}');
    writeFileSync(join(dir, 'calib-broken.json'), '{');
    const none = await modelDir({ card: { user_calibration: 'none' } });
    const cases: [string[], RegExp][] = [
      [['--model', model, '--out', out], /--out .*taken exists and is not empty; pass --force/],
      [['--model', model, '--out', join(model, 'bundle')], /overlap/],
      [['--model', join(dir, 'nothing'), '--out', join(dir, 'o1')], /--model .*nothing: no such directory/],
      [['--model', nonModel, '--out', join(dir, 'o2')], /model\.onnx/],
      [
        ['--model', model, '--out', join(dir, 'o3'), '--calibration', join(dir, 'calib-broken.json')],
        /--calibration .*calib-broken\.json: not valid JSON/,
      ],
      [['--model', model, '--out', join(dir, 'o4'), '--calibration', join(dir, 'calib-bad.json')], /calib-bad\.json/],
      [
        ['--model', model, '--out', join(dir, 'o5'), '--calibration', join(dir, 'missing.json')],
        /--calibration .*missing\.json: cannot read it \(ENOENT\)/,
      ],
      [['--model', none, '--out', join(dir, 'o6'), '--calibration', join(dir, 'calib-bad.json')], /takes no per-user calibration/],
      [['--model', model, '--out', join(dir, 'o7'), '--name', 'Bad Name'], /--name must be a service name/],
      [['--model', model, '--out', join(dir, 'o8'), '--ssh', 'nohost'], /--ssh must be user@host/],
      [
        ['--model', model, '--out', join(dir, 'o9'), '--device', 'sim:muse?bogus=1'],
        /--device sim:muse\?bogus=1: unknown option "bogus" for sim:muse/,
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli('deploy', 'pi', ...fast, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect(readdirSync(out)).toEqual(['keep.txt']);
    for (const o of ['o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9']) expect(existsSync(join(dir, o)), o).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('.partial-'))).toEqual([]);
    const forced = await runCli('deploy', 'pi', ...fast, '--model', model, '--out', out, '--force');
    expect(forced.code, forced.err).toBe(0);
    expect(existsSync(join(out, 'keep.txt'))).toBe(false);
    expect(existsSync(join(out, 'main.js'))).toBe(true);
  });
});
