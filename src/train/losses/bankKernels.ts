/**
 * The memory-bank products of the contrastive losses (contrastive.ts `bankScores`) as WebAssembly SIMD kernels,
 * with the banks living in the kernels' own memory so no call copies them (2 MB each at N = 4096, d = 128):
 *   rowDots:       out[i, c] = ⟨bank[idx[i·j + c]], z[i]⟩            (forward: B·(K+1) dot products of length d)
 *   rowAccumulate: dz[i] = Σ_c g[i, c] · bank[idx[i·j + c]]           (backward)
 * ~4M multiply-adds each per direction and step at B = 32, K = 1000, d = 128; the scalar loops below take ~5 ms
 * per call in V8. The kernels use float64 lanes (f64x2) in exactly the TypeScript loops' order — four partial sums
 * per dot product over t mod 4, added as ((a0 + a1) + a2) + a3; accumulators per column in c order, zero weights
 * skipped — so both paths give the same bits (test/src/train/bank.test.ts). The kernels walk the rows in groups
 * (below) so that several cache misses are in flight at once; that changes no sum's order.
 */
import {
  assemble,
  compile,
  countUp,
  f32,
  f64,
  f64x2,
  i32,
  i32x4,
  local,
  typed,
  v128,
  when,
  whileNot,
  type Code,
  type Func,
} from '../../../runtime/wasm/assembler.js';

const { get, set, tee } = local;
/** +0.0 in both f64 lanes */
const ZERO: Code = [i32.const(0), i32x4.splat];
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// Both kernels walk the sampled rows in groups (rows c..c+n−1 of sample i in one loop over t). At large N the
// banks do not fit in cache and each row's first access waits on memory (and on a page walk); with several rows in
// the same loop the CPU has several of those misses in flight instead of one (docs/training-speed.md). Each row's
// arithmetic and the order of every sum are those of the one-row loops, so the results keep the same bits.
// Group sizes measured best on this machine: 4 for the dots (two accumulators per row; with 8 rows the 16 of
// them no longer fit in registers), 8 for the accumulation (one accumulator whatever the group).
const DOT_ROWS = 4;
const ACC_ROWS = 8;
const ROWS = Math.max(DOT_ROWS, ACC_ROWS); // locals are laid out for the larger group

/** byte offset of row r of the group in the bank */
const ro = (r: number) => `ro${r}`;
/** the two f64x2 accumulators of row r (dots): lanes t mod 4 = 0, 1 and 2, 3 */
const acc = (r: number, half: number) => `acc${r}_${half}`;
/** the weight g of row r splatted (accumulate) */
const gv = (r: number) => `g${r}`;

/**
 * Params of both kernels: bank, src (z [b, d] f64 or g [b, j] f64), idx [b, j] i32, b, d, j, out (byte offsets /
 * counts). Locals: i (sample), c (sampled row), t (element), zo (z_i or g_i), q (&idx[i·j + c]), po (output),
 * d4 = 4·d (bytes per bank row), j1 = j − (n − 1), the bound of the grouped loop.
 */
const kernel = (name: string, body: Code): Func => ({
  name,
  params: typed('i32', 'bank', 'src', 'idx', 'b', 'd', 'j', 'out'),
  locals: {
    ...typed('i32', 'i', 'c', 't', ro(0), 'zo', 'q', 'po', 'd4', 'j1', ...range(ROWS).slice(1).map(ro)),
    ...typed('v128', ...range(ROWS).flatMap((r) => [acc(r, 0), acc(r, 1)]), ...range(ROWS).map(gv)),
  },
  body,
});

