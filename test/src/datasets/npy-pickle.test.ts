import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { unzipSync } from 'fflate';
import { loadSeedV } from '../../../src/datasets/index.js';
import { readNpz, readNpy, writeNpy, writeNpz, npzBytesMember } from '../../../src/io/npy.js';
import { unpickle, pickleDictOfArrays, PyTuple } from '../../../src/io/pickle.js';
import { DataFormatError } from '../../../src/io/errors.js';
import type { NdArray } from '../../../src/io/ndarray.js';

const SEEDV = join(import.meta.dirname, '../../fixtures/datasets/seed_v_mini');
const file = (p: string) => new Uint8Array(readFileSync(join(SEEDV, p)));
const eeg = (s: number, t: number, c: number, w: number, b: number) => ((s * 3 + t * 5 + c * 7 + w * 11 + b * 13) % 23) / 4 - 2.5;

describe('npz written by numpy with pickled dicts (SEED-V form)', () => {
  it.each([
    ['EEG_DE_features/5_123.npz', 'protocol 4, np.savez', 'float64'],
    ['EEG_DE_features/6_123.npz', 'protocol 2, np.savez_compressed', 'int64'],
  ])('%s (%s) decodes to dicts of ndarrays with the right values', (path, _what, labelDtype) => {
    const npz = readNpz(file(path), path);
    expect([...npz.keys()].sort()).toEqual(['data', 'label']);
    const m = npz.get('data')!;
    // np.savez stores the pickle as a 0-d |S<n> array.
    expect(m.dtype).toBe('bytes');
    expect(m.shape).toEqual([]);
    const data = unpickle(npzBytesMember(npz, 'data', path)) as Map<number, NdArray>;
    const label = unpickle(npzBytesMember(npz, 'label', path)) as Map<number, NdArray>;
    expect([...data.keys()]).toEqual(Array.from({ length: 45 }, (_, k) => k));
    for (const k of [0, 1, 17, 44]) {
      const a = data.get(k)!;
      const s = Math.floor(k / 15) + 1;
      const t = (k % 15) + 1;
      const W = 1 + (k % 2);
      expect(a.dtype).toBe('float64');
      expect(a.shape).toEqual([W, 310]);
      for (let w = 0; w < W; w++)
        for (const [c, b] of [
          [0, 0],
          [61, 4],
          [30, 2],
        ] as const)
          expect(a.data[w * 310 + c * 5 + b]).toBe(eeg(s, t, c, w, b));
      const l = label.get(k)!;
      expect(l.dtype).toBe(labelDtype);
      expect(l.shape).toEqual([W]);
    }
  });
});

