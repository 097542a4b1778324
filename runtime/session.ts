/**
 * A live headband session for any registered device (Muse, Muse S Athena, Ganglion, open EEG profile):
 * notifications → firmware-bridge's decoder (reassembly, gap accounting, sampling-grid timestamps) → the
 * model's electrodes → resampled, windowed features with exactly the model card's conventions → classifier →
 * one prediction per window.
 */
import type { GattPeripheral } from '../firmware-bridge/gatt.js';
import type { DecodedRecord } from '../firmware-bridge/decoder.js';
import { openHeadband } from '../firmware-bridge/headband.js';
import type { DeviceKind } from '../firmware-bridge/registry.js';
import { FeatureExtractor, GapFiller, type ChannelQuality, type FeatureFrame, type FeatureMethod, type SmoothMethod } from './dsp/index.js';
import type { Classifier } from './infer/types.js';
import type { ModelCard } from './model-card.js';

export interface Prediction {
  startMs: number;
  endMs: number;
  /** null when the window was skipped */
  predicted: string | null;
  probabilities: Record<string, number> | null;
  /** set when the window was not classified: lost samples, or a channel of poor signal quality */
  skipped?: 'gap' | 'quality';
  batteryPercent: number | null;
  /** Per-channel signal quality of the window (model channel order). */
  quality?: ChannelQuality[];
}

export interface SessionStats {
  windows: number;
  predictions: number;
  skipped: number;
  /** lost samples (per channel the model reads, averaged over them) */
  lostSamples: number;
  /** lost samples (per channel) recovered by interpolation across short gaps */
  filledSamples: number;
  decodeErrors: number;
}

export interface HeadbandSession {
  readonly kind: DeviceKind;
  readonly stats: SessionStats;
  /** Device time (ms) of the newest sample row received. */
  readonly lastSampleMs: number;
  readonly batteryPercent: number | null;
  stop(): Promise<void>;
}

export interface HeadbandSessionOptions {
  device: GattPeripheral;
  classifier: Classifier;
  card: ModelCard;
  onPrediction: (p: Prediction) => void;
  onError?: (message: string) => void;
  /** Device electrode names to feed the model, in its input order (default: the card's montage sites). */
  sites?: readonly string[];
  /** Device preset (Muse / Athena); AUX presets (Muse p20/p50/p60) add the AUX electrode as a device site. */
  preset?: string;
  /** Channel labels the device cannot report itself (e.g. where a Ganglion's electrodes are placed). */
  channelNames?: readonly string[];
  /** Warnings from opening the device (e.g. an unreadable Ganglion firmware revision). */
  onWarning?: (message: string) => void;
  /**
   * Gaps up to this long (ms) are bridged by linear interpolation before featurising (default 100: two lost
   * Muse blocks); longer gaps make the windows they touch skip with `skipped: 'gap'`.
   */
  maxFillMs?: number;
  /** Window stride (s) instead of the card's hop (e.g. to classify more often); windows keep the card's length. */
  hopSec?: number;
  /** Called when a window is complete, before it is classified: false leaves it out (not classified, not counted). */
  gate?: (w: { index: number; startMs: number; endMs: number }) => boolean;
  /** Sees every decoded record (rows, gaps, telemetry, errors) before the session handles it. */
  onRecord?: (r: DecodedRecord) => void;
  /** Passed to openHeadband: how to wait between start commands (virtual clocks), and the keep-alive timer. */
  wait?: (ms: number) => Promise<void>;
  keepAlive?: boolean;
  /** On stop, decode what the reassembler still holds (the last few blocks) before finishing. */
  flushOnStop?: boolean;
}

