// The old bank-kernel builders (src/train/losses/bankKernels.ts before the assembler), kept for the parity test only.
import { encodeModule, I32, V128, type WasmFn } from './encoder.js';
import { op } from './columns.js';
const { get, set, tee } = op;
const simd = op.simd;
const I32_ADD = [0x6a];
const I32_MUL = [0x6c];
const I32_GE_U = [0x4f];
const I32_LOAD = [0x28, 2, 0];
const F64_LOAD = [0x2b, 3, 0];
const F32_STORE = [0x38, 2, 0];
const F64_ADD = [0xa0];
const F64_NE = [0x62];
const F32_DEMOTE = [0xb6];
const F64X2 = { add: simd(0xf0), mul: simd(0xf2), splat: simd(0x14), lane: (k: number) => [...simd(0x21), k] };
/** f64x2 of the two float32 values at address + offset (v128.load64_zero, then f64x2.promote_low_f32x4). */
const load2f32 = (offset: number) => [...simd(0x5d), 3, offset, ...simd(0x5f)];
const vLoad = (offset: number) => [...simd(0x00), 4, offset];
const vStore = (offset: number) => [...simd(0x0b), 4, offset];
const ZERO = [...op.i32(0), ...simd(0x11)];

/** `block loop (if v >= limit break) body; v += step end end`, with v set to 0 first. */
function forLoop(v: number, limit: number, step: number, body: number[]): number[] {
  return [
    ...op.i32(0),
    ...set(v),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(v),
    ...get(limit),
    ...I32_GE_U,
    0x0d,
    1,
    ...body,
    ...get(v),
    ...op.i32(step),
    ...I32_ADD,
    ...set(v),
    0x0c,
    0,
    0x0b,
    0x0b,
  ];
}

// Params of both: bank, src (z [b, d] f64 or g [b, j] f64), idx [b, j] i32, b, d, j, out (byte offsets / counts).
const [BANK, SRC, IDX, B, D, J, OUT] = [0, 1, 2, 3, 4, 5, 6];
const [I, C, T, RO, ZO, Q, PO, D4] = [7, 8, 9, 10, 11, 12, 13, 14]; // i32 locals

/** ro = bank + idx[q]·d·4 */
const rowOffset = [...get(BANK), ...get(Q), ...I32_LOAD, ...get(D4), ...I32_MUL, ...I32_ADD, ...set(RO)];
/** byte offset of element t in a float64 row starting at `base` */
const f64At = (base: number) => [...get(base), ...get(T), ...op.i32(8), ...I32_MUL, ...I32_ADD];

// Both kernels walk the sampled rows in groups (rows c..c+n−1 of sample i in one loop over t). At large N the
// banks do not fit in cache and each row's first access waits on memory (and on a page walk); with several rows in
// the same loop the CPU has several of those misses in flight instead of one (docs/training-speed.md). Each row's
// arithmetic and the order of every sum are those of the one-row loops, so the results keep the same bits.
// Group sizes measured best on this machine: 4 for the dots (two accumulators per row; with 8 rows the 16 of
// them no longer fit in registers), 8 for the accumulation (one accumulator whatever the group).
const DOT_ROWS = 4;
const ACC_ROWS = 8;
const ROWS = Math.max(DOT_ROWS, ACC_ROWS); // locals are laid out for the larger group
const J1 = 15; // i32 local: j − (n − 1), the bound of the grouped loop
/** i32 local holding the byte offset of row r of the group (r = 0 is the shared RO) */
const roOf = (r: number) => (r === 0 ? RO : 15 + r);
const V = 15 + ROWS; // first v128 local
/** v128 locals: two accumulators per row of the group (dots), one splat weight per row (accumulate) */
const accOf = (r: number, half: number) => V + 2 * r + half;
const gvOf = (r: number) => V + 2 * ROWS + r;
const LOCALS: WasmFn['locals'] = [
  [8 + ROWS, I32],
  [3 * ROWS, V128],
];
const I32_LT_U = [0x49];
const I32_AND = [0x71];
const I32_SUB = [0x6b];
/** ro_r = bank + idx[q + r]·d·4 */
const rowOffsetOf = (r: number) => [...get(BANK), ...get(Q), 0x28, 2, 4 * r, ...get(D4), ...I32_MUL, ...I32_ADD, ...set(roOf(r))];
const bankAtRow = (ro: number) => [...get(ro), ...get(T), ...op.i32(4), ...I32_MUL, ...I32_ADD];
/** i32 (g ≠ 0) for the float64 g of row r of the group (at ZO + 8r), splatted into its local on the way */
const gNonZero = (r: number) => [
  ...get(ZO),
  0x2b,
  3,
  8 * r,
  ...F64X2.splat,
  ...tee(gvOf(r)),
  ...F64X2.lane(0),
  ...op.i32(0),
  0xb7,
  ...F64_NE,
];
const ifThen = (cond: number[], body: number[]) => [...cond, 0x04, 0x40, ...body, 0x0b];
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
/** The grouped loop over c (step n, while c < j − n + 1), then the remaining rows one by one. */
const groupedRows = (n: number, group: number[], single: number[]) => [
  ...get(J),
  ...op.i32(n - 1),
  ...I32_SUB,
  ...set(J1),
  // j < n − 1 would wrap J1 around: no group then
  ...ifThen([...get(J), ...op.i32(n - 1), ...I32_LT_U], [...op.i32(0), ...set(J1)]),
  ...forLoop(C, J1, n, group),
  0x02,
  0x40,
  0x03,
  0x40,
  ...get(C),
  ...get(J),
  ...I32_GE_U,
  0x0d,
  1,
  ...single,
  ...get(C),
  ...op.i32(1),
  ...I32_ADD,
  ...set(C),
  0x0c,
  0,
  0x0b,
  0x0b,
];

