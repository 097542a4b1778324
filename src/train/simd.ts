/**
 * Small WebAssembly SIMD kernels for the training step, assembled at first use from the opcodes below (no
 * build step, no binary in the package; encoded by runtime/wasm/encoder.ts): column reductions over row-major
 * [rows, cols] float32 matrices for BatchNorm (Σ x, Σ (x − m)², Σ a and Σ a·b per column), and a transpose.
 *
 * Why: on tfjs-wasm a reduction over axis 0 transposes first and a ones·M product packs M for XNNPACK, each
 * ~100 µs for 256×128; these loops take ~10 µs plus a memcpy. Each column sum accumulates in float32 over the
 * rows in order, in four lanes; the TypeScript fallback (no WebAssembly SIMD, or cols not a multiple of 4) does
 * the same float32 operations in the same order, so both give the same bits.
 */

import * as tf from './tf.js';
import { encodeModule, I32, instantiate, sleb, uleb, V128, type WasmFn } from '../../runtime/wasm/encoder.js';

interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * The values of a float32 tensor for reading on the host: on tfjs-wasm a view into its heap (no copy; valid only
 * until the next tfjs allocation, so use it at once), elsewhere `dataSync()`.
 */
export function hostValues(t: tf.Tensor): Float32Array {
  const be = tf.backend() as unknown as Partial<HeapBackend>;
  if (tf.getBackend() === 'wasm' && typeof be.typedArrayFromHeap === 'function') return be.typedArrayFromHeap(t);
  return t.dataSync() as Float32Array;
}

/**
 * A float32 tensor holding `values`. tfjs-wasm copies them into its heap at once, so a view (e.g. into a kernel's
 * memory) can be passed as is; other backends may keep the array, so they get a copy.
 */
export function tensorFrom(values: Float32Array, shape: number[]): tf.Tensor {
  return tf.tensor(tf.getBackend() === 'wasm' ? values : values.slice(), shape, 'float32');
}

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
export const F4 = { add: simd(0xe4), sub: simd(0xe5), mul: simd(0xe6), div: simd(0xe7), sqrt: simd(0xe3), splat: simd(0x13), gt: simd(0x44), pmax: simd(0xeb) };
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
    ...op.i32(0), ...set(J),
    0x02, 0x40, 0x03, 0x40,
    ...get(J), ...get(pCols4), ...I32_GE_U, 0x0d, 1,
    ...Array.from({ length: outputs }, (_, k) => [...op.i32(0), ...simd(0x11), ...set(ACC + k)]).flat(), // i32x4.splat 0 = +0.0f ×4
    ...op.i32(0), ...set(I),
    ...get(J), ...op.i32(16), ...I32_MUL, ...set(P),
    0x02, 0x40, 0x03, 0x40,
    ...get(I), ...get(pRows), ...I32_GE_U, 0x0d, 1,
    ...update(l),
    ...get(I), ...op.i32(1), ...I32_ADD, ...set(I),
    ...get(P), ...get(pCols4), ...op.i32(16), ...I32_MUL, ...I32_ADD, ...set(P),
    0x0c, 0, 0x0b, 0x0b,
    ...Array.from({ length: outputs }, (_, k) => [...colOffset(pOut(k)), ...get(ACC + k), ...V_STORE]).flat(),
    ...get(J), ...op.i32(1), ...I32_ADD, ...set(J),
    0x0c, 0, 0x0b, 0x0b,
  ];
  return { name: fnName, params: Array<number>(nParams).fill(I32), locals: [[3, I32], [outputs + 1, V128]], body };
}

const accAdd = (k: number, value: number[]) => [...op.get(k), ...value, ...F4.add, ...op.set(k)];

