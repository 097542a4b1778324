/**
 * `cmcrd run --model <model-dir | model.onnx> --device <uri | saved name>`: stream a headband into the model for as
 * long as it takes, surviving the radio (watchdog, reconnection with backoff), adapting to the battery (modes), and
 * writing JSON Lines (one line per window, event lines, a final summary) to stdout or --out; --serve adds
 * Server-Sent Events and /health. SIGINT/SIGTERM stop cleanly: stop command, disconnect, summary, files flushed,
 * exit 0. The supervisor is runtime/run/supervisor.ts; this module only wires options, files and signals.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { sysfsBattery, POWER_SUPPLY_ROOT } from '../../../runtime/battery/sysfs.node.js';
import { applyCalibration, type AppliedCalibration } from '../../../runtime/run/calibration.js';
import { RealClock, VirtualClock, type RunClock } from '../../../runtime/run/clock.js';
import { RunSetupError } from '../../../runtime/run/device-fit.js';
import { resolveRunDevice } from '../../../runtime/run/device.node.js';
import { createMqttPublisher, type MqttPublisher } from '../../../runtime/telemetry/mqtt.node.js';
import { formatEventLine, type RunEvent } from '../../../runtime/run/events.js';
import type { RunSummary } from '../../../runtime/run/events.js';
import { loadRunModel, type LoadedModel } from '../../../runtime/run/model-dir.node.js';
import { MODES } from '../../../runtime/run/modes.js';
import { writeJsonLines } from '../../../runtime/run/output.node.js';
import { DEFAULT_THRESHOLDS, checkThresholds, parsePolicy, type PolicySpec, type Thresholds } from '../../../runtime/run/policy.js';
import { isLoopback, parseServeSpec, serveRunEvents, type EventServer, type ServeSpec } from '../../../runtime/run/sse.node.js';
import { startRun } from '../../../runtime/run/supervisor.js';
import { CliError } from '../errors.js';
import { intOption, numberOption } from '../options.js';
import { prepareOutFile } from '../paths.js';
import { deviceOptions, liveSmoothing, type DeviceDeps } from '../run-device.js';
import { Interrupt } from '../progress.js';

export interface RunFlags {
  model: string;
  device: string;
  duration?: number;
  speed: number;
  policy: PolicySpec;
  batteryTarget?: number;
  thresholds?: Omit<Thresholds, 'hysteresis'>;
  hysteresis?: number;
  calibration?: string;
  user?: string;
  out?: string;
  force?: boolean;
  serve?: ServeSpec;
  preset?: string;
  watchdog: number;
  maxReconnects?: number;
  powerSupply: string;
  seed?: number;
  criticalInference?: boolean;
  allowOfflineSmoothing?: boolean;
  /** mqtt://host:port/<prefix>: publish every line to a broker as well (fleet telemetry). */
  publish?: string;
}