describe('pickle decoder', () => {
  it('round-trips our writer for several dtypes and keys', () => {
    const d = new Map<number | string, NdArray>([
      [0, { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1.5, -2, 3, 4]) }],
      [300, { dtype: 'int16', shape: [3], data: Int16Array.from([-1, 2, 300]) }],
      [70000, { dtype: 'uint8', shape: [0], data: new Uint8Array(0) }],
      ['name', { dtype: 'int64', shape: [1], data: BigInt64Array.from([-(2n ** 40n)]) }],
    ]);
    const back = unpickle(pickleDictOfArrays(d)) as Map<number | string, NdArray>;
    expect([...back.keys()]).toEqual([0, 300, 70000, 'name']);
    for (const [k, v] of d) {
      expect(back.get(k)!.dtype).toBe(v.dtype);
      expect(back.get(k)!.shape).toEqual(v.shape);
      expect(Array.from(back.get(k)!.data as ArrayLike<number>)).toEqual(Array.from(v.data as ArrayLike<number>));
    }
  });

  it('decodes plain Python values (lists, tuples, floats, big ints, strings)', () => {
    // pickle.dumps({'a': [1, 2.5, None, True], 'b': (b'xy', 'é'), 'c': 2**70, 'd': -5}, protocol=2),
    // assembled by hand from the opcode table.
    const enc = new TextEncoder();
    const u = (s: string) => [0x58, ...le32(enc.encode(s).length), ...enc.encode(s)];
    const bytes = Uint8Array.from([
      0x80,
      2,
      0x7d,
      0x28,
      ...u('a'),
      0x5d,
      0x28,
      0x4b,
      1,
      0x47,
      0x40,
      0x04,
      0,
      0,
      0,
      0,
      0,
      0,
      0x4e,
      0x88,
      0x65,
      ...u('b'),
      0x43,
      2,
      0x78,
      0x79,
      ...u('é'),
      0x86,
      ...u('c'),
      0x8a,
      9,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0x40,
      ...u('d'),
      0x4a,
      ...le32(-5 >>> 0),
      0x75,
      0x2e,
    ]);
    const v = unpickle(bytes) as Map<string, unknown>;
    expect(v.get('a')).toEqual([1, 2.5, null, true]);
    const b = v.get('b') as PyTuple;
    expect(b).toBeInstanceOf(PyTuple);
    expect(Array.from(b.items[0] as Uint8Array)).toEqual([0x78, 0x79]);
    expect(b.items[1]).toBe('é');
    expect(v.get('c')).toBe(2n ** 70n);
    expect(v.get('d')).toBe(-5);
  });

  it('refuses globals outside the numpy whitelist (no code execution)', () => {
    // pickle.dumps(os.system) → GLOBAL 'posix system'
    const evil = Uint8Array.from([0x80, 2, 0x63, ...new TextEncoder().encode('posix\nsystem\n'), 0x2e]);
    expect(() => unpickle(evil, { file: 'x.npz', key: 'data' })).toThrow(/x\.npz \[data\]: pickle: global posix\.system is not allowed/);
    const builtins = Uint8Array.from([
      0x80,
      4,
      0x8c,
      8,
      ...new TextEncoder().encode('builtins'),
      0x8c,
      4,
      ...new TextEncoder().encode('eval'),
      0x93,
      0x2e,
    ]);
    expect(() => unpickle(builtins)).toThrow(/builtins\.eval is not allowed/);
  });

  it('reports unknown opcodes and truncation', () => {
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x49]))).toThrow(/unsupported opcode 0x49/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x58, 10, 0, 0, 0, 0x41]))).toThrow(/truncated/);
    expect(() => unpickle(new Uint8Array(0))).toThrow(DataFormatError);
  });

  it('fuzzed pickles (fast-check) only ever throw DataFormatError', () => {
    const good = pickleDictOfArrays(new Map([[1, { dtype: 'float64', shape: [2, 2], data: Float64Array.from([1, 2, 3, 4]) } as NdArray]]));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (edits, cut) => {
          const b = good.slice(0, 1 + (cut % good.length));
          for (const [p, v] of edits) b[p % b.length] = v;
          try {
            unpickle(b);
          } catch (e) {
            if (!(e instanceof DataFormatError)) throw e;
          }
        },
      ),
      { numRuns: 500, seed: 7 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          unpickle(b);
        } catch (e) {
          if (!(e instanceof DataFormatError)) throw e;
        }
      }),
      { numRuns: 500, seed: 8 },
    );
  });
});

describe('npy', () => {
  it('reads Fortran-order and big-endian arrays into row-major native values', () => {
    const hdr = (h: string) => {
      const text = h.padEnd(117, ' ') + '\n';
      return Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length, 0, ...Array.from(text, (c) => c.charCodeAt(0))]);
    };
    // 2×3 float64 in Fortran order: columns [1,4], [2,5], [3,6].
    const f = new Float64Array([1, 4, 2, 5, 3, 6]);
    const a = readNpy(Uint8Array.from([...hdr("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }"), ...new Uint8Array(f.buffer)]));
    expect(a.dtype !== 'bytes' && Array.from(a.data as Float64Array)).toEqual([1, 2, 3, 4, 5, 6]);
    const be = readNpy(
      Uint8Array.from([...hdr("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }"), 0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]),
    );
    expect(be.dtype !== 'bytes' && Array.from(be.data as Int32Array)).toEqual([258, -2]);
    expect(() => readNpy(hdr("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }"), 'q.npy')).toThrow(
      /q\.npy: unsupported dtype '<c16'/,
    );
  });
  it('writes what it reads (npz, compressed or not) and rejects garbage zips with the file name', () => {
    const a: NdArray = { dtype: 'uint16', shape: [2, 2], data: Uint16Array.from([1, 2, 3, 65535]) };
    for (const compress of [false, true]) {
      const back = readNpz(writeNpz({ x: a }, { compress })).get('x')!;
      expect(back.dtype).toBe('uint16');
      expect(back.shape).toEqual([2, 2]);
      expect(back.dtype !== 'bytes' && Array.from(back.data as Uint16Array)).toEqual([1, 2, 3, 65535]);
    }
    expect(() => readNpz(Uint8Array.from([1, 2, 3]), 'bad.npz')).toThrow(/bad\.npz: not a readable \.npz/);
    const trunc = writeNpy(a).slice(0, 130);
    expect(() => readNpy(trunc, 't.npy')).toThrow(/t\.npy: truncated \.npy data/);
  });
});

