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
import { writeFileAtomic } from '../../io/atomic.js';
import { CliError } from '../errors.js';
import { choiceOption, numberOption } from '../options.js';
import { prepareOutFile } from '../paths.js';
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
}

export interface CsvSignal {
  channels: string[];
  data: Float64Array[];
}

/**
 * Columns that are not EEG channels: the time (ms) and sample-index columns of `cmcrd decode --format csv`.
 * Matched by exact header name; their cells are not read.
 */
export const NON_CHANNEL_COLUMNS: readonly string[] = ['t', 'sample'];

/**
 * Parse an EEG CSV (header of channel names, one row per sample; an empty cell or "NaN" = lost sample, which
 * the feature extractor handles like any other gap). Errors name the file, line, column and channel.
 */
export function parseSignalCsv(text: string, file: string): CsvSignal {
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0) throw new CliError(`${file}: empty file (expected a header row of channel names)`);
  const header = lines[0]!.split(',').map((s) => s.trim());
  if (header.some((c) => c === '')) throw new CliError(`${file}:1: empty channel name in the header`);
  if (header.every((c) => Number.isFinite(Number(c)))) throw new CliError(`${file}:1: the first row must be a header of channel names, got numbers`);
  // Indices (in the file) of the channel columns.
  const cols = header.flatMap((c, i) => (NON_CHANNEL_COLUMNS.includes(c) ? [] : [i]));
  if (cols.length === 0) throw new CliError(`${file}:1: no channel columns (${NON_CHANNEL_COLUMNS.map((c) => `"${c}"`).join(' and ')} are time / sample-index columns, not channels)`);
  const channels = cols.map((i) => header[i]!);
  const n = lines.length - 1;
  const data = channels.map(() => new Float64Array(n));
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i]!.split(',');
    if (cells.length !== header.length) {
      throw new CliError(`${file}:${i + 1}: expected ${header.length} values (one per column of the header), got ${cells.length}`);
    }
    cols.forEach((c, k) => {
      const s = cells[c]!.trim();
      const v = s === '' || s === 'NaN' ? NaN : Number(s);
      if (!Number.isFinite(v) && s !== '' && s !== 'NaN') {
        throw new CliError(`${file}:${i + 1}: column ${c + 1} (${header[c]}) is not a number: ${JSON.stringify(cells[c])}`);
      }
      data[k]![i - 1] = v;
    });
  }
  return { channels, data };
}

function positive(flags: string, description: string, integer = false): Option {
  return numberOption(flags, description, `a positive ${integer ? 'integer' : 'number'}`, (x) => x > 0 && (!integer || Number.isInteger(x)));
}

function bandpassOption(): Option {
  return new Option('--bandpass <lo,hi>', 'causal Butterworth band-pass before featurising, e.g. 1,75').argParser((v: string): [number, number] => {
    const p = v.split(',').map(Number);
    if (p.length !== 2 || !p.every((x) => x > 0) || !(p[0]! < p[1]!)) throw new CliError(`--bandpass must be lo,hi in Hz with 0 < lo < hi, got ${JSON.stringify(v)}`);
    return [p[0]!, p[1]!];
  });
}

function fmt(v: number): string {
  return Number.isFinite(v) ? String(v) : 'NaN';
}

export function registerFeatures(program: Command): void {
  program
    .command('features')
    .description('extract EEG band features (SEED DE/PSD, Gaussian DE, Welch) from a CSV recording')
    .argument('<input.csv>', 'header row of channel names, one row per sample; an empty cell or NaN is a lost sample; columns named t and sample (as `cmcrd decode --format csv` writes) are skipped')
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
    .action((input: string, o: FeaturesCliOptions) => runFeatures(input, o));
}

function runFeatures(input: string, o: FeaturesCliOptions): void {
  const { fs, window: windowSec, hop: hopSec, nfft, resample: resampleTo, notch: notchHz, bandpass } = o;
  if (fs === undefined) throw new CliError('--fs <Hz> is required (the sampling rate of the CSV rows)');

  if (o.out !== undefined) {
    // Checked before the work: the recording must not be overwritten, and a bad path fails at once.
    prepareOutFile(o.out, '--out', { path: input, what: 'the input recording itself' });
  }

  let text: string;
  try {
    text = readFileSync(input, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${input}: ${(e as Error).message}`);
  }
  const sig = parseSignalCsv(text, input);
  const nSamples = sig.data[0]!.length;
  const durationSec = nSamples / fs;
  if (durationSec < windowSec) {
    throw new CliError(`${input}: recording is ${nSamples} samples (${durationSec.toFixed(3)} s at ${fs} Hz), shorter than --window ${windowSec} s`);
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
    for (const f of frames) f.features.forEach((ch, c) => rows.push([f.index, f.tStart, fx.channelNames[c], ...Array.from(ch, fmt)].join(',')));
    outText = rows.join('\n') + '\n';
  }
  if (o.out !== undefined) {
    try {
      writeFileAtomic(o.out, outText);
    } catch (e) {
      throw new CliError(`--out ${o.out}: cannot write the features (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  } else process.stdout.write(outText);
  if (stop.interrupted) throw new CliError(`interrupted after ${frames.length} windows${o.out ? ` (partial output in ${o.out})` : ''}`, stop.exitCode);
}
