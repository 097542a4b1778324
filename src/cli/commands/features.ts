/**
 * `cmcrd features <input.csv> --fs <Hz>`: EEG band features of a recording, with the same code the
 * device runs (runtime/dsp). Input: a header row of channel names, then one row per sample; an empty cell or
 * "NaN" marks a lost sample. Columns named `t` and `sample` (time and sample index, as `cmcrd decode --format
 * csv` writes them) are not channels and are skipped, so decode's CSV is read as is.
 * Output: JSON {channels, bands, features[window][channel][band]} or CSV.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import {
  FEATURE_METHODS,
  FeatureExtractor,
  SMOOTH_METHODS,
  smoothFrames,
  smoothingIsCausal,
  type FeatureExtractorOptions,
  type FeatureFrame,
  type FeatureMethod,
  type SmoothMethod,
} from '../../../runtime/dsp/index.js';
import { CliError } from '../errors.js';
import { choiceOption, numberOption, parseDecimal } from '../options.js';
import { checkInputFile, prepareOutFile, writeOutput } from '../paths.js';
import { Interrupt, progress } from '../progress.js';

interface FeaturesCliOptions {
  fs?: number;
  window: number;
  hop?: number;
  nfft?: number;
  method: FeatureMethod;
  smooth: SmoothMethod;
  resample?: number;
  notch?: number;
  bandpass?: [number, number];
  format: 'json' | 'csv';
  out?: string;
  force?: boolean;
}

export interface CsvSignal {
  channels: string[];
  data: Float64Array[];
}

/**
 * Columns that are not EEG channels: the time (ms) and sample-index columns of `cmcrd decode --format csv`.
 * Matched by exact header name; their cells are not read (except `t`, against which --fs is checked).
 */
export const NON_CHANNEL_COLUMNS: readonly string[] = ['t', 'sample'];

/**
 * Largest sample magnitude accepted. Far beyond any EEG value in any unit (24-bit ADC counts stay below 1e7,
 * µV below 1e5, nV below 1e9), and small enough that band powers of a window cannot overflow to Infinity and
 * leave a window silently without features.
 */
export const MAX_SAMPLE_MAGNITUDE = 1e12;

/** How far --fs may be from the rate the `t` column shows (jitter and device clock error are far smaller). */
export const FS_TOLERANCE = 0.03;

/**
 * Split one CSV line into fields (RFC 4180: a field may be quoted, a quote inside it doubled; spaces around a
 * field are trimmed). A quoted field that does not close on its line is an error (fields spanning lines are not
 * supported: channel names and numbers never need them).
 */
export function splitCsvLine(line: string, where: string): string[] {
  if (!line.includes('"')) return line.split(',').map((c) => c.trim());
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new CliError(`${where}: a quoted field is not closed on this line (fields spanning lines are not supported)`);
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',')
        throw new CliError(
          `${where}: unexpected ${JSON.stringify(line[i])} after the quoted field ${JSON.stringify(v)} (a quote inside a field is written "")`,
        );
      out.push(v);
    } else {
      const c = line.indexOf(',', i);
      const cell = (c < 0 ? line.slice(i) : line.slice(i, c)).trim();
      if (cell.includes('"'))
        throw new CliError(
          `${where}: a quote inside the unquoted field ${JSON.stringify(cell)} (quote the whole field, and write a quote in it as "")`,
        );
      out.push(cell);
      i = c < 0 ? line.length : c;
    }
    if (i >= line.length) return out;
    i++; // the comma
    if (i === line.length) {
      out.push('');
      return out;
    }
  }
}

/**
 * Parse an EEG CSV (header of channel names, one row per sample; an empty cell or "NaN" = lost sample, which
 * the feature extractor handles like any other gap). Errors name the file, line, column and channel.
 * Returns the `t` column too when there is one (ms, as decode writes it), to check --fs against.
 */