// Damaged .npz entries: the corrupt archives are made here from the good fixtures' bytes.
describe('npz CRC-32 checks', () => {
  /** Byte range of entry `name`'s stored/compressed data, from its local file header (APPNOTE 4.3.7). */
  const entryData = (b: Uint8Array, name: string) => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let at = 0; at + 30 <= b.length && dv.getUint32(at, true) === 0x04034b50;) {
      const n = dv.getUint16(at + 26, true);
      const start = at + 30 + n + dv.getUint16(at + 28, true);
      // numpy writes zip64 local headers (sizes 0xffffffff): find the end at the next header instead.
      let end = start;
      while (end + 4 <= b.length && dv.getUint32(end, true) !== 0x04034b50 && dv.getUint32(end, true) !== 0x02014b50) end++;
      if (new TextDecoder().decode(b.subarray(at + 30, at + 30 + n)) === name) return { start, end, method: dv.getUint16(at + 8, true) };
      at = end;
    }
    throw new Error(`no entry ${name}`);
  };
  /** Flip a byte in the middle of the entry's data such that fflate's unzipSync still extracts it (to other bytes). */
  const silentFlip = (b: Uint8Array, name: string) => {
    const { start, end } = entryData(b, name);
    const good = unzipSync(b)[name]!;
    for (let p = Math.floor((start + end) / 2); p < end; p++) {
      const c = b.slice();
      c[p]! ^= 0x10;
      try {
        const got = unzipSync(c)[name]!;
        if (got.length === good.length && got.some((v, i) => v !== good[i])) return c;
      } catch {
        /* broke the deflate structure: try the next byte */
      }
    }
    throw new Error('no silently extracting byte flip found');
  };

  it.each([
    ['EEG_DE_features/5_123.npz', 0],
    ['EEG_DE_features/6_123.npz', 8],
    ['Eye_movement_features/5_123.npz', 0],
  ])('%s (zip method %i): good bytes load, a damaged entry fails naming file and entry', (path, method) => {
    const b = file(path);
    expect(entryData(b, 'data.npy').method).toBe(method);
    // The good file passes the check (our CRC-32 agrees with the values numpy's zip writer recorded).
    const npz = readNpz(b, path);
    expect((unpickle(npzBytesMember(npz, 'data', path)) as Map<number, NdArray>).size).toBe(45);
    const bad = silentFlip(b, 'data.npy');
    expect(() => readNpz(bad, path)).toThrow(
      new RegExp(
        `^${path.replace(/[./]/g, '\\$&')} \\[data\\.npy\\]: damaged \\.npz: CRC-32 of the extracted entry is 0x[0-9a-f]{8}, the zip directory records 0x[0-9a-f]{8}`,
      ),
    );
  });

  it('an entry whose deflate data no longer decodes is named too', () => {
    const b = file('EEG_DE_features/6_123.npz');
    const { start, end } = entryData(b, 'label.npy');
    const c = b.slice();
    c.fill(0xff, start, end);
    expect(() => readNpz(c, '6_123.npz')).toThrow(/^6_123\.npz \[label\.npy\]: damaged \.npz: entry cannot be decompressed/);
  });

  it('our own writer (stored and deflated) round-trips through the check', () => {
    const x: NdArray = { dtype: 'float64', shape: [3], data: Float64Array.from([1.5, -2, 1e300]) };
    for (const compress of [false, true]) {
      const z = writeNpz({ x }, { compress });
      expect(Array.from((readNpz(z).get('x') as NdArray).data as Float64Array)).toEqual([1.5, -2, 1e300]);
      expect(() => readNpz(silentFlip(z, 'x.npy'), 'w.npz')).toThrow(/^w\.npz \[x\.npy\]: damaged \.npz: CRC-32/);
    }
  });

  it('the SEED-V loader reports a damaged file by path instead of returning its numbers', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'cmcrd-badnpz-'));
    try {
      cpSync(SEEDV, tmp, { recursive: true });
      const path = join(tmp, 'EEG_DE_features/5_123.npz');
      writeFileSync(path, silentFlip(new Uint8Array(readFileSync(path)), 'data.npy'));
      expect(() => loadSeedV(tmp)).toThrow(/EEG_DE_features[\\/]5_123\.npz \[data\.npy\]: damaged \.npz: CRC-32/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
