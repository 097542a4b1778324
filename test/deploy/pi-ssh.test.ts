/**
 * `cmcrd deploy pi --ssh` against a real sshd (Debian openssh-server) started on 127.0.0.1 by the test: the bundle
 * goes over OpenSSH (BatchMode; scp, then rsync where installed) to a temporary folder "on the remote" (this machine), whose install.sh installs it
 * from the registry (no systemd here: the service step is skipped and says so); main.js then runs there over ssh
 * and predicts. A second deploy replaces the first; a foreign folder is kept without --force; an unreachable host,
 * a refused key and an unknown host key exit 2 with ssh's own line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli-harness.js';
import { modelDir, ofType, parseLines } from '../runtime/run/helpers.js';
import { freePort, SSHD, startSshd, type Sshd } from './pi-sshd.js';

const haveSsh = existsSync(SSHD) && existsSync('/usr/bin/ssh') && existsSync('/usr/bin/scp');
const haveRsync = spawnSync('rsync', ['--version'], { stdio: 'ignore' }).status === 0;

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const prev = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v))
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(prev);
  }
}
let sshd: Sshd;
let model: string;
let work: string;
let remote: string;

beforeAll(async () => {
  if (!haveSsh) return;
  sshd = await startSshd();
  model = await modelDir({ int8: true, card: { faster: { 'onnxruntime-node': 'int8' } } });
  work = mkdtempSync(join(tmpdir(), 'cmcrd-pi-ssh-'));
  remote = join(mkdtempSync(join(tmpdir(), 'cmcrd-pi-remote-')), 'apps', 'cmcrd-run');
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
});

const target = () => `${sshd.user}@127.0.0.1:${sshd.port}`;
const known = () => ['--ssh-option', `UserKnownHostsFile=${sshd.knownHosts}`];

function ssh(command: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(
      'ssh',
      [
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${sshd.knownHosts}`,
        '-i',
        sshd.key,
        '-p',
        String(sshd.port),
        `${sshd.user}@127.0.0.1`,
        command,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => res({ code: code ?? -1, out, err }));
  });
}

interface DeployJson {
  build: { out: string; name: string };
  ssh: { copiedWith: string; remoteDir: string; service: string; status: string; host: { arch: string; node: string } };
}

describe.skipIf(!haveSsh)('cmcrd deploy pi --ssh (real sshd on 127.0.0.1)', () => {
  it('copies, installs from the registry and reports the skipped service step; main.js then predicts there', async () => {
    // The identity from the environment (--identity is tested below); scp forced (rsync, when installed, below).
    const r = await withEnv({ CMCRD_SSH_IDENTITY: sshd.key, CMCRD_SSH_COPY: 'scp' }, () =>
      runCli(
        'deploy',
        'pi',
        '--model',
        model,
        '--out',
        join(work, 'b1'),
        '--device',
        'sim:muse?seed=3',
        '--ssh',
        target(),
        ...known(),
        '--remote-dir',
        remote,
        '--json',
      ),
    );
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as DeployJson;
    expect(j.ssh.copiedWith).toBe('scp');
    expect(j.ssh.service).toBe('skipped');
    expect(j.ssh.status).toMatch(/systemd is not running on this host \(no \/run\/systemd\/system\): service step skipped/);
    expect(j.ssh.host.node).toBe(process.version);
    expect(r.err).toMatch(/install\.sh: node_modules: \d+ kB -> \d+ kB after keeping only/); // install.sh's output, relayed
    expect(r.err).toContain(`service cmcrd-run skipped`);
    expect(sshd.log()).toMatch(/Accepted publickey for \S+ from 127\.0\.0\.1/);
    // The remote folder: the bundle plus what install.sh installed; no copy left half-way.
    expect(readdirSync(remote).sort()).toEqual([
      '.npmrc',
      'README.md',
      'cmcrd-run.service',
      'install.sh',
      'main.js',
      'model',
      'node_modules',
      'package-lock.json',
      'package.json',
    ]);
    expect(readdirSync(join(remote, '..'))).toEqual(['cmcrd-run']);
    expect(readFileSync(join(remote, 'main.js'))).toEqual(readFileSync(join(work, 'b1', 'main.js')));

    const run = await ssh(`cd /tmp && node ${remote}/main.js --duration 12 --speed 2000`);
    expect(run.code, run.err).toBe(0);
    const ev = parseLines(run.out);
    expect(ofType(ev, 'start')[0]!.device).toBe('sim:muse?seed=3');
    const preds = ofType(ev, 'prediction');
    expect(preds.length).toBeGreaterThanOrEqual(7);
    expect(preds.every((p) => p.label !== null && Object.keys(p.probabilities!).length === 4)).toBe(true);
  });

  it('a second deploy replaces the first bundle there (rsync when both ends have it); a folder that is not a bundle is kept without --force', async () => {
    const r = await withEnv({ CMCRD_SSH_COPY: undefined }, () =>
      runCli(
        'deploy',
        'pi',
        '--model',
        model,
        '--out',
        join(work, 'b2'),
        '--device',
        'sim:muse?seed=4',
        '--ssh',
        target(),
        '--identity',
        sshd.key,
        ...known(),
        '--remote-dir',
        remote,
        '--json',
      ),
    );
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as DeployJson;
    expect(j.ssh.service).toBe('skipped');
    expect(j.ssh.copiedWith).toBe(haveRsync ? 'rsync' : 'scp');
    expect(readFileSync(join(remote, 'main.js'))).toEqual(readFileSync(join(work, 'b2', 'main.js')));
    const pkg = JSON.parse(readFileSync(join(remote, 'package.json'), 'utf8')) as { cmcrd: { baked: { device: string } } };
    expect(pkg.cmcrd.baked.device).toBe('sim:muse?seed=4');
    expect(readdirSync(join(remote, '..'))).toEqual(['cmcrd-run']); // no .old or .incoming-* left

    const foreign = join(remote, '..', 'mine');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'keep me');
    const refused = await runCli(
      'deploy',
      'pi',
      '--model',
      model,
      '--out',
      join(work, 'b3'),
      '--device',
      'sim:muse',
      '--no-lock',
      '--ssh',
      target(),
      '--identity',
      sshd.key,
      ...known(),
      '--remote-dir',
      foreign,
    );
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/mine exists there and is not a cmcrd Pi bundle; pass --force/);
    expect(readdirSync(foreign)).toEqual(['notes.txt']);
  });

  it('an unreachable host, a refused key and an unknown host key: exit 2 with the ssh error line, no stack trace', async () => {
    const other = join(work, 'wrong_key');
    await new Promise<void>((res) => spawn('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]).on('close', () => res()));
    const closed = await freePort();
    const base = ['deploy', 'pi', '--model', model, '--device', 'sim:muse', '--no-lock', '--force', '--remote-dir', join(work, 'never')];
    const cases: [string[], RegExp][] = [
      [
        ['--ssh', `${sshd.user}@127.0.0.1:${closed}`, '--identity', sshd.key, ...known()],
        new RegExp(`--ssh \\S+:${closed}: ssh: connect to host 127\\.0\\.0\\.1 port ${closed}: Connection refused`),
      ],
      [
        ['--ssh', target(), '--identity', other, ...known()],
        /: \S+@127\.0\.0\.1: Permission denied \(publickey\)\. \(no key of yours is accepted there: ssh-copy-id/,
      ],
      [
        ['--ssh', target(), '--identity', sshd.key, '--ssh-option', 'UserKnownHostsFile=/dev/null'],
        /: Host key verification failed\. \(its host key is not in known_hosts/,
      ],
      [['--ssh', target(), '--identity', join(work, 'no_such_key')], /--identity .*no_such_key: no such file/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(...base, '--out', join(work, 'b4'), ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(work, 'never'))).toBe(false);
  });
});
