// size: the hand-assembled wasm kernels and their wrappers (moving onto one assembler module, issue 18 item 6)
/**
 * Two-lane (f64x2) WebAssembly kernels for the hot loops of feature extraction: the input stage, radix-4
 * passes and |X|² sums of {@link RealFftPlan} for two real signals at once (two channels, or two Welch
 * segments), a cascade of biquads for two band-passes fed the same input, and the mean/variance sums of
 * the Gaussian entropy for six bands at once. Each lane does exactly the IEEE-754 double operations, in
 * the same order, that the scalar TypeScript code does (wasm has no fused multiply-add, no flush-to-zero
 * and no reassociation), so results are identical bit for bit with or without it; where WebAssembly SIMD
 * is unavailable (an old browser, a CSP without 'wasm-unsafe-eval') the callers run their TypeScript loops.
 *
 * Why not a package: the FFT packages on npm either do different arithmetic (so features would change
 * in the last bits) or ship prebuilt binaries; these kernels are ~300 lines, readable here, and need no
 * build step. The modules are assembled at first use (../wasm/assembler.ts), each under 4 KB so that
 * synchronous compilation is allowed on a browser's main thread.
 */

import {
  assemble,
  doWhile,
  f64,
  f64x2,
  i32,
  instantiate as instantiateModule,
  local,
  typed,
  v128,
  when,
  type Code,
  type Func,
} from '../wasm/assembler.js';

// ---- shorthands for the kernels below (f64x2 values in named v128 locals) ---------------------------------

const { get, set } = local;
/** dst = v128.load(addr + offset) */
const ld = (dst: string, addr: string, offset = 0): Code => [get(addr), v128.load(offset), set(dst)];
/** v128.store(addr + offset, value) */
const st = (addr: string, offset: number, value: string): Code => [get(addr), get(value), v128.store(offset)];
const F64X2_OP = { '+': f64x2.add, '-': f64x2.sub, '*': f64x2.mul };
/** dst = a op b on f64x2 */
const op = (dst: string, a: string, o: '+' | '-' | '*', b: string): Code => [get(a), get(b), F64X2_OP[o], set(dst)];
/** v += step (an i32 constant or local) */
const inc = (v: string, step: number | string): Code => [get(v), typeof step === 'number' ? i32.const(step) : get(step), i32.add, set(v)];
/** i32 a < b (signed) */
const lt = (a: string, b: string): Code => [get(a), get(b), i32.lt_s];

// ---- kernels --------------------------------------------------------------------------------------

/** 16 bytes per v128 slot: slot d of the complex work array holds (lane 0, lane 1) of double index d. */
const S = 16;

/**
 * Input of the two-lane FFT: inp[j] = (xa[j] − ma, xb[j] − mb)·taper[j] for j < count, 0 for count ≤ j < n,
 * where (ma, mb) is 0 or, with `demean`, each lane's mean over its count samples, summed in index order.
 */
function prep(): Func {
  // (xa[j], xb[j]) with j as a byte offset ·8 in jb
  const pairAt = (dst: string): Code => [
    get('xa'),
    get('jb'),
    i32.add,
    f64.load(),
    f64x2.splat,
    get('xb'),
    get('jb'),
    i32.add,
    f64.load(),
    f64x2.replace_lane(1),
    set(dst),
  ];
  const endAtCount = [get('count'), i32.const(3), i32.shl, set('end')]; // end = count·8
  return {
    name: 'prep',
    params: typed('i32', 'inp', 'xa', 'xb', 'taper', 'count', 'n', 'demean'),
    locals: { mean: 'v128', zero: 'v128', jb: 'i32', end: 'i32', v: 'v128', o: 'i32', t: 'v128' },
    body: [
      when(get('demean'), [
        i32.const(0),
        set('jb'),
        endAtCount,
        doWhile([pairAt('v'), op('mean', 'mean', '+', 'v'), inc('jb', 8)], lt('jb', 'end')),
        get('mean'),
        get('count'),
        f64.convert_i32_s,
        f64x2.splat,
        f64x2.div,
        set('mean'),
      ]),
      i32.const(0),
      set('jb'),
      endAtCount,
      get('inp'),
      set('o'),
      doWhile(
        [
          pairAt('v'),
          op('v', 'v', '-', 'mean'),
          get('taper'),
          get('jb'),
          i32.add,
          f64.load(),
          f64x2.splat,
          set('t'),
          op('v', 'v', '*', 't'),
          st('o', 0, 'v'),
          inc('o', S),
          inc('jb', 8),
        ],
        lt('jb', 'end'),
      ),
      // zero padding up to n slots (a fresh v128 local is +0 in both lanes)
      get('inp'),
      get('n'),
      i32.const(4),
      i32.shl,
      i32.add,
      set('end'),
      when(lt('o', 'end'), doWhile([st('o', 0, 'zero'), inc('o', S)], lt('o', 'end'))),
    ],
  };
}

