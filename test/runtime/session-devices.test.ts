/**
 * Live sessions open their device through firmware-bridge's openHeadband: the decoder follows the preset (an
 * AUX preset streams a fifth channel that must decode, not become error records), the Ganglion firmware is read
 * once, and an unreadable firmware revision is a warning rather than a failed session.
 */
import { museMlpModel } from './muse-model.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GattPeripheral, Uuid } from '../../firmware-bridge/gatt.js';
import { GANGLION } from '../../firmware-bridge/protocols/ganglion.js';
import type { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import { VirtualGanglion } from '../../firmware-bridge/sim/virtual-ganglion.js';
import { VirtualMuse } from '../../firmware-bridge/sim/virtual-muse.js';
import { loadOnnxClassifier } from '../../runtime/infer/onnx.node.js';
import { startHeadbandSession, type HeadbandSessionOptions, type Prediction } from '../../runtime/session.js';

let model: Uint8Array;

beforeAll(async () => {
  model = await museMlpModel();
});

/** Reads through `dev`, logged (and failing when asked). */
function readLogged(dev: VirtualPeripheral, failRead = false): { p: GattPeripheral; reads: Uuid[] } {
  const reads: Uuid[] = [];
  const p: GattPeripheral = {
    id: dev.id,
    name: dev.name,
    services: dev.services,
    characteristics: dev.characteristics,
    read: async (c) => {
      reads.push(c);
      if (failRead) throw new Error('GATT read failed');
      return dev.read(c);
    },
    write: (c, d) => dev.write(c, d),
    subscribe: (c, l) => dev.subscribe(c, l),
    onDisconnect: (l) => dev.onDisconnect(l),
    disconnect: () => dev.disconnect(),
  };
  return { p, reads };
}

async function run(dev: VirtualPeripheral, device: GattPeripheral, seconds: number, extra: Partial<HeadbandSessionOptions> = {}) {
  const classifier = await loadOnnxClassifier(model);
  const predictions: Prediction[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const session = await startHeadbandSession({
    device,
    classifier,
    card: classifier.card,
    onPrediction: (p) => predictions.push(p),
    onError: (e) => errors.push(e),
    onWarning: (w) => warnings.push(w),
    ...extra,
  });
  for (let ms = 0; ms < seconds * 1000; ms += 1000) dev.advance(1000);
  await session.stop();
  await dev.disconnect();
  await classifier.dispose();
  return { predictions, errors, warnings, stats: session.stats };
}

describe('headband session: the device is opened through its driver', () => {
  it("refuses a classifier whose input does not hold the card's channels × bands, before touching the device", async () => {
    const classifier = await loadOnnxClassifier(model);
    const dev = new VirtualMuse({ clock: 'manual' });
    const { p, reads } = readLogged(dev);
    const narrow = { ...classifier, inputSize: 19 };
    await expect(
      startHeadbandSession({ device: p, classifier: narrow, card: classifier.card, onPrediction: () => undefined }),
    ).rejects.toThrow(/the model takes 19 values per window, but its card describes 4 channels × 5 bands = 20/);
    expect(reads).toEqual([]);
    await classifier.dispose();
  });

  it('an AUX preset (Muse p20) streams five channels that decode without errors, and the model gets its four', async () => {
    const dev = new VirtualMuse({ clock: 'manual', startTimeMs: 0, seed: 11, emotion: 'happy' });
    const r = await run(dev, dev, 21, { preset: 'p20' });
    expect(dev.currentPreset).toBe('p20');
    expect(r.errors).toEqual([]);
    expect(r.stats.decodeErrors).toBe(0);
    expect(r.stats.windows).toBe(5);
    expect(r.predictions.filter((p) => p.predicted !== null)).toHaveLength(5);
  });

  it('an AUX preset lets the model take the AUX electrode as a site', async () => {
    const dev = new VirtualMuse({ clock: 'manual', startTimeMs: 0, seed: 12 });
    const r = await run(dev, dev, 9, { preset: 'p50', sites: ['TP9', 'AF7', 'AF8', 'AUX'] });
    expect(r.stats.decodeErrors).toBe(0);
    expect(r.stats.windows).toBe(2);
  });

  it('Ganglion: the firmware revision is read once per session', async () => {
    const dev = new VirtualGanglion({ clock: 'manual', startTimeMs: 0, firmware: 2, seed: 5 });
    const { p, reads } = readLogged(dev);
    const r = await run(dev, p, 9, { channelNames: ['TP9', 'AF7', 'AF8', 'TP10'] });
    expect(reads).toEqual([GANGLION.firmwareRevision]);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.stats.windows).toBe(2);
  });

  it('Ganglion: an unreadable firmware revision is reported as a warning and the session runs (firmware 3 assumed)', async () => {
    const dev = new VirtualGanglion({ clock: 'manual', startTimeMs: 0, firmware: 3, seed: 6 });
    const { p, reads } = readLogged(dev, true);
    const r = await run(dev, p, 9, { sites: ['CH1', 'CH2', 'CH3', 'CH4'] });
    expect(reads).toHaveLength(1);
    expect(r.warnings).toEqual([
      expect.stringMatching(/could not read the Ganglion firmware revision \(GATT read failed\); assuming firmware 3/),
    ]);
    expect(r.stats.decodeErrors).toBe(0);
    expect(r.stats.windows).toBe(2);
  });
});
