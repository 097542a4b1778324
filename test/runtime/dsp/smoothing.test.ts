/**
 * The smoothing forms (docs/smoothing.md): the online Kalman smoother against an independent float64 numpy
 * reference (scripts/fixtures/lds_reference.py), reset semantics, training's per-trial causal features against the
 * runtime extractor streamed in random chunks, SEED's offline LDS through `cmcrd features`, the loaders' --smooth.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultWorld, synthesizeTrial } from '../../../firmware-bridge/sim/wearer-model.js';
import {
  FeatureExtractor,
  OnlineLDS,
  OnlineMovingAverage,
  onlineSmoother,
  SMOOTHING_FORMS,
  SMOOTHING_NAMES,
  smoothingIsCausal,
  smoothTrial,
  seedDE,
  type FeatureFrame,
  type SmoothingName,
} from '../../../runtime/dsp/index.js';
import { loadDataset, loadSeedIV, rawTrialFeature, rawTrialFeatures } from '../../../src/datasets/index.js';
import { writeMat } from '../../../src/io/mat.js';
import { featureSpecOf } from '../../../src/train/checkpoint.js';
import { runCli } from '../../cli-harness.js';
import { expectClose, fixture, randomBlocks, rng } from './helpers.js';

interface LdsFx {
  trial: {
    fs: number;
    windowSec: number;
    nfft: number;
    channels: string[];
    x: number[][];
    de: number[][][];
    de_LDS: number[][][];
    de_lds_causal: number[][][];
    de_ma_centred: number[][][];
    de_ma_trailing: number[][][];
  };
  kalman: {
    x: (number | null)[][];
    causal: (number | null)[][];
    baseline: number[];
    causal_baseline: (number | null)[][];
    qrp: { q: number; r: number; p0: number };
    causal_qrp: (number | null)[][];
    reset_a: number[][];
    reset_b: number[][];
    reset_expected: number[][];
  };
}

const fx = fixture<LdsFx>('lds.json');
const tmp = mkdtempSync(join(tmpdir(), 'cmcrd-smoothing-'));
const rows = (a: (number | null)[][]) => a.map((r) => Float64Array.from(r, (v) => (v === null ? NaN : v)));

/** Max |a − b| over two row lists, NaN only where both are NaN (else Infinity). */
function maxDiff(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((r, t) => {
    expect(r.length).toBe(b[t]!.length);
    for (let i = 0; i < r.length; i++) {
      const x = r[i]!;
      const y = b[t]![i]!;
      if (Number.isNaN(x) || Number.isNaN(y)) m = Number.isNaN(x) && Number.isNaN(y) ? m : Infinity;
      else m = Math.max(m, Math.abs(x - y));
    }
  });
  return m;
}

/** Frames [window][channel][band] → per-window channel-major rows. */
const flatFrames = (frames: readonly { features: Float64Array[] }[]) =>
  frames.map((f) => {
    const nb = f.features[0]!.length;
    const v = new Float64Array(f.features.length * nb);
    f.features.forEach((ch, c) => v.set(ch, c * nb));
    return v;
  });

/** Channel-major [C][W][B] → per-window rows [c·B + b]. */
function windowsOf(data: Float64Array, C: number, W: number, B: number): Float64Array[] {
  return Array.from({ length: W }, (_, w) => {
    const v = new Float64Array(C * B);
    for (let c = 0; c < C; c++) for (let b = 0; b < B; b++) v[c * B + b] = data[(c * W + w) * B + b]!;
    return v;
  });
}

/** Stream `x` through the extractor in random block sizes, per channel independently. */
function stream(x: readonly Float64Array[], fx: FeatureExtractor, seed: number): FeatureFrame[] {
  const r = rng(seed);
  const n = x[0]!.length;
  const blocks = x.map(() => randomBlocks(n, r, 700));
  const pos = x.map(() => 0);
  const frames: FeatureFrame[] = [];
  for (let k = 0; k < Math.max(...blocks.map((b) => b.length)); k++) {
    frames.push(
      ...fx.push(
        x.map((ch, c) => {
          const len = blocks[c]![k] ?? 0;
          const s = ch.subarray(pos[c]!, pos[c]! + len);
          pos[c]! += len;
          return s;
        }),
      ),
    );
  }
  return frames;
}