/** |X_k|² per lane of slot pair k: (re·re) + (im·im), as the scalar code writes it. */
const power = (addr: string, dst: string): Code => [
  ld('re', addr),
  ld('im', addr, S),
  op('re', 're', '*', 're'),
  op('im', 'im', '*', 'im'),
  op(dst, 're', '+', 'im'),
];

/** acc[k] += |X_k|² for k < nb, per lane (Welch's sum over segments). */
function powacc(): Func {
  return {
    name: 'powacc',
    params: typed('i32', 'spec', 'acc', 'nb'),
    locals: { end: 'i32', ...typed('v128', 're', 'im', 'p', 'a') },
    body: [
      get('acc'),
      get('nb'),
      i32.const(4),
      i32.shl,
      i32.add,
      set('end'),
      doWhile(
        [power('spec', 'p'), ld('a', 'acc'), op('a', 'a', '+', 'p'), st('acc', 0, 'a'), inc('spec', 2 * S), inc('acc', S)],
        lt('acc', 'end'),
      ),
    ],
  };
}

/** out = Σ |X_k|² over k0 ≤ k ≤ k1 in k order, per lane (a SEED band's energy before the mean). */
function psum(): Func {
  return {
    name: 'psum',
    params: typed('i32', 'spec', 'k0', 'k1', 'out'),
    locals: { acc: 'v128', end: 'i32', ...typed('v128', 're', 'im', 'p') },
    body: [
      get('spec'),
      get('k1'),
      i32.const(5),
      i32.shl,
      i32.add,
      set('end'),
      get('spec'),
      get('k0'),
      i32.const(5),
      i32.shl,
      i32.add,
      set('spec'),
      doWhile([power('spec', 'p'), op('acc', 'acc', '+', 'p'), inc('spec', 2 * S)], [get('spec'), get('end'), i32.le_u]),
      st('out', 0, 'acc'),
    ],
  };
}

/** a = inp + 16·rev[t]: the bit-reversed input slot of group t. */
const inputSlot = [get('inp'), get('rev'), get('t'), i32.const(2), i32.shl, i32.add, i32.load(), i32.const(4), i32.shl, i32.add, set('a')];

/** First radix-4 pass: groups of four inputs (bit-reversed) → 8 slots per group. */
function first4(): Func {
  return {
    name: 'first4',
    params: typed('i32', 'out', 'inp', 'rev', 'groups', 'q'),
    // zero = +0 in both lanes (a fresh v128 local is all zero bits)
    locals: { zero: 'v128', t: 'i32', a: 'i32', ...typed('v128', 'A', 'B', 'C', 'D', 't0', 't1', 't2', 't3') },
    body: [
      i32.const(0),
      set('t'),
      doWhile(
        [
          inputSlot,
          ld('A', 'a'),
          inc('a', 'q'),
          ld('B', 'a'),
          inc('a', 'q'),
          ld('C', 'a'),
          inc('a', 'q'),
          ld('D', 'a'),
          op('t0', 'A', '+', 'C'),
          op('t1', 'A', '-', 'C'),
          op('t2', 'B', '+', 'D'),
          op('t3', 'B', '-', 'D'),
          get('out'),
          get('t0'),
          get('t2'),
          f64x2.add,
          v128.store(0),
          st('out', S, 'zero'),
          st('out', 2 * S, 't1'),
          get('out'),
          get('t3'),
          f64x2.neg,
          v128.store(3 * S),
          get('out'),
          get('t0'),
          get('t2'),
          f64x2.sub,
          v128.store(4 * S),
          st('out', 5 * S, 'zero'),
          st('out', 6 * S, 't1'),
          st('out', 7 * S, 't3'),
          inc('out', 8 * S),
          inc('t', 1),
        ],
        lt('t', 'groups'),
      ),
    ],
  };
}