export function parseSignalCsv(text: string, file: string): CsvSignal & { t?: Float64Array } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte-order mark (Excel writes one)
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0) throw new CliError(`${file}: empty file (expected a header row of channel names)`);
  const header = splitCsvLine(lines[0]!, `${file}:1`);
  if (header.some((c) => c === '')) throw new CliError(`${file}:1: empty channel name in the header`);
  if (header.every((c) => parseDecimal(c) !== undefined))
    throw new CliError(`${file}:1: the first row must be a header of channel names, got numbers`);
  const seen = new Map<string, number>();
  header.forEach((c, i) => {
    const k = c.toUpperCase();
    const j = seen.get(k);
    if (j !== undefined)
      throw new CliError(
        `${file}:1: column ${i + 1} repeats the name ${JSON.stringify(c)} of column ${j + 1}${c === header[j] ? '' : ` (${JSON.stringify(header[j])})`}; every column needs its own name`,
      );
    seen.set(k, i);
  });
  // Indices (in the file) of the channel columns.
  const cols = header.flatMap((c, i) => (NON_CHANNEL_COLUMNS.includes(c) ? [] : [i]));
  if (cols.length === 0)
    throw new CliError(
      `${file}:1: no channel columns (${NON_CHANNEL_COLUMNS.map((c) => `"${c}"`).join(' and ')} are time / sample-index columns, not channels)`,
    );
  const tCol = header.indexOf('t');
  const channels = cols.map((i) => header[i]!);
  const n = lines.length - 1;
  const data = channels.map(() => new Float64Array(n));
  const t = tCol >= 0 ? new Float64Array(n) : undefined;
  for (let i = 1; i < lines.length; i++) {
    const cells = splitCsvLine(lines[i]!, `${file}:${i + 1}`);
    if (cells.length !== header.length) {
      throw new CliError(`${file}:${i + 1}: expected ${header.length} values (one per column of the header), got ${cells.length}`);
    }
    cols.forEach((c, k) => {
      const s = cells[c]!;
      let v: number;
      if (s === '' || s.toLowerCase() === 'nan') v = NaN;
      else {
        const x = parseDecimal(s);
        if (x === undefined)
          throw new CliError(`${file}:${i + 1}: column ${c + 1} (${header[c]}) is not a number: ${JSON.stringify(cells[c])}`);
        if (!(Math.abs(x) <= MAX_SAMPLE_MAGNITUDE))
          throw new CliError(
            `${file}:${i + 1}: column ${c + 1} (${header[c]}) holds ${s}, beyond ±${MAX_SAMPLE_MAGNITUDE.toExponential()} (not an EEG sample in any unit; its window's band powers would overflow)`,
          );
        v = x;
      }
      data[k]![i - 1] = v;
    });
    if (t) {
      const s = cells[tCol]!;
      t[i - 1] = s === '' ? NaN : (parseDecimal(s) ?? NaN);
    }
  }
  return { channels, data, ...(t ? { t } : {}) };
}

/**
 * The sampling rate the `t` column shows, from the median step between consecutive rows (robust to lost rows
 * and jitter), as {ms, s} for a column in milliseconds or seconds; null with fewer than 8 increasing steps.
 */
export function rateFromTimes(t: Float64Array): { stepMedian: number; hzIfMs: number; hzIfS: number } | null {
  const steps: number[] = [];
  for (let i = 1; i < t.length; i++) {
    const d = t[i]! - t[i - 1]!;
    if (Number.isFinite(d) && d > 0) steps.push(d);
  }
  if (steps.length < 8) return null;
  steps.sort((a, b) => a - b);
  const m = steps[steps.length >> 1]!;
  return { stepMedian: m, hzIfMs: 1000 / m, hzIfS: 1 / m };
}

function positive(flags: string, description: string, integer = false): Option {
  return numberOption(
    flags,
    description,
    `a positive ${integer ? 'integer' : 'number'}`,
    (x) => x > 0 && (!integer || Number.isInteger(x)),
  );
}

function bandpassOption(): Option {
  return new Option('--bandpass <lo,hi>', 'causal Butterworth band-pass before featurising, e.g. 1,75').argParser(
    (v: string): [number, number] => {
      const p = v.split(',').map((x) => parseDecimal(x) ?? NaN);
      if (p.length !== 2 || !p.every((x) => x > 0) || !(p[0]! < p[1]!))
        throw new CliError(`--bandpass must be lo,hi in Hz with 0 < lo < hi, got ${JSON.stringify(v)}`);
      return [p[0]!, p[1]!];
    },
  );
}

function fmt(v: number): string {
  return Number.isFinite(v) ? String(v) : 'NaN';
}

export function registerFeatures(program: Command): void {
  program
    .command('features')
    .description('extract EEG band features (SEED DE/PSD, Gaussian DE, Welch) from a CSV recording')
    .argument(
      '<input.csv>',
      'header row of channel names, one row per sample; an empty cell or NaN is a lost sample; columns named t and sample (as `cmcrd decode --format csv` writes) are skipped',
    )
    .addOption(positive('--fs <Hz>', 'sampling rate of the input (required)'))
    .addOption(positive('--window <s>', 'window length in seconds').default(4))
    .addOption(positive('--hop <s>', 'hop between windows in seconds (default: the window length)'))
    .addOption(positive('--nfft <N>', 'FFT length for seed-de / seed-psd (power of two)', true))
    .addOption(choiceOption('--method <m>', 'feature', FEATURE_METHODS).default('seed-de'))
    .addOption(
      choiceOption(
        '--smooth <s>',
        "smoothing along windows, the recording taken as one trial: lds = SEED's offline LDS (trial mean; the released de_LDS), moving-average = centred; lds-causal / moving-average-causal = what the device computes live",
        SMOOTH_METHODS,
      ).default('none'),
    )
    .addOption(positive('--resample <Hz>', 'resample to this rate first (e.g. 200 for SEED-trained models)'))
    .addOption(positive('--notch <Hz>', 'causal notch at the mains frequency (50 or 60)'))
    .addOption(bandpassOption())
    .addOption(choiceOption('--format <f>', 'output format', ['json', 'csv'] as const).default('json'))
    .option('--out <file>', 'write to a file instead of stdout (its folder is created if needed)')
    .option('--force', 'replace the --out file if it exists')
    .action((input: string, o: FeaturesCliOptions) => runFeatures(input, o));
}