describe('smoothing forms', () => {
  it('names each form once with its causality; offline forms have a causal form to retrain with', () => {
    expect(new Set(SMOOTHING_NAMES).size).toBe(SMOOTHING_NAMES.length);
    expect(Object.fromEntries(SMOOTHING_FORMS.map((f) => [f.name, f.causal]))).toEqual({
      none: true,
      lds: false,
      'lds-causal': true,
      'moving-average': false,
      'moving-average-causal': true,
    });
    for (const f of SMOOTHING_FORMS) {
      expect(smoothingIsCausal(f.name)).toBe(f.causal);
      expect(smoothingIsCausal(f.liveForm)).toBe(true);
    }
    expect(smoothingIsCausal('kalman')).toBe(false);
    expect(() => onlineSmoother('lds', 3)).toThrow(/"lds" needs the whole trial .* use "lds-causal"/);
    expect(() => onlineSmoother('bogus' as SmoothingName, 3)).toThrow(/unknown smoothing "bogus"/);
    expect(onlineSmoother('lds', 3, {}, true)).toBeInstanceOf(OnlineLDS);
    expect(() => new FeatureExtractor({ fs: 200, channels: 2, smooth: 'kalman' as SmoothingName })).toThrow(/unknown smoothing "kalman"/);
    for (const name of SMOOTHING_NAMES)
      expect(new FeatureExtractor({ fs: 200, channels: 2, smooth: name }).smoothingCausal).toBe(smoothingIsCausal(name));
  });
});

describe('online (causal) LDS vs the float64 numpy Kalman recursion', () => {
  const k = fx.kalman;
  const x = rows(k.x);
  const run = (s: OnlineLDS) => x.map((v) => s.update(v));

  it('μ₀ = the first valid window of each dimension; missing windows skipped', () => {
    const got = run(new OnlineLDS(3, { init: 'first' }));
    expect(maxDiff(got, rows(k.causal))).toBeLessThanOrEqual(1e-12);
    expect(got[0]![0]).toBe(x[0]![0]); // the first output is the first window itself
    expect(Number.isNaN(got[0]![1]!)).toBe(true);
    expect(got[1]![1]).toBe(x[1]![1]); // dimension 1 starts at window 1
  });

  it('μ₀ = a calibration baseline, and other Q, R, P₀', () => {
    expect(maxDiff(run(new OnlineLDS(3, { initialMean: k.baseline })), rows(k.causal_baseline))).toBeLessThanOrEqual(1e-12);
    expect(maxDiff(run(new OnlineLDS(3, { init: 'first', ...k.qrp })), rows(k.causal_qrp))).toBeLessThanOrEqual(1e-12);
  });

  it('reset() starts a new trial: two trials through one smoother equal each from its own start', () => {
    const s = onlineSmoother('lds-causal', 3)!;
    const a = k.reset_a.map((v) => s.update(v));
    s.reset();
    const b = k.reset_b.map((v) => s.update(v));
    expect(
      maxDiff(
        [...a, ...b],
        k.reset_expected.map((r) => Float64Array.from(r)),
      ),
    ).toBeLessThanOrEqual(1e-12);
    // Without the reset the second trial's outputs carry the first trial's state.
    const t = onlineSmoother('lds-causal', 3)!;
    k.reset_a.forEach((v) => t.update(v));
    expect(Math.abs(t.update(k.reset_b[0]!)[0]! - k.reset_b[0]![0]!)).toBeGreaterThan(0.1);
    // With a baseline, reset goes back to the baseline.
    const u = new OnlineLDS(1, { initialMean: [5] });
    const first = u.update([7])[0];
    u.update([9]);
    u.reset();
    expect(u.update([7])[0]).toBe(first);
  });

  it('moving averages: reset forgets the window', () => {
    const m = new OnlineMovingAverage(1, 3);
    [1, 2, 3, 4].forEach((v) => m.update([v]));
    m.reset();
    expect(m.update([10])[0]).toBe(10);
    expect(m.update([20])[0]).toBe(15);
  });
});