/** First radix-2 pass (odd powers of two): pairs of inputs → 4 slots per pair. */
function first2(): Func {
  return {
    name: 'first2',
    params: typed('i32', 'out', 'inp', 'rev', 'groups', 'h'),
    locals: { zero: 'v128', t: 'i32', a: 'i32', A: 'v128', B: 'v128' },
    body: [
      i32.const(0),
      set('t'),
      doWhile(
        [
          inputSlot,
          ld('A', 'a'),
          inc('a', 'h'),
          ld('B', 'a'),
          get('out'),
          get('A'),
          get('B'),
          f64x2.add,
          v128.store(0),
          st('out', S, 'zero'),
          get('out'),
          get('A'),
          get('B'),
          f64x2.sub,
          v128.store(2 * S),
          st('out', 3 * S, 'zero'),
          inc('out', 4 * S),
          inc('t', 1),
        ],
        lt('t', 'groups'),
      ),
    ],
  };
}

/**
 * One radix-4 pass of the real-input transform over blocks of `len` bytes (= 16·len doubles), the same
 * butterflies as RealFftPlan.pass; `tw` holds 6 splatted twiddles (96 bytes) per butterfly index.
 */
function pass(): Func {
  const quarters: Code = [
    get('A'),
    get('q'),
    i32.add,
    set('B'),
    get('B'),
    get('q'),
    i32.add,
    set('C'),
    get('C'),
    get('q'),
    i32.add,
    set('D'),
    ['A', 'B', 'C', 'D'].map((X) => [ld(`${X}r`, X), ld(`${X}i`, X, S)]),
  ];
  const twiddled = (w: string): Code => [
    ['B', 'C', 'D'].map((X, k) => [ld(`w${X}r`, w, 2 * k * S), ld(`w${X}i`, w, (2 * k + 1) * S)]),
    // M = X·w (complex), written out as in the scalar code: re = Xr·wr − Xi·wi, im = Xr·wi + Xi·wr
    ['B', 'C', 'D'].map((X) => [
      op('p', `${X}r`, '*', `w${X}r`),
      op('r', `${X}i`, '*', `w${X}i`),
      op(`M${X}r`, 'p', '-', 'r'),
      op('p', `${X}r`, '*', `w${X}i`),
      op('r', `${X}i`, '*', `w${X}r`),
      op(`M${X}i`, 'p', '+', 'r'),
    ]),
    op('T0r', 'Ar', '+', 'MCr'),
    op('T0i', 'Ai', '+', 'MCi'),
    op('T1r', 'Ar', '-', 'MCr'),
    op('T1i', 'Ai', '-', 'MCi'),
    op('T2r', 'MBr', '+', 'MDr'),
    op('T2i', 'MBi', '+', 'MDi'),
    op('T3r', 'MBr', '-', 'MDr'),
    op('T3i', 'MBi', '-', 'MDi'),
  ];
  /** store = a op b, as v128.store(addr) of that */
  const put = (addr: string, offset: number, a: Code, o: '+' | '-', b: string): Code => [
    get(addr),
    a,
    get(b),
    F64X2_OP[o],
    v128.store(offset),
  ];
  const storeAB = [
    put('A', 0, get('T0r'), '+', 'T2r'),
    put('A', S, get('T0i'), '+', 'T2i'),
    put('B', 0, get('T1r'), '+', 'T3i'),
    put('B', S, get('T1i'), '-', 'T3r'),
  ];
  return {
    name: 'pass',
    params: typed('i32', 'out', 'end', 'len', 'tw'),
    locals: {
      ...typed('i32', 'q', 'h', 'hq', 'A', 'B', 'C', 'D', 'i', 'w', 'SA', 'SB'),
      ...typed('v128', 'Ar', 'Ai', 'Br', 'Bi', 'Cr', 'Ci', 'Dr', 'Di', 'T0r', 'T0i', 'T1r', 'T1i', 'T2r', 'T2i', 'T3r', 'T3i'),
      ...typed('v128', 'wBr', 'wBi', 'wCr', 'wCi', 'wDr', 'wDi', 'p', 'r', 'MBr', 'MBi', 'MCr', 'MCi', 'MDr', 'MDi'),
    },
    body: [
      // q = len/4, h = len/2, hq = len/8 (bytes)
      get('len'),
      i32.const(2),
      i32.shr_u,
      set('q'),
      get('len'),
      i32.const(1),
      i32.shr_u,
      set('h'),
      get('len'),
      i32.const(3),
      i32.shr_u,
      set('hq'),
      doWhile(
        [
          // i = 0: unit twiddles
          get('out'),
          set('A'),
          quarters,
          op('T0r', 'Ar', '+', 'Cr'),
          op('T0i', 'Ai', '+', 'Ci'),
          op('T1r', 'Ar', '-', 'Cr'),
          op('T1i', 'Ai', '-', 'Ci'),
          op('T2r', 'Br', '+', 'Dr'),
          op('T2i', 'Bi', '+', 'Di'),
          op('T3r', 'Br', '-', 'Dr'),
          op('T3i', 'Bi', '-', 'Di'),
          storeAB,
          put('C', 0, get('T0r'), '-', 'T2r'),
          put('C', S, get('T0i'), '-', 'T2i'),
          // 0 < i < hq: full butterflies with mirrored outputs
          i32.const(2 * S),
          set('i'),
          when(
            lt('i', 'hq'),
            doWhile(
              [
                get('out'),
                get('i'),
                i32.add,
                set('A'),
                quarters,
                get('tw'),
                get('i'),
                i32.const(3),
                i32.mul,
                i32.add,
                set('w'),
                twiddled('w'),
                storeAB,
                get('out'),
                get('q'),
                i32.add,
                get('i'),
                i32.sub,
                set('SA'),
                get('out'),
                get('h'),
                i32.add,
                get('i'),
                i32.sub,
                set('SB'),
                put('SA', 0, get('T1r'), '-', 'T3i'),
                put('SA', S, [get('T1i'), f64x2.neg], '-', 'T3r'),
                put('SB', 0, get('T0r'), '-', 'T2r'),
                put('SB', S, get('T2i'), '-', 'T0i'),
                inc('i', 2 * S),
              ],
              lt('i', 'hq'),
            ),
          ),
          // i = hq: only A and B
          get('out'),
          get('hq'),
          i32.add,
          set('A'),
          quarters,
          get('tw'),
          get('hq'),
          i32.const(3),
          i32.mul,
          i32.add,
          set('w'),
          twiddled('w'),
          storeAB,
          inc('out', 'len'),
        ],
        lt('out', 'end'),
      ),
    ],
  };
}