function runFeatures(input: string, o: FeaturesCliOptions): void {
  const { fs, window: windowSec, hop: hopSec, nfft, resample: resampleTo, notch: notchHz, bandpass } = o;
  if (fs === undefined) throw new CliError('--fs <Hz> is required (the sampling rate of the CSV rows)');

  checkInputFile(input, 'input');
  // Checked before the work: the recording must not be overwritten, and a bad path fails at once.
  const target =
    o.out === undefined
      ? undefined
      : prepareOutFile(o.out, '--out', { path: input, what: 'the input recording itself' }, { force: !!o.force });

  let text: string;
  try {
    text = readFileSync(input, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${input}: ${(e as Error).message}`);
  }
  const sig = parseSignalCsv(text, input);
  if (sig.t) {
    const r = rateFromTimes(sig.t);
    const near = (hz: number) => Math.abs(hz / fs - 1) <= FS_TOLERANCE;
    if (r && !near(r.hzIfMs) && !near(r.hzIfS)) {
      const shown =
        r.hzIfMs >= 1 && r.hzIfMs <= 100_000
          ? `${+r.hzIfMs.toFixed(2)} Hz if t is in ms (${+r.hzIfS.toFixed(4)} Hz if in seconds)`
          : `${+r.hzIfS.toFixed(2)} Hz if t is in seconds`;
      throw new CliError(
        `${input}: --fs ${fs} disagrees with the t column, whose median step of ${+r.stepMedian.toPrecision(6)} means ${shown}; give the rate of the recording (tolerance ${FS_TOLERANCE * 100} %)`,
      );
    }
  }
  const nSamples = sig.data[0]!.length;
  const durationSec = nSamples / fs;
  if (durationSec < windowSec) {
    throw new CliError(
      `${input}: recording is ${nSamples} samples (${durationSec.toFixed(3)} s at ${fs} Hz), shorter than --window ${windowSec} s`,
    );
  }

  const opts: FeatureExtractorOptions = {
    fs,
    channels: sig.channels,
    method: o.method,
    windowSec,
    hopSec,
    nfft,
    // An offline form needs the whole recording: it is applied after the last window (smoothFrames).
    smooth: smoothingIsCausal(o.smooth) ? o.smooth : 'none',
    resampleTo,
    notchHz,
    bandpass,
    quality: false,
  };
  let fx: FeatureExtractor;
  try {
    fx = new FeatureExtractor(opts);
  } catch (e) {
    throw new CliError(`invalid options: ${(e as Error).message}`);
  }

  // Stream the recording through in 10-s chunks so long files show progress and can be interrupted.
  const chunk = Math.max(1, Math.round(fs * 10));
  let frames: FeatureFrame[] = [];
  const bar = progress('features', nSamples);
  const stop = new Interrupt();
  try {
    for (let s = 0; s < nSamples && !stop.interrupted; s += chunk) {
      frames.push(...fx.push(sig.data.map((ch) => ch.subarray(s, Math.min(nSamples, s + chunk)))));
      bar.update(Math.min(nSamples, s + chunk), { windows: frames.length });
    }
    if (!stop.interrupted) frames.push(...fx.flush());
  } finally {
    bar.stop();
    stop.dispose();
  }
  // A window without lost samples must have finite features; anything else would print as null, like a gap.
  for (const f of frames) {
    f.valid.forEach((ok, c) => {
      if (ok && !f.features[c]!.every(Number.isFinite)) {
        throw new CliError(
          `${input}: window ${f.index} (from ${f.tStart} s), channel ${fx.channelNames[c]}: the features are not finite although no sample is lost (samples too large for the filters?); nothing written`,
        );
      }
    });
  }
  if (!smoothingIsCausal(o.smooth)) frames = smoothFrames(frames, o.smooth);

  const bands = fx.bands.map((b) => b.name);
  let outText: string;
  if (o.format === 'json') {
    outText =
      JSON.stringify({
        channels: fx.channelNames,
        bands,
        method: fx.method,
        smoothing: o.smooth,
        fs: fx.featureFs,
        windowSec,
        hopSec: hopSec ?? windowSec,
        features: frames.map((f) => f.features.map((ch) => Array.from(ch, (v) => (Number.isFinite(v) ? v : null)))),
      }) + '\n';
  } else {
    const rows = [['window', 't_start', 'channel', ...bands].join(',')];
    for (const f of frames)
      f.features.forEach((ch, c) => rows.push([f.index, f.tStart, fx.channelNames[c], ...Array.from(ch, fmt)].join(',')));
    outText = rows.join('\n') + '\n';
  }
  if (o.out !== undefined) writeOutput(target!, outText, !!o.force, '--out', o.out);
  else process.stdout.write(outText);
  if (stop.interrupted)
    throw new CliError(`interrupted after ${frames.length} windows${o.out ? ` (partial output in ${o.out})` : ''}`, stop.exitCode);
}
