/**
 * Non-finite values where data enters (issue 24, item 2): every reader refuses a NaN or ±Infinity (or a value
 * that becomes infinite in float32) naming the file, key, trial and index; the synthetic model refuses
 * parameters outside their ranges naming the parameter, and never writes non-finite values.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli-harness.js';
import {
  checkModelParameters,
  loadDataset,
  loadSeed,
  loadSeedIV,
  loadSeedV,
  MODEL_PARAMETER_RANGES,
  synthesize,
  SynthModelError,
  type ModelParameters,
} from '../../../src/datasets/index.js';
import { readMat, writeMat, type MatWritable } from '../../../src/io/mat.js';
import type { NdArray } from '../../../src/io/ndarray.js';
import { npzBytesMember, readNpz, writeNpz } from '../../../src/io/npy.js';
import { pickleDictOfArrays, unpickle } from '../../../src/io/pickle.js';

const FIX = join(import.meta.dirname, '../../fixtures/datasets');
const tmp = mkdtempSync(join(tmpdir(), 'cmcrd-nonfinite-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(tmp, `${name}-${n++}`);

/** Rewrite one numeric variable of a MAT file (compressed, as the readers' inputs are); `data` is row-major. */
function editMat(path: string, key: string, edit: (data: Float64Array) => void): void {
  const mat = readMat(new Uint8Array(readFileSync(path)));
  const vars = new Map<string, MatWritable>();
  for (const [name, v] of mat.variables) {
    if (v.kind !== 'numeric') throw new Error(`unexpected ${v.kind}`);
    const a = { ...v.array, data: Float64Array.from(v.array.data as ArrayLike<number>), dtype: 'float64' as const };
    if (name === key) edit(a.data);
    vars.set(name, a);
  }
  writeFileSync(path, writeMat(vars, { compress: true }));
}

/** Rewrite the pickled `data` dict of a SEED-V npz. */
function editNpz(path: string, k: number, edit: (data: Float64Array) => void): void {
  const npz = readNpz(new Uint8Array(readFileSync(path)));
  const dicts = Object.fromEntries((['data', 'label'] as const).map((m) => [m, unpickle(npzBytesMember(npz, m)) as Map<number, NdArray>]));
  const a = dicts.data!.get(k)!;
  const data = Float64Array.from(a.data as ArrayLike<number>);
  edit(data);
  dicts.data!.set(k, { ...a, dtype: 'float64', data });
  const enc = (m: Map<number, NdArray>) => {
    const b = pickleDictOfArrays(m);
    return { dtype: 'bytes' as const, itemSize: b.length, shape: [], items: [b] };
  };
  writeFileSync(path, writeNpz({ data: enc(dicts.data!), label: enc(dicts.label!) }));
}

describe('readers refuse non-finite values, naming file, key, trial and index', () => {
  const iv = fresh('iv');
  synthesize({ layout: 'seed-iv', out: iv, subjects: 1, sessions: 1, windowsPerTrial: 2, raw: true, seed: 4 });
  const eegFile = join(iv, 'eeg_feature_smooth', '1', '1_20180311.mat');
  const eyeFile = join(iv, 'eye_feature_smooth', '1', '1_20180311.mat');
  const rawFile = join(iv, 'eeg_raw_data', '1', '1_20180311.mat');

  it('SEED-IV features: one NaN in de_LDS3', () => {
    const before = readFileSync(eegFile);
    // Stored channels × windows × bands (2 windows): element (channel 5, window 2, band 3), 1-based.
    editMat(eegFile, 'de_LDS3', (d) => (d[(4 * 2 + 1) * 5 + 2] = NaN));
    expect(() => loadSeedIV(iv, { sessions: [1] })).toThrow(
      /eeg_feature_smooth[\\/]1[\\/]1_20180311\.mat \[de_LDS3\]: subject 1, session 1, trial 3: window 2, channel 5, band 3 \(stored at index \[5, 2, 3\], 1-based\) is NaN; non-finite values are refused/,
    );
    // The CLI says the same, exit 2.
    return runCli('dataset', 'info', '--dataset', 'synthetic', '--root', iv).then((r) => {
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/\[de_LDS3\]: subject 1, session 1, trial 3: window 2, channel 5, band 3 .* is NaN/);
      writeFileSync(eegFile, before);
    });
  });

  it('SEED-IV eye features: +Infinity, and a finite 1e39 that float32 cannot hold', () => {
    const before = readFileSync(eyeFile);
    editMat(eyeFile, 'eye_7', (d) => (d[3 * 2 + 1] = Infinity)); // features × windows: feature 4, window 2
    expect(() => loadSeedIV(iv, { sessions: [1] })).toThrow(
      /1_20180311\.mat \[eye_7\]: subject 1, session 1, trial 7: window 2, eye feature 4 \(stored at index \[4, 2\], 1-based\) is Infinity/,
    );
    writeFileSync(eyeFile, before);
    editMat(eyeFile, 'eye_8', (d) => (d[0] = -1e39));
    expect(() => loadSeedIV(iv, { sessions: [1] })).toThrow(
      /\[eye_8\]: subject 1, session 1, trial 8: window 1, eye feature 1 .* is -Infinity \(or a value beyond the float32 range/,
    );
    writeFileSync(eyeFile, before);
    expect(loadSeedIV(iv, { sessions: [1] }).trials.length).toBe(24);
  });

  it('SEED-IV raw EEG (--source raw): a NaN sample', () => {
    const mat = readMat(new Uint8Array(readFileSync(rawFile)));
    const key = mat.names.find((k) => k.endsWith('_eeg2'))!;
    const samples = (mat.variables.get(key) as { array: NdArray }).array.shape[1]!;
    editMat(rawFile, key, (d) => (d[9 * samples + 99] = NaN)); // channel 10, sample 100
    expect(samples).toBeGreaterThan(100);
    expect(() => loadSeedIV(iv, { sessions: [1], source: 'raw', eye: false })).toThrow(
      new RegExp(`\\[${key}\\]: subject 1, session 1, trial 2: channel 10, sample 100 \\(index \\[10, 100\\], 1-based\\) is NaN`),
    );
  });

  it('SEED-V: a NaN in an EEG trial and an Infinity in an eye trial name data[k]', () => {
    const v = fresh('v');
    synthesize({ layout: 'seed-v', out: v, subjects: 1, sessions: 1, windowsPerTrial: 2, seed: 4 });
    const eeg = join(v, 'EEG_DE_features', '1_123.npz');
    const before = readFileSync(eeg);
    editNpz(eeg, 4, (d) => (d[310 + 7] = NaN)); // row 1, column 7 (channel 2, band 3 channel-major)
    expect(() => loadSeedV(v)).toThrow(
      /EEG_DE_features[\\/]1_123\.npz \[data\[4\]\]: subject 1, session 1, trial 5: window 2, column 8 \(channel 2, band 3; row 1, column 7 0-based\) is NaN/,
    );
    writeFileSync(eeg, before);
    editNpz(join(v, 'Eye_movement_features', '1_123.npz'), 0, (d) => (d[5] = -Infinity));
    expect(() => loadDataset('synthetic', v)).toThrow(
      /Eye_movement_features[\\/]1_123\.npz \[data\[0\]\]: subject 1, session 1, trial 1: window 1, eye feature 6 \(row 0, column 5 0-based\) is -Infinity/,
    );
  });

  it('SEED (ExtractedFeatures fixture): a NaN in de_LDS12', () => {
    const d = fresh('seed');
    cpSync(join(FIX, 'seed_mini'), d, { recursive: true });
    expect(loadSeed(d).trials.length).toBe(30);
    const file = join(d, 'ExtractedFeatures', '3_20140603.mat');
    editMat(file, 'de_LDS12', (x) => (x[0] = NaN));
    expect(() => loadSeed(d)).toThrow(
      /3_20140603\.mat \[de_LDS12\]: subject 3, session 2, trial 12: window 1, channel 1, band 1 .* is NaN/,
    );
  });
});

