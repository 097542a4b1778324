/**
 * Hostile files for the MAT, npz and pickle readers (issue 24, items 6 and the property tests): decompression
 * bombs refused before their memory is spent, inputs whose cost grew faster than their size, and fast-check
 * properties over random valid files and their mutations, each case bounded in time and memory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DataFormatError } from '../../../src/io/errors.js';
import { readMat, writeMat, type MatWritable } from '../../../src/io/mat.js';
import type { NdArray, NumericDType } from '../../../src/io/ndarray.js';
import { readNpy, readNpz, writeNpz } from '../../../src/io/npy.js';
import { pickleDictOfArrays, unpickle } from '../../../src/io/pickle.js';
import { matBomb, npyHeader, npzBomb } from './bombs.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cmcrd-io-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Peak {
  error: string | null;
  ms: number;
  maxRssMiB: number;
}

/** Read `bytes` with the MAT or npz reader in a fresh process; its peak RSS is exact (resourceUsage().maxRSS). */
function peakRead(kind: 'mat' | 'npz', name: string, bytes: Uint8Array): Peak {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/src/datasets/peak-read.ts', kind, file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out) as Peak;
}

describe('decompression bombs are refused by what the headers declare, with little memory and time', () => {
  // The same process reading a small valid file of the same kind: what the runtime itself takes.
  const baseline = (kind: 'mat' | 'npz') =>
    peakRead(
      kind,
      `small.${kind}`,
      kind === 'mat'
        ? writeMat({ x: { dtype: 'float64', shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) } }, { compress: true })
        : writeNpz({ x: { dtype: 'float64', shape: [2], data: Float64Array.of(1, 2) } }, { compress: true }),
    );
  // Limits for the growth over that baseline and for the time, far below the 0.9–1.7 GB and 3–11 s the bombs
  // cost before the fix.
  const MAX_GROWTH_MIB = 48;
  const MAX_MS = 2000;

  it('MAT: a 400 KB file whose variable declares 1×1 but inflates to 400 MB is refused at the declared size', () => {
    const bomb = matBomb(1, 1, 400);
    expect(bomb.length).toBeLessThan(500_000);
    const base = baseline('mat');
    const r = peakRead('mat', 'lie.mat', bomb);
    expect(r.error).toMatch(
      /lie\.mat: element #0 at byte 128: miCOMPRESSED element inflates to more than 72 bytes \(the size its tag declares\); refused without inflating the rest/,
    );
    expect(r.maxRssMiB - base.maxRssMiB).toBeLessThan(MAX_GROWTH_MIB);
    expect(r.ms).toBeLessThan(MAX_MS);
  });

  it('MAT: a 400 KB file honestly declaring a 400 MB variable is refused before inflating (limit 256 MiB per variable)', () => {
    const bomb = matBomb(1, 400 * 131072, 400);
    const base = baseline('mat');
    const r = peakRead('mat', 'honest.mat', bomb);
    expect(r.error).toMatch(
      /honest\.mat \[x\]: element #0 at byte 128: compressed variable declares 419430464 bytes \(400 MiB\) inflated, more than the 256 MiB this reader inflates per variable; refused before inflating/,
    );
    expect(r.maxRssMiB - base.maxRssMiB).toBeLessThan(MAX_GROWTH_MIB);
    expect(r.ms).toBeLessThan(MAX_MS);
  });

  it('MAT: the limits are options, and a file of many variables is held to a total', () => {
    const v: NdArray = { dtype: 'float64', shape: [1, 1000], data: new Float64Array(1000) };
    const mat = writeMat({ a: v, b: v, c: v }, { compress: true });
    expect(readMat(mat).names).toEqual(['a', 'b', 'c']);
    expect(() => readMat(mat, { file: 'm.mat', maxInflatedBytes: 4000 })).toThrow(
      /m\.mat \[a\]: .*declares 8056 bytes .* more than the 0\.004 MiB this reader inflates per variable/,
    );
    expect(() => readMat(mat, { file: 'm.mat', maxTotalInflatedBytes: 20_000 })).toThrow(
      /m\.mat \[c\]: element #2 .*would pass the 0\.019 MiB this reader inflates per file/,
    );
  });

  it('npz: a 1 MB archive declaring a 1 GB entry is refused before inflating (limit 256 MiB per entry)', () => {
    const bomb = npzBomb([1024 * 131072], 1024, 128 + 2 ** 30);
    expect(bomb.length).toBeLessThan(1_200_000);
    const base = baseline('npz');
    const r = peakRead('npz', 'honest.npz', bomb);
    expect(r.error).toMatch(
      /honest\.npz \[x\.npy\]: entry declares 1073741952 bytes \(1024 MiB\) inflated, more than the 256 MiB this reader extracts per entry; refused before inflating/,
    );
    expect(r.maxRssMiB - base.maxRssMiB).toBeLessThan(MAX_GROWTH_MIB);
    expect(r.ms).toBeLessThan(MAX_MS);
  });

  it('npz: an entry declaring 256 bytes that inflates to 1 GB is dropped at the declared size', () => {
    const bomb = npzBomb([16], 1024, 256);
    const base = baseline('npz');
    const r = peakRead('npz', 'lie.npz', bomb);
    expect(r.error).toMatch(
      /lie\.npz \[x\.npy\]: damaged \.npz: .*the stream inflates past the 256 bytes the zip directory declares, and was dropped there without inflating the rest/,
    );
    expect(r.maxRssMiB - base.maxRssMiB).toBeLessThan(MAX_GROWTH_MIB);
    expect(r.ms).toBeLessThan(MAX_MS);
    // The per-archive total, as an option.
    const two = writeNpz({
      a: { dtype: 'float64', shape: [100], data: new Float64Array(100) },
      b: { dtype: 'float64', shape: [100], data: new Float64Array(100) },
    });
    expect(() => readNpz(two, 't.npz', { maxTotalBytes: 1000 })).toThrow(
      /t\.npz \[b\.npy\]: the entries declare \d+ bytes or more inflated, more than the 0\.001 MiB this reader extracts per archive/,
    );
  });

  it('npz: a directory claiming more entries than the file can hold is refused at once', () => {
    const z = Buffer.from(writeNpz({ a: { dtype: 'uint8', shape: [1], data: Uint8Array.of(1) } }));
    const eocd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    z.writeUInt16LE(0xffff, eocd + 10);
    const t0 = performance.now();
    expect(() => readNpz(z, 'many.npz')).toThrow(
      /many\.npz: not a readable \.npz \(zip\) archive: the directory claims 65535 entries, more than the file can hold/,
    );
    expect(performance.now() - t0).toBeLessThan(200);
  });
});

