import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync, renameSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadSeedIV,
  loadSeedV,
  loadSeed,
  summarize,
  flatten,
  windowsOf,
  SEED_IV_LABELS,
  SEED_V_LABELS,
  SEED_LABELS,
  loadDataset,
} from '../../../src/datasets/index.js';
import { DataFormatError } from '../../../src/io/errors.js';
import { readMat, writeMat } from '../../../src/io/mat.js';
import { toFloat64 } from '../../../src/io/ndarray.js';

const FIX = join(import.meta.dirname, '../../fixtures/datasets');
// Same formulas as scripts/fixtures/datasets.py.
const eeg = (s: number, t: number, c: number, w: number, b: number) => ((s * 3 + t * 5 + c * 7 + w * 11 + b * 13) % 23) / 4 - 2.5;
const eye = (s: number, t: number, f: number, w: number) => ((s + t * 3 + f * 5 + w * 7) % 19) / 8;

const tmp = mkdtempSync(join(tmpdir(), 'cmcrd-readers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function copy(name: string): string {
  const d = join(tmp, `${name}-${n++}`);
  cpSync(join(FIX, name), d, { recursive: true });
  return d;
}

describe('SEED-IV (scipy-written mini folder)', () => {
  const ds = loadSeedIV(join(FIX, 'seed_iv_mini'));
  it('reads sessions from folders, subject from file names, labels from the per-session lists', () => {
    expect(ds.trials.length).toBe(72);
    expect(new Set(ds.trials.map((t) => t.subject))).toEqual(new Set(['7']));
    for (const t of ds.trials) {
      expect(t.label).toBe(SEED_IV_LABELS[t.session - 1]![t.trial - 1]);
      expect(t.windows).toBe(1 + (t.trial % 3));
    }
    expect(ds.meta.eyeFeatures).toBe(31);
    expect(ds.meta.synthetic).toBe(false);
  });
  it('re-lays channels × windows × bands into [window][channel][band] and eye features × windows into [window][feature]', () => {
    for (const t of ds.trials.filter((x) => x.trial % 7 === 3)) {
      for (let w = 0; w < t.windows; w++) {
        for (const [c, b] of [
          [0, 0],
          [61, 4],
          [17, 3],
        ] as const)
          expect(t.eeg[(w * 62 + c) * 5 + b]).toBe(eeg(t.session, t.trial, c, w, b));
        for (const f of [0, 12, 30]) expect(t.eye![w * 31 + f]).toBe(eye(t.session, t.trial, f, w));
      }
    }
  });
  it('summarises and flattens consistently', () => {
    const s = summarize(ds);
    expect(s).toMatchObject({ subjects: 1, sessions: 3, trials: 72, eegFeatures: 310, eyeFeatures: 31 });
    const expectedWindows = [1, 2, 3].reduce(
      (a, sess) => a + Array.from({ length: 24 }, (_, i) => 1 + ((i + 1) % 3)).reduce((x, y) => x + y, 0),
      0,
    );
    expect(s.windows).toBe(expectedWindows);
    const byClass = [0, 0, 0, 0];
    for (const t of ds.trials) byClass[t.label]! += t.windows;
    expect(Object.values(s.classCounts)).toEqual(byClass);
    const flat = flatten(ds, (t) => t.session === 2);
    const views = [...windowsOf(ds)].filter((v) => v.session === 2);
    expect(flat.n).toBe(views.length);
    views.forEach((v, i) => {
      expect(flat.labels[i]).toBe(v.label);
      expect(flat.eeg.subarray(i * 310, (i + 1) * 310)).toEqual(v.eeg);
      expect(flat.eye!.subarray(i * 31, (i + 1) * 31)).toEqual(v.eye);
    });
  });
  it('loads without eye when asked, and only the requested sessions', () => {
    const d = loadSeedIV(join(FIX, 'seed_iv_mini'), { eye: false, sessions: [2] });
    expect(d.trials.length).toBe(24);
    expect(d.trials.every((t) => t.eye === null && t.session === 2)).toBe(true);
  });
  it('errors name the file and key', () => {
    expect(() => loadSeedIV(join(FIX, 'seed_iv_mini'), { feature: 'psd_LDS' })).toThrow(/7_20150721\.mat \[psd_LDS1\]: variable not found/);
    const root = copy('seed_iv_mini');
    rmSync(join(root, 'eye_feature_smooth', '3'), { recursive: true });
    expect(() => loadSeedIV(root)).toThrow(/eye_feature_smooth[\\/]3: missing folder/);
    expect(() => loadSeedIV(join(tmp, 'nope'))).toThrow(/nope: missing folder/);
  });
  it('rejects unknown keys, wrong shapes, EEG/eye window mismatches and truncated files', () => {
    const root = copy('seed_iv_mini');
    const f = join(root, 'eeg_feature_smooth', '1', '7_20150721.mat');
    const orig = readFileSync(f);
    const vars = readMat(new Uint8Array(orig)).variables;
    const rewrite = (edit: (m: Map<string, never>) => void) => {
      const m = new Map<string, never>();
      for (const [k, v] of vars) if (v.kind === 'numeric') m.set(k, v.array as never);
      edit(m);
      writeFileSync(f, writeMat(m));
    };
    rewrite((m) => m.set('de_LDS25' as string, { dtype: 'float64', shape: [62, 1, 5], data: new Float64Array(310) } as never));
    expect(() => loadSeedIV(root)).toThrow(/7_20150721\.mat \[de_LDS25\]: trial number 25 outside 1\.\.24/);
    rewrite((m) => m.set('extra', { dtype: 'float64', shape: [1, 1], data: new Float64Array(1) } as never));
    expect(() => loadSeedIV(root)).toThrow(/\[extra\]: unknown key/);
    rewrite((m) => m.set('de_LDS4', { dtype: 'float64', shape: [61, 2, 5], data: new Float64Array(610) } as never));
    expect(() => loadSeedIV(root)).toThrow(/\[de_LDS4\]: expected 62 channels × windows × 5 bands, found 61 × 2 × 5/);
    // Trial 5 has 3 windows in the eye file; give EEG 2.
    rewrite((m) => m.set('de_LDS5', { dtype: 'float64', shape: [62, 2, 5], data: new Float64Array(620) } as never));
    expect(() => loadSeedIV(root)).toThrow(
      /EEG and eye windows disagree for subject 7, session 1, trial 5: 2 EEG windows .* vs 3 eye windows/,
    );
    writeFileSync(f, orig.subarray(0, Math.floor(orig.length / 2)));
    expect(() => loadSeedIV(root)).toThrow(DataFormatError);
    expect(() => loadSeedIV(root)).toThrow(/7_20150721\.mat.*(truncated|corrupt)/);
    writeFileSync(f, readFileSync(join(FIX, 'mat', 'v73.mat')));
    expect(() => loadSeedIV(root)).toThrow(/7_20150721\.mat: MATLAB v7\.3/);
  });
  it('rejects file names without {subject}_{date} and a subject missing from the eye folder', () => {
    const root = copy('seed_iv_mini');
    renameSync(join(root, 'eye_feature_smooth', '2', '7_20150722.mat'), join(root, 'eye_feature_smooth', '2', '8_20150722.mat'));
    expect(() => loadSeedIV(root)).toThrow(/no eye_feature_smooth file for subject 7, session 2/);
    const root2 = copy('seed_iv_mini');
    renameSync(join(root2, 'eeg_feature_smooth', '2', '7_20150722.mat'), join(root2, 'eeg_feature_smooth', '2', 'subject7.mat'));
    expect(() => loadSeedIV(root2)).toThrow(/subject7\.mat: file name does not match \{subject\}_\{date\}\.mat/);
  });
});

describe('SEED-V (numpy-written mini folder)', () => {
  it('reads both pickle protocols, channel-major by default, with labels and eye features', () => {
    const ds = loadSeedV(join(FIX, 'seed_v_mini'));
    expect(summarize(ds)).toMatchObject({ subjects: 2, sessions: 3, trials: 90, eegFeatures: 310, eyeFeatures: 33 });
    for (const t of ds.trials) {
      const k = (t.session - 1) * 15 + t.trial - 1;
      expect(t.windows).toBe(1 + (k % 2));
      expect(t.label).toBe(SEED_V_LABELS[t.session - 1]![t.trial - 1]);
      for (let w = 0; w < t.windows; w++) {
        for (const [c, b] of [
          [0, 1],
          [61, 4],
          [33, 0],
        ] as const)
          expect(t.eeg[(w * 62 + c) * 5 + b]).toBe(eeg(t.session, t.trial, c, w, b));
        expect(t.eye![w * 33 + 32]).toBe(eye(t.session, t.trial, 32, w));
      }
    }
  });
  it('band-major reads column b·62 + c as (channel c, band b)', () => {
    const cm = loadSeedV(join(FIX, 'seed_v_mini'), { subjects: ['5'], sessions: [1], eye: false });
    const bm = loadSeedV(join(FIX, 'seed_v_mini'), { subjects: ['5'], sessions: [1], eye: false, columnOrder: 'band-major' });
    const t0 = cm.trials[0]!;
    const t1 = bm.trials[0]!;
    for (let c = 0; c < 62; c++)
      for (let b = 0; b < 5; b++) {
        const col = b * 62 + c; // the same file column, interpreted band-major
        expect(t1.eeg[c * 5 + b]).toBe(t0.eeg[col]);
      }
  });
  it('names truncated archives and a subject missing from the eye folder', () => {
    const root = copy('seed_v_mini');
    const f = join(root, 'EEG_DE_features', '5_123.npz');
    const orig = readFileSync(f);
    writeFileSync(f, orig.subarray(0, orig.length - 100));
    expect(() => loadSeedV(root)).toThrow(/5_123\.npz/);
    expect(() => loadSeedV(root)).toThrow(DataFormatError);
    unlinkSync(join(root, 'Eye_movement_features', '6_123.npz'));
    writeFileSync(f, orig);
    expect(() => loadSeedV(root)).toThrow(/no Eye_movement_features file for subject 6/);
  });
  it('truncating an npz at any point gives a DataFormatError naming it', () => {
    const root = copy('seed_v_mini');
    const f = join(root, 'EEG_DE_features', '5_123.npz');
    const orig = readFileSync(f);
    for (let cut = 0; cut < orig.length; cut += Math.floor(orig.length / 40)) {
      writeFileSync(f, orig.subarray(0, cut));
      expect(() => loadSeedV(root, { subjects: ['5'], eye: false })).toThrow(/5_123\.npz/);
    }
  });
});

describe('SEED (scipy-written mini folder)', () => {
  it('orders sessions by file date and maps −1/0/1 to negative/neutral/positive', () => {
    const ds = loadSeed(join(FIX, 'seed_mini'));
    expect(ds.meta.classNames).toEqual(['negative', 'neutral', 'positive']);
    expect(ds.trials.length).toBe(30);
    for (const t of ds.trials) {
      expect(t.label).toBe(SEED_LABELS[t.trial - 1]! + 1);
      expect(t.windows).toBe(1 + (t.trial % 2));
      expect(t.eye).toBeNull();
      // 3_20140511.mat holds session-1 values, 3_20140603.mat session-2 values.
      for (let w = 0; w < t.windows; w++) expect(t.eeg[(w * 62 + 9) * 5 + 2]).toBe(eeg(t.session, t.trial, 9, w, 2));
    }
  });
  it('requires label.mat', () => {
    const root = copy('seed_mini');
    unlinkSync(join(root, 'ExtractedFeatures', 'label.mat'));
    expect(() => loadSeed(root)).toThrow(/label\.mat not found/);
  });
});

describe('loadDataset dispatch', () => {
  it('rejects an unknown dataset and a non-synthetic folder as synthetic', () => {
    expect(() => loadDataset('synthetic', join(FIX, 'seed_iv_mini'))).toThrow(/not a synthetic dataset folder/);
    expect(() => loadDataset('seed-v', join(FIX, 'seed_v_mini'), { feature: 'psd_LDS' })).toThrow(/SEED-V releases only DE/);
  });
  it('the raw reader turns eeg_raw_data into features with the runtime code', () => {
    // One session, one subject; 62 × (2·800 + 17) samples per trial: 2 full 4-s windows (partial window dropped).
    const root = join(tmp, 'raw');
    for (const s of [1]) {
      const vars: Record<string, never> = {};
      for (let t = 1; t <= 24; t++) {
        const n = 2 * 800 + 17;
        const data = new Float64Array(62 * n);
        for (let c = 0; c < 62; c++)
          for (let i = 0; i < n; i++)
            data[c * n + i] = Math.sin((2 * Math.PI * (5 + c * 0.5) * i) / 200) * (1 + t) + Math.cos(i * 0.37 * (c + 1));
        vars[`ab_eeg${t}`] = { dtype: 'float64', shape: [62, n], data } as never;
      }
      mkdirSync(join(root, 'eeg_raw_data', String(s)), { recursive: true });
      writeFileSync(join(root, 'eeg_raw_data', String(s), '1_20200101.mat'), writeMat(vars, { compress: false }));
    }
    const ds = loadSeedIV(root, { source: 'raw', sessions: [1], feature: 'psd_movingAve' });
    expect(ds.trials.length).toBe(24);
    expect(ds.trials.every((t) => t.windows === 2)).toBe(true);
    // psd_movingAve (causal, window 5) of window 1 = mean of the band energies of windows 0 and 1.
    const t = ds.trials[3]!;
    const mat = readMat(readFileSync(join(root, 'eeg_raw_data', '1', '1_20200101.mat')));
    const v = mat.variables.get('ab_eeg4')!;
    if (v.kind !== 'numeric') throw new Error();
    const x = toFloat64(v.array).subarray(0, 1617); // channel 0
    const e0 = bandEnergyRef(x.subarray(0, 800));
    const e1 = bandEnergyRef(x.subarray(800, 1600));
    for (let b = 0; b < 5; b++) expect(t.eeg[(1 * 62 + 0) * 5 + b]).toBeCloseTo((e0[b]! + e1[b]!) / 2, 2);
  });
});

/** Independent O(N·K) DFT of the SEED-lab band energy (MATLAB hanning, nfft 1024, bins s−1..e−1). */
function bandEnergyRef(x: ArrayLike<number>): number[] {
  const L = x.length;
  const nfft = 1024;
  const bands = [
    [1, 4],
    [4, 8],
    [8, 14],
    [14, 31],
    [31, 50],
  ] as const;
  return bands.map(([lo, hi]) => {
    const s = Math.floor((lo / 200) * nfft);
    const e = Math.floor((hi / 200) * nfft);
    let acc = 0;
    for (let k = s - 1; k <= e - 1; k++) {
      let re = 0;
      let im = 0;
      for (let i = 0; i < L; i++) {
        const h = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 1)) / (L + 1));
        re += x[i]! * h * Math.cos((2 * Math.PI * k * i) / nfft);
        im -= x[i]! * h * Math.sin((2 * Math.PI * k * i) / nfft);
      }
      acc += re * re + im * im;
    }
    return acc / (e - s + 1);
  });
}
