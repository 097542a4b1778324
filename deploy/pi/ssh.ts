/**
 * `cmcrd deploy pi --ssh user@host[:port]`: the bundle folder to a Pi over OpenSSH, installed and started there.
 * Uses the system's `ssh` and `scp` (or `rsync` over ssh when present on both ends), always with BatchMode=yes so
 * nothing ever waits for a password or a host-key prompt: keys and known_hosts are the user's business
 * (--identity / CMCRD_SSH_IDENTITY, --ssh-option). A connection or authentication failure is a PiSshError carrying
 * ssh's own error line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

export class PiSshError extends Error {}

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

/** `user@host[:port]`, host a name, an IPv4 address or a bracketed IPv6 address (`user@[::1]:2222`). */
export function parseSshTarget(spec: string): SshTarget {
  const m = /^([A-Za-z0-9._][A-Za-z0-9._-]*)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?$/.exec(spec.trim());
  if (!m) throw new PiSshError(`--ssh must be user@host or user@host:port (e.g. pi@raspberrypi.local:22), got ${JSON.stringify(spec)}`);
  const port = m[3] === undefined ? 22 : Number(m[3]);
  if (port < 1 || port > 65535) throw new PiSshError(`--ssh ${spec}: port must be 1–65535`);
  return { user: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

export interface SshOptions {
  target: SshTarget;
  identity?: string;
  /** Extra `-o` options (e.g. StrictHostKeyChecking=accept-new, UserKnownHostsFile=…). */
  options?: readonly string[];
  /** How to copy: rsync if present on both ends, else scp (default 'auto'). */
  copy?: 'auto' | 'scp' | 'rsync';
  /** Where remote output goes (default: this process's stderr). */
  log?: (line: string) => void;
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function baseOptions(o: SshOptions): string[] {
  const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=15'];
  if (o.identity !== undefined) args.push('-i', o.identity, '-o', 'IdentitiesOnly=yes');
  for (const x of o.options ?? []) args.push('-o', x);
  return args;
}

const destination = (t: SshTarget) => `${t.user}@${t.host}`;
const scpHost = (t: SshTarget) => (t.host.includes(':') ? `[${t.host}]` : t.host);

interface Exec {
  code: number;
  out: string;
  err: string;
}

function run(cmd: string, args: string[], onLine?: (l: string) => void): Promise<Exec> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let pending = '';
    const feed = (d: Buffer, toErr: boolean) => {
      const s = d.toString();
      if (toErr) err += s;
      else out += s;
      if (!onLine) return;
      pending += s;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) onLine(l);
    };
    child.stdout.on('data', (d: Buffer) => feed(d, false));
    child.stderr.on('data', (d: Buffer) => feed(d, true));
    child.on('error', (e: NodeJS.ErrnoException) =>
      rej(
        new PiSshError(
          e.code === 'ENOENT' ? `${cmd} is not installed (OpenSSH client: apt install openssh-client)` : `${cmd}: ${e.message}`,
        ),
      ),
    );
    child.on('close', (code, signal) => {
      if (onLine && pending) onLine(pending);
      res({ code: code ?? (signal ? 128 : 1), out, err });
    });
  });
}

/** ssh's own complaint: the last line of stderr that is not a warning (e.g. "Permission denied (publickey)."). */
export function sshErrorLine(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const real = lines.filter((l) => !/^Warning: Permanently added/.test(l));
  return real.at(-1) ?? lines.at(-1) ?? 'ssh failed without a message';
}

/** What to do about the usual failures, after ssh's own line. */
export function sshHint(line: string, t: SshTarget): string {
  const p = t.port === 22 ? '' : ` -p ${t.port}`;
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(line))
    return ` (its host key is not in known_hosts: connect once with ssh${p} ${t.user}@${t.host}, or pass --ssh-option StrictHostKeyChecking=accept-new)`;
  if (/Permission denied/.test(line))
    return ` (no key of yours is accepted there: ssh-copy-id${p} ${t.user}@${t.host}, or pass --identity <key>)`;
  return '';
}

export class SshSession {
  private readonly base: string[];
  private readonly log: (line: string) => void;

  constructor(private readonly o: SshOptions) {
    if (o.identity !== undefined && !existsSync(o.identity)) throw new PiSshError(`--identity ${o.identity}: no such file`);
    for (const x of o.options ?? [])
      if (!/^[A-Za-z]+[ =]\S/.test(x))
        throw new PiSshError(`--ssh-option must look like Name=value (an ssh_config option), got ${JSON.stringify(x)}`);
    this.base = baseOptions(o);
    this.log = o.log ?? ((l) => process.stderr.write(`${l}\n`));
  }

  private get spec(): string {
    const t = this.o.target;
    return `${t.user}@${t.host}:${t.port}`;
  }

  /** Run a shell command on the remote host; ssh's own failures (exit 255) become PiSshError. */
  async exec(command: string, stream = false): Promise<Exec> {
    const r = await run(
      'ssh',
      [...this.base, '-p', String(this.o.target.port), '--', destination(this.o.target), command],
      stream ? this.log : undefined,
    );
    if (r.code === 255) {
      const line = sshErrorLine(r.err);
      throw new PiSshError(`--ssh ${this.spec}: ${line}${sshHint(line, this.o.target)}`);
    }
    return r;
  }

  private hasLocal(cmd: string): boolean {
    return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
  }

