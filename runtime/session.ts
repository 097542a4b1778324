/**
 * A live headband session: device notifications → decoded, reassembled rows → resampled, windowed features
 * (exactly the model card's conventions) → classifier → one prediction per window.
 */
import type { GattPeripheral } from '../firmware-bridge/gatt.js';
import { MuseClient } from './devices/muse.js';
import { FeatureExtractor, type FeatureFrame, type FeatureMethod, type SmoothMethod } from './dsp/index.js';
import type { Classifier } from './infer/types.js';
import type { ModelCard } from './model-card.js';

export interface Prediction {
  startMs: number;
  endMs: number;
  /** null when the window was skipped (lost samples) */
  predicted: string | null;
  probabilities: Record<string, number> | null;
  /** set when the window was not classified: lost samples, or a channel of poor signal quality */
  skipped?: 'gap' | 'quality';
  batteryPercent: number | null;
}

export interface SessionStats {
  windows: number;
  predictions: number;
  skipped: number;
  lostSamples: number;
  decodeErrors: number;
}

export interface HeadbandSession {
  stats: SessionStats;
  /** Device time (ms) of the newest sample row received. */
  readonly lastSampleMs: number;
  stop(): Promise<void>;
}

export async function startHeadbandSession(opts: {
  device: GattPeripheral;
  classifier: Classifier;
  card: ModelCard;
  onPrediction: (p: Prediction) => void;
  onError?: (message: string) => void;
}): Promise<HeadbandSession> {
  const { card, classifier } = opts;
  const client = new MuseClient(opts.device);
  if (card.channels.length !== client.channels.length) {
    throw new Error(`the model takes ${card.channels.length} channels (${card.channels.join(', ')}), the device streams ${client.channels.length}`);
  }
  // The model card fixes every feature convention; the extractor resamples device data to the model's rate.
  const extractor = new FeatureExtractor({
    fs: client.sampleRate,
    channels: client.channels,
    method: card.featureMethod as FeatureMethod,
    windowSec: card.windowSec,
    hopSec: card.hopSec,
    nfft: card.nfft ?? undefined,
    bands: card.bands,
    smooth: card.smoothing as SmoothMethod,
    resampleTo: card.fs,
  });
  const windowMs = card.windowSec * 1000;
  const stats: SessionStats = { windows: 0, predictions: 0, skipped: 0, lostSamples: 0, decodeErrors: 0 };
  let lastSampleMs = -Infinity;
  let firstSampleMs: number | null = null;
  // Inference is async; keep predictions in window order with a promise chain.
  let chain = Promise.resolve();
  const handle = (f: FeatureFrame) => {
    stats.windows++;
    // Sample times are on the device's sampling grid: the window start is an exact offset from the first row.
    const startMs = firstSampleMs! + f.tStart * 1000;
    const endMs = startMs + windowMs - 1000 / card.fs;
    const skipped = f.valid.some((v) => !v) ? 'gap' : f.quality?.some((q) => !q.good) ? 'quality' : undefined;
    chain = chain.then(async () => {
      if (skipped) {
        stats.skipped++;
        opts.onPrediction({ startMs, endMs, predicted: null, probabilities: null, skipped, batteryPercent: client.batteryPercent });
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
        batteryPercent: client.batteryPercent,
      });
    });
  };
  await client.start({
    eeg(ev) {
      if (ev.kind === 'gap') {
        stats.lostSamples += ev.lostSamples;
        return;
      }
      firstSampleMs ??= ev.t[0]!;
      lastSampleMs = ev.t[ev.t.length - 1]!;
      for (const f of extractor.push(ev.channels)) handle(f);
    },
    error(message) {
      stats.decodeErrors++;
      opts.onError?.(message);
    },
  });
  return {
    stats,
    get lastSampleMs() {
      return lastSampleMs;
    },
    async stop() {
      await client.stop();
      await chain;
    },
  };
}
