/**
 * `cmcrd pair [--transport noble|sim] [--scan-seconds N] [--select <id|name>] [--alias <name>] [--json]`: scan
 * for headbands the device registry recognises, list them (name, id, RSSI, kind, battery), let the user pick
 * one (a numbered prompt on a terminal, --select in scripts) and add it to the per-user allow-list
 * ($XDG_CONFIG_HOME/cmcrd/devices.json). Battery and exact kind come from a short connect where the kind
 * exposes them (a Muse S Athena advertises like a Muse 2), or from the advertisement.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { DeviceKind } from '../../../firmware-bridge/devices.js';
import { createSimTransport } from '../../../firmware-bridge/sim/scanner.js';
import { createNobleTransport } from '../../../firmware-bridge/transports/noble.node.js';
import { probeDevice } from '../../../firmware-bridge/transports/probe.js';
import { TransportError, type BleTransport, type ScanResult, type TransportName } from '../../../firmware-bridge/transports/transport.js';
import { AllowListError, addDevice, type AllowListEntry } from '../../../runtime/pairing/allow-list.js';
import { AllowListStore } from '../../../runtime/pairing/store.node.js';
import { CliError } from '../errors.js';

export interface PairCandidate {
  id: string;
  name: string;
  address?: string;
  rssi: number | null;
  kind: DeviceKind;
  battery: number | null;
  batterySource: 'advertisement' | 'battery-service' | 'muse-status' | null;
  /** Why something could not be read (e.g. the short connect failed). */
  note?: string;
}

export interface PairOptions {
  transport: 'noble' | 'sim';
  scanSeconds: number;
  select?: string;
  alias?: string;
  json: boolean;
  probe: boolean;
}

export interface PairIo {
  stdin: NodeJS.ReadableStream;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Output stream for the interactive prompt (readline echoes there). */
  promptOutput: NodeJS.WritableStream;
  interactive: boolean;
  storePath?: string;
  /** Builds the transport (tests inject their own). */
  transport?: (name: 'noble' | 'sim') => BleTransport;
}

/** Kinds whose devices report no battery at all (Ganglion): no point connecting to them just to ask. */
const NO_BATTERY: readonly DeviceKind[] = ['ganglion'];
const PROBE_TIMEOUT_MS = 5000;

export function makeTransport(name: 'noble' | 'sim'): BleTransport {
  return name === 'sim' ? createSimTransport() : createNobleTransport();
}

