import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { unzlibSync, zlibSync } from 'fflate';
import { readMat, writeMat, matNumeric, type MatVariable } from '../../../src/io/mat.js';
import { loadSeedIV } from '../../../src/datasets/index.js';
import { DataFormatError } from '../../../src/io/errors.js';
import { cToFortran, fortranToC } from '../../../src/io/ndarray.js';

const DIR = join(import.meta.dirname, '../../fixtures/datasets/mat');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as {
  variables: Record<
    string,
    { dtype?: string; shape?: number[]; data?: (number | string)[]; char?: string; unsupported?: string; real?: number[]; imag?: number[] }
  >;
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
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (zl, edits) => {
          const src = zl ? b : plain;
          const c = src.slice();
          for (const [p, v] of edits) c[128 + (p % (c.length - 128))] = v;
          try {
            readMat(c, { file: 'f.mat' });
          } catch (e) {
            if (!(e instanceof DataFormatError)) throw e;
          }
        },
      ),
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

// Damaged miCOMPRESSED elements: the corrupt files are made here from the good fixtures' bytes.
describe('damaged miCOMPRESSED elements', () => {
  /** Top-level elements of a little-endian MAT v5 file (compressed ones are unpadded). */
  const elements = (b: Uint8Array) => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out: { at: number; type: number; n: number }[] = [];
    for (let at = 128; at + 8 <= b.length;) {
      const type = dv.getUint32(at, true);
      const n = dv.getUint32(at + 4, true);
      out.push({ at, type, n });
      at += 8 + (type === 15 ? n : (n + 7) & ~7);
    }
    return out;
  };
  /**
   * Flip one byte in the middle of a compressed element's deflate data such that the stream still inflates
   * (to different bytes): the damage only the Adler-32 trailer can reveal. Returns the damaged file copy.
   */
  const silentFlip = (file: Uint8Array, el: { at: number; n: number }) => {
    const start = el.at + 8;
    const good = unzlibSync(file.subarray(start, start + el.n));
    for (let p = start + Math.floor(el.n / 2); p < start + el.n - 4; p++) {
      const c = file.slice();
      c[p]! ^= 0x10;
      try {
        const got = unzlibSync(c.subarray(start, start + el.n));
        if (got.length === good.length && got.some((v, i) => v !== good[i])) return c;
      } catch {
        /* this flip breaks the deflate structure: try the next byte */
      }
    }
    throw new Error('no silently inflating byte flip found');
  };
  /** A MAT file whose only element is a miCOMPRESSED one with `zbody` (a zlib stream, intact or not) as its data. */
  const withCompressed = (zbody: Uint8Array) => {
    const head = writeMat({}).subarray(0, 128);
    const out = new Uint8Array(128 + 8 + zbody.length);
    out.set(head);
    new DataView(out.buffer).setUint32(128, 15, true);
    new DataView(out.buffer).setUint32(132, zbody.length, true);
    out.set(zbody, 136);
    return out;
  };
  const vec: Record<string, { dtype: 'float64'; shape: number[]; data: Float64Array }> = {
    vals: { dtype: 'float64', shape: [1, 64], data: Float64Array.from({ length: 64 }, (_, i) => i / 8) },
  };
  const plainElement = writeMat(vec).subarray(128);

  it('good compressed and plain fixtures still load', () => {
    const mats = (readdirSync(join(DIR, '../..'), { recursive: true }) as string[]).filter(
      (f) => f.endsWith('.mat') && !f.endsWith('v73.mat'),
    );
    expect(mats.length).toBe(11);
    let compressed = 0;
    for (const m of mats) {
      const b = new Uint8Array(readFileSync(join(DIR, '../..', m)));
      compressed += elements(b).filter((e) => e.type === 15).length;
      expect(readMat(b, { file: m }).names.length, m).toBeGreaterThan(0);
    }
    expect(compressed).toBeGreaterThan(150);
    expect(summaryOf(loadSeedIV(join(DIR, '../seed_iv_mini')))).toEqual({ trials: 72, finite: true });
  });

  it('a byte flip that still inflates fails on the Adler-32 check, naming the file and the variable', () => {
    const b = bytes('classes_zlib.mat');
    const big = elements(b).reduce((a, e) => (e.n > a.n ? e : a));
    const bad = silentFlip(b, big);
    expect(() => readMat(bad, { file: 'classes_zlib.mat' })).toThrow(
      /^classes_zlib\.mat \[big\]: element #\d+ at byte \d+: damaged miCOMPRESSED element \(Adler-32 checksum .* does not match/,
    );
    // The same flip inside a stored (level 0) deflate block: only the checksum can notice.
    const stored = withCompressed(zlibSync(plainElement, { level: 0 }));
    expect(matNumeric(readMat(stored), 'vals').data[9]).toBe(9 / 8);
    const flipped = stored.slice();
    flipped[stored.length - 4 - 100]! ^= 0x01;
    expect(() => readMat(flipped, { file: 'v.mat' })).toThrow(/^v\.mat \[vals\]: .*damaged miCOMPRESSED element \(Adler-32/);
    expect(() => readMat(flipped, { file: 'v.mat', only: (n) => n === 'vals' })).toThrow(/Adler-32/);
  });

  it('a stream that ends before or after its element ends is rejected', () => {
    const z = zlibSync(plainElement);
    expect(matNumeric(readMat(withCompressed(z)), 'vals').data[63]).toBe(63 / 8);
    for (const cut of [2, 4, 7]) {
      expect(() => readMat(withCompressed(z.subarray(0, z.length - cut)), { file: 't.mat' }), `cut ${cut}`).toThrow(
        /^t\.mat.*: damaged miCOMPRESSED element \(zlib stream truncated/,
      );
    }
    // Bytes after the zlib trailer but inside the element (a wrong byte count, or spliced data).
    const longer = new Uint8Array(z.length + 8);
    longer.set(z);
    longer.set(z.subarray(z.length - 4), z.length + 4); // even ending in a matching trailer
    expect(() => readMat(withCompressed(longer), { file: 't.mat' })).toThrow(
      new RegExp(
        `^t\\.mat \\[vals\\]: element #0 at byte 128: damaged miCOMPRESSED element \\(zlib stream ends after ${z.length} of the element's ${z.length + 8} bytes\\)`,
      ),
    );
  });

  it('the SEED-IV loader reports a damaged file by path and variable instead of returning its numbers', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'cmcrd-badmat-'));
    try {
      cpSync(join(DIR, '../seed_iv_mini'), tmp, { recursive: true });
      const path = join(tmp, 'eeg_feature_smooth/1/7_20150721.mat');
      const b = new Uint8Array(readFileSync(path));
      // Element 4 is de_LDS5 (the file holds de_LDS1..24 in order).
      writeFileSync(path, silentFlip(b, elements(b)[4]!));
      expect(() => loadSeedIV(tmp)).toThrow(/7_20150721\.mat \[de_LDS5\]: element #4 at byte \d+: damaged miCOMPRESSED element \(Adler-32/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

function summaryOf(ds: ReturnType<typeof loadSeedIV>) {
  return { trials: ds.trials.length, finite: ds.trials.every((t) => t.eeg.every((v) => Number.isFinite(v))) };
}
