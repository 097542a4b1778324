/**
 * `cmcrd dataset …`: inspect SEED / SEED-IV / SEED-V folders, write synthetic ones, map headband montages.
 *   info    counts of subjects, sessions, trials, windows, feature sizes and windows per class
 *   dump    one trial's label, EEG [window][channel][band] and eye [window][feature]
 *   synth   a synthetic dataset in the SEED-IV or SEED-V layout (real MAT / npz files)
 *   montage nearest cap channels for a headband's sites
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { choiceOption, intOption } from '../options.js';
import { Interrupt, progress, type Progress } from '../progress.js';
import { DataFormatError } from '../../io/errors.js';
import { ExperimentConfigError } from '../../train/errors.js';
import { cliMessage } from '../flags.js';
import {
  checkModelParameters,
  DATASET_KINDS,
  estimateSynth,
  FULL_SIZE,
  SYNTH_LIMITS,
  SynthModelError,
  loadDataset,
  nestedWindow,
  summarize,
  synthesizeAsync,
  SynthOutputError,
  type DatasetKind,
  type LoadDatasetOptions,
  type SynthLayout,
} from '../../datasets/index.js';
import { WORLD_DEFAULTS, type WorldOptions } from '../../../firmware-bridge/sim/wearer-model.js';
import { customMontage, ganglionMontage, mapToCap, MUSE_MONTAGE, type Montage } from '../../../firmware-bridge/montage/index.js';

/** Above this estimated size `dataset synth` needs --force (the estimate is printed first either way). */
export const SYNTH_FORCE_BYTES = 2 ** 30;

