// The old column-kernel builders (src/train/simd.ts before the assembler), kept for the parity test only.
import { encodeModule, I32, sleb, uleb, V128, type WasmFn } from './encoder.js';
// ---- instruction helpers (the module encoder is runtime/wasm/encoder.ts) ---------------------------------

export const op = {
  get: (l: number) => [0x20, ...uleb(l)],
  set: (l: number) => [0x21, ...uleb(l)],
  tee: (l: number) => [0x22, ...uleb(l)],
  i32: (v: number) => [0x41, ...sleb(v)],
  simd: (o: number) => [0xfd, ...uleb(o)],
};
const simd = op.simd;
export const V_LOAD = [...simd(0x00), 4, 0]; // v128.load align=16 offset=0
export const V_STORE = [...simd(0x0b), 4, 0];
export const F4 = {
  add: simd(0xe4),
  sub: simd(0xe5),
  mul: simd(0xe6),
  div: simd(0xe7),
  sqrt: simd(0xe3),
  splat: simd(0x13),
  gt: simd(0x44),
  pmax: simd(0xeb),
};
const V_AND = simd(0x4e);
const V_ZERO = [...op.i32(0), ...simd(0x11)]; // i32x4.splat 0 = +0.0f ×4
const I32_ADD = [0x6a];
const I32_MUL = [0x6c];
const I32_GE_U = [0x4f];

// ---- column reductions -------------------------------------------------------------------------------------

interface Locals {
  /** v128 from input matrix k at (i, j) */
  load: (k: number) => number[];
  /** v128 of extra per-column vector k at j */
  extra: (k: number) => number[];
  /** byte address of (i, j) in input matrix k (for matrices that are written, not read) */
  addr: (k: number) => number[];
  acc: (k: number) => number;
  tmp: number;
}

/**
 * `fnName(in0…, rows, cols4, extra0…, out0…)` (i32 byte offsets and counts): for each group of 4 columns,
 * run `update` for rows 0…rows−1 in order with v128 accumulators starting at +0, then store them to the outputs.
 */
function columnReduction(fnName: string, inputs: number, extras: number, outputs: number, update: (l: Locals) => number[]): WasmFn {
  const pRows = inputs;
  const pCols4 = inputs + 1;
  const pExtra = inputs + 2;
  const pOut = (k: number) => inputs + 2 + extras + k;
  const nParams = inputs + 2 + extras + outputs;
  const [J, I, P] = [nParams, nParams + 1, nParams + 2]; // column group, row, byte offset of (i, j) in a matrix
  const ACC = nParams + 3;
  const TMP = ACC + outputs;
  const { get, set } = op;
  const colOffset = (base: number) => [...get(base), ...get(J), ...op.i32(16), ...I32_MUL, ...I32_ADD];
  const l: Locals = {
    load: (k) => [...get(k), ...get(P), ...I32_ADD, ...V_LOAD],
    extra: (k) => [...colOffset(pExtra + k), ...V_LOAD],
    addr: (k) => [...get(k), ...get(P), ...I32_ADD],
    acc: (k) => ACC + k,
    tmp: TMP,
  };
  const body = [
    ...op.i32(0),
    ...set(J),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(J),
    ...get(pCols4),
    ...I32_GE_U,
    0x0d,
    1,
    ...Array.from({ length: outputs }, (_, k) => [...op.i32(0), ...simd(0x11), ...set(ACC + k)]).flat(), // i32x4.splat 0 = +0.0f ×4
    ...op.i32(0),
    ...set(I),
    ...get(J),
    ...op.i32(16),
    ...I32_MUL,
    ...set(P),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(I),
    ...get(pRows),
    ...I32_GE_U,
    0x0d,
    1,
    ...update(l),
    ...get(I),
    ...op.i32(1),
    ...I32_ADD,
    ...set(I),
    ...get(P),
    ...get(pCols4),
    ...op.i32(16),
    ...I32_MUL,
    ...I32_ADD,
    ...set(P),
    0x0c,
    0,
    0x0b,
    0x0b,
    ...Array.from({ length: outputs }, (_, k) => [...colOffset(pOut(k)), ...get(ACC + k), ...V_STORE]).flat(),
    ...get(J),
    ...op.i32(1),
    ...I32_ADD,
    ...set(J),
    0x0c,
    0,
    0x0b,
    0x0b,
  ];
  return {
    name: fnName,
    params: Array<number>(nParams).fill(I32),
    locals: [
      [3, I32],
      [outputs + 1, V128],
    ],
    body,
  };
}

const accAdd = (k: number, value: number[]) => [...op.get(k), ...value, ...F4.add, ...op.set(k)];