describe('SEED offline LDS and the other forms vs the numpy reference (one trial)', () => {
  const t = fx.trial;
  const de = t.de.map((w) => Float64Array.from(w.flat()));
  const ref = (a: number[][][]) => a.map((w) => Float64Array.from(w.flat()));

  it('DE of the raw trial matches, then each form matches', () => {
    const L = t.fs * t.windowSec;
    const ours = de.map((_, w) =>
      Float64Array.from(t.x.flatMap((ch) => Array.from(seedDE(Float64Array.from(ch.slice(w * L, (w + 1) * L)), t.fs, { nfft: t.nfft })))),
    );
    expectClose(
      ours.flatMap((r) => Array.from(r)),
      de.flatMap((r) => Array.from(r)),
      1e-12,
    );
    expect(maxDiff(smoothTrial('lds', de), ref(t.de_LDS))).toBeLessThanOrEqual(1e-11);
    expect(maxDiff(smoothTrial('lds-causal', de), ref(t.de_lds_causal))).toBeLessThanOrEqual(1e-11);
    expect(maxDiff(smoothTrial('moving-average', de), ref(t.de_ma_centred))).toBeLessThanOrEqual(1e-11);
    expect(maxDiff(smoothTrial('moving-average-causal', de), ref(t.de_ma_trailing))).toBeLessThanOrEqual(1e-11);
    // The forms differ where it matters: offline LDS vs the causal one, by more than a DE unit here.
    expect(maxDiff(ref(t.de_LDS), ref(t.de_lds_causal))).toBeGreaterThan(1);
  });

  it('`cmcrd features --smooth lds` on a CSV of the trial reproduces de_LDS; each other form its reference', async () => {
    const csv = join(tmp, 'trial.csv');
    const lines = [t.channels.join(',')];
    for (let i = 0; i < t.x[0]!.length; i++) lines.push(t.x.map((ch) => String(ch[i])).join(','));
    writeFileSync(csv, lines.join('\n') + '\n');
    const cases: [SmoothingName, number[][][]][] = [
      ['lds', t.de_LDS],
      ['lds-causal', t.de_lds_causal],
      ['moving-average', t.de_ma_centred],
      ['moving-average-causal', t.de_ma_trailing],
      ['none', t.de],
    ];
    for (const [form, expected] of cases) {
      const r = await runCli(
        'features',
        csv,
        '--fs',
        String(t.fs),
        '--window',
        String(t.windowSec),
        '--nfft',
        String(t.nfft),
        '--smooth',
        form,
      );
      expect(r.code, r.err).toBe(0);
      const out = JSON.parse(r.out) as { smoothing: string; features: number[][][] };
      expect(out.smoothing).toBe(form);
      expect(maxDiff(ref(out.features), ref(expected)), form).toBeLessThanOrEqual(1e-9);
    }
  });
});