describe('inputs whose cost grew faster than their size', () => {
  it("npy: a zero-width byte-string dtype ('|S0') with a huge shape is refused at once (it looped per element)", () => {
    let h = "{'descr': '|S0', 'fortran_order': False, 'shape': (20000000,), }";
    h = h.padEnd(Math.ceil((11 + h.length) / 64) * 64 - 11, ' ') + '\n';
    const bytes = Buffer.concat([
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 0xff, h.length >> 8]),
      Buffer.from(h, 'latin1'),
    ]);
    const t0 = performance.now();
    expect(() => readNpy(bytes, 's0.npy')).toThrow(
      /s0\.npy: byte-string dtype of width 0 \('\|S0'\) with shape \(20000000\): numpy does not write these/,
    );
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('pickle: memoised None is accepted (None is null: `top ?? fail` refused it)', () => {
    expect(unpickle(Uint8Array.of(0x80, 4, 0x4e, 0x94, 0x30, 0x68, 0, 0x2e))).toBeNull(); // NONE MEMOIZE POP BINGET 0 STOP
  });

  it('pickle: 5000 arrays after 300000 memo entries decode in well under a second (BUILD scanned the whole memo)', () => {
    const one = pickleDictOfArrays(new Map([[0, { dtype: 'float32', shape: [1], data: Float32Array.of(1) } as NdArray]]));
    const arrayOps = one.subarray(6, one.length - 2); // PROTO 4, EMPTY_DICT, MARK, BININT1 0 | array | SETITEMS, STOP
    const M = 300_000;
    const K = 5000;
    const parts: Uint8Array[] = [Uint8Array.of(0x80, 4, 0x5d)]; // PROTO 4, EMPTY_LIST
    const memo = new Uint8Array(4 * M);
    for (let i = 0; i < M; i++) memo.set([0x4b, i & 0xff, 0x94, 0x30], 4 * i); // BININT1, MEMOIZE, POP
    parts.push(memo, Uint8Array.of(0x28)); // MARK
    for (let i = 0; i < K; i++) parts.push(arrayOps);
    parts.push(Uint8Array.of(0x65, 0x2e)); // APPENDS, STOP
    const bytes = Buffer.concat(parts);
    const t0 = performance.now();
    const v = unpickle(bytes) as NdArray[];
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(v.length).toBe(K);
    expect(Array.from(v[K - 1]!.data as Float32Array)).toEqual([1]);
  });

  it('pickle: a 200 KB LONG4 integer decodes in well under a second (it was built byte by byte, quadratically)', () => {
    const n = 200_000;
    const body = new Uint8Array(n).fill(0x11);
    body[n - 1] = 0x01; // positive
    const bytes = Buffer.concat([Uint8Array.of(0x80, 2, 0x8b, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, 0), body, Uint8Array.of(0x2e)]);
    const t0 = performance.now();
    const v = unpickle(bytes);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(typeof v).toBe('bigint');
    expect((v as bigint) & 0xffffn).toBe(0x1111n);
    expect((v as bigint) >> BigInt(8 * (n - 1))).toBe(1n);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties: random valid files, and the same files mutated, never crash, hang or balloon.

const DTYPES = ['float64', 'float32', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32'] as const satisfies readonly NumericDType[];
const arrayArb = fc
  .record({
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
    seed: fc.integer(),
  })
  .map(({ dtype, shape, seed }): NdArray => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new (
      {
        float64: Float64Array,
        float32: Float32Array,
        int8: Int8Array,
        uint8: Uint8Array,
        int16: Int16Array,
        uint16: Uint16Array,
        int32: Int32Array,
        uint32: Uint32Array,
      } as const
    )[dtype](n);
    for (let i = 0; i < n; i++) data[i] = ((seed + i * 2654435761) % 1000) / (dtype.startsWith('float') ? 7 : 1);
    return { dtype, shape, data } as NdArray;
  });
const namesArb = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), { minLength: 1, maxLength: 4 });

/** Mutations of a valid file: byte flips, truncation, insertion, and extreme 32-bit values over a header field. */
const mutationArb = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    xor: fc.integer({ min: 1, max: 255 }),
    count: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0x10000000, 0x80000000),
  }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: Uint8Array, m: Mutation): Uint8Array {
  const b = Uint8Array.from(src);
  const at = b.length ? m.at % b.length : 0;
  switch (m.kind) {
    case 'flip':
      for (let i = 0; i < m.count && at + i < b.length; i++) b[at + i]! ^= m.xor;
      return b;
    case 'truncate':
      return b.subarray(0, at);
    case 'insert':
      return Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    case 'u32':
      if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, m.value, true);
      return b;
  }
}

