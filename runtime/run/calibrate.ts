/**
 * Record a per-user baseline: stream `seconds` of a headband through the model's own feature pipeline (the same
 * session code a run uses, so the statistics describe exactly the features the model will see) and gather each
 * good window's features into a CalibrationStore. Windows with lost samples or poor signal are left out, as a run
 * would skip them. Browser-safe.
 */
import { getDriver, identifyPeripheral } from '../../firmware-bridge/registry.js';
import { CalibrationStore } from '../dsp/normalize.js';
import type { Classifier } from '../infer/types.js';
import type { ModelCard } from '../model-card.js';
import { startHeadbandSession } from '../session.js';
import { calibrationMeta, type CalibrationFile } from './calibration.js';
import { isVirtualClock, RealClock, type RunClock } from './clock.js';
import { cardMismatch, deviceSetup, modelSites, RunSetupError } from './device-fit.js';
import { guardPeripheral } from './links.js';
import type { DeviceLink } from './supervisor.js';

export interface CalibrationRecordOptions {
  link: DeviceLink;
  card: ModelCard;
  seconds: number;
  user?: string;
  clock?: RunClock;
  /** Virtual clock speed (simulated ms per real ms; default Infinity: as fast as possible). */
  speed?: number;
  /** Called with seconds recorded so far (about once a second). */
  onProgress?: (seconds: number, windows: number) => void;
  /** Abort to stop early (what was recorded is kept). */
  signal?: AbortSignal;
}

export interface CalibrationRecording {
  file: CalibrationFile;
  user: string;
  windows: number;
  skipped: number;
  lostSamples: number;
  decodeErrors: number;
  /** The link dropped before the time was up (what came before is kept). */
  lostLink: string | null;
}

export async function recordCalibration(o: CalibrationRecordOptions): Promise<CalibrationRecording> {
  const clock = o.clock ?? new RealClock();
  const card = o.card;
  const user = o.user ?? 'default';
  const dim = card.channels.length * card.bands.length;
  const store = new CalibrationStore(dim);
  let windows = 0;
  let skipped = 0;
  let lostLink: string | null = null;
  const p = await o.link.connect(0).catch((e: unknown) => {
    throw new RunSetupError(`cannot connect to ${o.link.label}: ${e instanceof Error ? e.message : String(e)}`);
  });
  const kind = identifyPeripheral(p);
  if (!kind) {
    await o.link.close().catch(() => undefined);
    throw new RunSetupError(`${o.link.label} (${p.name}) is not a supported headband`);
  }
  const driver = getDriver(kind);
  const preset = o.link.preset ?? driver.defaultPreset;
  const problem = cardMismatch(card, driver, await deviceSetup(driver, p, preset, o.link.channelNames), 'the model');
  if (problem) {
    await o.link.close().catch(() => undefined);
    throw new RunSetupError(problem);
  }
  // The classifier only records each good window's raw features (in the order the model would take them).
  const recorder: Classifier = {
    inputSize: dim,
    classes: card.classes,
    async run(rows) {
      for (const r of rows) {
        store.add(user, r);
        windows++;
      }
      return rows.map(() => new Float32Array(card.classes.length).fill(1 / card.classes.length));
    },
    async dispose() {},
  };
  const off = p.onDisconnect((r) => (lostLink = r));
  const virtual = isVirtualClock(clock);
  const detach = virtual && o.link.advanceable ? clock.drive(o.link.advanceable) : null;
  let done = false;
  const pacing = virtual ? clock.pace({ speed: o.speed ?? Infinity, until: () => done }) : null;
  let lostSamples = 0;
  let decodeErrors = 0;
  try {
    const session = await startHeadbandSession({
      device: guardPeripheral(p, () => decodeErrors++),
      classifier: recorder,
      card,
      sites: modelSites(card),
      ...(preset ? { preset } : {}),
      ...(o.link.channelNames ? { channelNames: o.link.channelNames } : {}),
      // Overlapping windows give more (correlated) samples of the same distribution, unless smoothing needs the hop.
      hopSec: card.smoothing === 'none' ? Math.min(1, card.hopSec) : card.hopSec,
      wait: (ms) => clock.sleep(ms),
      keepAlive: !virtual,
      flushOnStop: true,
      onPrediction: (pr) => {
        if (pr.skipped) skipped++;
      },
    });
    const end = clock.now() + o.seconds * 1000;
    while (clock.now() < end && !lostLink && !o.signal?.aborted) {
      await clock.sleep(Math.min(1000, end - clock.now()), o.signal);
      o.onProgress?.(o.seconds - Math.max(0, end - clock.now()) / 1000, windows);
    }
    await session.stop();
    lostSamples = session.stats.lostSamples;
    decodeErrors += session.stats.decodeErrors;
  } catch (e) {
    throw new RunSetupError(`cannot stream from ${o.link.label}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    done = true;
    await pacing;
    detach?.();
    off();
    await o.link.close().catch(() => undefined);
  }
  const file: CalibrationFile = {
    ...store.toJSON(),
    meta: calibrationMeta(card, { device: o.link.label, seconds: o.seconds, createdAt: new Date().toISOString() }),
  };
  return { file, user, windows, skipped, lostSamples, decodeErrors, lostLink };
}
