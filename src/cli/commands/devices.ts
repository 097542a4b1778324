/**
 * `cmcrd devices [--forget <id|name>] [--json]`: list the paired headbands (the allow-list in
 * $XDG_CONFIG_HOME/cmcrd/devices.json), or forget one.
 */
import type { Command } from 'commander';
import { AllowListError, forgetDevice, type AllowList, type AllowListEntry } from '../../../runtime/pairing/allow-list.js';
import { AllowListStore } from '../../../runtime/pairing/store.node.js';
import { CliError } from '../errors.js';
import { formatTable } from './pair.js';

export function formatDevices(list: AllowList): string {
  return formatTable([
    ['NAME', 'ALIAS', 'ID', 'KIND', 'TRANSPORT', 'PAIRED'],
    ...list.devices.map((d) => [
      d.name || '(no name)',
      d.alias ?? '',
      d.id,
      d.kind,
      d.transport,
      d.addedAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'),
    ]),
  ]);
}

export interface DevicesIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  storePath?: string;
}

export function devicesCommand(
  o: { forget?: string; json: boolean },
  io: DevicesIo,
): { devices: AllowListEntry[]; forgot: AllowListEntry | null } {
  const store = new AllowListStore(io.storePath);
  try {
    const list = store.load();
    if (o.forget === undefined) {
      if (o.json) io.stdout(JSON.stringify({ allowList: store.path, devices: list.devices }, null, 2) + '\n');
      else if (list.devices.length === 0)
        io.stderr(`no paired headbands (pair one with \`cmcrd pair\`); the list lives in ${store.path}\n`);
      else io.stdout(formatDevices(list));
      return { devices: list.devices, forgot: null };
    }
    const { list: next, removed } = forgetDevice(list, o.forget);
    store.save(next);
    if (o.json) io.stdout(JSON.stringify({ allowList: store.path, forgot: removed, devices: next.devices }, null, 2) + '\n');
    io.stderr(
      `forgot ${removed.name || removed.id} (${removed.kind}, id ${removed.id}); ${next.devices.length} paired headband${next.devices.length === 1 ? '' : 's'} left in ${store.path}\n`,
    );
    return { devices: next.devices, forgot: removed };
  } catch (e) {
    if (e instanceof AllowListError) throw new CliError(e.message);
    throw e;
  }
}

export function registerDevices(program: Command): void {
  program
    .command('devices')
    .description('list the paired headbands (the allow-list), or forget one')
    .option('--forget <id|name>', 'remove this device from the allow-list')
    .option('--json', 'print the list as JSON on stdout')
    .action((opts: { forget?: string; json?: boolean }) => {
      if (opts.forget !== undefined && opts.forget.trim() === '')
        throw new CliError('--forget needs the id, alias or name of a paired device');
      devicesCommand(
        { json: opts.json === true, ...(opts.forget !== undefined ? { forget: opts.forget } : {}) },
        { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) },
      );
    });
}