export async function startHeadbandSession(opts: HeadbandSessionOptions): Promise<HeadbandSession> {
  const { card, classifier, device } = opts;
  const perWindow = card.channels.length * card.bands.length;
  if (classifier.inputSize !== perWindow) {
    throw new Error(
      `the model takes ${classifier.inputSize} values per window, but its card describes ${card.channels.length} channels × ${card.bands.length} bands = ${perWindow}`,
    );
  }
  const sites = opts.sites ?? card.montage?.sites ?? card.channels;
  if (sites.length !== card.channels.length) {
    throw new Error(
      `the model takes ${card.channels.length} channels (${card.channels.join(', ')}) but ${sites.length} device sites were given`,
    );
  }
  // The driver reads what decoding depends on (e.g. the Ganglion firmware) once; the decoder fits the preset.
  const headband = await openHeadband(device, {
    ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
    ...(opts.channelNames !== undefined ? { channelNames: opts.channelNames } : {}),
    ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
    ...(opts.keepAlive !== undefined ? { keepAlive: opts.keepAlive } : {}),
  });
  for (const w of headband.warnings) opts.onWarning?.(w);
  const { kind, decoder } = headband;
  const deviceFs = headband.profile.sampleRate;
  const pick = sites.map((s) => {
    const i = decoder.eegNames.findIndex((n) => n.toUpperCase() === s.toUpperCase());
    if (i < 0) throw new Error(`${device.name} (${kind}) has no electrode ${s}; it streams ${decoder.eegNames.join(', ')}`);
    return i;
  });
  const usedNames = new Set(pick.map((i) => decoder.eegNames[i]!));
  let extractor: FeatureExtractor | null = null;
  const windowMs = card.windowSec * 1000;
  const stats: SessionStats = { windows: 0, predictions: 0, skipped: 0, lostSamples: 0, filledSamples: 0, decodeErrors: 0 };
  const filler = new GapFiller(sites.length, Math.round(((opts.maxFillMs ?? 100) / 1000) * deviceFs));
  let lastSampleMs = -Infinity;
  let firstSampleMs: number | null = null;
  let battery: number | null = null;
  // Inference is async; keep predictions in window order with a promise chain.
  let chain = Promise.resolve();

  const handleFrame = (f: FeatureFrame) => {
    // Row times are on the device's sampling grid: a window starts at an exact offset from the first row.
    const startMs = firstSampleMs! + f.tStart * 1000;
    const endMs = startMs + windowMs - 1000 / card.fs;
    if (opts.gate && !opts.gate({ index: f.index, startMs, endMs })) return;
    stats.windows++;
    const skipped = f.valid.some((v) => !v) ? 'gap' : f.quality?.some((q) => !q.good) ? 'quality' : undefined;
    chain = chain.then(async () => {
      if (skipped) {
        stats.skipped++;
        opts.onPrediction({
          startMs,
          endMs,
          predicted: null,
          probabilities: null,
          skipped,
          batteryPercent: battery,
          ...(f.quality ? { quality: f.quality } : {}),
        });
        return;
      }
      const row = new Float32Array(card.channels.length * card.bands.length);
      f.features.forEach((bands, c) => row.set(bands, c * card.bands.length));
      const [p] = await classifier.run([row]);
      let best = 0;
      for (let i = 1; i < p!.length; i++) if (p![i]! > p![best]!) best = i;
      stats.predictions++;
      opts.onPrediction({
        startMs,
        endMs,
        predicted: classifier.classes[best]!,
        probabilities: Object.fromEntries(classifier.classes.map((c, i) => [c, p![i]!])),
        batteryPercent: battery,
        ...(f.quality ? { quality: f.quality } : {}),
      });
    });
  };

  const handleRecord = (r: DecodedRecord) => {
    opts.onRecord?.(r);
    switch (r.kind) {
      case 'eeg': {
        // The model card fixes every feature convention; the extractor resamples to the model's rate. Each session
        // builds its own, so a causal smoother starts afresh with it: the supervisor opens a new session at the run's
        // start and after every reconnect (as training restarts the smoother per trial).
        extractor ??= new FeatureExtractor({
          fs: deviceFs,
          channels: [...sites],
          method: card.featureMethod as FeatureMethod,
          windowSec: card.windowSec,
          hopSec: opts.hopSec ?? card.hopSec,
          nfft: card.nfft ?? undefined,
          bands: card.bands,
          smooth: card.smoothing as SmoothMethod,
          resampleTo: card.fs,
        });
        firstSampleMs ??= r.t[0]!;
        lastSampleMs = r.t[r.t.length - 1]!;
        const rows = filler.push(pick.map((i) => r.channels[i]!));
        stats.filledSamples = filler.filled / sites.length;
        for (const f of extractor.push(rows)) handleFrame(f);
        break;
      }
      case 'gap':
        // Per electrode the model reads (like filledSamples): a gap on an electrode it does not use costs
        // nothing, one on one of four electrodes costs a quarter.
        if (r.stream === 'eeg')
          stats.lostSamples +=
            (r.lostSamples * (r.channels ? r.channels.filter((c) => usedNames.has(c)).length : sites.length)) / sites.length;
        break;
      case 'telemetry':
        battery = r.battery;
        break;
      case 'error':
        stats.decodeErrors++;
        opts.onError?.(`${r.char}: ${r.error}`);
        break;
      default:
        break;
    }
  };

  await headband.start((char, data, t) => {
    for (const r of decoder.push(char, data, t)) handleRecord(r);
  });
  return {
    kind,
    stats,
    get lastSampleMs() {
      return lastSampleMs;
    },
    get batteryPercent() {
      return battery;
    },
    async stop() {
      await headband.stop();
      if (opts.flushOnStop) for (const r of decoder.flush()) handleRecord(r);
      await chain;
    },
  };
}