/**
 * A cascade of `k` biquads (transposed direct form II, as SosFilter.step) on two lanes, `n` samples.
 * Input: f64 samples splatted to both lanes (`splat`) or v128 pairs; output v128 pairs. Coefficients:
 * 5 v128 per section (b0 b1 b2 a1 a2); state: 2 v128 per section, loaded and stored back.
 */
function cascade(k: number, splat: boolean): Func {
  const sections = Array.from({ length: k }, (_, s) => s);
  // Coefficients are read from memory at each use (constant offsets from `coef`): with them in locals
  // the 5·k coefficients and 2·k states exceed the 16 vector registers and the states, the loop-carried
  // chain, get spilled.
  const COEF = ['b0', 'b1', 'b2', 'a1', 'a2'] as const;
  const cf = (name: (typeof COEF)[number], s: number): Code => [get('coef'), v128.load((5 * s + COEF.indexOf(name)) * S)];
  // out = b0·cur + z0; z0 = b1·cur − a1·out + z1; z1 = b2·cur − a2·out
  const section = (s: number): Code => [
    cf('b0', s),
    get('cur'),
    f64x2.mul,
    get(`z0_${s}`),
    f64x2.add,
    set('o'),
    cf('b1', s),
    get('cur'),
    f64x2.mul,
    cf('a1', s),
    get('o'),
    f64x2.mul,
    f64x2.sub,
    get(`z1_${s}`),
    f64x2.add,
    set(`z0_${s}`),
    cf('b2', s),
    get('cur'),
    f64x2.mul,
    cf('a2', s),
    get('o'),
    f64x2.mul,
    f64x2.sub,
    set(`z1_${s}`),
    get('o'),
    set('cur'),
  ];
  return {
    name: `cascade${k}${splat ? 's' : 'p'}`,
    params: typed('i32', 'x', 'y', 'n', 'coef', 'state'),
    locals: {
      ...Object.fromEntries(
        sections.flatMap((s) => [
          [`z0_${s}`, 'v128'],
          [`z1_${s}`, 'v128'],
        ]),
      ),
      end: 'i32',
      ...typed('v128', 'cur', 'o'),
    },
    body: [
      sections.map((s) => [ld(`z0_${s}`, 'state', 2 * s * S), ld(`z1_${s}`, 'state', (2 * s + 1) * S)]),
      get('y'),
      get('n'),
      i32.const(4),
      i32.shl,
      i32.add,
      set('end'),
      doWhile(
        [
          splat ? [get('x'), f64.load(), f64x2.splat, set('cur')] : ld('cur', 'x'),
          sections.map(section),
          st('y', 0, 'cur'),
          inc('x', splat ? 8 : S),
          inc('y', S),
        ],
        lt('y', 'end'),
      ),
      sections.map((s) => [st('state', 2 * s * S, `z0_${s}`), st('state', (2 * s + 1) * S, `z1_${s}`)]),
    ],
  };
}

