/**
 * For the web app's tests: a Muse-montage model directory made the way `cmcrd export` makes one, a headless Debian
 * Chromium (./chromium.ts), real Muse notifications recorded from the virtual Muse, and the runtime's own session in
 * Node as the reference the page's predictions are compared with.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serialiseCheckpoint } from '../../export/checkpoint.js';
import type { GattPeripheral, NotifyListener, Uuid } from '../../firmware-bridge/gatt.js';
import { decodeMuseCommand, encodeMuseCommand, MUSE } from '../../firmware-bridge/protocols/muse.js';
import { createSimDevice } from '../../firmware-bridge/sim/uri.js';
import { VirtualMuse } from '../../firmware-bridge/sim/virtual-muse.js';
import { loadOnnxClassifier } from '../../runtime/infer/onnx.node.js';
import { startHeadbandSession, type Prediction } from '../../runtime/session.js';
import { runCli } from '../cli-harness.js';
import { trainedCheckpoint } from '../export/helpers.js';
import { useWasm } from '../src/train/experiment/helpers.js';

export { launchChromium, CHROMIUM_ARGS } from './chromium.js';

/**
 * A model directory (fp32 ONNX, and the tfjs GraphModel unless `tfjs: false`) for the Muse montage. The checkpoint's
 * features are LDS-smoothed along windows in the causal form a device reproduces (`lds-causal`), unless
 * `smoothing: 'none'` (a card whose windows stand alone, which the run's saver mode may duty-cycle).
 */
export async function makeModelDir(dir: string, o: { tfjs?: boolean; smoothing?: 'none' | 'lds' } = {}): Promise<string> {
  await useWasm();
  const ck = join(dir, o.smoothing ? `ck-${o.smoothing}.json` : 'ck.json');
  const c = trainedCheckpoint('mlp');
  writeFileSync(ck, serialiseCheckpoint({ ...c, features: { ...c.features, smoothing: o.smoothing ?? 'lds-causal' } }));
  const out = join(dir, `${o.tfjs === false ? 'model-onnx-only' : 'model'}${o.smoothing ? `-${o.smoothing}` : ''}`);
  const r = await runCli('export', ck, '--out', out, ...(o.tfjs === false ? [] : ['--tfjs']), '--latency-runs', '0');
  if (r.code !== 0) throw new Error(`export failed: ${r.err}`);
  return out;
}

/** A notification as recorded: ms after the start command, characteristic, bytes (hex). */
export type RecordedNotification = [number, Uuid, string];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * Real Muse notifications: a virtual Muse (manual clock) given the start sequence a session writes, then `seconds`
 * of everything it notifies (EEG, accelerometer, gyroscope, telemetry), in order.
 */
export function recordMuse(
  seconds: number,
  o: { seed?: number; emotion?: string; battery?: number } = {},
): { characteristics: Uuid[]; notifications: RecordedNotification[] } {
  const muse = new VirtualMuse({
    clock: 'manual',
    seed: o.seed ?? 5,
    emotion: o.emotion ?? 'happy',
    batteryPercent: o.battery ?? 42,
    drainPerHour: 0,
  });
  const out: RecordedNotification[] = [];
  let recording = false;
  for (const ch of muse.characteristics) {
    void muse.subscribe(ch, (data, t) => {
      if (recording) out.push([t, ch, hex(data)]);
    });
  }
  for (const c of ['h', 'p21', 's']) void muse.write(MUSE.control, encodeMuseCommand(c));
  const t0 = muse.now();
  recording = true;
  void muse.write(MUSE.control, encodeMuseCommand('d'));
  muse.advance(seconds * 1000);
  return { characteristics: [...muse.characteristics], notifications: out.map(([t, ch, h]) => [t - t0, ch, h]) };
}

/** A Node peripheral that notifies the recording at once when a session writes the Muse start command 'd'. */
export function replayPeripheral(rec: ReturnType<typeof recordMuse>): GattPeripheral {
  const listeners = new Map<Uuid, NotifyListener[]>();
  return {
    id: 'replay',
    name: 'Muse-REPLAY',
    services: [MUSE.service],
    characteristics: rec.characteristics,
    async write(ch, data) {
      const cmd = decodeMuseCommand(data);
      if (ch !== MUSE.control || !cmd.ok || cmd.value !== 'd') return;
      for (const [t, c, h] of rec.notifications) for (const l of listeners.get(c) ?? []) l(new Uint8Array(Buffer.from(h, 'hex')), 1e12 + t);
    },
    async read() {
      return new Uint8Array(0);
    },
    async subscribe(ch, l) {
      listeners.set(ch, [...(listeners.get(ch) ?? []), l]);
      return async () => undefined;
    },
    onDisconnect: () => () => undefined,
    async disconnect() {},
  };
}

/** The runtime session in Node (onnxruntime-node) on `device`; `drive` produces the signal. */
export async function referencePredictions(
  model: Uint8Array,
  device: GattPeripheral,
  drive: () => void | Promise<void>,
): Promise<Prediction[]> {
  const classifier = await loadOnnxClassifier(model, 'model.onnx');
  const out: Prediction[] = [];
  const s = await startHeadbandSession({ device, classifier, card: classifier.card, onPrediction: (p) => out.push(p) });
  await drive();
  await s.stop();
  await classifier.dispose();
  return out;
}

/** The demo's virtual headband in Node, driven the way the worker drives it (manual clock, `seconds` of signal). */
export async function referenceDemo(model: Uint8Array, uri: string, seconds: number): Promise<Prediction[]> {
  const sim = createSimDevice(uri.replace(/([?&])clock=[^&]*&?/, '$1'), { clock: 'manual' }) as VirtualMuse;
  return referencePredictions(model, sim, () => {
    for (let t = 0; t < seconds * 1000; t += 250) sim.advance(250);
  });
}
