import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadDataset,
  loadSeedIV,
  loadSeedV,
  synthesize,
  summarize,
  SEED_IV_LABELS,
  SEED_V_LABELS,
  trialWindows,
} from '../../../src/datasets/index.js';
import { readNpz, writeNpz, npzBytesMember } from '../../../src/io/npy.js';
import { unpickle, pickleDictOfArrays } from '../../../src/io/pickle.js';
import type { NdArray } from '../../../src/io/ndarray.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmcrd-synth-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('synthetic SEED-IV layout', () => {
  const out = join(tmp, 'iv');
  const r = synthesize({ layout: 'seed-iv', out, subjects: 1, sessions: 1, windowsPerTrial: 2, raw: true, seed: 11 });
  it('writes MAT files the SEED-IV reader loads, with the documented labels', () => {
    expect(r.files.map((f) => f.slice(out.length + 1).replace(/\\/g, '/')).sort()).toEqual([
      'eeg_feature_smooth/1/1_20180311.mat',
      'eeg_raw_data/1/1_20180311.mat',
      'eye_feature_smooth/1/1_20180311.mat',
    ]);
    const ds = loadDataset('synthetic', out);
    expect(ds.meta.synthetic).toBe(true);
    expect(summarize(ds)).toMatchObject({ subjects: 1, sessions: 1, trials: 24, windows: 48, eegFeatures: 310, eyeFeatures: 31 });
    expect(ds.trials.map((t) => t.label)).toEqual(SEED_IV_LABELS[0]);
    for (const t of ds.trials) for (const v of t.eeg) expect(Number.isFinite(v)).toBe(true);
  });
  it('feature files agree with features recomputed from eeg_raw_data (de_LDS, psd_movingAve)', () => {
    for (const feature of ['de_LDS', 'psd_movingAve'] as const) {
      const fromFiles = loadSeedIV(out, { sessions: [1], feature, eye: false });
      const fromRaw = loadSeedIV(out, { sessions: [1], feature, eye: false, source: 'raw' });
      for (let i = 0; i < 24; i++) {
        const a = fromFiles.trials[i]!.eeg;
        const b = fromRaw.trials[i]!.eeg;
        expect(b.length).toBe(a.length);
        for (let j = 0; j < a.length; j += 7) expect(b[j]).toBe(a[j]);
      }
    }
  });
  it('is deterministic in the seed', () => {
    const again = join(tmp, 'iv-again');
    synthesize({ layout: 'seed-iv', out: again, subjects: 1, sessions: 1, windowsPerTrial: 2, seed: 11 });
    const a = loadSeedIV(out, { sessions: [1] }).trials[5]!;
    const b = loadSeedIV(again, { sessions: [1] }).trials[5]!;
    expect(b.eeg).toEqual(a.eeg);
    expect(b.eye).toEqual(a.eye);
  });
});

describe('synthetic SEED-V layout', () => {
  const out = join(tmp, 'v');
  synthesize({ layout: 'seed-v', out, subjects: 1, sessions: 1, windowsPerTrial: 2, varyWindows: true, seed: 3 });
  const eegFile = join(out, 'EEG_DE_features', '1_123.npz');
  it('writes npz-of-pickles the SEED-V reader loads (varied trial lengths, documented labels)', () => {
    const ds = loadDataset('synthetic', out);
    expect(ds.trials.length).toBe(15);
    expect(ds.trials.map((t) => t.label)).toEqual(SEED_V_LABELS[0]);
    expect(ds.trials.map((t) => t.windows)).toEqual(Array.from({ length: 15 }, (_, i) => trialWindows(2, true, 1, 1, i + 1)));
    expect(ds.meta.eyeFeatures).toBe(33);
  });
  const rewrite = (file: string, member: 'data' | 'label', edit: (d: Map<number, NdArray>) => void) => {
    const npz = readNpz(new Uint8Array(readFileSync(file)));
    const dicts = Object.fromEntries(
      (['data', 'label'] as const).map((m) => [m, unpickle(npzBytesMember(npz, m)) as Map<number, NdArray>]),
    );
    edit(dicts[member]!);
    const enc = (m: Map<number, NdArray>) => {
      const b = pickleDictOfArrays(m);
      return { dtype: 'bytes' as const, itemSize: b.length, shape: [], items: [b] };
    };
    writeFileSync(file, writeNpz({ data: enc(dicts.data!), label: enc(dicts.label!) }));
  };
  it('a label that contradicts datasets.md is an error unless checkLabels is off', () => {
    const orig = readFileSync(eegFile);
    rewrite(eegFile, 'label', (d) => {
      const a = d.get(3)!;
      (a.data as Float64Array).fill(4);
    });
    expect(() => loadSeedV(out, { sessions: [1] })).toThrow(
      /1_123\.npz \[label\[3\]\]: label 4 differs from the documented label 2 for session 1, trial 4/,
    );
    // The eye file still says 2: with the check off, the EEG/eye disagreement is reported instead.
    expect(() => loadSeedV(out, { sessions: [1], checkLabels: false })).toThrow(/eye label 2 differs from EEG label 4/);
    expect(loadSeedV(out, { sessions: [1], checkLabels: false, eye: false }).trials[3]!.label).toBe(4);
    writeFileSync(eegFile, orig);
  });
  it('EEG/eye window mismatch names subject, session and trial', () => {
    const eyeFile = join(out, 'Eye_movement_features', '1_123.npz');
    rewrite(eyeFile, 'data', (d) => {
      const a = d.get(7)!;
      d.set(7, { dtype: 'float64', shape: [a.shape[0]! + 1, 33], data: new Float64Array((a.shape[0]! + 1) * 33) });
    });
    expect(() => loadSeedV(out, { sessions: [1] })).toThrow(/EEG and eye windows disagree for subject 1, session 1, trial 8/);
  });
});
