import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readMat, writeMat, matNumeric, type MatVariable } from '../../src/io/mat.js';
import { DataFormatError } from '../../src/io/errors.js';
import { cToFortran, fortranToC } from '../../src/io/ndarray.js';

const DIR = join(import.meta.dirname, '../fixtures/datasets/mat');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as {
  variables: Record<string, { dtype?: string; shape?: number[]; data?: (number | string)[]; char?: string; unsupported?: string; real?: number[]; imag?: number[] }>;
};
const bytes = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));

function asList(v: MatVariable): (number | string)[] {
  if (v.kind !== 'numeric') throw new Error('not numeric');
  const d = v.array.data;
  return Array.from(d as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? x.toString() : x));
}

describe.each(['classes_plain.mat', 'classes_zlib.mat'])('scipy.io.savemat fixture %s', (name) => {
  const mat = readMat(bytes(name), { file: name });
  it('reads every numeric class with scipy/numpy values, dtype and row-major shape', () => {
    let n = 0;
    for (const [key, e] of Object.entries(expected.variables)) {
      if (!e.data) continue;
      const v = mat.variables.get(key)!;
      expect(v, key).toBeDefined();
      expect(v.kind).toBe('numeric');
      if (v.kind !== 'numeric') continue;
      expect(v.array.dtype, key).toBe(e.dtype);
      expect(v.array.shape, key).toEqual(e.shape);
      const got = asList(v);
      expect(got.map(String), key).toEqual(e.data.map((x) => (e.dtype === 'bool' ? String(x) : String(x))));
      n++;
    }
    expect(n).toBe(17);
  });
  it('decodes char, complex, and reports cells/structs as unsupported', () => {
    const txt = mat.variables.get('txt')!;
    expect(txt).toMatchObject({ kind: 'char', text: expected.variables.txt!.char });
    const cpx = mat.variables.get('cpx')!;
    expect(cpx.kind).toBe('numeric');
    if (cpx.kind === 'numeric') {
      expect(Array.from(cpx.array.data as Float64Array)).toEqual(expected.variables.cpx!.real);
      expect(Array.from(cpx.imag as Float64Array)).toEqual(expected.variables.cpx!.imag);
    }
    expect(mat.variables.get('cel')).toMatchObject({ kind: 'unsupported', className: 'cell' });
    expect(mat.variables.get('st')).toMatchObject({ kind: 'unsupported', className: 'struct' });
    expect(() => matNumeric(mat, 'cel', name)).toThrow(/cel.*expected a numeric matrix, found a cell/);
    expect(() => matNumeric(mat, 'cpx', name)).toThrow(/complex/);
    expect(() => matNumeric(mat, 'nope', name)).toThrow(DataFormatError);
    expect(() => matNumeric(mat, 'nope', name)).toThrow(/classes_.*\[nope\]: variable not found/);
  });
  it('`only` skips other variables but still lists every name', () => {
    const m = readMat(bytes(name), { only: (n) => n === 'big' });
    expect([...m.variables.keys()]).toEqual(['big']);
    expect(m.names.sort()).toEqual(Object.keys(expected.variables).sort());
  });
});

describe('small data elements', () => {
  it('the plain fixture really contains small-element tags, and a hand-built one decodes', () => {
    // 1×1 int8 "one" = 7 is stored by scipy as a small element (type 1, 1 byte, in the tag itself).
    const b = bytes('classes_plain.mat');
    let found = false;
    for (let i = 128; i + 8 <= b.length; i += 8) {
      const w = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
      if (w >>> 16 === 1 && (w & 0xffff) === 1 && b[i + 4] === 7) found = true;
    }
    expect(found).toBe(true);
    const m = readMat(b);
    const one = m.variables.get('one')!;
    expect(one.kind === 'numeric' && Array.from(one.array.data as Int8Array)).toEqual([7]);
  });
});

