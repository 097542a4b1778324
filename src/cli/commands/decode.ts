/**
 * `cmcrd decode <capture> [--format jsonl|csv]`: decode a capture file (JSON Lines, see firmware-bridge/capture.ts)
 * into records. JSON Lines: one record per EEG row ({"kind":"eeg","t","sample","channels":{name: µV|null}}),
 * telemetry, accelerometer/gyroscope, control, gap, impedance, message and error records. CSV: EEG rows only
 * (t, sample, one column per channel; empty where lost). Undecodable packets become error records and decoding
 * continues; malformed capture lines are reported with their line number.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import {
  CaptureError,
  decoderOptionsFromHeader,
  parseCaptureHeader,
  parseCaptureLine,
  type CaptureHeader,
} from '../../../firmware-bridge/capture.js';
import { DeviceDecoder, recordToJson, type DecodedRecord } from '../../../firmware-bridge/decoder.js';
import { getDriver } from '../../../firmware-bridge/registry.js';
import { CliError } from '../errors.js';
import { choiceOption } from '../options.js';
import { checkInputFile } from '../paths.js';

export interface DecodeSummary {
  header: CaptureHeader;
  notifications: number;
  records: number;
  errors: number;
  badLines: number;
}

/** Decode a capture file, writing output lines through `write`. */
export async function decodeCaptureFile(
  path: string,
  format: 'jsonl' | 'csv',
  write: (line: string) => void,
  warn: (line: string) => void = () => {},
): Promise<DecodeSummary> {
  checkInputFile(path, 'capture file');
  const input = createReadStream(path, 'utf8');
  // A read error (EIO, or a path that stopped being a file) ends the loop below through this, named, not raw.
  let readError: NodeJS.ErrnoException | null = null;
  input.on('error', (e: NodeJS.ErrnoException) => {
    readError ??= e;
  });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let header: CaptureHeader | null = null;
  let decoder: DeviceDecoder | null = null;
  const sum = { notifications: 0, records: 0, errors: 0, badLines: 0 };
  let csvHeaderDone = false;
  const emit = (recs: DecodedRecord[]) => {
    for (const r of recs) {
      if (r.kind === 'error') sum.errors++;
      if (format === 'csv') {
        if (r.kind !== 'eeg') continue;
        if (!csvHeaderDone) {
          write(['t', 'sample', ...r.names].join(','));
          csvHeaderDone = true;
        }
        for (let i = 0; i < r.t.length; i++) {
          const cells = r.channels.map((c) => (Number.isNaN(c[i]!) ? '' : String(c[i]!)));
          write([r.t[i]!.toFixed(3), r.firstSample >= 0 ? String(r.firstSample + i) : '', ...cells].join(','));
          sum.records++;
        }
        continue;
      }
      for (const j of recordToJson(r)) {
        write(JSON.stringify(j));
        sum.records++;
      }
    }
  };
  const lines = rl[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<string>;
    try {
      next = await lines.next();
    } catch (e) {
      readError ??= e as NodeJS.ErrnoException;
      break;
    }
    if (next.done) break;
    const line = next.value;
    lineNo++;
    if (line.trim() === '') continue;
    if (!header) {
      try {
        header = parseCaptureHeader(line, lineNo);
      } catch (e) {
        throw new CliError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const driver = getDriver(header.device);
      if (driver.experimental)
        warn(`note: ${driver.label} decoding is EXPERIMENTAL (the protocol is reverse-engineered; see firmware-bridge/README.md)`);
      decoder = new DeviceDecoder(header.device, decoderOptionsFromHeader(header));
      continue;
    }
    try {
      const n = parseCaptureLine(line, lineNo);
      sum.notifications++;
      emit(decoder!.push(n.char, n.bytes, n.t));
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      sum.badLines++;
      warn(`${path}: ${e.message}`);
      if (format === 'jsonl') write(JSON.stringify({ kind: 'error', line: e.line, error: e.message }));
    }
  }
  const failed = readError as NodeJS.ErrnoException | null;
  if (failed) throw new CliError(`capture file ${path}: cannot read (${failed.code ?? failed.message})`);
  if (!header || !decoder) throw new CliError(`${path}: empty capture (no header line)`);
  emit(decoder.flush());
  return { header, ...sum };
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('decode a headband capture file (JSON Lines) into EEG rows, telemetry, motion, control, gap and error records')
    .argument('<capture>', 'capture file written by `cmcrd record` or any tool following the capture format')
    .addOption(choiceOption('--format <format>', 'jsonl (all records) or csv (EEG rows only)', ['jsonl', 'csv'] as const).default('jsonl'))
    .action(async (capture: string, opts: { format: 'jsonl' | 'csv' }) => {
      // `cmcrd decode … | head` closes stdout early: stop quietly.
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(0);
      });
      const out: string[] = [];
      const flush = () => {
        if (out.length) process.stdout.write(out.join('\n') + '\n');
        out.length = 0;
      };
      const sum = await decodeCaptureFile(
        capture,
        opts.format,
        (l) => {
          out.push(l);
          if (out.length >= 4096) flush();
        },
        (l) => process.stderr.write(l + '\n'),
      );
      flush();
      process.stderr.write(
        `decoded ${sum.notifications} notifications from a ${sum.header.device} capture: ${sum.records} records, ${sum.errors} undecodable packets, ${sum.badLines} malformed lines\n`,
      );
    });
}
