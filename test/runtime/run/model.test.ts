/**
 * Model directories (variants and the faster one per runtime, the user_calibration card field), the card checked
 * against devices from the registry (electrodes, rate) and the lean preset, per-user calibration arithmetic, and the
 * virtual clock's ordering of timers.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getDriver } from '../../../firmware-bridge/registry.js';
import { CalibrationStore } from '../../../runtime/dsp/normalize.js';
import type { ModelCard } from '../../../runtime/model-card.js';
import { applyCalibration, calibrationMeta } from '../../../runtime/run/calibration.js';
import { VirtualClock } from '../../../runtime/run/clock.js';
import { guardPeripheral } from '../../../runtime/run/links.js';
import type { GattPeripheral, NotifyListener } from '../../../firmware-bridge/gatt.js';
import { cardMismatch, leanPreset } from '../../../runtime/run/device-fit.js';
import { describeModelDirectory } from '../../../runtime/run/model.js';
import { loadRunModel } from '../../../runtime/run/model-dir.node.js';
import { modelDir, museModel } from './helpers.js';

const card = (over: Partial<ModelCard> = {}): ModelCard => ({
  modality: 'eeg',
  arch: 'mlp',
  classes: ['a', 'b'],
  channels: ['TP7', 'FP1', 'FP2', 'TP8'],
  montage: { device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'], capChannels: ['TP7', 'FP1', 'FP2', 'TP8'] },
  bands: [
    { name: 'alpha', lo: 8, hi: 14 },
    { name: 'gamma', lo: 31, hi: 50 },
  ],
  fs: 200,
  windowSec: 4,
  hopSec: 4,
  nfft: 1024,
  featureMethod: 'seed-de',
  smoothing: 'none',
  cardVersion: 1,
  inputLayout: 'channel-major',
  normalisation: { mean: new Array(8).fill(0), std: new Array(8).fill(1) },
  provenance: {},
  metrics: {},
  raw: {},
  ...over,
});

describe('model directory', () => {
  const files = ['card.json', 'model.onnx', 'model.int8.onnx'];
  it('the faster variant per runtime, from any of the card shapes the exporter may write', () => {
    const shapes: unknown[] = [
      {
        faster: { 'onnxruntime-node': 'int8', 'onnxruntime-web': 'fp32' },
        variants: [
          { name: 'fp32', file: 'model.onnx' },
          { name: 'int8', file: 'model.int8.onnx' },
        ],
      },
      { 'cmcrd.variants': JSON.stringify({ fp32: 'model.onnx', int8: { file: 'model.int8.onnx', fasterOn: ['node'] } }) },
      {
        variants: [
          { name: 'fp32', file: 'model.onnx', latencyMs: { 'onnxruntime-node': { p50: 0.03 } } },
          { name: 'int8', file: 'model.int8.onnx', latencyMs: { 'onnxruntime-node': 0.02 } },
        ],
      },
    ];
    for (const c of shapes) {
      const d = describeModelDirectory(c, files, 'onnxruntime-node', 'm');
      expect(d.defaultVariant.file).toBe('model.onnx');
      expect(d.fastVariant?.file).toBe('model.int8.onnx');
    }
    expect(describeModelDirectory(shapes[0], files, 'onnxruntime-web', 'm').fastVariant).toBeNull();
  });

  it('without a word in the card, model.onnx runs in every mode (and says so)', () => {
    const d = describeModelDirectory({}, files, 'onnxruntime-node', 'm');
    expect(d.variants.map((v) => v.file)).toEqual(['model.onnx', 'model.int8.onnx']);
    expect(d.fastVariant).toBeNull();
    expect(d.fastReason).toMatch(/does not say which variant is faster.*model\.onnx runs in every mode/);
    expect(d.userCalibration).toBeNull();
  });

  it('refuses variants outside the directory or missing, and a bad user_calibration, naming them', () => {
    expect(() => describeModelDirectory({ variants: [{ name: 'x', file: '../x.onnx' }] }, files, 'onnxruntime-node', 'm')).toThrow(
      /not inside the model directory/,
    );
    expect(() => describeModelDirectory({ variants: { q: 'model.q.onnx' } }, files, 'onnxruntime-node', 'm')).toThrow(
      /variant "q" in model\.q\.onnx, which is not in the directory/,
    );
    expect(() => describeModelDirectory({ user_calibration: 'yes' }, files, 'onnxruntime-node', 'm')).toThrow(
      /"user_calibration" must be "required", "optional" or "none", got "yes"/,
    );
    expect(describeModelDirectory({ 'cmcrd.user_calibration': 'required' }, files, 'onnxruntime-node', 'm').userCalibration).toBe(
      'required',
    );
  });

  it('loads a directory with its faster variant, and a single .onnx; refuses a variant of another model', async () => {
    const dir = await modelDir({ int8: true, card: { faster: { 'onnxruntime-node': 'int8' }, user_calibration: 'optional' } });
    const m = await loadRunModel(dir);
    expect(m.default.name).toBe('fp32');
    expect(m.fast?.name).toBe('int8');
    expect(m.userCalibration).toBe('optional');
    await m.dispose();
    const one = await loadRunModel(join(dir, 'model.onnx'));
    expect(one.fast).toBeNull();
    await one.dispose();
    writeFileSync(join(dir, 'model.int8.onnx'), await museModel({ windowSec: 2 }));
    await expect(loadRunModel(dir)).rejects.toThrow(/model\.int8\.onnx: its model card's window_s \(2\) differs from model\.onnx's \(4\)/);
    const bad = mkdtempSync(join(tmpdir(), 'cmcrd-bad-'));
    writeFileSync(join(bad, 'card.json'), '{nope');
    writeFileSync(join(bad, 'model.onnx'), 'x');
    await expect(loadRunModel(bad)).rejects.toThrow(/card\.json: not valid JSON/);
    await expect(loadRunModel(join(bad, 'nothing'))).rejects.toThrow(/no such file or directory/);
  });
});

describe('card against device', () => {
  it('names missing electrodes and the preset that has them; checks the rate against the bands', () => {
    const muse = getDriver('muse');
    expect(cardMismatch(card(), muse, { preset: 'p21' }, 'm')).toBeNull();
    const aux = card({ montage: { device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'AUX'], capChannels: [] } });
    expect(cardMismatch(aux, muse, { preset: 'p21' }, 'm')).toMatch(
      /needs the electrode AUX, but the .* \(preset p21\) streams TP9, AF7, AF8, TP10; preset p20 has them/,
    );
    expect(cardMismatch(card({ fs: 512 }), muse, {}, 'm')).toMatch(/trained at 512 Hz, but .* samples at 256 Hz/);
    expect(cardMismatch(card({ bands: [{ name: 'hi', lo: 100, hi: 140 }] }), muse, {}, 'm')).toMatch(
      /reaches 140 Hz, at or above .* Nyquist frequency \(128 Hz\)/,
    );
    expect(cardMismatch(card({ modality: 'eye' }), muse, {}, 'm')).toMatch(/eye model/);
    const ganglion = getDriver('ganglion');
    expect(cardMismatch(card(), ganglion, { channelNames: ['FP1', 'FP2', 'T7', 'T8'] }, 'm')).toMatch(/TP9, AF7, AF8, TP10/);
  });

  it('lean preset: the fewest streams carrying the model electrodes, from the registry', () => {
    expect(leanPreset(getDriver('muse'), ['TP9', 'AF7', 'AF8', 'TP10'], 'p50')).toBe('p21');
    expect(leanPreset(getDriver('muse'), ['TP9', 'AUX'], 'p50')).toBe('p20');
    expect(leanPreset(getDriver('muse-athena'), ['TP9', 'AF7'], 'p1041')).toBe('p1035');
    expect(leanPreset(getDriver('ganglion'), ['FP1'], null)).toBeNull();
  });
});

describe('per-user calibration', () => {
  it("maps the user's feature distribution onto the training statistics the graph normalises with", () => {
    const dim = 8;
    const c = card({ raw: { 'cmcrd.normalisation': JSON.stringify({ mean: new Array(dim).fill(20), std: new Array(dim).fill(2) }) } });
    const store = new CalibrationStore(dim);
    const rows = [5, 7, 9].map((v) => Array.from({ length: dim }, (_, i) => v + i));
    for (const r of rows) store.add('ann', r);
    const file = { ...store.toJSON(), meta: calibrationMeta(c) };
    const cal = applyCalibration(file, c, 'cal.json');
    expect(cal.user).toBe('ann');
    expect(cal.windows).toBe(3);
    // User mean 7 + i, population std sqrt(8/3): the user's mean maps to the training mean, +1 σ_user to +1 σ_train.
    const out = cal.apply(Float32Array.from({ length: dim }, (_, i) => 7 + i + Math.sqrt(8 / 3)));
    for (const v of out) expect(v).toBeCloseTo(22, 4);
  });

  it('refuses statistics of other features, other dimensions, or an ambiguous user', () => {
    const c = card();
    const store = new CalibrationStore(8);
    store.add('a', new Array(8).fill(1));
    store.add('a', new Array(8).fill(2));
    store.add('b', new Array(8).fill(1));
    expect(() => applyCalibration(store.toJSON(), c, 'c.json')).toThrow(/several users \(a, b\): choose one with --user/);
    expect(() => applyCalibration(store.toJSON(), c, 'c.json', 'b')).toThrow(/user "b" has fewer than 2 good windows/);
    expect(applyCalibration(store.toJSON(), c, 'c.json', 'a').user).toBe('a');
    expect(() =>
      applyCalibration({ ...store.toJSON(), meta: calibrationMeta(card({ featureMethod: 'welch' })) }, c, 'c.json', 'a'),
    ).toThrow(/recorded for featureMethod "welch", but the model uses "seed-de"/);
    expect(() => applyCalibration(new CalibrationStore(20).toJSON(), c, 'c.json')).toThrow(
      /calibration of 20 features, but the model takes 4 channels × 2 bands = 8/,
    );
    expect(() => applyCalibration({ kind: 'zscore' }, c, 'c.json')).toThrow(/c\.json: not a calibration file/);
  });
});

describe('virtual clock', () => {
  it('fires timers in time order, runs the woken code before moving on, and survives cancellation from a device', async () => {
    const clock = new VirtualClock(1000);
    const log: string[] = [];
    const ctl = new AbortController();
    let deviceTime = 1000;
    clock.drive({
      advance: (ms) => {
        deviceTime += ms;
        // A device listener cancels the very timer the clock is moving to (as a run's wake-up does).
        if (deviceTime >= 1300) ctl.abort();
      },
      now: () => deviceTime,
    });
    void clock.sleep(300, ctl.signal).then(() => log.push(`cancelled@${clock.now()}`));
    void clock.sleep(100).then(() => log.push(`a@${clock.now()}`));
    void clock.sleep(400).then(() => log.push(`c@${clock.now()}`));
    void clock.sleep(350).then(() => log.push(`b@${clock.now()}`));
    await clock.advance(1000);
    expect(log).toEqual(['a@1100', 'cancelled@1300', 'b@1350', 'c@1400']);
    expect(deviceTime).toBe(2000);
  });
});

describe('guarded peripheral', () => {
  it('reports an exception thrown while handling a notification instead of letting it into the transport', async () => {
    let inner: NotifyListener | null = null;
    const p = {
      id: 'x',
      name: 'x',
      services: [],
      characteristics: ['c'],
      subscribe: async (_c: string, l: NotifyListener) => ((inner = l), async () => {}),
    } as unknown as GattPeripheral;
    const errors: unknown[] = [];
    const seen: number[] = [];
    await guardPeripheral(p, (e) => errors.push(e)).subscribe('c', (_d, t) => {
      if (t === 2) throw new Error('bad packet handling');
      seen.push(t);
    });
    for (const t of [1, 2, 3]) expect(() => inner!(new Uint8Array(1), t)).not.toThrow();
    expect(seen).toEqual([1, 3]);
    expect(String(errors[0])).toMatch(/bad packet handling/);
  });
});