describe('rejections', () => {
  it('names v7.3 (HDF5) files as such', () => {
    expect(() => readMat(bytes('v73.mat'), { file: 'x.mat' })).toThrow(/x\.mat: MATLAB v7\.3 \(HDF5\)/);
  });
  it('rejects non-MAT data and v4 files with a clear message', () => {
    expect(() => readMat(new Uint8Array(200), { file: 'z.mat' })).toThrow(/z\.mat: not a MATLAB Level-5 MAT-file/);
    expect(() => readMat(new Uint8Array(10), { file: 'z.mat' })).toThrow(/truncated/);
  });
  it('truncation anywhere in a scipy file gives a DataFormatError naming the file, never a crash', () => {
    for (const name of ['classes_plain.mat', 'classes_zlib.mat']) {
      const b = bytes(name);
      for (let cut = 0; cut < b.length; cut += Math.max(1, Math.floor(b.length / 300))) {
        let err: unknown = null;
        try {
          readMat(b.subarray(0, cut), { file: name });
        } catch (e) {
          err = e;
        }
        // Cutting exactly at an element boundary is a valid shorter file; otherwise it must be our error.
        if (err) {
          expect(err, `cut at ${cut}`).toBeInstanceOf(DataFormatError);
          expect((err as Error).message).toContain(name);
        }
      }
    }
  });
  it('random byte corruption (fast-check) never escapes as anything but DataFormatError', () => {
    const b = bytes('classes_zlib.mat');
    const plain = bytes('classes_plain.mat');
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (zl, edits) => {
        const src = zl ? b : plain;
        const c = src.slice();
        for (const [p, v] of edits) c[128 + (p % (c.length - 128))] = v;
        try {
          readMat(c, { file: 'f.mat' });
        } catch (e) {
          if (!(e instanceof DataFormatError)) throw e;
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe('writer', () => {
  it('round-trips every numeric class through our reader (compressed and not)', () => {
    const vars = {
      a: { dtype: 'float64' as const, shape: [2, 3, 4], data: Float64Array.from({ length: 24 }, (_, i) => i * 0.5 - 3) },
      b: { dtype: 'uint32' as const, shape: [1, 3], data: Uint32Array.from([0, 7, 4294967295]) },
      c: { dtype: 'int64' as const, shape: [2, 1], data: BigInt64Array.from([-5n, 2n ** 60n]) },
      d: { dtype: 'bool' as const, shape: [1, 2], data: Uint8Array.from([1, 0]) },
      x: { dtype: 'int8' as const, shape: [1, 1], data: Int8Array.from([-3]) },
    };
    for (const compress of [false, true]) {
      const m = readMat(writeMat(vars, { compress }));
      for (const [k, v] of Object.entries(vars)) {
        const got = m.variables.get(k)!;
        expect(got.kind).toBe('numeric');
        if (got.kind !== 'numeric') continue;
        expect(got.array.shape).toEqual(v.shape);
        expect(got.array.dtype).toBe(v.dtype);
        expect(Array.from(got.array.data as ArrayLike<number>)).toEqual(Array.from(v.data as ArrayLike<number>));
      }
    }
  });
  it('scipy.io.loadmat accepted our writer output (verdict committed by scripts/fixtures/datasets.py)', () => {
    const v = JSON.parse(readFileSync(join(DIR, '../writer_roundtrip.json'), 'utf8'));
    expect(v.checked).toBe(true);
    expect(v.ok).toBe(true);
    expect(Object.keys(v.checks)).toEqual(['plain.mat', 'zlib.mat', 'dict.npz']);
  });
});

describe('column-major ↔ row-major', () => {
  it('fortranToC matches index arithmetic for random shapes and inverts cToFortran', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }), (shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const f = Float64Array.from({ length: n }, (_, i) => i);
        const c = fortranToC(f, shape);
        // Element at row-major multi-index (i0..ik) must be the Fortran offset Σ i_k·Π_{j<k} d_j.
        for (let flat = 0; flat < n; flat++) {
          let rem = flat;
          const idx = shape.map(() => 0);
          for (let k = shape.length - 1; k >= 0; k--) {
            idx[k] = rem % shape[k]!;
            rem = Math.floor(rem / shape[k]!);
          }
          let off = 0;
          let stride = 1;
          for (let k = 0; k < shape.length; k++) {
            off += idx[k]! * stride;
            stride *= shape[k]!;
          }
          if (c[flat] !== off) return false;
        }
        return Array.from(cToFortran(c, shape)).every((v, i) => v === i);
      }),
      { numRuns: 200 },
    );
  });
});
