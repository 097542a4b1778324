/**
 * `cmcrd deploy pi --model <model-dir> --out <dir> [--device <saved id|name|uri>] [--calibration <file>]
 * [--ssh user@host[:port]] [--force]`: a self-contained Raspberry Pi folder (runtime bundle, model, locked native
 * packages, install script, systemd unit, README; deploy/pi/build.ts) and, with --ssh, its installation on the Pi
 * (deploy/pi/ssh.ts). --device is passed through to `cmcrd run` as given (a URI or a saved headband's name/id).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { buildPiBundle, DEFAULT_SERVICE, PiDeployError, type PiBuild } from '../../../deploy/pi/build.js';
import { deployOverSsh, parseSshTarget, PiSshError, type PiSshDeployResult, type SshTarget } from '../../../deploy/pi/ssh.js';
import { CliError } from '../errors.js';

interface DeployPiFlags {
  model: string;
  out: string;
  device?: string;
  calibration?: string;
  ssh?: SshTarget;
  identity?: string;
  sshOption: string[];
  remoteDir?: string;
  name: string;
  force?: boolean;
  lock: boolean;
  json?: boolean;
}

const size = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`);

function describe(b: PiBuild): string {
  const lines = [`wrote ${b.out}/ in ${(b.ms / 1000).toFixed(1)} s (service ${b.name})`];
  const top = new Map<string, number>();
  for (const f of b.files) {
    const k = f.path.includes('/') ? `${f.path.split('/')[0]}/` : f.path;
    top.set(k, (top.get(k) ?? 0) + f.bytes);
  }
  const w = Math.max(...[...top.keys()].map((k) => k.length));
  for (const [k, n] of top) lines.push(`  ${k.padEnd(w)}  ${size(n).padStart(9)}`);
  lines.push(`  ${'total'.padEnd(w)}  ${size(b.bytes.total).padStart(9)}  (+ node_modules after install.sh)`);
  if (b.lock.ok)
    lines.push(
      `  locked: ${Object.entries(b.lock.resolved)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} (${b.lock.packages} packages)`,
    );
  for (const n of b.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export async function deployPiCommand(f: DeployPiFlags): Promise<{ build: PiBuild; ssh?: PiSshDeployResult }> {
  let build: PiBuild;
  try {
    build = await buildPiBundle({
      model: f.model,
      out: f.out,
      name: f.name,
      lock: f.lock,
      ...(f.device !== undefined ? { device: f.device } : {}),
      ...(f.calibration !== undefined ? { calibration: f.calibration } : {}),
      ...(f.force ? { force: true } : {}),
    });
  } catch (e) {
    if (e instanceof PiDeployError) throw new CliError(e.message);
    throw e;
  }
  process.stderr.write(describe(build) + '\n');
  if (!f.ssh) {
    process.stderr.write(
      `install it on the Pi: copy ${f.out} there and run: sudo sh <folder>/install.sh   (or: cmcrd deploy pi … --ssh pi@<host>)\n`,
    );
    if (f.json) process.stdout.write(JSON.stringify({ command: 'deploy pi', build }) + '\n');
    return { build };
  }
  const identity = f.identity ?? (process.env.CMCRD_SSH_IDENTITY || undefined);
  const copy = process.env.CMCRD_SSH_COPY || 'auto';
  if (copy !== 'auto' && copy !== 'scp' && copy !== 'rsync')
    throw new CliError(`CMCRD_SSH_COPY must be auto, scp or rsync, got ${JSON.stringify(copy)}`);
  const remoteDir = f.remoteDir ?? build.name;
  let ssh: PiSshDeployResult;
  try {
    ssh = await deployOverSsh(build.out, remoteDir, build.name, {
      target: f.ssh,
      options: f.sshOption,
      copy,
      ...(identity !== undefined ? { identity } : {}),
      ...(f.force ? { force: true } : {}),
    });
  } catch (e) {
    if (e instanceof PiSshError) throw new CliError(e.message);
    throw e;
  }
  const where = `${f.ssh.user}@${f.ssh.host}:${f.ssh.port}`;
  process.stderr.write(`${where} (${ssh.host.arch}, node ${ssh.host.node}): service ${build.name} ${ssh.service}\n${ssh.status}\n`);
  if (f.json) process.stdout.write(JSON.stringify({ command: 'deploy pi', build, ssh }) + '\n');
  return { build, ssh };
}

export function addDeployPi(deploy: Command): void {
  deploy
    .command('pi')
    .description(
      'build a self-contained Raspberry Pi folder (runtime bundle, model, locked native packages, systemd service) and optionally install it over ssh',
    )
    .requiredOption('--model <dir>', 'model directory (cmcrd export <checkpoint> --out <dir>)')
    .requiredOption('--out <dir>', 'folder for the bundle')
    .option('--device <device>', 'headband baked into main.js: a saved headband id or name (cmcrd pair), or a sim:/replay: URI')
    .option('--calibration <file>', 'per-user calibration (cmcrd calibrate) baked into main.js')
    .addOption(
      new Option(
        '--ssh <user@host[:port]>',
        'copy the bundle to this host over OpenSSH (BatchMode), install it and start the service',
      ).argParser((v: string) => {
        try {
          return parseSshTarget(v);
        } catch (e) {
          throw new CliError((e as Error).message);
        }
      }),
    )
    .option(
      '--identity <file>',
      "ssh private key for --ssh (default: $CMCRD_SSH_IDENTITY, else ssh's own); CMCRD_SSH_COPY=scp|rsync picks the copy (default: rsync when both ends have it)",
    )
    .option(
      '--ssh-option <Name=value>',
      'extra ssh option for --ssh, repeatable (e.g. StrictHostKeyChecking=accept-new)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--remote-dir <path>', "folder on the host the bundle is copied to (default: the service name, in the login's home)")
    .option('--name <service>', 'systemd service and system user name', DEFAULT_SERVICE)
    .option('--no-lock', 'do not resolve package-lock.json against the npm registry (install.sh then resolves at install time)')
    .option('--force', 'replace a non-empty --out (and, with --ssh, a remote folder that is not a previous bundle)')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (raw: DeployPiFlags) => {
      await deployPiCommand(raw);
    });
}
