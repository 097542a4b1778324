/**
 * A live headband session: device notifications → decoded, reassembled rows → resampled, windowed features
 * (exactly the model card's conventions) → classifier → one prediction per window.
 */
import type { GattPeripheral } from '../firmware-bridge/gatt.js';
import { MuseClient } from './devices/muse.js';
import { OnlineFeaturizer, type FeatureWindow } from './online-features.js';
import type { Classifier } from './infer/types.js';
import type { ModelCard } from './model-card.js';

export interface Prediction {
  startMs: number;
  endMs: number;
  /** null when the window was skipped (lost samples) */
  predicted: string | null;
  probabilities: Record<string, number> | null;
  skipped?: FeatureWindow['skipped'];
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
  const featurizer = new OnlineFeaturizer({
    channels: client.channels.length,
    deviceFs: client.sampleRate,
    modelFs: card.fs,
    windowSec: card.windowSec,
    hopSec: card.hopSec,
    nfft: card.nfft ?? undefined,
    bands: card.bands,
  });
  const stats: SessionStats = { windows: 0, predictions: 0, skipped: 0, lostSamples: 0, decodeErrors: 0 };
  let lastSampleMs = -Infinity;
  // Inference is async; keep predictions in window order with a promise chain.
  let chain = Promise.resolve();
  const handle = (w: FeatureWindow) => {
    stats.windows++;
    chain = chain.then(async () => {
      if (!w.features) {
        stats.skipped++;
        opts.onPrediction({ startMs: w.startMs, endMs: w.endMs, predicted: null, probabilities: null, skipped: w.skipped, batteryPercent: client.batteryPercent });
        return;
      }
      const [p] = await classifier.run([w.features]);
      let best = 0;
      for (let i = 1; i < p!.length; i++) if (p![i]! > p![best]!) best = i;
      stats.predictions++;
      opts.onPrediction({
        startMs: w.startMs,
        endMs: w.endMs,
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
      lastSampleMs = ev.t[ev.t.length - 1]!;
      for (const w of featurizer.push(ev.channels, ev.t[0]!)) handle(w);
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