const COLUMN_FNS: WasmFn[] = [
  // colsum(src, rows, cols4, dst): acc += x
  columnReduction('colsum', 1, 0, 1, (l) => accAdd(l.acc(0), l.load(0))),
  // sqdev(src, rows, cols4, mean, dst): acc += (x − m)·(x − m)
  columnReduction('sqdev', 1, 1, 1, (l) =>
    accAdd(l.acc(0), [...l.load(0), ...l.extra(0), ...F4.sub, ...op.tee(l.tmp), ...op.get(l.tmp), ...F4.mul]),
  ),
  // dotcols(a, b, rows, cols4, sumA, sumAB): acc0 += a; acc1 += a·b
  columnReduction('dotcols', 2, 0, 2, (l) => [
    ...accAdd(l.acc(0), l.load(0)),
    ...accAdd(l.acc(1), [...l.load(0), ...l.load(1), ...F4.mul]),
  ]),
  // BatchNorm + ReLU forward, element-wise (nets/bnHost.ts): bnfwd(z, xhat, y, rows, cols4, mean, rstd, gamma, beta):
  // x̂ = (z − mean)·rstd → xhat; y = pmax(0, x̂·γ + β) (= a > 0 ? a : 0, as the TypeScript path).
  columnReduction('bnfwd', 3, 4, 0, (l) => [
    ...l.addr(1),
    ...l.load(0),
    ...l.extra(0),
    ...F4.sub,
    ...l.extra(1),
    ...F4.mul,
    ...op.tee(l.tmp),
    ...V_STORE,
    ...l.addr(2),
    ...V_ZERO,
    ...op.get(l.tmp),
    ...l.extra(2),
    ...F4.mul,
    ...l.extra(3),
    ...F4.add,
    ...F4.pmax,
    ...V_STORE,
  ]),
  // Its backward, first pass: bnbwd(dy, y, xhat, da, rows, cols4, sumDa, sumDaXhat): da = dy where y > 0 else +0
  // (and with the y > 0 mask) → da; acc0 += da; acc1 += da·x̂ (the order of dotcols).
  columnReduction('bnbwd', 4, 0, 2, (l) => [
    ...l.addr(3),
    ...l.load(0),
    ...l.load(1),
    ...V_ZERO,
    ...F4.gt,
    ...V_AND,
    ...op.tee(l.tmp),
    ...V_STORE,
    ...accAdd(l.acc(0), op.get(l.tmp)),
    ...accAdd(l.acc(1), [...op.get(l.tmp), ...l.load(2), ...F4.mul]),
  ]),
  // Second pass: bndz(da, xhat, dz, rows, cols4, k, c1, c2, sumDz): dz = (da·k − x̂·c1) − c2 → dz; acc += dz.
  columnReduction('bndz', 3, 3, 1, (l) => [
    ...l.addr(2),
    ...l.load(0),
    ...l.extra(0),
    ...F4.mul,
    ...l.load(1),
    ...l.extra(1),
    ...F4.mul,
    ...F4.sub,
    ...l.extra(2),
    ...F4.sub,
    ...op.tee(l.tmp),
    ...V_STORE,
    ...accAdd(l.acc(0), op.get(l.tmp)),
  ]),
];

/** transpose(src, rows, cols, dst): dst[j·rows + i] = src[i·cols + j] (scalar f32 copies, byte offsets). */
function transposeFn(): WasmFn {
  const [SRC, ROWS, COLS, DST, I, J, PS, PD, STRIDE] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const { get, set } = op;
  const body = [
    ...get(ROWS),
    ...op.i32(4),
    ...I32_MUL,
    ...set(STRIDE),
    ...get(SRC),
    ...set(PS),
    ...op.i32(0),
    ...set(I),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(I),
    ...get(ROWS),
    ...I32_GE_U,
    0x0d,
    1,
    ...get(DST),
    ...get(I),
    ...op.i32(4),
    ...I32_MUL,
    ...I32_ADD,
    ...set(PD),
    ...op.i32(0),
    ...set(J),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(J),
    ...get(COLS),
    ...I32_GE_U,
    0x0d,
    1,
    ...get(PD),
    ...get(PS),
    0x2a,
    2,
    0,
    0x38,
    2,
    0, // f32.store(pd, f32.load(ps))
    ...get(PS),
    ...op.i32(4),
    ...I32_ADD,
    ...set(PS),
    ...get(PD),
    ...get(STRIDE),
    ...I32_ADD,
    ...set(PD),
    ...get(J),
    ...op.i32(1),
    ...I32_ADD,
    ...set(J),
    0x0c,
    0,
    0x0b,
    0x0b,
    ...get(I),
    ...op.i32(1),
    ...I32_ADD,
    ...set(I),
    0x0c,
    0,
    0x0b,
    0x0b,
  ];
  return { name: 'transpose', params: [I32, I32, I32, I32], locals: [[5, I32]], body };
}
COLUMN_FNS.push(transposeFn());
export const legacyColumns = (): Uint8Array<ArrayBuffer> => encodeModule(COLUMN_FNS);