/** ro_r = bank + idx[q + r]·d·4 */
const rowOffset = (r: number): Code => [get('bank'), get('q'), i32.load(4 * r), get('d4'), i32.mul, i32.add, set(ro(r))];
/** byte offset of element t in a float32 bank row */
const bankAt = (row: string): Code => [get(row), get('t'), i32.const(4), i32.mul, i32.add];
/** byte offset of element t in a float64 row starting at `base` */
const f64At = (base: string): Code => [get(base), get('t'), i32.const(8), i32.mul, i32.add];
/** f64x2 of the two float32 values at the address on the stack + offset */
const load2f32 = (offset: number): Code => [v128.load64_zero(offset), f64x2.promote_low_f32x4];
/** i32 (g ≠ 0) for the float64 g of row r of the group (at zo + 8r), splatted into its local on the way */
const gNonZero = (r: number): Code => [
  get('zo'),
  f64.load(8 * r),
  f64x2.splat,
  tee(gv(r)),
  f64x2.extract_lane(0),
  i32.const(0),
  f64.convert_i32_s,
  f64.ne,
];
/** v += n */
const inc = (v: string, n: number): Code => [get(v), i32.const(n), i32.add, set(v)];

/** The grouped loop over c (step n, while c < j − n + 1), then the remaining rows one by one. */
const groupedRows = (n: number, group: Code, single: Code): Code => [
  get('j'),
  i32.const(n - 1),
  i32.sub,
  set('j1'),
  when([get('j'), i32.const(n - 1), i32.lt_u], [i32.const(0), set('j1')]), // j < n − 1 would wrap j1 around: no group
  countUp('c', 'j1', n, group),
  whileNot([get('c'), get('j'), i32.ge_u], [single, inc('c', 1)]),
];

/** rowdots: out[i, c] = f32(⟨bank row idx[i·j + c], z_i⟩) */
function rowDotsFn(): Func {
  /** the two accumulators of row r += the products of elements t..t+3 of that row with z_i */
  const dotStep = (r: number): Code =>
    [0, 1].map((half) => [
      get(acc(r, half)),
      bankAt(ro(r)),
      load2f32(8 * half),
      f64At('zo'),
      v128.load(16 * half),
      f64x2.mul,
      f64x2.add,
      set(acc(r, half)),
    ]);
  /** out[po + 4r] = f32(((a0 + a1) + a2) + a3) of row r */
  const store = (r: number): Code => [
    get('po'),
    get(acc(r, 0)),
    f64x2.extract_lane(0),
    get(acc(r, 0)),
    f64x2.extract_lane(1),
    f64.add,
    get(acc(r, 1)),
    f64x2.extract_lane(0),
    f64.add,
    get(acc(r, 1)),
    f64x2.extract_lane(1),
    f64.add,
    f32.demote_f64,
    f32.store(4 * r),
  ];
  const rows = (rs: number[]): Code => [
    rs.map(rowOffset),
    rs.map((r) => [ZERO, set(acc(r, 0)), ZERO, set(acc(r, 1))]),
    countUp('t', 'd', 4, rs.map(dotStep)),
    rs.map(store),
    inc('po', 4 * rs.length),
    inc('q', 4 * rs.length),
  ];
  return kernel('rowdots', [
    get('d'),
    i32.const(4),
    i32.mul,
    set('d4'),
    get('idx'),
    set('q'),
    get('out'),
    set('po'),
    countUp('i', 'b', 1, [
      get('src'),
      get('i'),
      get('d'),
      i32.mul,
      i32.const(8),
      i32.mul,
      i32.add,
      set('zo'),
      groupedRows(DOT_ROWS, rows(range(DOT_ROWS)), rows([0])),
    ]),
  ]);
}