async function probeAll(transport: BleTransport, found: ScanResult[], io: PairIo, quiet: boolean): Promise<PairCandidate[]> {
  const out: PairCandidate[] = [];
  for (const r of found) {
    const c: PairCandidate = {
      id: r.id,
      name: r.name,
      ...(r.address ? { address: r.address } : {}),
      rssi: r.rssi,
      kind: r.kind!,
      battery: r.battery,
      batterySource: r.battery !== null ? 'advertisement' : null,
    };
    // A 'muse' might be an Athena (same advertisement): connect to tell, and to read its battery.
    const worth = r.kind === 'muse' || (r.battery === null && !NO_BATTERY.includes(r.kind!));
    if (worth) {
      if (!quiet) io.stderr(`  reading ${r.name || r.id}…\n`);
      try {
        const dev = await transport.connect(r.id, { timeoutMs: PROBE_TIMEOUT_MS });
        try {
          const p = await probeDevice(dev, { kindHint: r.kind, timeoutMs: PROBE_TIMEOUT_MS });
          if (p.kind) c.kind = p.kind;
          if (p.battery !== null) {
            c.battery = p.battery;
            c.batterySource = p.batterySource;
          } else if (p.note) c.note = p.note;
        } finally {
          await dev.disconnect().catch(() => undefined);
        }
      } catch (e) {
        c.note = `could not connect to read it: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    out.push(c);
  }
  return out;
}

export const formatBattery = (b: number | null): string => (b === null ? 'unknown' : `${Math.round(b)} %`);

/** Rows of cells as aligned columns. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, j) => cell.padEnd(widths[j]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function formatCandidates(cs: readonly PairCandidate[]): string {
  return formatTable([
    ['#', 'NAME', 'ID', 'RSSI', 'KIND', 'BATTERY'],
    ...cs.map((c, i) => [
      String(i + 1),
      c.name || '(no name)',
      c.id,
      c.rssi === null ? '?' : `${c.rssi} dBm`,
      c.kind,
      formatBattery(c.battery),
    ]),
  ]);
}

/** The candidate `spec` names: id or address (any case), else name (any case); ambiguous names are an error. */
export function matchCandidate(cs: readonly PairCandidate[], spec: string): PairCandidate {
  const s = spec.trim().toLowerCase();
  const mac = (x: string) => x.replace(/[:-]/g, '').toLowerCase();
  const byId = cs.filter((c) => c.id.toLowerCase() === s || (c.address !== undefined && mac(c.address) === mac(s)));
  if (byId.length === 1) return byId[0]!;
  const byName = cs.filter((c) => c.name.toLowerCase() === s);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1)
    throw new CliError(
      `--select ${spec}: ${byName.length} headbands have this name (${byName.map((c) => c.id).join(', ')}); select one by id`,
    );
  throw new CliError(`--select ${spec}: no headband with this id or name was found; found:\n${formatCandidates(cs)}`);
}

/**
 * Ask for a number from 1 to `items.length` (or an id / name) on `input`; null when the user cancels (q,
 * Ctrl-C, end of input).
 */
export function promptChoice(
  items: readonly { id: string; name: string }[],
  io: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream; terminal?: boolean },
): Promise<number | null> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: io.input, output: io.output, terminal: io.terminal ?? false });
    let done = false;
    let tries = 0;
    const finish = (v: number | null) => {
      if (done) return;
      done = true;
      rl.close();
      resolve(v);
    };
    const ask = () => rl.setPrompt(`Pair which headband? [1-${items.length}, q to cancel]: `);
    rl.on('line', (line) => {
      const s = line.trim();
      if (s === '') return rl.prompt();
      if (/^(q|quit|exit)$/i.test(s)) return finish(null);
      const n = /^\d+$/.test(s) ? Number(s) : NaN;
      let i = n >= 1 && n <= items.length ? n - 1 : -1;
      if (i < 0) {
        const hits = items
          .map((it, j) => (it.id.toLowerCase() === s.toLowerCase() || it.name.toLowerCase() === s.toLowerCase() ? j : -1))
          .filter((j) => j >= 0);
        if (hits.length === 1) i = hits[0]!;
      }
      if (i >= 0) return finish(i);
      if (++tries >= 5) {
        io.output.write('too many invalid answers\n');
        return finish(null);
      }
      io.output.write(`"${s}" is not on the list: type a number from 1 to ${items.length}, or q to cancel\n`);
      rl.prompt();
    });
    rl.on('SIGINT', () => finish(null));
    rl.on('close', () => finish(null));
    ask();
    rl.prompt();
  });
}

export async function pairCommand(o: PairOptions, io: PairIo): Promise<{ candidates: PairCandidate[]; selected: AllowListEntry | null }> {
  const store = new AllowListStore(io.storePath);
  // A damaged allow-list is reported before any scanning (and is never overwritten).
  try {
    store.load();
  } catch (e) {
    if (e instanceof AllowListError) throw new CliError(e.message);
    throw e;
  }
  const transport = (io.transport ?? makeTransport)(o.transport);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  let candidates: PairCandidate[];
  try {
    io.stderr(
      `scanning for headbands for ${o.scanSeconds} s over ${o.transport === 'sim' ? 'the simulated radio' : 'Bluetooth LE (noble)'}…\n`,
    );
    const found = await transport.scan({ durationMs: o.scanSeconds * 1000, signal: abort.signal });
    // Strongest signal first: the headband on the user's head is usually the nearest.
    found.sort((a, b) => (b.rssi ?? -999) - (a.rssi ?? -999));
    candidates = o.probe
      ? await probeAll(transport, found, io, false)
      : found.map((r) => ({
          id: r.id,
          name: r.name,
          ...(r.address ? { address: r.address } : {}),
          rssi: r.rssi,
          kind: r.kind!,
          battery: r.battery,
          batterySource: r.battery !== null ? ('advertisement' as const) : null,
        }));
  } catch (e) {
    if (e instanceof TransportError) throw new CliError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    await transport.close().catch(() => undefined);
  }

  const report = (selected: AllowListEntry | null, updated = false) => {
    if (o.json)
      io.stdout(JSON.stringify({ transport: o.transport, devices: candidates, selected, updated, allowList: store.path }, null, 2) + '\n');
  };
  if (candidates.length === 0) {
    report(null);
    throw new CliError(
      `no headband found in ${o.scanSeconds} s: is it switched on and charged, within a few metres, and not connected to another app or device (the vendor's app holds it)? Scan longer with --scan-seconds.`,
    );
  }
  if (!o.json) io.stdout(formatCandidates(candidates));

  let chosen: PairCandidate;
  if (o.select !== undefined) chosen = matchCandidate(candidates, o.select);
  else if (io.interactive) {
    if (o.json) io.stderr(formatCandidates(candidates));
    const i = await promptChoice(candidates, { input: io.stdin, output: io.promptOutput, terminal: true });
    if (i === null) {
      report(null);
      throw new CliError('no headband chosen: nothing was saved', 1);
    }
    chosen = candidates[i]!;
  } else {
    report(null);
    throw new CliError(
      `no headband chosen: input is not a terminal, so pick one with --select <id|name> (e.g. --select ${candidates[0]!.name || candidates[0]!.id})`,
    );
  }

  const entry: AllowListEntry = {
    id: chosen.id,
    name: chosen.name,
    kind: chosen.kind,
    transport: o.transport satisfies TransportName,
    addedAt: new Date().toISOString(),
    ...(o.alias !== undefined ? { alias: o.alias } : {}),
    ...(chosen.address ? { address: chosen.address } : {}),
  };
  let previous: AllowListEntry | null;
  let saved: AllowListEntry;
  try {
    const r = addDevice(store.load(), entry);
    store.save(r.list);
    previous = r.previous;
    saved = r.list.devices.find((d) => d.transport === entry.transport && d.id === entry.id)!;
  } catch (e) {
    if (e instanceof AllowListError) throw new CliError(e.message);
    throw e;
  }
  report(saved, previous !== null);
  io.stderr(
    `${previous ? 'already paired, updated' : 'paired'}: ${saved.alias ? `${saved.alias} = ` : ''}${saved.name || saved.id} (${saved.kind}, id ${saved.id}, battery ${formatBattery(chosen.battery)}); saved in ${store.path}\n`,
  );
  return { candidates, selected: saved };
}

export function registerPair(program: Command): void {
  program
    .command('pair')
    .description('scan for headbands, pick one and add it to the allow-list of paired devices ($XDG_CONFIG_HOME/cmcrd/devices.json)')
    .option('--transport <name>', 'noble (the Bluetooth LE radio) or sim (virtual headbands)', 'noble')
    .option('--scan-seconds <n>', 'how long to scan', '5')
    .option('--select <id|name>', 'pair this device without asking (for scripts)')
    .option('--alias <name>', 'your own name for the device (use it with --device)')
    .option('--no-probe', 'do not connect briefly to read battery and exact kind')
    .option('--json', 'print the devices found and the one paired as JSON on stdout')
    .action(async (opts: { transport: string; scanSeconds: string; select?: string; alias?: string; probe: boolean; json?: boolean }) => {
      if (opts.transport !== 'noble' && opts.transport !== 'sim')
        throw new CliError(
          `--transport ${opts.transport}: expected noble or sim (Web Bluetooth is for browsers: see firmware-bridge/transports/web-bluetooth.ts)`,
        );
      const scanSeconds = Number(opts.scanSeconds);
      if (!(scanSeconds > 0 && scanSeconds <= 300))
        throw new CliError(`--scan-seconds must be a number in (0, 300], got ${JSON.stringify(opts.scanSeconds)}`);
      if (opts.alias !== undefined && opts.alias.trim() === '') throw new CliError('--alias must not be empty');
      await pairCommand(
        {
          transport: opts.transport,
          scanSeconds,
          json: opts.json === true,
          probe: opts.probe,
          ...(opts.select !== undefined ? { select: opts.select } : {}),
          ...(opts.alias !== undefined ? { alias: opts.alias.trim() } : {}),
        },
        {
          stdin: process.stdin,
          stdout: (s) => process.stdout.write(s),
          stderr: (s) => process.stderr.write(s),
          promptOutput: process.stderr,
          interactive: process.stdin.isTTY === true,
        },
      );
    });
}
