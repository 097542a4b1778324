import { describe, expect, it } from 'vitest';
import {
  SEED_62_CHANNELS,
  MUSE_MONTAGE,
  ganglionMontage,
  customMontage,
  mapToCap,
  siteDistanceMm,
  sitePosition,
  selectChannelFeatures,
} from '../../../firmware-bridge/montage/index.js';
import { selectMontage, type EmotionDataset } from '../../../src/datasets/types.js';

describe('10-05 positions', () => {
  it('cover all 62 SEED channels, with left sites at x < 0, right at x > 0 and midline near x = 0', () => {
    expect(SEED_62_CHANNELS.length).toBe(62);
    expect(new Set(SEED_62_CHANNELS).size).toBe(62);
    for (const ch of SEED_62_CHANNELS) {
      const p = sitePosition(ch);
      expect(p, ch).toBeDefined();
      const r = Math.hypot(...p!);
      expect(r, ch).toBeGreaterThan(80);
      expect(r, ch).toBeLessThan(125);
      const digit = /(\d+)$/.exec(ch)?.[1];
      if (ch.endsWith('Z')) expect(Math.abs(p![0]), ch).toBeLessThan(1);
      else if (digit) expect(Math.sign(p![0]), ch).toBe(Number(digit) % 2 ? -1 : 1);
    }
  });
  it('front-to-back order along y follows the row letters', () => {
    const y = (s: string) => sitePosition(s)![1];
    const rows = ['FPZ', 'AFZ', 'FZ', 'FCZ', 'CZ', 'CPZ', 'PZ', 'POZ', 'OZ'];
    for (let i = 1; i < rows.length; i++) expect(y(rows[i]!)).toBeLessThan(y(rows[i - 1]!));
  });
  it('reproduces the distances quoted in datasets.md', () => {
    expect(siteDistanceMm('AF7', 'FP1')).toBeCloseTo(30, -0.5); // ±1.6 mm
    expect(siteDistanceMm('AF7', 'F7')).toBeCloseTo(30, -0.5);
    expect(siteDistanceMm('TP9', 'TP7')).toBeCloseTo(39, -0.5);
    expect(siteDistanceMm('TP10', 'TP8')).toBeCloseTo(39, -0.5);
  });
});

describe('nearest-channel mapping', () => {
  it('maps Muse to FP1/FP2/TP7/TP8 with F7/F8 as near-ties', () => {
    const m = mapToCap(MUSE_MONTAGE);
    expect(m.matches.map((x) => [x.site, x.channel])).toEqual([
      ['TP9', 'TP7'],
      ['AF7', 'FP1'],
      ['AF8', 'FP2'],
      ['TP10', 'TP8'],
    ]);
    expect(m.matches[1]!.alternatives.map((a) => a.channel)).toContain('F7');
    expect(m.matches[2]!.alternatives.map((a) => a.channel)).toContain('F8');
    for (const x of m.matches) expect(x.index).toBe(SEED_62_CHANNELS.indexOf(x.channel));
    // Brute-force check: no cap channel is closer than the chosen one.
    for (const x of m.matches)
      for (const c of SEED_62_CHANNELS) expect(siteDistanceMm(x.site, c)).toBeGreaterThanOrEqual(x.distanceMm - 1e-9);
  });
  it('Ganglion needs four user-given sites; cap sites map to themselves; overrides and sharing rules apply', () => {
    expect(() => ganglionMontage(['C3', 'C4'])).toThrow(/exactly 4/);
    expect(() => customMontage('x', ['C3', 'Q9'])).toThrow(/unknown electrode site "Q9"/);
    const g = mapToCap(ganglionMontage(['c3', 'Cz', 'C4', 'Oz']));
    expect(g.matches.map((x) => [x.channel, x.distanceMm])).toEqual([
      ['C3', 0],
      ['CZ', 0],
      ['C4', 0],
      ['OZ', 0],
    ]);
    const forced = mapToCap(MUSE_MONTAGE, { overrides: { AF7: 'F7' } });
    expect(forced.matches[1]!.channel).toBe('F7');
    // Two sites whose nearest channel is the same: the second takes its next-best unless sharing is allowed.
    const pair = customMontage('pair', ['AF7', 'F9']);
    const a = mapToCap(pair);
    expect(a.matches.map((x) => x.channel)).toEqual(['FP1', 'F7']);
    expect(mapToCap(customMontage('s', ['T9', 'T3']), { allowShared: true }).matches.map((x) => x.channel)).toEqual(['T7', 'T7']);
    expect(mapToCap(customMontage('s', ['T9', 'T3'])).matches[1]!.channel).not.toBe('T7');
  });
});

describe('feature selection', () => {
  it('selectChannelFeatures copies [channel][band] rows in site order', () => {
    const f = Float64Array.from({ length: 62 * 5 }, (_, i) => i);
    const s = selectChannelFeatures(f, 5, [32, 0]);
    expect(Array.from(s)).toEqual([160, 161, 162, 163, 164, 0, 1, 2, 3, 4]);
  });
  it('selectMontage keeps the mapped channels of every window and relabels them with device sites', () => {
    const W = 3;
    const eeg = Float32Array.from({ length: W * 62 * 5 }, (_, i) => i);
    const ds: EmotionDataset = {
      meta: {
        dataset: 'seed-iv',
        synthetic: true,
        root: '',
        classNames: ['a', 'b'],
        channelNames: SEED_62_CHANNELS,
        bandNames: ['d', 't', 'a', 'b', 'g'],
        eyeFeatures: 0,
        feature: 'de_LDS',
        windowSec: 4,
      },
      trials: [{ subject: '1', session: 1, trial: 1, label: 1, windows: W, eeg, eye: null }],
    };
    const { dataset, mapping } = selectMontage(ds, MUSE_MONTAGE);
    expect(dataset.meta.channelNames).toEqual(['TP9', 'AF7', 'AF8', 'TP10']);
    expect(dataset.meta.sourceChannels).toEqual(['TP7', 'FP1', 'FP2', 'TP8']);
    const t = dataset.trials[0]!;
    expect(t.eeg.length).toBe(W * 4 * 5);
    const idx = mapping.matches.map((m) => m.index);
    for (let w = 0; w < W; w++)
      for (let i = 0; i < 4; i++) for (let b = 0; b < 5; b++) expect(t.eeg[(w * 4 + i) * 5 + b]).toBe((w * 62 + idx[i]!) * 5 + b);
  });
});
