import { describe, expect, it } from 'vitest';
import { CalibrationStore, channelQuality, RunningStats, ZScoreNormalizer } from '../../../runtime/dsp/index.js';
import { randn, rng } from './helpers.js';

function rows(n: number, dim: number, seed: number, shift = 0): Float64Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float64Array.from({ length: dim }, (_, i) => shift + i * 3 + (i + 1) * randn(r)));
}

describe('normalisation', () => {
  it('z-score fitted on training rows gives mean 0 / std 1 on them and matches a two-pass computation', () => {
    const train = rows(500, 4, 1);
    const z = ZScoreNormalizer.fit(train);
    for (let d = 0; d < 4; d++) {
      const col = train.map((r) => r[d]!);
      const mean = col.reduce((a, b) => a + b, 0) / col.length;
      const sd = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / col.length);
      expect(z.mean[d]).toBeCloseTo(mean, 10);
      expect(z.std[d]).toBeCloseTo(sd, 10);
      const zc = train.map((r) => z.transform(r)[d]!);
      expect(zc.reduce((a, b) => a + b, 0) / zc.length).toBeCloseTo(0, 10);
      expect(Math.sqrt(zc.reduce((a, b) => a + b * b, 0) / zc.length)).toBeCloseTo(1, 10);
    }
  });

  it('JSON round trip and validation', () => {
    const z = ZScoreNormalizer.fit(rows(50, 3, 2));
    const back = ZScoreNormalizer.fromJSON(JSON.parse(JSON.stringify(z)));
    expect([...back.transform([1, 2, 3])]).toEqual([...z.transform([1, 2, 3])]);
    expect(() => ZScoreNormalizer.fromJSON({ kind: 'zscore', mean: [1, 2], std: [1] })).toThrow(/"std" must have 2 values/);
    expect(() => ZScoreNormalizer.fromJSON({ kind: 'other' })).toThrow(/"kind" must be "zscore"/);
  });

  it('running stats: merge of two halves equals one pass; NaN skipped per dimension', () => {
    const all = rows(200, 3, 3);
    const a = new RunningStats(3);
    const b = new RunningStats(3);
    const c = new RunningStats(3);
    all.forEach((r, i) => ((i < 77 ? a : b).push(r), c.push(r)));
    a.merge(b);
    for (let d = 0; d < 3; d++) {
      expect(a.mean[d]).toBeCloseTo(c.mean[d]!, 12);
      expect(a.std()[d]).toBeCloseTo(c.std()[d]!, 12);
    }
    c.push([NaN, 1, 1]);
    expect([...c.count]).toEqual([200, 201, 201]);
  });

  it('per-user calibration: own statistics once calibrated, fallback before; survives JSON', () => {
    const store = new CalibrationStore(2);
    const global = new ZScoreNormalizer([0, 0], [1, 1]);
    for (const r of rows(100, 2, 4, 50)) store.add('alice', r);
    store.add('bob', [1, 2]);
    const back = CalibrationStore.fromJSON(JSON.parse(JSON.stringify(store)));
    expect(back.userIds().sort()).toEqual(['alice', 'bob']);
    const alice = back.normalizer('alice', { fallback: global })!;
    expect(alice).not.toBe(global);
    expect(alice.mean[0]).toBeCloseTo(store.stats('alice')!.mean[0]!, 12);
    expect(back.normalizer('bob', { fallback: global })).toBe(global);
    expect(back.normalizer('carol')).toBeUndefined();
    expect(() => CalibrationStore.fromJSON({ kind: 'calibration', dim: 3, users: { x: store.stats('bob')!.toJSON() } })).toThrow(
      /user "x" has 2 dims/,
    );
  });
});

describe('signal quality', () => {
  const fs = 200;
  const r = rng(5);
  const eeg = Float64Array.from({ length: 800 }, (_, i) => 20 * Math.sin((2 * Math.PI * 10 * i) / fs) + 10 * randn(r));

  it('clean EEG-like window is good', () => {
    const q = channelQuality(eeg, { fs });
    expect(q).toMatchObject({ flat: false, railed: false, excessive: false, good: true, gapFraction: 0 });
    expect(q.lineNoiseRatio).toBeLessThan(0.1);
  });
  it('flat line', () => {
    const q = channelQuality(new Float64Array(800).fill(3.3), { fs });
    expect(q.flat).toBe(true);
    expect(q.good).toBe(false);
  });
  it('railed: against a known rail, and clipped runs at the extremes', () => {
    const railed = eeg.map((v, i) => (i % 50 === 0 ? 187500 : v));
    const q1 = channelQuality(railed, { fs, railValue: 187500, maxPeakToPeak: 1e9 });
    expect(q1.railed).toBe(true);
    expect(channelQuality(eeg, { fs, railValue: 187500 }).railed).toBe(false);
    // An amplifier saturating at +30 µV on a large slow wave.
    const clipped = eeg.map((v, i) => Math.min(60 * Math.sin((2 * Math.PI * 2 * i) / fs) + v / 10, 30));
    expect(channelQuality(clipped, { fs }).railed).toBe(true);
  });
  it('excessive amplitude', () => {
    const big = eeg.map((v, i) => v + (i === 400 ? 900 : 0));
    expect(channelQuality(big, { fs }).excessive).toBe(true);
  });
  it('line noise ratio flags strong 50 Hz, and 60 Hz when asked', () => {
    const hum50 = eeg.map((v, i) => v + 60 * Math.sin((2 * Math.PI * 50 * i) / fs));
    const q = channelQuality(hum50, { fs });
    expect(q.lineNoiseRatio).toBeGreaterThan(1);
    expect(q.good).toBe(false);
    expect(channelQuality(hum50, { fs, lineHz: 60 }).lineNoiseRatio).toBeLessThan(0.1);
    expect(Number.isNaN(channelQuality(eeg, { fs: 100 }).lineNoiseRatio)).toBe(true);
  });
});