const COLUMN_FNS: WasmFn[] = [
  // colsum(src, rows, cols4, dst): acc += x
  columnReduction('colsum', 1, 0, 1, (l) => accAdd(l.acc(0), l.load(0))),
  // sqdev(src, rows, cols4, mean, dst): acc += (x − m)·(x − m)
  columnReduction('sqdev', 1, 1, 1, (l) => accAdd(l.acc(0), [...l.load(0), ...l.extra(0), ...F4.sub, ...op.tee(l.tmp), ...op.get(l.tmp), ...F4.mul])),
  // dotcols(a, b, rows, cols4, sumA, sumAB): acc0 += a; acc1 += a·b
  columnReduction('dotcols', 2, 0, 2, (l) => [...accAdd(l.acc(0), l.load(0)), ...accAdd(l.acc(1), [...l.load(0), ...l.load(1), ...F4.mul])]),
  // BatchNorm + ReLU forward, element-wise (nets/bnHost.ts): bnfwd(z, xhat, y, rows, cols4, mean, rstd, gamma, beta):
  // x̂ = (z − mean)·rstd → xhat; y = pmax(0, x̂·γ + β) (= a > 0 ? a : 0, as the TypeScript path).
  columnReduction('bnfwd', 3, 4, 0, (l) => [
    ...l.addr(1), ...l.load(0), ...l.extra(0), ...F4.sub, ...l.extra(1), ...F4.mul, ...op.tee(l.tmp), ...V_STORE,
    ...l.addr(2), ...V_ZERO, ...op.get(l.tmp), ...l.extra(2), ...F4.mul, ...l.extra(3), ...F4.add, ...F4.pmax, ...V_STORE,
  ]),
  // Its backward, first pass: bnbwd(dy, y, xhat, da, rows, cols4, sumDa, sumDaXhat): da = dy where y > 0 else +0
  // (and with the y > 0 mask) → da; acc0 += da; acc1 += da·x̂ (the order of dotcols).
  columnReduction('bnbwd', 4, 0, 2, (l) => [
    ...l.addr(3), ...l.load(0), ...l.load(1), ...V_ZERO, ...F4.gt, ...V_AND, ...op.tee(l.tmp), ...V_STORE,
    ...accAdd(l.acc(0), op.get(l.tmp)),
    ...accAdd(l.acc(1), [...op.get(l.tmp), ...l.load(2), ...F4.mul]),
  ]),
  // Second pass: bndz(da, xhat, dz, rows, cols4, k, c1, c2, sumDz): dz = (da·k − x̂·c1) − c2 → dz; acc += dz.
  columnReduction('bndz', 3, 3, 1, (l) => [
    ...l.addr(2), ...l.load(0), ...l.extra(0), ...F4.mul, ...l.load(1), ...l.extra(1), ...F4.mul, ...F4.sub, ...l.extra(2), ...F4.sub,
    ...op.tee(l.tmp), ...V_STORE,
    ...accAdd(l.acc(0), op.get(l.tmp)),
  ]),
];

/** transpose(src, rows, cols, dst): dst[j·rows + i] = src[i·cols + j] (scalar f32 copies, byte offsets). */
function transposeFn(): WasmFn {
  const [SRC, ROWS, COLS, DST, I, J, PS, PD, STRIDE] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const { get, set } = op;
  const body = [
    ...get(ROWS), ...op.i32(4), ...I32_MUL, ...set(STRIDE),
    ...get(SRC), ...set(PS),
    ...op.i32(0), ...set(I),
    0x02, 0x40, 0x03, 0x40,
    ...get(I), ...get(ROWS), ...I32_GE_U, 0x0d, 1,
    ...get(DST), ...get(I), ...op.i32(4), ...I32_MUL, ...I32_ADD, ...set(PD),
    ...op.i32(0), ...set(J),
    0x02, 0x40, 0x03, 0x40,
    ...get(J), ...get(COLS), ...I32_GE_U, 0x0d, 1,
    ...get(PD), ...get(PS), 0x2a, 2, 0, 0x38, 2, 0, // f32.store(pd, f32.load(ps))
    ...get(PS), ...op.i32(4), ...I32_ADD, ...set(PS),
    ...get(PD), ...get(STRIDE), ...I32_ADD, ...set(PD),
    ...get(J), ...op.i32(1), ...I32_ADD, ...set(J),
    0x0c, 0, 0x0b, 0x0b,
    ...get(I), ...op.i32(1), ...I32_ADD, ...set(I),
    0x0c, 0, 0x0b, 0x0b,
  ];
  return { name: 'transpose', params: [I32, I32, I32, I32], locals: [[5, I32]], body };
}
COLUMN_FNS.push(transposeFn());