describe("training's causal features = the device's", () => {
  const fs = 200;
  const sites = ['FP1', 'FP2', 'T7', 'T8', 'O1'];
  const world = defaultWorld();
  const trial = (n: number, label: number) =>
    synthesizeTrial({ world, subject: 3, session: 0, trial: n, label, windows: 14, windowSec: 4, fs, sites, eyeDims: 31 }).eeg;
  const C = sites.length;
  const B = 5;

  for (const [kind, method] of [
    ['de', 'seed-de'],
    ['psd', 'seed-psd'],
  ] as const) {
    for (const form of ['lds-causal', 'moving-average-causal'] as const) {
      it(`${kind} ${form}: rawTrialFeature equals the extractor streamed in random chunks`, () => {
        const x = trial(1, 2);
        const ours = rawTrialFeature(x, { fs, windowSec: 4 }, kind, form);
        expect(ours.windows).toBe(14);
        const train = windowsOf(ours.data, C, ours.windows, B);
        for (const seed of [1, 2, 3]) {
          const ex = new FeatureExtractor({ fs, channels: sites, method, windowSec: 4, smooth: form, quality: false });
          const dev = flatFrames([...stream(x, ex, seed), ...ex.flush()]);
          expect(dev.length).toBe(14);
          const d = maxDiff(dev, train);
          expect(d).toBeLessThanOrEqual(1e-9 * (kind === 'psd' ? Math.max(...train.map((r) => Math.max(...r))) : 1));
        }
      });
    }
  }

  it('two trials streamed back to back with reset() at the second equal each trial computed on its own', () => {
    const a = trial(2, 0);
    const b = trial(3, 3);
    const ex = new FeatureExtractor({ fs, channels: sites, windowSec: 4, smooth: 'lds-causal', quality: false });
    const fa = flatFrames(stream(a, ex, 7));
    ex.reset();
    const fb = flatFrames([...stream(b, ex, 8), ...ex.flush()]);
    const ta = rawTrialFeature(a, { fs, windowSec: 4 }, 'de', 'lds-causal');
    const tb = rawTrialFeature(b, { fs, windowSec: 4 }, 'de', 'lds-causal');
    expect(maxDiff(fa, windowsOf(ta.data, C, 14, B))).toBeLessThanOrEqual(1e-9);
    expect(maxDiff(fb, windowsOf(tb.data, C, 14, B))).toBeLessThanOrEqual(1e-9);
    // The first window after the reset is that window's own DE (μ₀ = the first window).
    const raw = rawTrialFeature(b, { fs, windowSec: 4 }, 'de', 'none');
    expect(maxDiff([fb[0]!], [windowsOf(raw.data, C, 14, B)[0]!])).toBeLessThanOrEqual(1e-9);
    // Without the reset the second trial continues the first one's state and differs.
    const ex2 = new FeatureExtractor({ fs, channels: sites, windowSec: 4, smooth: 'lds-causal', quality: false });
    stream(a, ex2, 7);
    expect(maxDiff(flatFrames([...stream(b, ex2, 8), ...ex2.flush()]), windowsOf(tb.data, C, 14, B))).toBeGreaterThan(0.05);
  });

  it('the released families are the offline forms (de_LDS = lds, de_movingAve = centred moving average)', () => {
    const x = trial(4, 1);
    const f = rawTrialFeatures(x, { fs, windowSec: 4 });
    const none = windowsOf(rawTrialFeature(x, { fs, windowSec: 4 }, 'de', 'none').data, C, 14, B);
    expect(maxDiff(windowsOf(f.features.de_LDS, C, 14, B), smoothTrial('lds', none))).toBe(0);
    expect(maxDiff(windowsOf(f.features.de_movingAve, C, 14, B), smoothTrial('moving-average', none))).toBe(0);
  });
});

