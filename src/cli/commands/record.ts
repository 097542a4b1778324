/**
 * `cmcrd record --device <uri> --out <file> [--seconds N]`: stream a device and write a capture file (JSON Lines).
 * `sim:` devices run on a virtual clock as fast as the CPU allows unless the URI says clock=real; `replay:`
 * devices re-record a capture. Ctrl-C stops cleanly and keeps what was recorded.
 */
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { formatCaptureHeader, formatCaptureLine } from '../../../firmware-bridge/capture.js';
import { startStream } from '../../../firmware-bridge/drivers.js';
import { OPEN_EEG } from '../../../firmware-bridge/protocols/open-eeg.js';
import type { GattPeripheral } from '../../../firmware-bridge/gatt.js';
import { openDevice } from '../../../firmware-bridge/open.node.js';
import { DeviceUriError } from '../../../firmware-bridge/sim/uri.js';
import { CliError } from '../main.js';
import { Interrupt, progress } from '../progress.js';

interface Advanceable {
  advance(ms: number): void;
}
function manualClock(d: GattPeripheral): Advanceable | null {
  const a = d as GattPeripheral & Partial<Advanceable>;
  if (typeof a.advance !== 'function') return null;
  try {
    a.advance(0);
    return a as Advanceable;
  } catch {
    return null;
  }
}

export interface RecordOptions {
  device: string;
  out: string;
  seconds: number;
  preset?: string;
  quiet?: boolean;
}

export async function recordCapture(o: RecordOptions): Promise<{ notifications: number; kind: string }> {
  let device: GattPeripheral;
  try {
    device = await openDevice(o.device, { simDefaults: { clock: 'manual' } });
  } catch (e) {
    if (e instanceof DeviceUriError) throw new CliError(e.message);
    throw new CliError(`cannot open ${o.device}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const file = createWriteStream(o.out, 'utf8');
  const lines: string[] = [];
  let count = 0;
  let ended: string | null = null;
  device.onDisconnect((r) => (ended = r));
  const clock = manualClock(device);
  const session = await startStream(
    device,
    (char, data, t) => {
      lines.push(formatCaptureLine(t, char, data));
      count++;
    },
    { ...(o.preset ? { preset: o.preset } : {}), keepAlive: !clock, ...(clock ? { wait: async (ms: number) => clock.advance(ms) } : {}) },
  );
  const header: Parameters<typeof formatCaptureHeader>[0] = {
    device: session.kind,
    name: device.name,
    source: o.device,
    createdAt: new Date().toISOString(),
    ...(session.kind === 'ganglion' ? { firmware: session.firmware === 2 ? '2.x' : '3.x' } : {}),
    ...(session.kind === 'muse' ? { preset: o.preset ?? 'p21' } : {}),
    ...(session.kind === 'muse-athena' ? { experimental: true } : {}),
    ...(session.kind === 'ganglion' || session.kind === 'open-eeg' ? { channels: session.profile.channels.map((c) => c.name) } : {}),
  };
  if (session.kind === 'open-eeg' && device.characteristics.includes(OPEN_EEG.info)) {
    try {
      const info = JSON.parse(new TextDecoder().decode(await device.read(OPEN_EEG.info))) as { channels?: unknown };
      if (Array.isArray(info.channels) && info.channels.every((c) => typeof c === 'string')) header.channels = info.channels as string[];
    } catch {
      /* keep default labels */
    }
  }
  if ('sites' in device && Array.isArray((device as { sites?: unknown }).sites) && session.kind === 'ganglion') header.channels = [...(device as unknown as { sites: string[] }).sites];
  file.write(formatCaptureHeader(header) + '\n');
  if (session.kind === 'muse-athena' && !o.quiet) process.stderr.write('note: Muse S Athena support is EXPERIMENTAL\n');
  const interrupt = new Interrupt();
  const bar = o.quiet ? null : progress('record', Math.round(o.seconds * 10));
  const flush = () => {
    if (lines.length) file.write(lines.join('\n') + '\n');
    lines.length = 0;
  };
  try {
    for (let step = 0; step < Math.round(o.seconds * 10) && !interrupt.interrupted && !ended; step++) {
      if (clock) clock.advance(100);
      else await new Promise((r) => setTimeout(r, 100));
      flush();
      bar?.update(step + 1, { notifications: count });
    }
  } finally {
    const lostLink = ended;
    bar?.stop();
    interrupt.dispose();
    await session.stop().catch(() => undefined);
    flush();
    await new Promise<void>((r) => file.end(() => r()));
    await device.disconnect().catch(() => undefined);
    if (lostLink && !o.quiet) process.stderr.write(`device disconnected: ${lostLink}\n`);
  }
  return { notifications: count, kind: session.kind };
}

export function registerRecord(program: Command): void {
  program
    .command('record')
    .description('record a headband (sim:… virtual device or replay:<capture>) into a capture file')
    .requiredOption('--device <uri>', 'device URI, e.g. sim:muse?emotion=happy&drop=0.01 (see firmware-bridge/README.md)')
    .requiredOption('--out <file>', 'capture file to write (JSON Lines)')
    .option('--seconds <n>', 'seconds of (virtual) time to record', '10')
    .option('--preset <preset>', 'Muse / Athena preset (default p21 / p1041)')
    .action(async (opts: { device: string; out: string; seconds: string; preset?: string }) => {
      const seconds = Number(opts.seconds);
      if (!(seconds > 0 && seconds <= 86400)) throw new CliError(`--seconds must be a number in (0, 86400], got ${JSON.stringify(opts.seconds)}`);
      const r = await recordCapture({ device: opts.device, out: opts.out, seconds, ...(opts.preset ? { preset: opts.preset } : {}) });
      process.stderr.write(`wrote ${r.notifications} notifications from a ${r.kind} to ${opts.out}\n`);
    });
}