type Fn4 = (...args: number[]) => void;
interface ColumnKernels {
  memory: WebAssembly.Memory;
  colsum: Fn4;
  sqdev: Fn4;
  dotcols: Fn4;
  transpose: Fn4;
  bnfwd: Fn4;
  bnbwd: Fn4;
  bndz: Fn4;
}
let columnCached: ColumnKernels | null | undefined;
let simdDisabled = false;

/** Turn the SIMD column kernels off (tests compare both paths). */
export function setColumnSimd(enabled: boolean): void {
  simdDisabled = !enabled;
}

function columnKernels(): ColumnKernels | null {
  if (simdDisabled) return null;
  if (columnCached === undefined) columnCached = instantiate(encodeModule(COLUMN_FNS)) as ColumnKernels | null;
  return columnCached;
}

/** Kernel memory with room for `floats` float32 values; returns a fresh view of it. */
function room(k: ColumnKernels, floats: number): Float32Array {
  const need = floats * 4;
  if (need > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / 65536));
  return new Float32Array(k.memory.buffer);
}

/** Σ over rows of a row-major [rows, cols] matrix, per column, float32 accumulation in row order. */
export function columnSums(x: Float32Array, rows: number, cols: number): Float32Array {
  const k = columnKernels();
  if (k && cols % 4 === 0) {
    const mem = room(k, rows * cols + cols);
    mem.set(x.subarray(0, rows * cols), 0);
    const out = rows * cols * 4;
    k.colsum(0, rows, cols / 4, out);
    return mem.slice(rows * cols, rows * cols + cols);
  }
  const f = Math.fround;
  const acc = new Float32Array(cols);
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s = f(s + x[i * cols + j]!);
    acc[j] = s;
  }
  return acc;
}

/** Σ over rows of (x − mean)², per column, float32 in row order. */
export function columnSquaredDeviations(x: Float32Array, rows: number, cols: number, mean: Float32Array): Float32Array {
  const k = columnKernels();
  if (k && cols % 4 === 0) {
    const mem = room(k, rows * cols + 2 * cols);
    mem.set(x.subarray(0, rows * cols), 0);
    mem.set(mean, rows * cols);
    k.sqdev(0, rows, cols / 4, rows * cols * 4, (rows * cols + cols) * 4);
    return mem.slice(rows * cols + cols, rows * cols + 2 * cols);
  }
  const f = Math.fround;
  const acc = new Float32Array(cols);
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let i = 0; i < rows; i++) {
      const d = f(x[i * cols + j]! - mean[j]!);
      s = f(s + f(d * d));
    }
    acc[j] = s;
  }
  return acc;
}

/** [Σ a, Σ a·b] over rows, per column, float32 in row order. */
export function columnSumAndDot(a: Float32Array, b: Float32Array, rows: number, cols: number): [Float32Array, Float32Array] {
  const k = columnKernels();
  const n = rows * cols;
  if (k && cols % 4 === 0) {
    const mem = room(k, 2 * n + 2 * cols);
    mem.set(a.subarray(0, n), 0);
    mem.set(b.subarray(0, n), n);
    k.dotcols(0, n * 4, rows, cols / 4, 2 * n * 4, (2 * n + cols) * 4);
    return [mem.slice(2 * n, 2 * n + cols), mem.slice(2 * n + cols, 2 * n + 2 * cols)];
  }
  const f = Math.fround;
  const sa = new Float32Array(cols);
  const sab = new Float32Array(cols);
  for (let j = 0; j < cols; j++) {
    let s = 0;
    let t = 0;
    for (let i = 0; i < rows; i++) {
      const v = a[i * cols + j]!;
      s = f(s + v);
      t = f(t + f(v * b[i * cols + j]!));
    }
    sa[j] = s;
    sab[j] = t;
  }
  return [sa, sab];
}

