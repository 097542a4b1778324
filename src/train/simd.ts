/**
 * Small WebAssembly SIMD kernels for the training step, assembled at first use by runtime/wasm/assembler.ts (no
 * build step, no binary in the package): column reductions over row-major [rows, cols] float32 matrices for
 * BatchNorm (Σ x, Σ (x − m)², Σ a and Σ a·b per column), and a transpose.
 *
 * Why: on tfjs-wasm a reduction over axis 0 transposes first and a ones·M product packs M for XNNPACK, each
 * ~100 µs for 256×128; these loops take ~10 µs plus a memcpy. Each column sum accumulates in float32 over the
 * rows in order, in four lanes; the TypeScript fallback (no WebAssembly SIMD, or cols not a multiple of 4) does
 * the same float32 operations in the same order, so both give the same bits.
 */

import * as tf from './tf.js';
import {
  assemble,
  countUp,
  f32,
  f32x4,
  i32,
  i32x4,
  instantiate,
  local,
  typed,
  v128,
  whileNot,
  type Code,
  type Func,
} from '../../runtime/wasm/assembler.js';

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

// ---- column reductions (assembled by runtime/wasm/assembler.ts) -----------------------------------------------

const { get, set, tee } = local;
/** +0.0f in all four lanes */
const ZERO4: Code = [i32.const(0), i32x4.splat];

/** What a column reduction's per-row step can use. */
interface Row {
  /** v128 of input matrix `m` at (i, j) */
  load: (m: string) => Code;
  /** v128 of per-column vector `e` at j */
  extra: (e: string) => Code;
  /** byte address of (i, j) in matrix `m` (for matrices that are written, not read) */
  addr: (m: string) => Code;
  /** acc(output) += value (f32x4) */
  accAdd: (output: string, value: Code) => Code;
}

/**
 * `name(inputs…, rows, cols4, extras…, outputs…)` (i32 byte offsets and counts): for each group of 4 columns j,
 * run `step` for rows i = 0…rows−1 in order with one v128 accumulator per output starting at +0, then store the
 * accumulators to the outputs. `tmp` is a spare v128 local.
 */
function columnReduction(name: string, inputs: string[], extras: string[], outputs: string[], step: (r: Row) => Code): Func {
  const acc = (out: string) => `acc_${out}`;
  const column = (base: string): Code => [get(base), get('j'), i32.const(16), i32.mul, i32.add]; // base + 16·j
  const r: Row = {
    load: (m) => [get(m), get('p'), i32.add, v128.load()],
    extra: (e) => [column(e), v128.load()],
    addr: (m) => [get(m), get('p'), i32.add],
    accAdd: (out, value) => [get(acc(out)), value, f32x4.add, set(acc(out))],
  };
  return {
    name,
    params: typed('i32', ...inputs, 'rows', 'cols4', ...extras, ...outputs),
    // p: byte offset of (i, j) in a matrix
    locals: { ...typed('i32', 'j', 'i', 'p'), ...typed('v128', ...outputs.map(acc), 'tmp') },
    body: countUp('j', 'cols4', 1, [
      outputs.map((out) => [ZERO4, set(acc(out))]),
      i32.const(0),
      set('i'),
      get('j'),
      i32.const(16),
      i32.mul,
      set('p'),
      whileNot(
        [get('i'), get('rows'), i32.ge_u],
        [step(r), get('i'), i32.const(1), i32.add, set('i'), get('p'), get('cols4'), i32.const(16), i32.mul, i32.add, set('p')],
      ),
      outputs.map((out) => [column(out), get(acc(out)), v128.store()]),
    ]),
  };
}

/** transpose(src, rows, cols, dst): dst[j·rows + i] = src[i·cols + j] (scalar f32 copies, byte offsets). */
function transposeFn(): Func {
  return {
    name: 'transpose',
    params: typed('i32', 'src', 'rows', 'cols', 'dst'),
    locals: typed('i32', 'i', 'j', 'ps', 'pd', 'stride'),
    body: [
      get('rows'),
      i32.const(4),
      i32.mul,
      set('stride'),
      get('src'),
      set('ps'),
      countUp('i', 'rows', 1, [
        get('dst'),
        get('i'),
        i32.const(4),
        i32.mul,
        i32.add,
        set('pd'),
        countUp('j', 'cols', 1, [
          get('pd'),
          get('ps'),
          f32.load(),
          f32.store(),
          get('ps'),
          i32.const(4),
          i32.add,
          set('ps'),
          get('pd'),
          get('stride'),
          i32.add,
          set('pd'),
        ]),
      ]),
    ],
  };
}