  /**
   * Put `local` (a folder) at `remote`, replacing a previous copy: rsync --delete, or scp to a fresh folder swapped
   * in with two renames (a half-copied folder never takes the old one's place).
   */
  async copy(local: string, remote: string): Promise<'rsync' | 'scp'> {
    const mode = this.o.copy ?? 'auto';
    if (
      mode === 'rsync' ||
      (mode === 'auto' && this.hasLocal('rsync') && (await this.exec('command -v rsync >/dev/null 2>&1')).code === 0)
    ) {
      const e = ['ssh', ...this.base, '-p', String(this.o.target.port)].map(sq).join(' ');
      const r = await run('rsync', ['-a', '--delete', '-e', e, `${local}/`, `${this.o.target.user}@${scpHost(this.o.target)}:${remote}/`]);
      if (r.code !== 0) throw new PiSshError(`--ssh ${this.spec}: rsync failed: ${sshErrorLine(r.err)}`);
      return 'rsync';
    }
    const incoming = `${remote}.incoming-${randomBytes(4).toString('hex')}`;
    const parent = remote.includes('/') ? remote.slice(0, remote.lastIndexOf('/')) || '/' : '.';
    const mk = await this.exec(`mkdir -p ${sq(parent)}`);
    if (mk.code !== 0) throw new PiSshError(`--ssh ${this.spec}: cannot create ${parent}: ${sshErrorLine(mk.err)}`);
    const r = await run('scp', [
      ...this.base,
      '-P',
      String(this.o.target.port),
      '-r',
      '-q',
      '--',
      local,
      `${this.o.target.user}@${scpHost(this.o.target)}:${incoming}`,
    ]);
    if (r.code !== 0) {
      await this.exec(`rm -rf ${sq(incoming)}`).catch(() => undefined);
      throw new PiSshError(`--ssh ${this.spec}: scp failed: ${sshErrorLine(r.err)}`);
    }
    const swap = `set -e; d=${sq(remote)}; rm -rf "$d.old"; if [ -e "$d" ]; then mv "$d" "$d.old"; fi; mv ${sq(incoming)} "$d"; rm -rf "$d.old"`;
    const s = await this.exec(swap);
    if (s.code !== 0) throw new PiSshError(`--ssh ${this.spec}: cannot move the copy into ${remote}: ${sshErrorLine(s.err)}`);
    return 'scp';
  }
}

export type RemoteState = 'absent' | 'empty' | 'bundle' | 'other';

export interface PiSshDeployResult {
  copiedWith: 'rsync' | 'scp';
  remoteDir: string;
  /** What install.sh did about the service. */
  service: 'started' | 'installed' | 'skipped' | 'unknown';
  /** `systemctl status` of the service (started or installed), or install.sh's line saying why it was skipped. */
  status: string;
  host: { arch: string; node: string };
}

/**
 * Copy the bundle `local` to `remoteDir` on the target, run its install.sh there and report the service. A
 * remote folder that exists and is not a previous bundle is replaced only with `force`.
 */
export async function deployOverSsh(
  local: string,
  remoteDir: string,
  serviceName: string,
  o: SshOptions & { force?: boolean },
): Promise<PiSshDeployResult> {
  const ssh = new SshSession(o);
  const spec = `${o.target.user}@${o.target.host}:${o.target.port}`;
  const probe = await ssh.exec(
    `d=${sq(remoteDir)}; if [ ! -e "$d" ]; then s=absent; elif [ -f "$d/package.json" ] && grep -q '"bundle": "pi"' "$d/package.json"; then s=bundle; elif [ -d "$d" ] && [ -z "$(ls -A "$d")" ]; then s=empty; else s=other; fi; ` +
      `echo "state=$s"; echo "arch=$(uname -m)"; echo "node=$(node --version 2>/dev/null || echo none)"`,
  );
  if (probe.code !== 0) throw new PiSshError(`--ssh ${spec}: the remote shell failed (${sshErrorLine(probe.err)})`);
  const kv = Object.fromEntries(
    probe.out
      .split('\n')
      .map((l) => l.split('='))
      .filter((p) => p.length === 2),
  ) as Record<string, string>;
  const state = (kv.state ?? 'other') as RemoteState;
  if (state === 'other' && !o.force)
    throw new PiSshError(
      `--ssh ${spec}: ${remoteDir} exists there and is not a cmcrd Pi bundle; pass --force to replace it, or choose --remote-dir`,
    );
  const host = { arch: kv.arch ?? '?', node: kv.node ?? 'none' };
  if (host.node === 'none')
    throw new PiSshError(`--ssh ${spec}: node is not installed there: install Node.js 20 or newer first (README.md of the bundle)`);
  const copiedWith = await ssh.copy(local, remoteDir);
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  log(`copied to ${spec}:${remoteDir} with ${copiedWith}; running install.sh there`);
  const inst = await ssh.exec(`sh ${sq(remoteDir)}/install.sh`, true);
  if (inst.code !== 0)
    throw new PiSshError(`--ssh ${spec}: install.sh failed there (exit ${inst.code}): ${sshErrorLine(inst.err || inst.out)}`);
  const m = /done \(service: (started|installed|skipped)\)/.exec(inst.out);
  const service = (m?.[1] ?? 'unknown') as PiSshDeployResult['service'];
  let status: string;
  if (service === 'skipped') status = inst.out.split('\n').find((l) => /service step skipped/.test(l)) ?? 'service step skipped';
  else {
    const st = await ssh.exec(`systemctl --no-pager --lines=5 status ${sq(serviceName)} 2>&1 || true`);
    status = st.out.trimEnd();
  }
  return { copiedWith, remoteDir, service, status, host };
}