describe('loading with a smoothing form', () => {
  /** A SEED-IV-like folder with eeg_raw_data of one subject and session (62 × 3 windows + a partial one). */
  function rawRoot(): string {
    const root = join(tmp, 'raw-seed-iv');
    const vars: Record<string, never> = {};
    const n = 3 * 800 + 17;
    for (let t = 1; t <= 24; t++) {
      const data = new Float64Array(62 * n);
      for (let c = 0; c < 62; c++)
        for (let i = 0; i < n; i++)
          data[c * n + i] = Math.sin((2 * Math.PI * (5 + c * 0.5) * i) / 200) * (1 + t + i / 400) + Math.cos(i * 0.37 * (c + 1));
      vars[`ab_eeg${t}`] = { dtype: 'float64', shape: [62, n], data } as never;
    }
    mkdirSync(join(root, 'eeg_raw_data', '1'), { recursive: true });
    writeFileSync(join(root, 'eeg_raw_data', '1', '1_20200101.mat'), writeMat(vars, { compress: false }));
    return root;
  }

  it('SEED-IV raw + lds-causal: each trial equals the extractor run from the trial start; the card records the form', () => {
    const root = rawRoot();
    const ds = loadDataset('seed-iv', root, { sessions: [1], feature: 'de', smooth: 'lds-causal' });
    expect(ds.meta.smoothing).toBe('lds-causal');
    expect(ds.meta.feature).toBe('de (lds-causal, from eeg_raw_data)');
    expect(featureSpecOf(ds.meta, 'eeg').smoothing).toBe('lds-causal');
    expect(featureSpecOf({ ...ds.meta, smoothing: undefined, feature: 'de_LDS' }, 'eeg').smoothing).toBe('lds');
    const t = ds.trials[5]!;
    expect(t.windows).toBe(3);
    const loaded = loadSeedIV(root, { sessions: [1], source: 'raw', feature: 'de_LDS' });
    expect(loaded.trials[5]!.eeg).not.toEqual(t.eeg); // the offline form differs
    // The same trial (t = 6) through the device's extractor.
    const n = 3 * 800 + 17;
    const chans = Array.from({ length: 62 }, (_, c) =>
      Float64Array.from(
        { length: n },
        (_, i) => Math.sin((2 * Math.PI * (5 + c * 0.5) * i) / 200) * (1 + 6 + i / 400) + Math.cos(i * 0.37 * (c + 1)),
      ),
    );
    const ex = new FeatureExtractor({ fs: 200, channels: 62, windowSec: 4, smooth: 'lds-causal', quality: false });
    const dev = flatFrames([...stream(chans, ex, 5), ...ex.flush()]);
    const got = Array.from({ length: 3 }, (_, w) => Float64Array.from(t.eeg.subarray(w * 310, (w + 1) * 310)));
    // Float32 storage: within float32 rounding of DE values (~20).
    expect(maxDiff(got, dev)).toBeLessThanOrEqual(2e-5);
  });

  it('refuses a form it cannot compute, saying what is possible', () => {
    const root = rawRoot();
    expect(() => loadSeedIV(root, { smooth: 'lds-causal' })).toThrow(/computed from the raw EEG \(eeg_raw_data, source "raw"\)/);
    expect(() => loadDataset('seed-v', join(tmp, 'nowhere'), { smooth: 'lds-causal' })).toThrow(
      /SEED-V's released features exist only in SEED's offline forms .*SEED-IV \(eeg_raw_data\)/,
    );
    expect(() => loadDataset('seed', join(tmp, 'nowhere'), { smooth: 'lds-causal' })).toThrow(/SEED's released features exist only/);
    const synth = join(tmp, 'synth-no-raw');
    mkdirSync(synth, { recursive: true });
    writeFileSync(
      join(synth, 'SYNTHETIC.json'),
      JSON.stringify({ layout: 'seed-iv', subjects: 1, sessions: 1, windowsPerTrial: 3, seed: 1, raw: false }),
    );
    expect(() => loadDataset('synthetic', synth, { smooth: 'lds-causal' })).toThrow(
      /does not hold; synthesise one that keeps it \(dataset synth, SEED-IV layout, raw option\)/,
    );
  });

  it('`cmcrd train --smooth`: an unknown form and a dataset without raw EEG are exit-2 errors', async () => {
    const bad = await runCli('train', '--dataset', 'seed-iv', '--root', tmp, '--smooth', 'kalman', '--out', join(tmp, 'o1'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--smooth must be one of none, lds, lds-causal, moving-average, moving-average-causal, got "kalman"/);
    const seedV = await runCli('train', '--dataset', 'seed-v', '--root', tmp, '--smooth', 'lds-causal', '--out', join(tmp, 'o2'));
    expect(seedV.code).toBe(2);
    expect(seedV.err).toMatch(/SEED-V's released features exist only in SEED's offline forms/);
    expect(seedV.err).not.toMatch(/\n\s+at /);
  });
});