/** The column-kernel module's bytes (exported for the tests, which validate every module). */
export function columnModule(): Uint8Array<ArrayBuffer> {
  return assemble([
    // acc += x
    columnReduction('colsum', ['src'], [], ['dst'], (r) => r.accAdd('dst', r.load('src'))),
    // acc += (x − m)·(x − m)
    columnReduction('sqdev', ['src'], ['mean'], ['dst'], (r) =>
      r.accAdd('dst', [r.load('src'), r.extra('mean'), f32x4.sub, tee('tmp'), get('tmp'), f32x4.mul]),
    ),
    // sumA += a; sumAB += a·b
    columnReduction('dotcols', ['a', 'b'], [], ['sumA', 'sumAB'], (r) => [
      r.accAdd('sumA', r.load('a')),
      r.accAdd('sumAB', [r.load('a'), r.load('b'), f32x4.mul]),
    ]),
    // BatchNorm + ReLU forward, element-wise (nets/bnHost.ts): x̂ = (z − mean)·rstd → xhat; y = pmax(0, x̂·γ + β)
    // (= a > 0 ? a : 0, as the TypeScript path).
    columnReduction('bnfwd', ['z', 'xhat', 'y'], ['mean', 'rstd', 'gamma', 'beta'], [], (r) => [
      r.addr('xhat'),
      r.load('z'),
      r.extra('mean'),
      f32x4.sub,
      r.extra('rstd'),
      f32x4.mul,
      tee('tmp'),
      v128.store(),
      r.addr('y'),
      ZERO4,
      get('tmp'),
      r.extra('gamma'),
      f32x4.mul,
      r.extra('beta'),
      f32x4.add,
      f32x4.pmax,
      v128.store(),
    ]),
    // Its backward, first pass: da = dy where y > 0 else +0 (and with the y > 0 mask) → da; sumDa += da;
    // sumDaXhat += da·x̂ (the order of dotcols).
    columnReduction('bnbwd', ['dy', 'y', 'xhat', 'da'], [], ['sumDa', 'sumDaXhat'], (r) => [
      r.addr('da'),
      r.load('dy'),
      r.load('y'),
      ZERO4,
      f32x4.gt,
      v128.and,
      tee('tmp'),
      v128.store(),
      r.accAdd('sumDa', get('tmp')),
      r.accAdd('sumDaXhat', [get('tmp'), r.load('xhat'), f32x4.mul]),
    ]),
    // Second pass: dz = (da·k − x̂·c1) − c2 → dz; sumDz += dz.
    columnReduction('bndz', ['da', 'xhat', 'dz'], ['k', 'c1', 'c2'], ['sumDz'], (r) => [
      r.addr('dz'),
      r.load('da'),
      r.extra('k'),
      f32x4.mul,
      r.load('xhat'),
      r.extra('c1'),
      f32x4.mul,
      f32x4.sub,
      r.extra('c2'),
      f32x4.sub,
      tee('tmp'),
      v128.store(),
      r.accAdd('sumDz', get('tmp')),
    ]),
    transposeFn(),
  ]);
}

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
  if (columnCached === undefined) columnCached = instantiate(columnModule()) as ColumnKernels | null;
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
export function bnReluForwardSimd(
  z: Float32Array,
  rows: number,
  cols: number,
  mean: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
): { xhat: Float32Array; y: Float32Array } | null {
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
export function bnReluMaskSimd(
  dy: Float32Array,
  y: Float32Array,
  xhat: Float32Array,
  rows: number,
  cols: number,
): { da: Float32Array; sumDa: Float32Array; sumDaXhat: Float32Array } | null {
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
export function bnDzSimd(
  da: Float32Array,
  xhat: Float32Array,
  rows: number,
  cols: number,
  kv: Float32Array,
  c1: Float32Array,
  c2: Float32Array,
): { dz: Float32Array; sumDz: Float32Array } | null {
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