/**
 * The transpose of a row-major [rows, cols] matrix (tfjs-wasm's Transpose is 1.5–3× slower at these sizes).
 * With the kernel, the result is a view into its memory, valid until the next call here.
 */
export function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const k = columnKernels();
  const n = rows * cols;
  if (k) {
    const mem = room(k, 2 * n);
    mem.set(x.subarray(0, n), 0);
    k.transpose(0, rows, cols, n * 4);
    return mem.subarray(n, 2 * n);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

// ---- BatchNorm + ReLU element-wise passes (callers: nets/bnHost.ts, which holds the TypeScript path) --------

/** Copy per-column vectors into `mem` one after another from float `base`; returns their byte offsets. */
function putColumns(mem: Float32Array, base: number, cols: number, vectors: Float32Array[]): number[] {
  return vectors.map((v, i) => {
    mem.set(v, base + i * cols);
    return (base + i * cols) * 4;
  });
}

/** Whether the kernels below run for this width (else they return null and the caller uses its own loops). */
function bnKernels(cols: number): ColumnKernels | null {
  return cols % 4 === 0 ? columnKernels() : null;
}

/** x̂ = (z − mean)·rstd and y = relu(x̂·γ + β), float32 per op; null without SIMD or for cols not a multiple of 4. */
export function bnReluForwardSimd(z: Float32Array, rows: number, cols: number, mean: Float32Array, rstd: Float32Array, gamma: Float32Array, beta: Float32Array): { xhat: Float32Array; y: Float32Array } | null {
  const k = bnKernels(cols);
  if (!k) return null;
  const n = rows * cols;
  const mem = room(k, 3 * n + 4 * cols);
  mem.set(z.subarray(0, n), 0);
  const [m, r, g, b] = putColumns(mem, 3 * n, cols, [mean, rstd, gamma, beta]);
  k.bnfwd(0, n * 4, 2 * n * 4, rows, cols / 4, m!, r!, g!, b!);
  return { xhat: mem.slice(n, 2 * n), y: mem.slice(2 * n, 3 * n) };
}

/** da = dy·[y > 0], Σ da and Σ da·x̂ per column (the order of {@link columnSumAndDot}); null as above. */
export function bnReluMaskSimd(dy: Float32Array, y: Float32Array, xhat: Float32Array, rows: number, cols: number): { da: Float32Array; sumDa: Float32Array; sumDaXhat: Float32Array } | null {
  const k = bnKernels(cols);
  if (!k) return null;
  const n = rows * cols;
  const mem = room(k, 4 * n + 2 * cols);
  mem.set(dy.subarray(0, n), 0);
  mem.set(y.subarray(0, n), n);
  mem.set(xhat.subarray(0, n), 2 * n);
  k.bnbwd(0, n * 4, 2 * n * 4, 3 * n * 4, rows, cols / 4, 4 * n * 4, (4 * n + cols) * 4);
  return { da: mem.slice(3 * n, 4 * n), sumDa: mem.slice(4 * n, 4 * n + cols), sumDaXhat: mem.slice(4 * n + cols, 4 * n + 2 * cols) };
}

/** dz = (da·k − x̂·c1) − c2 per column vectors k, c1, c2, and Σ dz per column; null as above. */
export function bnDzSimd(da: Float32Array, xhat: Float32Array, rows: number, cols: number, kv: Float32Array, c1: Float32Array, c2: Float32Array): { dz: Float32Array; sumDz: Float32Array } | null {
  const k = bnKernels(cols);
  if (!k) return null;
  const n = rows * cols;
  const mem = room(k, 3 * n + 4 * cols);
  mem.set(da.subarray(0, n), 0);
  mem.set(xhat.subarray(0, n), n);
  const [kb, c1b, c2b] = putColumns(mem, 3 * n, cols, [kv, c1, c2]);
  k.bndz(0, n * 4, 2 * n * 4, rows, cols / 4, kb!, c1b!, c2b!, (3 * n + 3 * cols) * 4);
  return { dz: mem.slice(2 * n, 3 * n), sumDz: mem.slice(3 * n + 3 * cols, 3 * n + 4 * cols) };
}
