/**
 * The closed loop: a virtual Muse worn by a synthetic person (never seen in training) whose emotion follows
 * a schedule, streamed through the real byte protocol into the runtime, featurised and classified by the
 * exported ONNX model. Returns every prediction with the scheduled truth.
 */
import { VirtualMuse } from '../../firmware-bridge/sim/virtual-muse.js';
import { WearerStream, type EmotionWorld } from '../../firmware-bridge/sim/wearer-model.js';
import { MUSE, MUSE_EEG_CHANNELS } from '../../firmware-bridge/protocols/muse.js';
import { startHeadbandSession, type Prediction, type SessionStats } from '../../runtime/session.js';
import type { FaultOptions } from '../../firmware-bridge/sim/base.js';
import type { Classifier } from '../../runtime/infer/types.js';
import type { ModelCard } from '../../runtime/model-card.js';

export interface ClosedLoopOptions {
  world: EmotionWorld;
  subject: number;
  seed: number;
  classifier: Classifier;
  card: ModelCard;
  /** Emotion (class index) per segment. */
  schedule: number[];
  segmentSec: number;
  /** virtual seconds per real second */
  speed: number;
  /** Radio faults injected by the virtual headband (packet loss, reordering, …). */
  faults?: FaultOptions;
  onPrediction?: (p: Prediction, truth: string | null) => void;
  interrupt?: { interrupted: boolean };
}

export interface ClosedLoopResult {
  predictions: { p: Prediction; truth: string | null }[];
  /** windows lying entirely inside one scheduled segment */
  scored: number;
  correct: number;
  accuracy: number;
  batteryStart: number;
  batteryEnd: number;
  stats: SessionStats;
}

export async function runClosedLoop(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const wearer = new WearerStream(o.world, o.subject, MUSE_EEG_CHANNELS, MUSE.sampleRate, o.seed, o.schedule[0]!);
  const segSamples = o.segmentSec * MUSE.sampleRate;
  let produced = 0;
  // Switch the wearer's emotion exactly at segment boundaries of the device's sample clock.
  const source = {
    read(n: number): Float64Array[] {
      const out = MUSE_EEG_CHANNELS.map(() => new Float64Array(n));
      let filled = 0;
      while (filled < n) {
        const seg = Math.floor(produced / segSamples);
        const label = o.schedule[Math.min(seg, o.schedule.length - 1)]!;
        if (wearer.emotion !== label) wearer.setEmotion(label);
        const take = Math.min(n - filled, (seg + 1) * segSamples - produced);
        wearer.read(take).forEach((c, i) => out[i]!.set(c, filled));
        filled += take;
        produced += take;
      }
      return out;
    },
  };
  const device = new VirtualMuse({ source, speed: o.speed, startTimeMs: 0, faults: o.faults, seed: o.seed });
  const batteryStart = device.batteryPercent;
  const segMs = o.segmentSec * 1000;
  const totalMs = segMs * o.schedule.length;
  const predictions: ClosedLoopResult['predictions'] = [];
  let correct = 0;
  let scored = 0;
  // The last window inside the schedule ends one sample before totalMs. It is emitted only once the resampler
  // has seen a little signal past it, so stop on its prediction rather than on the sample clock (which made
  // the last window's fate depend on timing).
  const lastEndMs = totalMs - 1000 / o.card.fs - 0.5;
  let maxEndMs = -Infinity;
  const session = await startHeadbandSession({
    device,
    classifier: o.classifier,
    card: o.card,
    onPrediction(p) {
      // Windows with signal from after the schedule (the stream runs on until the session stops) are not part
      // of the run; at high --speed there can be many before the stop lands.
      if (p.endMs >= totalMs) return;
      const a = Math.floor(p.startMs / segMs);
      const b = Math.floor(p.endMs / segMs);
      const truth = a === b && a < o.schedule.length ? o.card.classes[o.schedule[a]!]! : null;
      if (truth !== null && p.predicted !== null) {
        scored++;
        if (p.predicted === truth) correct++;
      }
      maxEndMs = Math.max(maxEndMs, p.endMs);
      predictions.push({ p, truth });
      o.onPrediction?.(p, truth);
    },
  });
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      // Safety net: a window length of extra signal after the schedule, whatever was emitted.
      const overrun = session.lastSampleMs >= totalMs + o.card.windowSec * 1000 + 1000;
      if (maxEndMs >= lastEndMs || overrun || o.interrupt?.interrupted) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  await session.stop();
  await device.disconnect();
  return {
    predictions,
    scored,
    correct,
    accuracy: scored ? correct / scored : NaN,
    batteryStart,
    batteryEnd: device.batteryPercent,
    stats: session.stats,
  };
}
