/**
 * Live sessions through virtual headbands speaking the real byte protocols: predictions per window, radio
 * loss bridged or accounted for, corrupted packets survived, and clear errors for mismatched devices.
 */
import { museMlpModel } from './muse-model.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadOnnxClassifier } from '../../runtime/infer/onnx.node.js';
import { startHeadbandSession, type Prediction } from '../../runtime/session.js';
import { VirtualMuse } from '../../firmware-bridge/sim/virtual-muse.js';
import type { FaultOptions } from '../../firmware-bridge/sim/base.js';

let model: Uint8Array;

beforeAll(async () => {
  model = await museMlpModel();
});

async function runSession(faults: FaultOptions | undefined, seconds: number, sites?: string[]) {
  const classifier = await loadOnnxClassifier(model);
  // Manual clock: the test decides exactly how much signal the device produces.
  const device = new VirtualMuse({ clock: 'manual', startTimeMs: 0, faults, seed: 11, emotion: 'happy' });
  const predictions: Prediction[] = [];
  const errors: string[] = [];
  const session = await startHeadbandSession({
    device,
    classifier,
    card: classifier.card,
    sites,
    onPrediction: (p) => predictions.push(p),
    onError: (e) => errors.push(e),
  });
  for (let ms = 0; ms < seconds * 1000; ms += 1000) device.advance(1000);
  await session.stop();
  await device.disconnect();
  await classifier.dispose();
  return { predictions, errors, stats: session.stats, kind: session.kind, battery: session.batteryPercent };
}

describe('headband session (virtual Muse)', () => {
  it('predicts once per 4-s window on a clean link, with battery from telemetry', async () => {
    const r = await runSession(undefined, 41);
    expect(r.kind).toBe('muse');
    expect(r.stats.windows).toBe(10);
    expect(r.predictions).toHaveLength(10);
    expect(r.stats.lostSamples).toBe(0);
    expect(r.predictions.every((p) => p.predicted !== null)).toBe(true);
    // Window times follow the 200-Hz model grid from the first sample.
    expect(r.predictions[1]!.startMs - r.predictions[0]!.startMs).toBeCloseTo(4000, 6);
    expect(r.battery).toBeGreaterThan(0);
  });

  it('bridges short radio losses and accounts for every lost sample', async () => {
    const r = await runSession({ drop: 0.02 }, 41);
    expect(r.stats.lostSamples).toBeGreaterThan(0);
    expect(r.stats.filledSamples).toBeGreaterThan(0);
    expect(r.stats.windows).toBe(10);
    expect(r.stats.predictions + r.stats.skipped).toBe(r.stats.windows);
    expect(r.stats.predictions).toBeGreaterThanOrEqual(8);
  });

  it('survives corrupted packets and reports them', async () => {
    const r = await runSession({ corrupt: 0.02 }, 21);
    expect(r.stats.windows).toBe(5);
    expect(r.stats.predictions + r.stats.skipped).toBe(5);
    // A quarter of the corrupted packets are truncated: those cannot decode and are reported, not thrown.
    expect(r.stats.decodeErrors).toBeGreaterThan(0);
    expect(r.errors).toHaveLength(r.stats.decodeErrors);
  });

  it('names the missing electrode when the model wants a site the device lacks', async () => {
    await expect(runSession(undefined, 1, ['TP9', 'AF7', 'AF8', 'FZ'])).rejects.toThrow(
      /has no electrode FZ; it streams TP9, AF7, AF8, TP10/,
    );
  });
});