/** A seeded generator for the backoff jitter (mulberry32), so --seed makes a run reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const setupError = (e: unknown): never => {
  if (e instanceof RunSetupError) throw new CliError(e.message);
  throw e;
};

function readCalibration(path: string, model: LoadedModel, user: string | undefined): AppliedCalibration {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`--calibration ${path}: ${code ? `cannot read it (${code})` : `not valid JSON (${(e as Error).message})`}`);
  }
  try {
    return applyCalibration(json, model.card, `--calibration ${path}`, user);
  } catch (e) {
    return setupError(e);
  }
}

export async function runCommand(f: RunFlags, deps: DeviceDeps = {}): Promise<RunSummary> {
  // Everything that can be refused is refused before the device is touched.
  if (f.out !== undefined) {
    if (!f.force && existsSync(f.out) && !statSync(f.out).isDirectory())
      throw new CliError(`--out ${f.out} exists; pass --force to replace it`);
    // Never one of the run's inputs (by identity, so a link to the model or calibration file counts too).
    const inputs = [
      { path: f.model, what: 'the model' },
      ...(f.calibration !== undefined ? [{ path: f.calibration, what: 'the calibration file' }] : []),
    ];
    prepareOutFile(f.out, '--out', inputs, { force: !!f.force });
  }
  if (f.batteryTarget !== undefined && f.policy.kind === 'fixed')
    throw new CliError(`--battery-target picks the mode itself; it cannot be combined with --policy fixed:${f.policy.mode}`);
  const policy: PolicySpec = f.batteryTarget !== undefined ? { kind: 'target', hours: f.batteryTarget } : f.policy;
  let thresholds: Thresholds | undefined;
  if (f.thresholds || f.hysteresis !== undefined) {
    try {
      thresholds = checkThresholds({
        ...DEFAULT_THRESHOLDS,
        ...(f.thresholds ?? {}),
        ...(f.hysteresis !== undefined ? { hysteresis: f.hysteresis } : {}),
      });
    } catch (e) {
      throw new CliError(`--thresholds/--hysteresis: ${(e as Error).message}`);
    }
  }
  if (f.calibration !== undefined && !existsSync(f.calibration)) throw new CliError(`--calibration ${f.calibration}: no such file`);

  const model = await loadRunModel(f.model).catch(setupError);
  let server: EventServer | null = null;
  try {
    let calibration: AppliedCalibration | null = null;
    if (model.userCalibration === 'required' && f.calibration === undefined)
      throw new CliError(
        `${f.model}: the model card asks for per-user calibration: record one with cmcrd calibrate --model ${f.model} --device … and pass --calibration`,
      );
    if (f.calibration !== undefined) {
      if (model.userCalibration === 'none')
        throw new CliError(
          `${f.model}: the model card says it takes no per-user calibration (user_calibration "none"); drop --calibration`,
        );
      calibration = readCalibration(f.calibration, model, f.user);
    } else if (f.user !== undefined) throw new CliError('--user chooses a user of a --calibration file; give --calibration too');
    const smoothing = liveSmoothing(model.card, f.model, f.allowOfflineSmoothing);
    if (smoothing.warning) process.stderr.write(`${smoothing.warning}\n`);

    const virtualStart = Date.now();
    const dev = await resolveRunDevice(f.device, deviceOptions(virtualStart, f.preset, deps)).catch(setupError);
    if (!dev.virtual && f.speed !== 1) {
      await dev.link.close().catch(() => undefined);
      throw new CliError(`--speed ${f.speed}: only simulated (sim:) and replayed (replay:) devices run faster than real time`);
    }
    const clock: RunClock = dev.virtual ? new VirtualClock(virtualStart) : new RealClock();
    const notes = [...(model.notes ?? [])];
    if (calibration && model.userCalibration === null)
      notes.push(
        `the model card does not say whether it expects per-user calibration; applying ${f.calibration} (user ${calibration.user})`,
      );
    const run = startRun({
      link: dev.link,
      model: { ...model, notes },
      clock,
      speed: f.speed,
      ...(f.duration !== undefined ? { durationMs: f.duration * 1000 } : {}),
      policy,
      ...(thresholds ? { thresholds } : {}),
      ...(f.criticalInference ? { modes: { critical: { pause: false } } } : {}),
      calibration,
      hostBattery: [sysfsBattery(f.powerSupply)],
      watchdogMs: f.watchdog * 1000,
      ...(f.maxReconnects !== undefined ? { maxReconnectAttempts: f.maxReconnects } : {}),
      ...(f.seed !== undefined ? { random: seeded(f.seed) } : {}),
      ...(f.allowOfflineSmoothing ? { allowOfflineSmoothing: true } : {}),
    });
    const out = writeJsonLines(run.hub, f.out !== undefined ? { path: f.out } : { stream: process.stdout });
    // Fleet telemetry: every line written is also published (buffered, bounded, while the broker is away).
    let publisher: MqttPublisher | null = null;
    if (f.publish !== undefined) {
      try {
        publisher = createMqttPublisher(f.publish, { device: dev.link.label });
      } catch (e) {
        run.stop();
        await run.done.catch(() => undefined);
        await out.close();
        throw new CliError(`--publish ${f.publish}: ${(e as Error).message}`);
      }
      const p = publisher;
      run.hub.subscribe((e: RunEvent) => p.publish(formatEventLine(e)));
    }
    const interrupt = new Interrupt();
    interrupt.onInterrupt(() => run.stop());
    try {
      if (f.serve) {
        if (!isLoopback(f.serve.host))
          process.stderr.write(
            `note: --serve ${f.serve.host} is reachable from other machines; the events carry the wearer's predicted emotions\n`,
          );
        try {
          server = await serveRunEvents(run, f.serve);
        } catch (e) {
          run.stop();
          await run.done.catch(() => undefined);
          throw new CliError(
            `--serve ${f.serve.host}:${f.serve.port}: cannot listen (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
          );
        }
        process.stderr.write(`serving events on ${server.url}/events and ${server.url}/health\n`);
      }
      let summary: RunSummary;
      try {
        summary = await run.done;
      } catch (e) {
        return setupError(e);
      }
      await out.close();
      if (out.error) throw new CliError(`--out ${f.out ?? 'stdout'}: cannot write (${out.error.code ?? out.error.message})`);
      if (publisher) {
        const st = await publisher.close();
        process.stderr.write(
          `published to ${f.publish}: ${st.delivered} messages delivered${st.dropped ? `, ${st.dropped} dropped while the broker was away` : ''}${st.pending ? `, ${st.pending} not delivered at the end` : ''}\n`,
        );
        publisher = null;
      }
      const lost = summary.lostSamples ? `, ${summary.lostSamples} samples lost` : '';
      const offline = smoothing.warning
        ? `; features NOT as trained: smoothing "${smoothing.smoothing}" ran on its online stand-in (--allow-offline-smoothing)`
        : '';
      process.stderr.write(
        `run: ${summary.predictions} predictions, ${summary.skipped} windows skipped${lost}, ${summary.reconnects} reconnects, stopped by ${summary.stoppedBy} after ${summary.seconds.toFixed(1)} s${offline}\n`,
      );
      return summary;
    } finally {
      interrupt.dispose();
      await out.close();
      await publisher?.close().catch(() => undefined);
    }
  } finally {
    await server?.close();
    await model.dispose();
  }
}

function policyOption(): Option {
  const o = new Option('--policy <policy>', `battery policy: auto (modes by battery level) or fixed:<${MODES.join('|')}>`);
  return o
    .argParser((v: string): PolicySpec => {
      try {
        return parsePolicy(v);
      } catch (e) {
        throw new CliError(`--policy: ${(e as Error).message}`);
      }
    })
    .default({ kind: 'auto' }, 'auto');
}

function thresholdsOption(): Option {
  const d = DEFAULT_THRESHOLDS;
  return new Option(
    '--thresholds <b,s,c>',
    `battery % below which balanced, saver and critical start (default ${d.balanced},${d.saver},${d.critical})`,
  ).argParser((v: string) => {
    const parts = v.split(',').map((s) => Number(s.trim()));
    if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x)))
      throw new CliError(`--thresholds must be three percentages balanced,saver,critical (e.g. 50,25,10), got ${JSON.stringify(v)}`);
    const [balanced, saver, critical] = parts as [number, number, number];
    try {
      checkThresholds({ balanced, saver, critical, hysteresis: 0 });
    } catch (e) {
      throw new CliError(`--thresholds: ${(e as Error).message}`);
    }
    return { balanced, saver, critical };
  });
}

function serveOption(): Option {
  return new Option(
    '--serve [host:port]',
    'serve Server-Sent Events on /events and the state on /health (127.0.0.1 unless a host is named)',
  ).argParser((v: string) => {
    try {
      return parseServeSpec(v);
    } catch (e) {
      throw new CliError(`--serve: ${(e as Error).message}`);
    }
  });
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('stream a headband into a model: predictions and events as JSON Lines, reconnection, battery-aware modes')
    .requiredOption('--model <path>', 'model directory (card.json + model.onnx [+ model.int8.onnx]) or an .onnx file')
    .requiredOption(
      '--device <device>',
      'a headband paired with cmcrd pair (name, alias or id), or a sim:… / replay:… URI (see firmware-bridge/README.md)',
    )
    .addOption(
      numberOption(
        '--duration <s>',
        'stop after this many seconds (simulated seconds for sim:/replay:)',
        'a number of seconds > 0',
        (x) => x > 0,
      ),
    )
    .addOption(
      numberOption('--speed <x>', 'simulated seconds per real second for sim:/replay: devices', 'a number > 0', (x) => x > 0).default(1),
    )
    .addOption(policyOption())
    .addOption(
      numberOption(
        '--battery-target <hours>',
        'pick the richest mode predicted to last this many hours of the run',
        'a number of hours > 0',
        (x) => x > 0 && x <= 1000,
      ),
    )
    .addOption(thresholdsOption())
    .addOption(
      numberOption(
        '--hysteresis <points>',
        `battery points above a threshold before a richer mode returns (default ${DEFAULT_THRESHOLDS.hysteresis})`,
        'a number 0–50',
        (x) => x >= 0 && x < 50,
      ),
    )
    .option('--critical-inference', 'keep classifying (every 60 s) in critical mode instead of pausing')
    .option('--calibration <file>', 'per-user calibration written by cmcrd calibrate')
    .option('--user <id>', 'which user of the calibration file (default: its only one)')
    .option('--out <file>', 'write the JSON Lines here instead of stdout')
    .option('--force', 'replace an existing --out file')
    .addOption(serveOption().preset('127.0.0.1:8787'))
    .option('--preset <preset>', 'headband preset for performance mode (Muse / Athena; default the device default)')
    .addOption(
      numberOption(
        '--watchdog <s>',
        'seconds without EEG before the link is declared dead',
        'a number of seconds ≥ 1',
        (x) => x >= 1,
      ).default(5),
    )
    .addOption(intOption('--max-reconnects <n>', 'reconnection attempts after a loss before giving up (default unlimited)', 0))
    .option('--power-supply <dir>', 'where the host battery is read (Linux sysfs)', POWER_SUPPLY_ROOT)
    .addOption(intOption('--seed <n>', 'seed for the reconnection jitter (reproducible runs)', 0))
    .option(
      '--publish <url>',
      'also publish every line over MQTT: mqtt://host:port/<prefix> (mqtts:// for TLS; credentials in the URL or CMCRD_MQTT_USERNAME / CMCRD_MQTT_PASSWORD)',
    )
    .option(
      '--allow-offline-smoothing',
      "run a model whose feature smoothing needs the whole trial (e.g. SEED's offline LDS) on an online stand-in, with a warning",
    )
    .action(async (raw: RunFlags & { serve?: ServeSpec | string }) => {
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(0);
      });
      const serve = typeof raw.serve === 'string' ? parseServeSpec(raw.serve) : raw.serve;
      await runCommand({ ...raw, ...(serve ? { serve } : {}) });
    });
}