/** rowacc: dz_i (f64, at out) = Σ_c g[i, c]·bank row idx[i·j + c], rows with g = 0 skipped */
function rowAccumulateFn(): Func {
  /** dz[t..t+1 (half 0) or t+2..t+3 (half 1)] += g_r·row_r for each row r listed, in order */
  const accumulate = (half: number, rs: number[]): Code => [
    f64At('po'),
    f64At('po'),
    v128.load(16 * half),
    rs.map((r) => [get(gv(r)), bankAt(ro(r)), load2f32(8 * half), f64x2.mul, f64x2.add]),
    v128.store(16 * half),
  ];
  const rowsLoop = (rs: number[]): Code => [rs.map(rowOffset), countUp('t', 'd', 4, [accumulate(0, rs), accumulate(1, rs)])];
  const advance = (rows: number): Code => [inc('zo', 8 * rows), inc('q', 4 * rows)];
  // Rows with g = 0 are skipped (as in the TypeScript loop): a group with one of them goes row by row.
  const group = [
    when(
      [range(ACC_ROWS).map(gNonZero), range(ACC_ROWS - 1).map(() => i32.and)],
      rowsLoop(range(ACC_ROWS)),
      range(ACC_ROWS).map((r) => when(gNonZero(r), rowsLoop([r]))),
    ),
    advance(ACC_ROWS),
  ];
  const single = [when(gNonZero(0), rowsLoop([0])), advance(1)];
  return kernel('rowacc', [
    get('d'),
    i32.const(4),
    i32.mul,
    set('d4'),
    get('idx'),
    set('q'),
    get('src'),
    set('zo'), // zo walks g
    countUp('i', 'b', 1, [
      get('out'),
      get('i'),
      get('d'),
      i32.mul,
      i32.const(8),
      i32.mul,
      i32.add,
      set('po'),
      countUp('t', 'd', 2, [f64At('po'), ZERO, v128.store()]),
      groupedRows(ACC_ROWS, group, single),
    ]),
  ]);
}

/** The bank-kernel module's bytes (exported for the tests, which validate every module). */
export const bankModule = (): Uint8Array<ArrayBuffer> => assemble([rowDotsFn(), rowAccumulateFn()]);

type Kernel = (...args: number[]) => void;
interface BankExports {
  memory: WebAssembly.Memory;
  rowdots: Kernel;
  rowacc: Kernel;
}

let compiled: WebAssembly.Module | null | undefined;
let simdEnabled = true;

/** Turn the bank kernels off (tests compare both paths). Affects banks created afterwards. */
export function setBankSimd(enabled: boolean): void {
  simdEnabled = enabled;
}

function newInstance(): BankExports | null {
  if (!simdEnabled) return null;
  if (compiled === undefined) compiled = compile(bankModule()); // null: no WebAssembly SIMD, or code generation disallowed
  return compiled ? (new WebAssembly.Instance(compiled, {}).exports as unknown as BankExports) : null;
}

/**
 * Two [n, d] float32 banks (0 and 1) and the products against them. With the kernels the banks live in a
 * private WebAssembly memory: {@link bank} returns a fresh view (views die when that memory grows).
 */