describe('the synthetic model: parameters in range, derived values finite', () => {
  it('eyeNoise = 1e308 (and every parameter outside its range) is refused naming the parameter, before any file is written', async () => {
    expect(() => checkModelParameters({ eyeNoise: 1e308 })).toThrow(
      /model parameter "eyeNoise" = 1e\+308 is out of range: expected in \[0, 10\]/,
    );
    const out = fresh('bad-model');
    expect(() => synthesize({ layout: 'seed-iv', out, model: { eyeNoise: 1e308 } })).toThrow(SynthModelError);
    const r = await runCli('dataset', 'synth', '--layout', 'seed-iv', '--out', out, '--model', '{"eyeNoise":1e308}');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--model: model parameter "eyeNoise" = 1e\+308 is out of range: expected in \[0, 10\]/);
    expect(() => readFileSync(join(out, 'SYNTHETIC.json'))).toThrow(/ENOENT/);
    const keys = Object.keys(MODEL_PARAMETER_RANGES) as (keyof ModelParameters)[];
    fc.assert(
      fc.property(
        fc.constantFrom(...keys),
        fc.oneof(fc.double({ min: -1e308, max: 1e308, noNaN: true }), fc.constantFrom(NaN, Infinity, -Infinity, 0.5)),
        (key, x) => {
          const r = MODEL_PARAMETER_RANGES[key];
          const inRange = Number.isFinite(x) && x >= r.min && x <= r.max && (!r.integer || Number.isInteger(x));
          const value = key.endsWith('Gain') ? [1, x] : x;
          if (inRange) expect(() => checkModelParameters({ [key]: value })).not.toThrow();
          else
            expect(() => checkModelParameters({ [key]: value })).toThrow(
              new RegExp(`model parameter "${key}"${key.endsWith('Gain') ? '\\[1\\]' : ''} = .* is out of range`),
            );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every parameter at its maximum (and at its minimum) still gives finite, loadable datasets in both layouts', () => {
    const at = (end: 'min' | 'max'): ModelParameters => {
      const dims = MODEL_PARAMETER_RANGES.latentDims[end];
      return Object.fromEntries(
        Object.entries(MODEL_PARAMETER_RANGES).map(([k, r]) => [k, k.endsWith('Gain') ? new Array(dims).fill(r[end]) : r[end]]),
      ) as ModelParameters;
    };
    for (const end of ['min', 'max'] as const) {
      for (const layout of ['seed-iv', 'seed-v'] as const) {
        const out = fresh(`${end}-${layout}`);
        synthesize({ layout, out, subjects: 1, sessions: 1, windowsPerTrial: 2, seed: 9, model: at(end) });
        const ds = loadDataset('synthetic', out); // the readers refuse any non-finite value
        expect(ds.trials.length).toBe(layout === 'seed-iv' ? 24 : 15);
      }
    }
  });
});