function human(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Free bytes on the file system that would hold `dir` (its nearest existing ancestor), or null if unknown. */
function freeBytes(dir: string): number | null {
  let p = resolve(dir);
  for (;;) {
    try {
      const s = statfsSync(p);
      return s.blocks > 0 ? s.bavail * s.bsize : null; // procfs and the like report no blocks at all
    } catch {
      const up = dirname(p);
      if (up === p) return null;
      p = up;
    }
  }
}

interface LoadFlags {
  dataset: DatasetKind;
  root: string;
  feature?: string;
  source?: 'features' | 'raw';
  columnOrder?: 'channel-major' | 'band-major';
  eye?: boolean;
  checkLabels?: boolean;
}

function loadOptions(o: LoadFlags): LoadDatasetOptions {
  return {
    ...(o.feature ? { feature: o.feature } : {}),
    ...(o.source ? { source: o.source } : {}),
    ...(o.columnOrder ? { columnOrder: o.columnOrder } : {}),
    ...(o.eye === false ? { eye: false } : {}),
    ...(o.checkLabels === false ? { checkLabels: false } : {}),
  };
}

/** Run a loader with a progress line on stderr; reader errors become CLI errors (exit 2). */
function load(o: LoadFlags, extra: LoadDatasetOptions = {}) {
  const kind = o.dataset;
  let bar: Progress | null = null;
  try {
    return loadDataset(kind, o.root, {
      ...loadOptions(o),
      ...extra,
      onProgress: (done, total, file) => {
        bar ??= progress('loading', total);
        bar.update(done, { file: file.split(/[\\/]/).slice(-2).join('/') });
      },
    });
  } catch (err) {
    if (err instanceof DataFormatError || err instanceof RangeError || err instanceof ExperimentConfigError)
      throw new CliError(cliMessage(err));
    throw err;
  } finally {
    (bar as Progress | null)?.stop();
  }
}

function addLoadFlags(cmd: Command): Command {
  return cmd
    .addOption(choiceOption('--dataset <name>', 'dataset', DATASET_KINDS).makeOptionMandatory())
    .requiredOption('--root <dir>', 'dataset folder (as downloaded, or written by `dataset synth`)')
    .option('--feature <name>', 'EEG feature: de_LDS (default), de_movingAve, psd_LDS, psd_movingAve')
    .addOption(
      choiceOption('--source <src>', 'SEED-IV: features (eeg_feature_smooth, default) or raw (compute from eeg_raw_data)', [
        'features',
        'raw',
      ] as const),
    )
    .addOption(
      choiceOption('--column-order <order>', 'SEED-V 310-column order: channel-major (default) or band-major', [
        'channel-major',
        'band-major',
      ] as const),
    )
    .option('--no-eye', 'skip eye-movement features')
    .option('--no-check-labels', 'SEED-V: do not compare file labels with the documented ones')
    .option('--json', 'print JSON');
}

export function registerDataset(program: Command): void {
  const ds = program.command('dataset').description('SEED-family datasets: inspect, dump, synthesise, map montages');

  addLoadFlags(ds.command('info').description('counts of subjects, sessions, trials, windows, features and windows per class')).action(
    (o: LoadFlags & { json?: boolean }) => {
      const data = load(o);
      const s = summarize(data);
      if (o.json) {
        process.stdout.write(JSON.stringify(s) + '\n');
        return;
      }
      const m = data.meta;
      process.stdout.write(
        [
          `${m.dataset}${m.synthetic ? ' (synthetic)' : ''} at ${m.root}, feature ${m.feature}, ${m.windowSec}-s windows`,
          `subjects ${s.subjects}, sessions ${s.sessions}, trials ${s.trials}, windows ${s.windows}`,
          `EEG features ${s.eegFeatures} (${m.channelNames.length} channels × ${m.bandNames.length} bands), eye features ${s.eyeFeatures}`,
          `windows per class: ${Object.entries(s.classCounts)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        ].join('\n') + '\n',
      );
    },
  );

  addLoadFlags(ds.command('dump').description("one trial's label, EEG [window][channel][band] and eye [window][feature]"))
    .requiredOption('--subject <id>', 'subject id as in the file names')
    .addOption(intOption('--session <n>', '1-based session', 1).makeOptionMandatory())
    .addOption(intOption('--trial <n>', '1-based trial', 1).makeOptionMandatory())
    .action((o: LoadFlags & { subject: string; session: number; trial: number; json?: boolean }) => {
      const data = load(o, { subjects: [o.subject], sessions: [o.session] });
      const t = data.trials.find((x) => x.subject === o.subject && x.session === o.session && x.trial === o.trial);
      if (!t)
        throw new CliError(
          `no trial ${o.trial} for subject ${o.subject}, session ${o.session} (trials 1..${Math.max(0, ...data.trials.map((x) => x.trial))})`,
        );
      const E = data.meta.eyeFeatures;
      const out = {
        label: t.label,
        className: data.meta.classNames[t.label],
        eeg: Array.from({ length: t.windows }, (_, w) => nestedWindow(data, t, w)),
        eye: t.eye ? Array.from({ length: t.windows }, (_, w) => Array.from(t.eye!.subarray(w * E, (w + 1) * E))) : [],
      };
      if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
      else {
        process.stdout.write(
          `subject ${o.subject} session ${o.session} trial ${o.trial}: label ${t.label} (${out.className}), ${t.windows} windows\n`,
        );
        out.eeg.forEach((w, i) =>
          process.stdout.write(`window ${i}: ${data.meta.channelNames[0]} ${w[0]!.map((v) => v.toFixed(3)).join(' ')} …\n`),
        );
      }
    });

  ds.command('synth')
    .description('write a synthetic dataset in the SEED-IV or SEED-V layout (signals from the wearer model)')
    .addOption(choiceOption('--layout <layout>', 'file layout to write', ['seed-iv', 'seed-v'] as const).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output folder (new or empty; an existing dataset is never overwritten)')
    .addOption(intOption('--subjects <n>', `subjects 1–${SYNTH_LIMITS.subjects} (default 2; --full: 15)`, 1, SYNTH_LIMITS.subjects))
    .addOption(intOption('--sessions <n>', 'sessions 1..3 (default 2; --full: 3)', 1, 3))
    .addOption(
      intOption(
        '--windows-per-trial <n>',
        `windows per trial 1–${SYNTH_LIMITS.windowsPerTrial} (default 3; --full: 35 on average)`,
        1,
        SYNTH_LIMITS.windowsPerTrial,
      ),
    )
    .addOption(intOption('--seed <n>', 'world seed (default 2022)', 0, SYNTH_LIMITS.seed))
    .option('--raw', 'SEED-IV: also write eeg_raw_data (large)')
    .option('--full', 'full SEED-IV-sized dataset (15 subjects × 3 sessions, varied trial lengths)')
    .option('--no-compress', 'write uncompressed MAT files')
    .option('--model <json>', 'override generative-model parameters, e.g. \'{"eyeNoise":0.5}\' (see docs/synthetic-model.md)')
    .option('--json', 'print a JSON summary')
    .option(
      '--force',
      `write a dataset estimated above ${human(SYNTH_FORCE_BYTES)} (an existing folder is never written into, even with --force)`,
    )
    .action(
      async (o: {
        layout: SynthLayout;
        out: string;
        subjects?: number;
        sessions?: number;
        windowsPerTrial?: number;
        seed?: number;
        raw?: boolean;
        full?: boolean;
        compress: boolean;
        model?: string;
        json?: boolean;
        force?: boolean;
      }) => {
        const model = o.model === undefined ? undefined : parseModelOverrides(o.model);
        const preset = o.full ? FULL_SIZE : { subjects: 2, sessions: 2, windowsPerTrial: 3 };
        const plan = {
          layout: o.layout,
          ...preset,
          ...(o.subjects !== undefined ? { subjects: o.subjects } : {}),
          ...(o.sessions !== undefined ? { sessions: o.sessions } : {}),
          ...(o.windowsPerTrial !== undefined ? { windowsPerTrial: o.windowsPerTrial } : {}),
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          raw: !!o.raw,
        };
        // The size is stated before anything is written; a big one needs --force, and one that cannot fit is refused.
        let est;
        try {
          est = estimateSynth(plan);
        } catch (err) {
          if (err instanceof RangeError || err instanceof ExperimentConfigError) throw new CliError(cliMessage(err));
          throw err;
        }
        const free = freeBytes(o.out);
        process.stderr.write(
          `dataset synth: ${est.trials} trials, ${est.windows} windows, ${est.files} files, at most about ${human(est.bytes)}${free !== null ? ` (${human(free)} free)` : ''}\n`,
        );
        if (free !== null && est.bytes > free)
          throw new CliError(
            `--out ${o.out}: the dataset needs about ${human(est.bytes)}, only ${human(free)} is free there; nothing written`,
          );
        if (est.bytes > SYNTH_FORCE_BYTES && !o.force) {
          throw new CliError(
            `the dataset would take about ${human(est.bytes)} (more than ${human(SYNTH_FORCE_BYTES)}); add --force to write it, or lower --subjects / --windows-per-trial${o.raw ? ' or drop --raw' : ''}; nothing written`,
          );
        }
        const interrupt = new Interrupt();
        let bar: Progress | null = null;
        try {
          const r = await synthesizeAsync({
            ...plan,
            out: o.out,
            ...(model ? { model } : {}),
            compress: o.compress,
            onProgress: (done, total, what) => {
              bar ??= progress('synthesising', total);
              bar.update(done, { at: what });
            },
            shouldStop: () => interrupt.interrupted,
          });
          (bar as Progress | null)?.stop();
          const summary = {
            out: o.out,
            layout: o.layout,
            files: r.files.length,
            subjects: r.subjects,
            sessions: r.sessions,
            trials: r.trials,
            windows: r.windows,
            stopped: r.stopped,
          };
          process.stdout.write(
            o.json
              ? JSON.stringify(summary) + '\n'
              : `wrote ${r.files.length} files (${r.trials} trials, ${r.windows} windows) to ${o.out}${r.stopped ? ' (interrupted: partial dataset)' : ''}\n`,
          );
          if (r.stopped)
            throw new CliError(
              `interrupted: ${o.out} holds a partial dataset (${r.trials} of ${est.trials} trials; its SYNTHETIC.json says "partial": true, "stopped": true)`,
              interrupt.exitCode,
            );
        } catch (err) {
          if (err instanceof SynthOutputError) throw new CliError(`--out ${err.message}`);
          if (err instanceof SynthModelError) throw new CliError(`--model: ${err.message}`);
          if (err instanceof RangeError || err instanceof DataFormatError || err instanceof ExperimentConfigError)
            throw new CliError(cliMessage(err));
          throw err;
        } finally {
          interrupt.dispose();
        }
      },
    );

  ds.command('montage')
    .description('map headband electrode sites to the nearest SEED 62-channel cap sites (10-05 template)')
    .option('--device <name>', 'muse, ganglion (needs --sites) or custom (needs --sites)', 'muse')
    .option('--sites <list>', 'comma-separated electrode sites, e.g. AF7,AF8,TP9,TP10')
    .option('--json', 'print JSON')
    .action((o: { device: string; sites?: string; json?: boolean }) => {
      const sites = o.sites
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      let montage: Montage;
      try {
        if (o.device === 'muse') montage = sites ? customMontage('muse', sites, 'Fpz') : MUSE_MONTAGE;
        else if (o.device === 'ganglion') {
          if (!sites) throw new CliError('--device ganglion needs --sites (its four electrodes are user-placed)');
          montage = ganglionMontage(sites);
        } else {
          if (!sites) throw new CliError(`--device ${o.device} needs --sites`);
          montage = customMontage(o.device, sites);
        }
        const m = mapToCap(montage);
        const rows = m.matches.map((x) => ({
          site: x.site,
          channel: x.channel,
          index: x.index,
          distanceMm: +x.distanceMm.toFixed(1),
          alternatives: x.alternatives.map((a) => a.channel),
        }));
        if (o.json) process.stdout.write(JSON.stringify({ device: montage.name, matches: rows }) + '\n');
        else
          for (const r of rows)
            process.stdout.write(
              `${r.site} → ${r.channel} (${r.distanceMm} mm)${r.alternatives.length ? `, also close: ${r.alternatives.join(', ')}` : ''}\n`,
            );
      } catch (err) {
        if (err instanceof RangeError) throw new CliError(err.message);
        throw err;
      }
    });
}

/** `--model` JSON → world overrides, checked key by key against the model's parameters. */
export function parseModelOverrides(text: string): Omit<WorldOptions, 'seed' | 'classes'> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError(`--model is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CliError('--model must be a JSON object, e.g. {"eyeNoise":0.5}');
  for (const [key, val] of Object.entries(v)) {
    if (!(key in WORLD_DEFAULTS))
      throw new CliError(`--model: unknown parameter "${key}" (known: ${Object.keys(WORLD_DEFAULTS).join(', ')})`);
    const isArray = Array.isArray(WORLD_DEFAULTS[key as keyof typeof WORLD_DEFAULTS]);
    if (
      isArray
        ? !(Array.isArray(val) && val.every((x) => typeof x === 'number' && Number.isFinite(x)))
        : !(typeof val === 'number' && Number.isFinite(val))
    ) {
      throw new CliError(`--model: "${key}" must be ${isArray ? 'an array of numbers' : 'a number'}, got ${JSON.stringify(val)}`);
    }
  }
  // Ranges (and the shape of every value) are checked where the model is used, so the library refuses them too.
  try {
    return checkModelParameters(v as Record<string, unknown>);
  } catch (e) {
    if (e instanceof SynthModelError) throw new CliError(`--model: ${e.message}`);
    throw e;
  }
}
