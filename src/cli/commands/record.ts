/**
 * `cmcrd record --device <uri> --out <file> [--seconds N]`: stream a device and write a capture file (JSON Lines).
 * `sim:` devices run on a virtual clock as fast as the CPU allows unless the URI says clock=real; `replay:`
 * devices re-record a capture. Ctrl-C stops cleanly and keeps what was recorded. The header's "preset" is the one
 * the data was streamed with: the URI's preset= or --preset (they must agree), else the device's default; a
 * replay keeps the recorded one.
 */
import { once } from 'node:events';
import { closeSync, createWriteStream, openSync, readSync, renameSync, statSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { formatCaptureHeader, formatCaptureLine, parseCaptureHeader, type CaptureHeader } from '../../../firmware-bridge/capture.js';
import type { GattPeripheral } from '../../../firmware-bridge/gatt.js';
import { openHeadband, type OpenedHeadband } from '../../../firmware-bridge/headband.js';
import { getDriver } from '../../../firmware-bridge/registry.js';
import { openDevice } from '../../../firmware-bridge/open.node.js';
import { ReplayPeripheral } from '../../../firmware-bridge/sim/replay.js';
import { DeviceUriError, parseReplayUri, parseSimUri, type SimSpec } from '../../../firmware-bridge/sim/uri.js';
import { VirtualGanglion } from '../../../firmware-bridge/sim/virtual-ganglion.js';
import { VirtualMuse } from '../../../firmware-bridge/sim/virtual-muse.js';
import { CliError } from '../errors.js';
import { numberOption } from '../options.js';
import { checkInputFile, prepareOutFile } from '../paths.js';
import { moveIntoPlaceNoReplace, openTemp, removeQuietly } from '../../io/atomic.js';
import { Interrupt, progress } from '../progress.js';
import { manualClock } from '../../../runtime/run/links.js';

export interface RecordOptions {
  device: string;
  out: string;
  seconds: number;
  preset?: string;
  quiet?: boolean;
  /** Replace an existing file at `out`. */
  force?: boolean;
}

function uriError(e: unknown): never {
  if (e instanceof DeviceUriError) throw new CliError(e.message);
  throw e;
}

/**
 * `--preset` against a `sim:` URI: only for devices with presets, and it must not contradict the URI's own
 * preset= (the virtual device starts in the URI's preset; a second, different one would be ambiguous).
 * Unknown names are left to the virtual device, so they get the same message as in the URI.
 */
function checkSimPreset(flag: string, sim: SimSpec, device: string): void {
  if (getDriver(sim.kind).presets.length === 0)
    throw new CliError(`--preset ${flag}: sim:${sim.kind} has no presets (--preset is for Muse and Muse S Athena devices)`);
  const inUri = sim.params.get('preset');
  if (inUri !== undefined && inUri !== flag)
    throw new CliError(`--preset ${flag} conflicts with preset=${inUri} in --device ${device}; give the preset once`);
}

/**
 * `--preset` against a replay: the recorded notifications are re-sent as they are, so a preset can only
 * restate the one the capture was recorded with.
 */
function checkReplayPreset(flag: string, header: ReplayPeripheral['capture']['header'], device: string): void {
  if (getDriver(header.device).presets.length === 0)
    throw new CliError(`--preset ${flag}: ${device} replays a ${header.device} capture, which has no presets`);
  if (header.preset !== flag) {
    throw new CliError(
      `--preset ${flag}: ${device} re-sends the notifications as recorded (${header.preset ? `preset ${header.preset}` : 'no preset in the capture header'}); a replay cannot change the preset, drop --preset`,
    );
  }
}

export async function recordCapture(o: RecordOptions): Promise<{ notifications: number; kind: string }> {
  // Everything that can be checked without streaming is checked first, the output path included.
  let sim: SimSpec | null = null;
  let replayed: string | undefined; // the capture a replay: device reads
  if (o.device.startsWith('sim:')) {
    try {
      sim = parseSimUri(o.device);
    } catch (e) {
      uriError(e);
    }
    if (o.preset !== undefined) checkSimPreset(o.preset, sim, o.device);
  } else if (o.device.startsWith('replay:')) {
    try {
      replayed = parseReplayUri(o.device).path;
    } catch (e) {
      uriError(e);
    }
  }
  if (replayed !== undefined) checkInputFile(replayed, `--device ${o.device}: capture`);
  const target = prepareOutFile(
    o.out,
    '--out',
    replayed !== undefined ? { path: replayed, what: 'the capture being replayed' } : undefined,
    { force: !!o.force },
  );

  let device: GattPeripheral;
  try {
    // A --preset goes to the virtual device too, so it starts in (and validates) the preset the host will send.
    device = await openDevice(o.device, { simDefaults: { clock: 'manual', ...(o.preset !== undefined ? { preset: o.preset } : {}) } });
  } catch (e) {
    if (e instanceof DeviceUriError) throw new CliError(e.message);
    throw new CliError(`cannot open ${o.device}: ${e instanceof Error ? e.message : String(e)}`);
  }
  // The preset the host sends in its start sequence, and the one the header records.
  let preset: string | undefined;
  if (sim) preset = sim.params.get('preset') ?? o.preset ?? getDriver(sim.kind).defaultPreset ?? undefined;
  else if (device instanceof ReplayPeripheral) {
    if (o.preset !== undefined) {
      try {
        checkReplayPreset(o.preset, device.capture.header, o.device);
      } catch (e) {
        await device.disconnect().catch(() => undefined);
        throw e;
      }
    }
    preset = device.capture.header.preset;
  } else preset = o.preset;

  const lines: string[] = [];
  let count = 0;
  let ended: string | null = null;
  device.onDisconnect((r) => (ended = r));
  const clock = manualClock(device);
  let session: OpenedHeadband;
  try {
    session = await openHeadband(device, {
      ...(preset !== undefined ? { preset } : {}),
      // A virtual Ganglion knows the sites its wearer's electrodes are at; a real one cannot report them.
      ...(device instanceof VirtualGanglion ? { channelNames: device.sites } : {}),
      keepAlive: !clock,
      ...(clock ? { wait: async (ms: number) => clock.advance(ms) } : {}),
    });
    await session.start((char, data, t) => {
      lines.push(formatCaptureLine(t, char, data));
      count++;
    });
  } catch (e) {
    await device.disconnect().catch(() => undefined);
    throw new CliError(`cannot start streaming from ${o.device}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const header: Parameters<typeof formatCaptureHeader>[0] = {
    device: session.kind,
    name: device.name,
    source: o.device,
    createdAt: new Date().toISOString(),
    ...session.captureFields(),
  };
  // A virtual Muse reports the preset it actually streams; trust that over what was asked for.
  if (device instanceof VirtualMuse) header.preset = device.currentPreset;
  // The capture goes to a temporary file beside --out, moved into place when recording ends (also after Ctrl-C),
  // so --out never holds half a capture and an existing file there is only replaced with --force.
  const tmp = `${target}.partial`;
  let file: ReturnType<typeof createWriteStream>;
  try {
    file = createWriteStream(tmp, { encoding: 'utf8', fd: openTemp(tmp) });
  } catch (e) {
    await session.stop().catch(() => undefined);
    await device.disconnect().catch(() => undefined);
    throw new CliError(`--out ${o.out}: cannot write the capture (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const writeFailure: { error: NodeJS.ErrnoException | null } = { error: null };
  file.on('error', (e) => (writeFailure.error ??= e));
  file.write(formatCaptureHeader(header) + '\n');
  if (session.driver.experimental && !o.quiet) process.stderr.write(`note: ${session.driver.label} support is EXPERIMENTAL\n`);
  if (!o.quiet) for (const w of session.warnings) process.stderr.write(`warning: ${w}\n`);
  const interrupt = new Interrupt();
  const bar = o.quiet ? null : progress('record', Math.round(o.seconds * 10));
  const flush = () => {
    if (lines.length) file.write(lines.join('\n') + '\n');
    lines.length = 0;
  };
  try {
    for (let step = 0; step < Math.round(o.seconds * 10) && !interrupt.interrupted && !ended && !writeFailure.error; step++) {
      if (clock) clock.advance(100);
      else await new Promise((r) => setTimeout(r, 100));
      flush();
      bar?.update(step + 1, { notifications: count });
      // A manual clock never waits: yield so the file drains and Ctrl-C / SIGTERM and write errors get through.
      if (file.writableNeedDrain && !file.destroyed) await once(file, 'drain').catch(() => undefined);
      else if (clock) await new Promise((r) => setImmediate(r));
    }
  } finally {
    const lostLink = ended;
    bar?.stop();
    interrupt.dispose();
    await session.stop().catch(() => undefined);
    flush();
    file.end();
    await finished(file).catch((e: NodeJS.ErrnoException) => (writeFailure.error ??= e));
    await device.disconnect().catch(() => undefined);
    if (lostLink && !o.quiet) process.stderr.write(`device disconnected: ${lostLink}\n`);
  }
  if (!writeFailure.error) {
    try {
      if (o.force) renameSync(tmp, target);
      else moveIntoPlaceNoReplace(tmp, target);
    } catch (e) {
      writeFailure.error = e as NodeJS.ErrnoException;
    }
  }
  const err = writeFailure.error;
  if (err) {
    removeQuietly(tmp);
    if (err.code === 'EEXIST')
      throw new CliError(
        `--out ${o.out}: a file appeared there while recording; it was kept and the capture dropped (add --force to replace it)`,
      );
    throw new CliError(`--out ${o.out}: cannot write the capture (${err.code ?? err.message})`);
  }
  return { notifications: count, kind: session.kind };
}

/** The capture header `recordCapture` wrote: the first line of `path` (read alone, the file may be long). */
function writtenHeader(path: string): CaptureHeader {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return parseCaptureHeader(buf.subarray(0, n).toString('utf8').split('\n')[0]!);
  } finally {
    closeSync(fd);
  }
}

export function registerRecord(program: Command): void {
  program
    .command('record')
    .description('record a headband (sim:… virtual device or replay:<capture>) into a capture file')
    .requiredOption('--device <uri>', 'device URI, e.g. sim:muse?emotion=happy&drop=0.01 (see firmware-bridge/README.md)')
    .requiredOption('--out <file>', 'capture file to write (JSON Lines)')
    .addOption(
      numberOption('--seconds <n>', 'seconds of (virtual) time to record', 'a number in (0, 86400]', (x) => x > 0 && x <= 86400).default(
        10,
      ),
    )
    .option('--force', 'replace the --out file if it exists')
    .option(
      '--preset <preset>',
      "Muse / Athena preset (default: the URI's preset=, else p21 / p1041); an error on devices without presets, on a replay recorded with another preset, or if it contradicts the URI's preset=",
    )
    .option(
      '--json',
      'print one JSON document on stdout: the file written, its header and the notification count (progress stays on stderr)',
    )
    .action(async (opts: { device: string; out: string; seconds: number; preset?: string; json?: boolean; force?: boolean }) => {
      const { seconds } = opts;
      const r = await recordCapture({
        device: opts.device,
        out: opts.out,
        seconds,
        ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
        force: !!opts.force,
      });
      process.stderr.write(`wrote ${r.notifications} notifications from a ${r.kind} to ${opts.out}\n`);
      if (opts.json) {
        const doc = {
          command: 'record',
          out: opts.out,
          bytes: statSync(opts.out).size,
          device: opts.device,
          kind: r.kind,
          seconds,
          notifications: r.notifications,
          header: writtenHeader(opts.out),
        };
        process.stdout.write(JSON.stringify(doc) + '\n');
      }
    });
}
