/**
 * `cmcrd calibrate --model <model-dir | .onnx> --device <uri> [--seconds 60] [--out calib.json] [--user id]`: record
 * a resting baseline through the model's own feature pipeline and save the user's normalisation statistics (a
 * CalibrationStore plus what they were computed for) for `cmcrd run --calibration`. Ctrl-C stops early and keeps
 * what was recorded.
 */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { recordCalibration } from '../../../runtime/run/calibrate.js';
import { VirtualClock, RealClock } from '../../../runtime/run/clock.js';
import { RunSetupError } from '../../../runtime/run/device-fit.js';
import { resolveRunDevice } from '../../../runtime/run/device.node.js';
import { loadRunModel } from '../../../runtime/run/model-dir.node.js';
import { CliError } from '../errors.js';
import { numberOption } from '../options.js';
import { prepareOutFile, writeOutput } from '../paths.js';
import { Interrupt, progress } from '../progress.js';
import { deviceOptions, liveSmoothing, type DeviceDeps } from '../run-device.js';

export interface CalibrateFlags {
  model: string;
  device: string;
  seconds: number;
  out: string;
  user: string;
  force?: boolean;
  speed?: number;
  preset?: string;
  json?: boolean;
  allowOfflineSmoothing?: boolean;
}

export async function calibrateCommand(f: CalibrateFlags, deps: DeviceDeps = {}): Promise<{ windows: number; skipped: number }> {
  if (!f.force && existsSync(f.out) && !statSync(f.out).isDirectory())
    throw new CliError(`--out ${f.out} exists; pass --force to replace it`);
  const target = prepareOutFile(f.out, '--out', { path: f.model, what: 'the model' }, { force: !!f.force });
  if (!/^[\w.@-]{1,64}$/.test(f.user)) throw new CliError(`--user must be 1–64 letters, digits or . _ @ -, got ${JSON.stringify(f.user)}`);
  const fail = (e: unknown): never => {
    if (e instanceof RunSetupError) throw new CliError(e.message);
    throw e;
  };
  const model = await loadRunModel(f.model, { fast: false }).catch(fail);
  try {
    if (model.userCalibration === 'none')
      process.stderr.write(
        `note: ${f.model}'s card says it takes no per-user calibration (user_calibration "none"); cmcrd run will refuse this file for it\n`,
      );
    // The statistics are of the features the model will see live: the same smoothing check as cmcrd run.
    const smoothing = liveSmoothing(model.card, f.model, f.allowOfflineSmoothing);
    if (smoothing.warning) process.stderr.write(`${smoothing.warning}\n`);
    const start = Date.now();
    const dev = await resolveRunDevice(f.device, deviceOptions(start, f.preset, deps)).catch(fail);
    if (!dev.virtual && f.speed !== undefined) {
      await dev.link.close().catch(() => undefined);
      throw new CliError(`--speed: only simulated (sim:) and replayed (replay:) devices run faster than real time`);
    }
    const interrupt = new Interrupt();
    const abort = new AbortController();
    interrupt.onInterrupt(() => abort.abort());
    const bar = f.json ? null : progress('calibrate', Math.round(f.seconds));
    let rec;
    try {
      rec = await recordCalibration({
        link: dev.link,
        card: model.card,
        seconds: f.seconds,
        user: f.user,
        clock: dev.virtual ? new VirtualClock(start) : new RealClock(),
        speed: f.speed ?? Infinity,
        signal: abort.signal,
        onProgress: (s, w) => bar?.update(Math.round(s), { windows: w }),
      }).catch(fail);
    } finally {
      bar?.stop();
      interrupt.dispose();
    }
    if (rec.lostLink) process.stderr.write(`note: the link dropped (${rec.lostLink}); keeping what was recorded before\n`);
    if (rec.windows < 2)
      throw new CliError(
        `only ${rec.windows} good window${rec.windows === 1 ? '' : 's'} in ${f.seconds} s (${rec.skipped} skipped for lost samples or poor signal): check the electrodes and calibrate again`,
      );
    writeOutput(target, JSON.stringify(rec.file, null, 1) + '\n', !!f.force, '--out', f.out);
    const offline = smoothing.warning
      ? `; features NOT as trained: smoothing "${smoothing.smoothing}" ran on its online stand-in (--allow-offline-smoothing)`
      : '';
    const msg = `calibration of user ${f.user}: ${rec.windows} windows (${rec.skipped} skipped, ${rec.lostSamples} samples lost) → ${f.out}${offline}`;
    process.stderr.write(msg + '\n');
    if (f.json)
      process.stdout.write(
        JSON.stringify({
          command: 'calibrate',
          out: f.out,
          user: f.user,
          windows: rec.windows,
          skipped: rec.skipped,
          lostSamples: rec.lostSamples,
          decodeErrors: rec.decodeErrors,
        }) + '\n',
      );
    return { windows: rec.windows, skipped: rec.skipped };
  } finally {
    await model.dispose();
  }
}

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description("record a resting baseline and save the user's feature statistics for cmcrd run --calibration")
    .requiredOption('--model <path>', 'model directory or .onnx file (the statistics are of its features)')
    .requiredOption('--device <device>', 'a headband paired with cmcrd pair (name, alias or id), or a sim:… / replay:… URI')
    .addOption(
      numberOption(
        '--seconds <s>',
        'seconds to record (sit still, eyes open)',
        'a number of seconds in [10, 3600]',
        (x) => x >= 10 && x <= 3600,
      ).default(60),
    )
    .option('--out <file>', 'calibration file to write', 'calib.json')
    .option('--user <id>', 'whose baseline this is', 'default')
    .option('--force', 'replace an existing --out file')
    .addOption(
      numberOption(
        '--speed <x>',
        'simulated seconds per real second for sim:/replay: devices (default: as fast as possible)',
        'a number > 0',
        (x) => x > 0,
      ),
    )
    .option('--preset <preset>', 'headband preset (Muse / Athena)')
    .option('--json', 'print one JSON document on stdout (the file written and the counts)')
    .option(
      '--allow-offline-smoothing',
      'record with a model whose feature smoothing needs the whole trial (its online stand-in), with a warning',
    )
    .action(async (raw: CalibrateFlags) => {
      await calibrateCommand(raw);
    });
}