/**
 * Gaussian-entropy sums for three arrays of n v128 pairs at once: per lane the mean (sum in index order
 * / n), then the sum of squared deviations in index order, stored as three v128 at `out`.
 */
function var3(): Func {
  const js = [0, 1, 2];
  const at = (j: number): Code => [get(`p${j}`), get('ib'), i32.add, v128.load(), set('a')];
  return {
    name: 'var3',
    params: typed('i32', 'p0', 'p1', 'p2', 'n', 'out'),
    locals: { end: 'i32', ...typed('v128', 'm0', 'm1', 'm2', 'v0', 'v1', 'v2'), ib: 'i32', ...typed('v128', 'a', 'nv', 'd') },
    body: [
      get('n'),
      i32.const(4),
      i32.shl,
      set('end'),
      i32.const(0),
      set('ib'),
      doWhile([js.map((j) => [at(j), op(`m${j}`, `m${j}`, '+', 'a')]), inc('ib', S)], lt('ib', 'end')),
      get('n'),
      f64.convert_i32_s,
      f64x2.splat,
      set('nv'),
      js.map((j) => [get(`m${j}`), get('nv'), f64x2.div, set(`m${j}`)]),
      i32.const(0),
      set('ib'),
      doWhile(
        [js.map((j) => [at(j), op('d', 'a', '-', `m${j}`), op('d', 'd', '*', 'd'), op(`v${j}`, `v${j}`, '+', 'd')]), inc('ib', S)],
        lt('ib', 'end'),
      ),
      js.map((j) => st('out', j * S, `v${j}`)),
    ],
  };
}