/** Run `read` on one case: it returns or throws DataFormatError, within `ms` and with under `mib` MiB of new buffers. */
function bounded(read: () => unknown, ms = 500, mib = 64): void {
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  try {
    read();
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw new Error(`escaped as ${(e as Error).name}: ${(e as Error).message}`);
  }
  const took = performance.now() - t0;
  const grew = (process.memoryUsage().arrayBuffers - before) / 2 ** 20;
  if (took > ms) throw new Error(`took ${took.toFixed(0)} ms (bound ${ms})`);
  if (grew > mib) throw new Error(`allocated ${grew.toFixed(1)} MiB of buffers (bound ${mib})`);
}

describe('property tests over the readers (fast-check; each case ≤ 500 ms and ≤ 64 MiB of new buffers)', () => {
  it('MAT: 150 random valid files read back exactly, and 400 mutations of them only ever fail with DataFormatError', () => {
    const fileArb = fc.record({ names: namesArb, arrays: fc.array(arrayArb, { minLength: 4, maxLength: 4 }), compress: fc.boolean() });
    fc.assert(
      fc.property(fileArb, ({ names, arrays, compress }) => {
        const vars = new Map<string, MatWritable>(names.map((n, i) => [n, arrays[i]!]));
        const bytes = writeMat(vars, { compress });
        let mat: ReturnType<typeof readMat> | undefined;
        bounded(() => (mat = readMat(bytes, { file: 'p.mat' })));
        expect(mat!.names).toEqual(names);
        names.forEach((n, i) => {
          const v = mat!.variables.get(n)!;
          expect(v.kind === 'numeric' && Array.from(v.array.data as ArrayLike<number>)).toEqual(
            Array.from(arrays[i]!.data as ArrayLike<number>),
          );
        });
      }),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(fileArb, mutationArb, ({ names, arrays, compress }, m) => {
        const bytes = writeMat(new Map<string, MatWritable>(names.map((n, i) => [n, arrays[i]!])), { compress });
        bounded(() => readMat(mutate(bytes, m), { file: 'p.mat' }));
      }),
      { numRuns: 400 },
    );
  });

  it('npz: 150 random valid archives read back exactly, and 400 mutations of them only ever fail with DataFormatError', () => {
    const fileArb = fc.record({ names: namesArb, arrays: fc.array(arrayArb, { minLength: 4, maxLength: 4 }), compress: fc.boolean() });
    fc.assert(
      fc.property(fileArb, ({ names, arrays, compress }) => {
        const bytes = writeNpz(Object.fromEntries(names.map((n, i) => [n, arrays[i]!])), { compress });
        let got: Map<string, unknown> | undefined;
        bounded(() => (got = readNpz(bytes, 'p.npz')));
        expect([...got!.keys()].sort()).toEqual([...names].sort());
        names.forEach((n, i) =>
          expect(Array.from((got!.get(n) as NdArray).data as ArrayLike<number>)).toEqual(Array.from(arrays[i]!.data as ArrayLike<number>)),
        );
      }),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(fileArb, mutationArb, ({ names, arrays, compress }, m) => {
        const bytes = writeNpz(Object.fromEntries(names.map((n, i) => [n, arrays[i]!])), { compress });
        bounded(() => readNpz(mutate(bytes, m), 'p.npz'));
      }),
      { numRuns: 400 },
    );
  });

  it('pickle: 150 random valid dicts of arrays read back exactly, 400 mutations and 300 random byte strings only ever fail with DataFormatError', () => {
    const dictArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 44 }), arrayArb), { minLength: 1, maxLength: 5 }).map((kv) => new Map(kv));
    fc.assert(
      fc.property(dictArb, (dict) => {
        const bytes = pickleDictOfArrays(dict);
        let got: unknown;
        bounded(() => (got = unpickle(bytes, { file: 'p.pkl' })));
        expect(got).toBeInstanceOf(Map);
        for (const [k, a] of dict)
          expect(Array.from((got as Map<number, NdArray>).get(k)!.data as ArrayLike<number>)).toEqual(
            Array.from(a.data as ArrayLike<number>),
          );
      }),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(dictArb, mutationArb, (dict, m) => bounded(() => unpickle(mutate(pickleDictOfArrays(dict), m), { file: 'p.pkl' }))),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => bounded(() => unpickle(Uint8Array.from([0x80, 4, ...b]), { file: 'p.pkl' }))),
      { numRuns: 300 },
    );
  });

  it('npy: 300 mutated headers (shape, dtype, version fields) only ever fail with DataFormatError', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 31 }), { maxLength: 4 }), mutationArb, (shape, m) => {
        const b = Buffer.concat([npyHeader(shape), Buffer.alloc(64)]);
        bounded(() => readNpy(mutate(b, m), 'p.npy'));
      }),
      { numRuns: 300 },
    );
  });
});