export class BankPair {
  private readonly wasm: BankExports | null;
  private readonly plain: [Float32Array, Float32Array] | null;
  private readonly size: number;
  constructor(
    readonly n: number,
    readonly d: number,
  ) {
    this.size = n * d;
    this.wasm = d % 4 === 0 ? newInstance() : null;
    if (this.wasm) {
      this.grow(2 * this.size * 4);
      this.plain = null;
    } else this.plain = [new Float32Array(this.size), new Float32Array(this.size)];
  }
  private grow(bytes: number): void {
    const mem = this.wasm!.memory;
    if (bytes > mem.buffer.byteLength) mem.grow(Math.ceil((bytes - mem.buffer.byteLength) / 65536));
  }
  /** Bank k as a row-major [n, d] array (a view: write into it to change the bank). */
  bank(k: 0 | 1): Float32Array {
    if (this.plain) return this.plain[k];
    return new Float32Array(this.wasm!.memory.buffer, k * this.size * 4, this.size);
  }
  /** out[i, c] = ⟨bank_k[idx[i·j + c]], z[i]⟩, [b, j] with z [b, d] (float64 holding float32 values). */
  rowDots(k: 0 | 1, z: Float64Array, idx: Int32Array, b: number, j: number): Float32Array {
    if (!this.wasm) return rowDots(this.bank(k), z, idx, b, this.d, j);
    const base = 2 * this.size * 4;
    const zOff = base;
    const idxOff = zOff + b * this.d * 8;
    const outOff = idxOff + b * j * 4;
    this.grow(outOff + b * j * 4);
    const buf = this.wasm.memory.buffer;
    new Float64Array(buf, zOff, b * this.d).set(z.subarray(0, b * this.d));
    new Int32Array(buf, idxOff, b * j).set(idx.subarray(0, b * j));
    this.wasm.rowdots(k * this.size * 4, zOff, idxOff, b, this.d, j, outOff);
    return new Float32Array(buf, outOff, b * j).slice();
  }
  /** dz[i] = Σ_c g[i, c] · bank_k[idx[i·j + c]], [b, d] float32, with g [b, j]. */
  rowAccumulate(k: 0 | 1, g: Float64Array, idx: Int32Array, b: number, j: number): Float32Array {
    if (!this.wasm) return rowAccumulate(this.bank(k), g, idx, b, this.d, j);
    const base = 2 * this.size * 4;
    const gOff = base;
    const idxOff = gOff + b * j * 8;
    const outOff = idxOff + b * j * 4 + ((b * j * 4) % 16 === 0 ? 0 : 16 - ((b * j * 4) % 16));
    this.grow(outOff + b * this.d * 8);
    const buf = this.wasm.memory.buffer;
    new Float64Array(buf, gOff, b * j).set(g.subarray(0, b * j));
    new Int32Array(buf, idxOff, b * j).set(idx.subarray(0, b * j));
    this.wasm.rowacc(k * this.size * 4, gOff, idxOff, b, this.d, j, outOff);
    const dz = new Float32Array(b * this.d);
    dz.set(new Float64Array(buf, outOff, b * this.d));
    return dz;
  }
}

// The TypeScript path: plain top-level functions over typed arrays (4-way unrolled) so V8 optimises them once.

/** out[i, c] = ⟨bank[idx[i·j + c]], z[i]⟩. */
export function rowDots(bank: Float32Array, z: Float64Array, idx: Int32Array, b: number, d: number, j: number): Float32Array {
  const out = new Float32Array(b * j);
  const d4 = d - (d % 4);
  for (let i = 0; i < b; i++) {
    const zo = i * d;
    for (let c = 0; c < j; c++) {
      const ro = idx[i * j + c]! * d;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let t = 0;
      for (; t < d4; t += 4) {
        a0 += bank[ro + t]! * z[zo + t]!;
        a1 += bank[ro + t + 1]! * z[zo + t + 1]!;
        a2 += bank[ro + t + 2]! * z[zo + t + 2]!;
        a3 += bank[ro + t + 3]! * z[zo + t + 3]!;
      }
      for (; t < d; t++) a0 += bank[ro + t]! * z[zo + t]!;
      out[i * j + c] = a0 + a1 + a2 + a3;
    }
  }
  return out;
}

/** dz[i] = Σ_c g[i, c] · bank[idx[i·j + c]]. */
export function rowAccumulate(bank: Float32Array, g: Float64Array, idx: Int32Array, b: number, d: number, j: number): Float32Array {
  const dz = new Float32Array(b * d);
  const acc = new Float64Array(d);
  const d4 = d - (d % 4);
  for (let i = 0; i < b; i++) {
    acc.fill(0);
    for (let c = 0; c < j; c++) {
      const gij = g[i * j + c]!;
      if (gij === 0) continue;
      const ro = idx[i * j + c]! * d;
      let t = 0;
      for (; t < d4; t += 4) {
        acc[t] += gij * bank[ro + t]!;
        acc[t + 1] += gij * bank[ro + t + 1]!;
        acc[t + 2] += gij * bank[ro + t + 2]!;
        acc[t + 3] += gij * bank[ro + t + 3]!;
      }
      for (; t < d; t++) acc[t] += gij * bank[ro + t]!;
    }
    dz.set(acc, i * d);
  }
  return dz;
}