export interface FftKernels {
  memory: WebAssembly.Memory;
  prep(inp: number, xa: number, xb: number, taper: number, count: number, n: number, demean: number): void;
  first4(out: number, inp: number, rev: number, groups: number, q: number): void;
  first2(out: number, inp: number, rev: number, groups: number, h: number): void;
  pass(out: number, end: number, len: number, tw: number): void;
  powacc(spec: number, acc: number, nb: number): void;
  psum(spec: number, k0: number, k1: number, out: number): void;
}

export interface IirKernels {
  memory: WebAssembly.Memory;
  /** cascade{k}s (k ∈ 1..4 sections, input splatted to both lanes) and cascade{k}p (k ∈ 1, 2, 4; paired input) */
  cascade: Record<string, (x: number, y: number, n: number, coef: number, state: number) => void>;
  var3(p0: number, p1: number, p2: number, n: number, out: number): void;
}

/** The FFT module's bytes (exported for the tests, which validate every module). */
export const fftModule = (): Uint8Array<ArrayBuffer> => assemble([prep(), first4(), first2(), pass(), powacc(), psum()]);

/** The biquad-cascade module's bytes. */
export const iirModule = (): Uint8Array<ArrayBuffer> =>
  // Splatted input for the first (up to) four sections; paired input of 4, 2 or 1 sections for the rest of
  // longer cascades (k = 3 paired is left out to stay under 4 KB: 3 = 2 + 1).
  assemble([var3(), ...[1, 2, 3, 4].map((k) => cascade(k, true)), ...[1, 2, 4].map((k) => cascade(k, false))]);

let disabled = false;
let fftCached: FftKernels | null | undefined;
let iirCached: IirKernels | null | undefined;

function instantiate(bytes: Uint8Array<ArrayBuffer>): Record<string, unknown> | null {
  return disabled ? null : instantiateModule(bytes);
}

/** The FFT kernels, or null where WebAssembly SIMD cannot be used (callers then run TypeScript loops). */
export function fftKernels(): FftKernels | null {
  if (fftCached === undefined) {
    const e = instantiate(fftModule());
    fftCached = e && {
      memory: e.memory as WebAssembly.Memory,
      prep: e.prep as FftKernels['prep'],
      first4: e.first4 as FftKernels['first4'],
      first2: e.first2 as FftKernels['first2'],
      pass: e.pass as FftKernels['pass'],
      powacc: e.powacc as FftKernels['powacc'],
      psum: e.psum as FftKernels['psum'],
    };
  }
  return fftCached;
}

/** The biquad-cascade kernels, or null where WebAssembly SIMD cannot be used. */
export function iirKernels(): IirKernels | null {
  if (iirCached === undefined) {
    const e = instantiate(iirModule());
    if (!e) iirCached = null;
    else {
      const cascade: IirKernels['cascade'] = {};
      for (const key of Object.keys(e)) if (key.startsWith('cascade')) cascade[key] = e[key] as IirKernels['cascade'][string];
      iirCached = { memory: e.memory as WebAssembly.Memory, var3: e.var3 as IirKernels['var3'], cascade };
    }
  }
  return iirCached;
}

/** Testing hook: force the TypeScript loops (true) or allow the SIMD kernels again (false). */
export function setSimdDisabled(off: boolean): void {
  disabled = off;
  fftCached = undefined;
  iirCached = undefined;
}

/** Sizes of the assembled modules in bytes (each kept under 4 KB for synchronous compilation in browsers). */
export function simdModuleSizes(): { fft: number; iir: number } {
  return { fft: fftModule().byteLength, iir: iirModule().byteLength };
}

/**
 * Bump allocation in a kernel module's memory: 16-byte aligned regions that live as long as the module
 * (callers allocate fixed scratch once). Returns the byte offset; views of `memory.buffer` must be
 * re-taken after this (the memory may grow).
 */
const tops = new WeakMap<WebAssembly.Memory, number>();
export function simdAlloc(memory: WebAssembly.Memory, bytes: number): number {
  const at = tops.get(memory) ?? 0;
  const top = at + Math.ceil(bytes / 16) * 16;
  tops.set(memory, top);
  const have = memory.buffer.byteLength;
  if (top > have) memory.grow(Math.ceil((top - have) / 65536));
  return at;
}