function rowDotsFn(): WasmFn {
  /** the two accumulators of row r += the products of elements t..t+3 of that row with z_i */
  const dotStep = (r: number) => [
    ...get(accOf(r, 0)),
    ...bankAtRow(roOf(r)),
    ...load2f32(0),
    ...f64At(ZO),
    ...vLoad(0),
    ...F64X2.mul,
    ...F64X2.add,
    ...set(accOf(r, 0)),
    ...get(accOf(r, 1)),
    ...bankAtRow(roOf(r)),
    ...load2f32(8),
    ...f64At(ZO),
    ...vLoad(16),
    ...F64X2.mul,
    ...F64X2.add,
    ...set(accOf(r, 1)),
  ];
  /** out[po + 4r] = f32(((a0 + a1) + a2) + a3) of row r */
  const store = (r: number) => {
    const [a01, a23] = [accOf(r, 0), accOf(r, 1)];
    return [
      ...get(PO),
      ...get(a01),
      ...F64X2.lane(0),
      ...get(a01),
      ...F64X2.lane(1),
      ...F64_ADD,
      ...get(a23),
      ...F64X2.lane(0),
      ...F64_ADD,
      ...get(a23),
      ...F64X2.lane(1),
      ...F64_ADD,
      ...F32_DEMOTE,
      0x38,
      2,
      4 * r,
    ];
  };
  const advance = (rows: number) => [
    ...get(PO),
    ...op.i32(4 * rows),
    ...I32_ADD,
    ...set(PO),
    ...get(Q),
    ...op.i32(4 * rows),
    ...I32_ADD,
    ...set(Q),
  ];
  const rows = (rs: number[]) => [
    ...rs.flatMap(rowOffsetOf),
    ...rs.flatMap((r) => [...ZERO, ...set(accOf(r, 0)), ...ZERO, ...set(accOf(r, 1))]),
    ...forLoop(T, D, 4, rs.flatMap(dotStep)),
    ...rs.flatMap(store),
    ...advance(rs.length),
  ];
  const body = [
    ...get(D),
    ...op.i32(4),
    ...I32_MUL,
    ...set(D4),
    ...get(IDX),
    ...set(Q),
    ...get(OUT),
    ...set(PO),
    ...forLoop(I, B, 1, [
      ...get(SRC),
      ...get(I),
      ...get(D),
      ...I32_MUL,
      ...op.i32(8),
      ...I32_MUL,
      ...I32_ADD,
      ...set(ZO),
      ...groupedRows(DOT_ROWS, rows(range(DOT_ROWS)), rows([0])),
    ]),
  ];
  return { name: 'rowdots', params: Array<number>(7).fill(I32), locals: LOCALS, body };
}

function rowAccumulateFn(): WasmFn {
  /** acc[t..t+1 (+2 half)] += g_r·row_r for each row r listed, in order */
  const acc = (half: number, rs: number[]) => [
    ...f64At(PO),
    ...f64At(PO),
    ...vLoad(half * 16),
    ...rs.flatMap((r) => [...get(gvOf(r)), ...bankAtRow(roOf(r)), ...load2f32(half * 8), ...F64X2.mul, ...F64X2.add]),
    ...vStore(half * 16),
  ];
  const rowsLoop = (rs: number[]) => [...rs.flatMap(rowOffsetOf), ...forLoop(T, D, 4, [...acc(0, rs), ...acc(1, rs)])];
  const advance = (rows: number) => [
    ...get(ZO),
    ...op.i32(8 * rows),
    ...I32_ADD,
    ...set(ZO),
    ...get(Q),
    ...op.i32(4 * rows),
    ...I32_ADD,
    ...set(Q),
  ];
  // Rows with g = 0 are skipped (as in the TypeScript loop): a group with one of them goes row by row.
  const group = [
    ...range(ACC_ROWS).flatMap(gNonZero),
    ...range(ACC_ROWS - 1).flatMap(() => I32_AND),
    0x04,
    0x40,
    ...rowsLoop(range(ACC_ROWS)),
    0x05, // else
    ...range(ACC_ROWS).flatMap((r) => ifThen(gNonZero(r), rowsLoop([r]))),
    0x0b,
    ...advance(ACC_ROWS),
  ];
  const single = [...ifThen(gNonZero(0), rowsLoop([0])), ...advance(1)];
  const body = [
    ...get(D),
    ...op.i32(4),
    ...I32_MUL,
    ...set(D4),
    ...get(IDX),
    ...set(Q),
    ...get(SRC),
    ...set(ZO), // ZO walks g
    ...forLoop(I, B, 1, [
      ...get(OUT),
      ...get(I),
      ...get(D),
      ...I32_MUL,
      ...op.i32(8),
      ...I32_MUL,
      ...I32_ADD,
      ...set(PO),
      ...forLoop(T, D, 2, [...f64At(PO), ...ZERO, ...vStore(0)]),
      ...groupedRows(ACC_ROWS, group, single),
    ]),
  ];
  return { name: 'rowacc', params: Array<number>(7).fill(I32), locals: LOCALS, body };
}
export const legacyBank = (): Uint8Array<ArrayBuffer> => encodeModule([rowDotsFn(), rowAccumulateFn()]);
