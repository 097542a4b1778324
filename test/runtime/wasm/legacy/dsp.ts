// size: a verbatim copy of the old byte-array builders, kept as the parity oracle for the assembler (delete with legacy/)
// The old dsp kernel builders (runtime/dsp/simd.ts before the assembler), kept for the parity test only.
import { encodeModule, I32, sleb, uleb, V128, type WasmFn } from './encoder.js';
// ---- function bodies (the module encoder is ../wasm/encoder.ts) ------------------------------------

const simd = (op: number): number[] => [0xfd, ...uleb(op)];

/** Builds one function body; locals are named, parameters first (all i32). */
class Fn {
  readonly code: number[] = [];
  private readonly names = new Map<string, number>();
  private readonly localTypes: number[] = [];
  constructor(readonly params: string[]) {
    params.forEach((p, i) => this.names.set(p, i));
  }
  private local(name: string, type: number): number {
    let i = this.names.get(name);
    if (i === undefined) {
      i = this.params.length + this.localTypes.length;
      this.localTypes.push(type);
      this.names.set(name, i);
    }
    return i;
  }
  i32(name: string): number {
    return this.local(name, I32);
  }
  v(name: string): number {
    return this.local(name, V128);
  }
  emit(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  get(name: string): this {
    const i = this.names.get(name);
    if (i === undefined) throw new Error(`simd: unknown local ${name}`);
    return this.emit(0x20, ...uleb(i));
  }
  /** local.set to an i32 local */
  setI(name: string): this {
    return this.emit(0x21, ...uleb(this.i32(name)));
  }
  /** local.set to a v128 local */
  setV(name: string): this {
    return this.emit(0x21, ...uleb(this.v(name)));
  }
  const(n: number): this {
    return this.emit(0x41, ...sleb(n));
  }
  add(): this {
    return this.emit(0x6a);
  }
  sub(): this {
    return this.emit(0x6b);
  }
  /** v128.load of the address on the stack + offset */
  vload(offset = 0): this {
    return this.emit(...simd(0x00), 4, ...uleb(offset));
  }
  vstore(offset = 0): this {
    return this.emit(...simd(0x0b), 4, ...uleb(offset));
  }
  /** name = v128.load(addrLocal + offset) */
  ld(name: string, addr: string, offset = 0): this {
    return this.get(addr).vload(offset).setV(name);
  }
  /** v128.store(addrLocal + offset, value of local) */
  st(addr: string, offset: number, value: string): this {
    return this.get(addr).get(value).vstore(offset);
  }
  /** dst = a op b, op ∈ + − × on f64x2 */
  op(dst: string, a: string, o: '+' | '-' | '*', b: string): this {
    return this.get(a)
      .get(b)
      .emit(...simd(o === '+' ? 0xf0 : o === '-' ? 0xf1 : 0xf2))
      .setV(dst);
  }
  neg(): this {
    return this.emit(...simd(0xed));
  }
  /** loop with the condition checked at the end: body; if (cond) repeat */
  doWhile(body: () => void, cond: () => void): this {
    this.emit(0x03, 0x40);
    body();
    cond();
    return this.emit(0x0d, 0, 0x0b);
  }
  /** if (cond) { body } */
  when(cond: () => void, body: () => void): this {
    cond();
    this.emit(0x04, 0x40);
    body();
    return this.emit(0x0b);
  }
  /** The function for ../wasm/encoder.ts: all parameters i32, one local per declaration. */
  toWasm(name: string): WasmFn {
    return { name, params: this.params.map(() => I32), locals: this.localTypes.map((t): [number, number] => [1, t]), body: this.code };
  }
}

// ---- kernels --------------------------------------------------------------------------------------

/** 16 bytes per v128 slot: slot d of the complex work array holds (lane 0, lane 1) of double index d. */
const S = 16;

/**
 * Input of the two-lane FFT: inp[j] = (xa[j] − ma, xb[j] − mb)·taper[j] for j < count, 0 for count ≤ j < n,
 * where (ma, mb) is 0 or, with `demean`, each lane's mean over its count samples, summed in index order.
 */
function prep(): Fn {
  const f = new Fn(['inp', 'xa', 'xb', 'taper', 'count', 'n', 'demean']);
  f.v('mean');
  f.v('zero');
  const pairAt = (dst: string) => {
    // (xa[j], xb[j]) with j as a byte offset ·8 in 'jb'
    f.get('xa')
      .get('jb')
      .add()
      .emit(0x2b, 3, 0)
      .emit(...simd(0x14));
    f.get('xb')
      .get('jb')
      .add()
      .emit(0x2b, 3, 0)
      .emit(...simd(0x22), 1)
      .setV(dst);
  };
  f.when(
    () => f.get('demean'),
    () => {
      f.const(0).setI('jb');
      f.get('count').const(3).emit(0x74).setI('end');
      f.doWhile(
        () => {
          pairAt('v');
          f.op('mean', 'mean', '+', 'v');
          f.get('jb').const(8).add().setI('jb');
        },
        () => f.get('jb').get('end').emit(0x48),
      );
      f.get('mean')
        .get('count')
        .emit(0xb7)
        .emit(...simd(0x14))
        .emit(...simd(0xf3))
        .setV('mean');
    },
  );
  f.const(0).setI('jb');
  f.get('count').const(3).emit(0x74).setI('end');
  f.get('inp').setI('o');
  f.doWhile(
    () => {
      pairAt('v');
      f.op('v', 'v', '-', 'mean');
      f.get('taper')
        .get('jb')
        .add()
        .emit(0x2b, 3, 0)
        .emit(...simd(0x14))
        .setV('t');
      f.op('v', 'v', '*', 't');
      f.st('o', 0, 'v');
      f.get('o').const(S).add().setI('o');
      f.get('jb').const(8).add().setI('jb');
    },
    () => f.get('jb').get('end').emit(0x48),
  );
  // zero padding
  f.get('inp').get('n').const(4).emit(0x74).add().setI('end');
  f.when(
    () => f.get('o').get('end').emit(0x48),
    () =>
      f.doWhile(
        () => {
          f.st('o', 0, 'zero');
          f.get('o').const(S).add().setI('o');
        },
        () => f.get('o').get('end').emit(0x48),
      ),
  );
  return f;
}

/** |X_k|² per lane of slot pair k: (re·re) + (im·im), as the scalar code writes it. */
function power(f: Fn, addr: string, dst: string): void {
  f.ld('re', addr).ld('im', addr, S).op('re', 're', '*', 're').op('im', 'im', '*', 'im').op(dst, 're', '+', 'im');
}

/** acc[k] += |X_k|² for k < nb, per lane (Welch's sum over segments). */
function powacc(): Fn {
  const f = new Fn(['spec', 'acc', 'nb']);
  f.get('acc').get('nb').const(4).emit(0x74).add().setI('end');
  f.doWhile(
    () => {
      power(f, 'spec', 'p');
      f.ld('a', 'acc').op('a', 'a', '+', 'p').st('acc', 0, 'a');
      f.get('spec')
        .const(2 * S)
        .add()
        .setI('spec');
      f.get('acc').const(S).add().setI('acc');
    },
    () => f.get('acc').get('end').emit(0x48),
  );
  return f;
}

/** out = Σ |X_k|² over k0 ≤ k ≤ k1 in k order, per lane (a SEED band's energy before the mean). */
function psum(): Fn {
  const f = new Fn(['spec', 'k0', 'k1', 'out']);
  f.v('acc');
  f.get('spec').get('k1').const(5).emit(0x74).add().setI('end');
  f.get('spec').get('k0').const(5).emit(0x74).add().setI('spec');
  f.doWhile(
    () => {
      power(f, 'spec', 'p');
      f.op('acc', 'acc', '+', 'p');
      f.get('spec')
        .const(2 * S)
        .add()
        .setI('spec');
    },
    () => f.get('spec').get('end').emit(0x4d), // spec <= end (unsigned)
  );
  f.st('out', 0, 'acc');
  return f;
}

/** First radix-4 pass: groups of four inputs (bit-reversed) → 8 slots per group. */
function first4(): Fn {
  const f = new Fn(['out', 'inp', 'rev', 'groups', 'q']);
  f.v('zero');
  // zero = +0 in both lanes (a fresh v128 local is all zero bits)
  f.const(0).setI('t');
  f.doWhile(
    () => {
      // a = inp + 16·rev[t]
      f.get('inp').get('rev').get('t').const(2).emit(0x74).add().emit(0x28, 2, 0).const(4).emit(0x74).add().setI('a');
      f.ld('A', 'a');
      f.get('a').get('q').add().setI('a');
      f.ld('B', 'a');
      f.get('a').get('q').add().setI('a');
      f.ld('C', 'a');
      f.get('a').get('q').add().setI('a');
      f.ld('D', 'a');
      f.op('t0', 'A', '+', 'C').op('t1', 'A', '-', 'C').op('t2', 'B', '+', 'D').op('t3', 'B', '-', 'D');
      f.get('out')
        .get('t0')
        .get('t2')
        .emit(...simd(0xf0))
        .vstore(0);
      f.st('out', S, 'zero').st('out', 2 * S, 't1');
      f.get('out')
        .get('t3')
        .neg()
        .vstore(3 * S);
      f.get('out')
        .get('t0')
        .get('t2')
        .emit(...simd(0xf1))
        .vstore(4 * S);
      f.st('out', 5 * S, 'zero')
        .st('out', 6 * S, 't1')
        .st('out', 7 * S, 't3');
      f.get('out')
        .const(8 * S)
        .add()
        .setI('out');
      f.get('t').const(1).add().setI('t');
    },
    () => f.get('t').get('groups').emit(0x48), // t < groups (signed)
  );
  return f;
}

/** First radix-2 pass (odd powers of two): pairs of inputs → 4 slots per pair. */
function first2(): Fn {
  const f = new Fn(['out', 'inp', 'rev', 'groups', 'h']);
  f.v('zero');
  f.const(0).setI('t');
  f.doWhile(
    () => {
      f.get('inp').get('rev').get('t').const(2).emit(0x74).add().emit(0x28, 2, 0).const(4).emit(0x74).add().setI('a');
      f.ld('A', 'a');
      f.get('a').get('h').add().setI('a');
      f.ld('B', 'a');
      f.get('out')
        .get('A')
        .get('B')
        .emit(...simd(0xf0))
        .vstore(0);
      f.st('out', S, 'zero');
      f.get('out')
        .get('A')
        .get('B')
        .emit(...simd(0xf1))
        .vstore(2 * S);
      f.st('out', 3 * S, 'zero');
      f.get('out')
        .const(4 * S)
        .add()
        .setI('out');
      f.get('t').const(1).add().setI('t');
    },
    () => f.get('t').get('groups').emit(0x48),
  );
  return f;
}

/**
 * One radix-4 pass of the real-input transform over blocks of `len` bytes (= 16·len doubles), the same
 * butterflies as RealFftPlan.pass; `tw` holds 6 splatted twiddles (96 bytes) per butterfly index.
 */
function pass(): Fn {
  const f = new Fn(['out', 'end', 'len', 'tw']);
  const loadABCD = () => {
    f.get('A').get('q').add().setI('B');
    f.get('B').get('q').add().setI('C');
    f.get('C').get('q').add().setI('D');
    f.ld('Ar', 'A').ld('Ai', 'A', S).ld('Br', 'B').ld('Bi', 'B', S).ld('Cr', 'C').ld('Ci', 'C', S).ld('Dr', 'D').ld('Di', 'D', S);
  };
  const twiddled = (w: string) => {
    f.ld('wBr', w)
      .ld('wBi', w, S)
      .ld('wCr', w, 2 * S)
      .ld('wCi', w, 3 * S)
      .ld('wDr', w, 4 * S)
      .ld('wDi', w, 5 * S);
    // M = X·w (complex), written out as in the scalar code: re = Xr·wr − Xi·wi, im = Xr·wi + Xi·wr
    for (const X of ['B', 'C', 'D']) {
      f.op('p', `${X}r`, '*', `w${X}r`).op('r', `${X}i`, '*', `w${X}i`).op(`M${X}r`, 'p', '-', 'r');
      f.op('p', `${X}r`, '*', `w${X}i`).op('r', `${X}i`, '*', `w${X}r`).op(`M${X}i`, 'p', '+', 'r');
    }
    f.op('T0r', 'Ar', '+', 'MCr').op('T0i', 'Ai', '+', 'MCi').op('T1r', 'Ar', '-', 'MCr').op('T1i', 'Ai', '-', 'MCi');
    f.op('T2r', 'MBr', '+', 'MDr').op('T2i', 'MBi', '+', 'MDi').op('T3r', 'MBr', '-', 'MDr').op('T3i', 'MBi', '-', 'MDi');
  };
  const storeAB = () => {
    f.get('A')
      .get('T0r')
      .get('T2r')
      .emit(...simd(0xf0))
      .vstore(0);
    f.get('A')
      .get('T0i')
      .get('T2i')
      .emit(...simd(0xf0))
      .vstore(S);
    f.get('B')
      .get('T1r')
      .get('T3i')
      .emit(...simd(0xf0))
      .vstore(0);
    f.get('B')
      .get('T1i')
      .get('T3r')
      .emit(...simd(0xf1))
      .vstore(S);
  };
  // q = len/4, h = len/2, hq = len/8 (bytes)
  f.get('len').const(2).emit(0x76).setI('q'); // i32.shr_u
  f.get('len').const(1).emit(0x76).setI('h');
  f.get('len').const(3).emit(0x76).setI('hq');
  f.doWhile(
    () => {
      // i = 0: unit twiddles
      f.get('out').setI('A');
      loadABCD();
      f.op('T0r', 'Ar', '+', 'Cr').op('T0i', 'Ai', '+', 'Ci').op('T1r', 'Ar', '-', 'Cr').op('T1i', 'Ai', '-', 'Ci');
      f.op('T2r', 'Br', '+', 'Dr').op('T2i', 'Bi', '+', 'Di').op('T3r', 'Br', '-', 'Dr').op('T3i', 'Bi', '-', 'Di');
      storeAB();
      f.get('C')
        .get('T0r')
        .get('T2r')
        .emit(...simd(0xf1))
        .vstore(0);
      f.get('C')
        .get('T0i')
        .get('T2i')
        .emit(...simd(0xf1))
        .vstore(S);
      // 0 < i < hq: full butterflies with mirrored outputs
      f.const(2 * S).setI('i');
      f.when(
        () => f.get('i').get('hq').emit(0x48),
        () =>
          f.doWhile(
            () => {
              f.get('out').get('i').add().setI('A');
              loadABCD();
              f.get('tw').get('i').const(3).emit(0x6c).add().setI('w');
              twiddled('w');
              storeAB();
              f.get('out').get('q').add().get('i').sub().setI('SA');
              f.get('out').get('h').add().get('i').sub().setI('SB');
              f.get('SA')
                .get('T1r')
                .get('T3i')
                .emit(...simd(0xf1))
                .vstore(0);
              f.get('SA')
                .get('T1i')
                .neg()
                .get('T3r')
                .emit(...simd(0xf1))
                .vstore(S);
              f.get('SB')
                .get('T0r')
                .get('T2r')
                .emit(...simd(0xf1))
                .vstore(0);
              f.get('SB')
                .get('T2i')
                .get('T0i')
                .emit(...simd(0xf1))
                .vstore(S);
              f.get('i')
                .const(2 * S)
                .add()
                .setI('i');
            },
            () => f.get('i').get('hq').emit(0x48),
          ),
      );
      // i = hq: only A and B
      f.get('out').get('hq').add().setI('A');
      loadABCD();
      f.get('tw').get('hq').const(3).emit(0x6c).add().setI('w');
      twiddled('w');
      storeAB();
      f.get('out').get('len').add().setI('out');
    },
    () => f.get('out').get('end').emit(0x48),
  );
  return f;
}

/**
 * A cascade of `k` biquads (transposed direct form II, as SosFilter.step) on two lanes, `n` samples.
 * Input: f64 samples splatted to both lanes (`splat`) or v128 pairs; output v128 pairs. Coefficients:
 * 5 v128 per section (b0 b1 b2 a1 a2); state: 2 v128 per section, loaded and stored back.
 */
function cascade(k: number, splat: boolean): Fn {
  const f = new Fn(['x', 'y', 'n', 'coef', 'state']);
  for (let s = 0; s < k; s++) f.ld(`z0_${s}`, 'state', 2 * s * S).ld(`z1_${s}`, 'state', (2 * s + 1) * S);
  // Coefficients are read from memory at each use (constant offsets from `coef`): with them in locals
  // the 5·k coefficients and 2·k states exceed the 16 vector registers and the states, the loop-carried
  // chain, get spilled.
  const cf = (name: string, s: number): void => {
    f.get('coef').vload((5 * s + ['b0', 'b1', 'b2', 'a1', 'a2'].indexOf(name)) * S);
  };
  const mul = () => f.emit(...simd(0xf2));
  f.get('y').get('n').const(4).emit(0x74).add().setI('end');
  f.doWhile(
    () => {
      if (splat)
        f.get('x')
          .emit(0x2b, 3, 0)
          .emit(...simd(0x14))
          .setV('cur');
      else f.ld('cur', 'x');
      for (let s = 0; s < k; s++) {
        // out = b0·cur + z0; z0 = b1·cur − a1·out + z1; z1 = b2·cur − a2·out
        cf('b0', s);
        f.get('cur');
        mul();
        f.get(`z0_${s}`)
          .emit(...simd(0xf0))
          .setV('o');
        cf('b1', s);
        f.get('cur');
        mul();
        cf('a1', s);
        f.get('o');
        mul();
        f.emit(...simd(0xf1))
          .get(`z1_${s}`)
          .emit(...simd(0xf0))
          .setV(`z0_${s}`);
        cf('b2', s);
        f.get('cur');
        mul();
        cf('a2', s);
        f.get('o');
        mul();
        f.emit(...simd(0xf1)).setV(`z1_${s}`);
        f.get('o').setV('cur');
      }
      f.st('y', 0, 'cur');
      f.get('x')
        .const(splat ? 8 : S)
        .add()
        .setI('x');
      f.get('y').const(S).add().setI('y');
    },
    () => f.get('y').get('end').emit(0x48),
  );
  for (let s = 0; s < k; s++) f.st('state', 2 * s * S, `z0_${s}`).st('state', (2 * s + 1) * S, `z1_${s}`);
  return f;
}

/**
 * Gaussian-entropy sums for three arrays of n v128 pairs at once: per lane the mean (sum in index order
 * / n), then the sum of squared deviations in index order, stored as three v128 at `out`.
 */
function var3(): Fn {
  const f = new Fn(['p0', 'p1', 'p2', 'n', 'out']);
  const ps = ['p0', 'p1', 'p2'];
  f.get('n').const(4).emit(0x74).setI('end');
  for (const x of ['m0', 'm1', 'm2', 'v0', 'v1', 'v2']) f.v(x);
  f.const(0).setI('ib');
  f.doWhile(
    () => {
      ps.forEach((p, j) => f.get(p).get('ib').add().vload(0).setV('a').op(`m${j}`, `m${j}`, '+', 'a'));
      f.get('ib').const(S).add().setI('ib');
    },
    () => f.get('ib').get('end').emit(0x48),
  );
  f.get('n')
    .emit(0xb7)
    .emit(...simd(0x14))
    .setV('nv');
  for (let j = 0; j < 3; j++)
    f.get(`m${j}`)
      .get('nv')
      .emit(...simd(0xf3))
      .setV(`m${j}`);
  f.const(0).setI('ib');
  f.doWhile(
    () => {
      ps.forEach((p, j) => {
        f.get(p).get('ib').add().vload(0).setV('a');
        f.op('d', 'a', '-', `m${j}`).op('d', 'd', '*', 'd').op(`v${j}`, `v${j}`, '+', 'd');
      });
      f.get('ib').const(S).add().setI('ib');
    },
    () => f.get('ib').get('end').emit(0x48),
  );
  for (let j = 0; j < 3; j++) f.st('out', j * S, `v${j}`);
  return f;
}

function build(fns: [string, Fn][]): Uint8Array<ArrayBuffer> {
  return encodeModule(fns.map(([name, f]) => f.toWasm(name)));
}

const fftModule = (): Uint8Array<ArrayBuffer> =>
  build([
    ['prep', prep()],
    ['first4', first4()],
    ['first2', first2()],
    ['pass', pass()],
    ['powacc', powacc()],
    ['psum', psum()],
  ]);

const iirModule = (): Uint8Array<ArrayBuffer> => {
  const fns: [string, Fn][] = [['var3', var3()]];
  // Splatted input for the first (up to) four sections; paired input of 4, 2 or 1 sections for the rest of
  // longer cascades (k = 3 paired is left out to stay under 4 KB: 3 = 2 + 1).
  for (let k = 1; k <= 4; k++) fns.push([`cascade${k}s`, cascade(k, true)]);
  for (const k of [1, 2, 4]) fns.push([`cascade${k}p`, cascade(k, false)]);
  return build(fns);
};

export const legacyDsp = { fft: fftModule, iir: iirModule };
