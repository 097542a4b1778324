/**
 * The kernels rewritten with runtime/wasm/assembler.ts compute what the hand-encoded byte arrays they replaced
 * computed, bit for bit: every exported function of every module runs on the same random memory image and
 * arguments in an instance of the old module and of the new one, and the whole memory must match afterwards.
 * The old builders are kept verbatim under ./legacy/ for this comparison only; delete both once the rewrite has
 * settled (the per-kernel tests, e.g. test/runtime/dsp/fast-paths.test.ts, keep checking the kernels against TypeScript).
 */
import { describe, expect, it } from 'vitest';
import { fftModule, iirModule } from '../../../runtime/dsp/simd.js';
import { columnModule } from '../../../src/train/simd.js';
import { bankModule } from '../../../src/train/losses/bankKernels.js';
import { adamwModule } from '../../../src/train/optim.js';
import { legacyDsp } from './legacy/dsp.js';
import { legacyColumns } from './legacy/columns.js';
import { legacyBank } from './legacy/bank.js';
import { legacyAdamW } from './legacy/adamw.js';
import { randn, rng } from '../dsp/helpers.js';

/**
 * A memory image laid out region by region (16-byte aligned), filled with random values. By default they are
 * ±2^{−30, 0, 30}: in sums of them large terms cancel exactly and small ones get absorbed, so a sum taken in another
 * order changes the result by far more than its last bits (visible even after rounding to float32).
 */
class Image {
  private readonly buf = new ArrayBuffer(1 << 22);
  private top = 0;
  constructor(readonly r: () => number) {}
  private region(bytes: number): number {
    const at = this.top;
    this.top += Math.ceil(bytes / 16) * 16 + 16;
    if (this.top > this.buf.byteLength) throw new Error('test image too large');
    return at;
  }
  wide = (): number => (this.r() < 0.5 ? -1 : 1) * 2 ** (30 * this.int(-1, 1));
  f64(n: number, gen = this.wide): number {
    const at = this.region(8 * n);
    new Float64Array(this.buf, at, n).set(Array.from({ length: n }, gen));
    return at;
  }
  f32(n: number, gen = this.wide): number {
    const at = this.region(4 * n);
    new Float32Array(this.buf, at, n).set(Array.from({ length: n }, gen));
    return at;
  }
  i32(values: number[]): number {
    const at = this.region(4 * values.length);
    new Int32Array(this.buf, at, values.length).set(values);
    return at;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.buf, 0, this.top);
  }
}

type Setup = (m: Image) => number[];
interface ModulePair {
  name: string;
  old: () => Uint8Array<ArrayBuffer>;
  now: () => Uint8Array<ArrayBuffer>;
  cases: Record<string, Setup>;
}

const shuffled = (n: number, r: () => number): number[] => {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};

/** 5·k coefficients per lane pair of k stable biquads (|a1|, |a2| < 0.5), as v128 (b0 b1 b2 a1 a2) per section. */
const biquads = (m: Image, k: number): number => {
  const v: number[] = [];
  for (let s = 0; s < k; s++) for (let c = 0; c < 5; c++) for (let lane = 0; lane < 2; lane++) v.push(c < 3 ? 2 * m.r() - 1 : m.r() - 0.5);
  let i = 0;
  return m.f64(v.length, () => v[i++]!);
};

const cascade =
  (k: number, splat: boolean): Setup =>
  (m) => {
    const n = m.int(1, 200);
    const x = m.f64(splat ? n : 2 * n);
    const y = m.f64(2 * n);
    return [x, y, n, biquads(m, k), m.f64(4 * k, () => m.r() - 0.5)];
  };

const PAIRS: ModulePair[] = [
  {
    name: 'dsp fft',
    old: legacyDsp.fft,
    now: fftModule,
    cases: {
      prep: (m) => {
        const count = m.int(1, 300);
        const n = count + m.int(0, 200);
        return [m.f64(2 * n), m.f64(count), m.f64(count), m.f64(count, () => m.r()), count, n, m.int(0, 1)];
      },
      first4: (m) => {
        const groups = m.int(1, 64);
        return [m.f64(16 * groups), m.f64(8 * groups), m.i32(shuffled(groups, m.r)), groups, 16 * groups];
      },
      first2: (m) => {
        const groups = m.int(1, 64);
        return [m.f64(8 * groups), m.f64(4 * groups), m.i32(shuffled(groups, m.r)), groups, 16 * groups];
      },
      pass: (m) => {
        const len = 256 << m.int(0, 3); // with len = 256 the inner loop of butterflies is skipped
        const blocks = m.int(1, 3);
        const out = m.f64((len * blocks) / 8);
        return [out, out + len * blocks, len, m.f64((3 * (len / 8) + 96) / 8, () => 2 * m.r() - 1)];
      },
      powacc: (m) => {
        const nb = m.int(1, 100);
        return [m.f64(4 * nb), m.f64(2 * nb), nb];
      },
      psum: (m) => {
        const nb = m.int(1, 100);
        const k0 = m.int(0, nb - 1);
        return [m.f64(4 * nb), k0, m.int(k0, nb - 1), m.f64(2)];
      },
    },
  },
  {
    name: 'dsp iir',
    old: legacyDsp.iir,
    now: iirModule,
    cases: {
      var3: (m) => {
        const n = m.int(1, 300);
        return [m.f64(2 * n), m.f64(2 * n), m.f64(2 * n), n, m.f64(6)];
      },
      ...Object.fromEntries([1, 2, 3, 4].map((k) => [`cascade${k}s`, cascade(k, true)])),
      ...Object.fromEntries([1, 2, 4].map((k) => [`cascade${k}p`, cascade(k, false)])),
    },
  },
  {
    name: 'train columns',
    old: legacyColumns,
    now: columnModule,
    cases: (() => {
      const shape = (m: Image) => [m.int(1, 40), m.int(1, 8)] as const;
      return {
        colsum: (m) => {
          const [rows, c4] = shape(m);
          return [m.f32(rows * 4 * c4), rows, c4, m.f32(4 * c4)];
        },
        sqdev: (m) => {
          const [rows, c4] = shape(m);
          return [m.f32(rows * 4 * c4), rows, c4, m.f32(4 * c4), m.f32(4 * c4)];
        },
        dotcols: (m) => {
          const [rows, c4] = shape(m);
          return [m.f32(rows * 4 * c4), m.f32(rows * 4 * c4), rows, c4, m.f32(4 * c4), m.f32(4 * c4)];
        },
        bnfwd: (m) => {
          const [rows, c4] = shape(m);
          const mat = () => m.f32(rows * 4 * c4);
          const col = () => m.f32(4 * c4);
          return [mat(), mat(), mat(), rows, c4, col(), col(), col(), col()];
        },
        bnbwd: (m) => {
          const [rows, c4] = shape(m);
          const mat = () => m.f32(rows * 4 * c4);
          // y: ReLU outputs, a third of them exactly 0
          return [mat(), m.f32(rows * 4 * c4, () => (m.r() < 0.33 ? 0 : m.wide())), mat(), mat(), rows, c4, m.f32(4 * c4), m.f32(4 * c4)];
        },
        bndz: (m) => {
          const [rows, c4] = shape(m);
          const mat = () => m.f32(rows * 4 * c4);
          const col = () => m.f32(4 * c4);
          return [mat(), mat(), mat(), rows, c4, col(), col(), col(), col()];
        },
        transpose: (m) => {
          const [rows, cols] = [m.int(1, 40), m.int(1, 40)];
          return [m.f32(rows * cols), rows, cols, m.f32(rows * cols)];
        },
      } satisfies Record<string, Setup>;
    })(),
  },
  {
    name: 'train bank',
    old: legacyBank,
    now: bankModule,
    cases: (() => {
      const args = (m: Image, weights: boolean) => {
        const [n, d, b, j] = [m.int(8, 64), 4 * m.int(1, 8), m.int(1, 5), m.int(1, 20)]; // j crosses both group sizes
        const bank = m.f32(n * d);
        // weights g: a third exactly 0 (those rows are skipped)
        const src = weights ? m.f64(b * j, () => (m.r() < 0.33 ? 0 : m.wide())) : m.f64(b * d, () => Math.fround(m.wide()));
        const idx = m.i32(Array.from({ length: b * j }, () => m.int(0, n - 1)));
        return [bank, src, idx, b, d, j, weights ? m.f64(b * d) : m.f32(b * j)];
      };
      return { rowdots: (m) => args(m, false), rowacc: (m) => args(m, true) } satisfies Record<string, Setup>;
    })(),
  },
  {
    name: 'train adamw',
    old: legacyAdamW,
    now: adamwModule,
    cases: {
      update: (m) => {
        const n4 = m.int(1, 64);
        const vec = () => m.f32(4 * n4, () => randn(m.r));
        const [g, w, mm] = [vec(), vec(), vec()];
        const v = m.f32(4 * n4, () => m.r());
        const [lr, step] = [10 ** (-1 - 3 * m.r()), m.int(1, 1000)];
        return [g, w, mm, v, 16 * n4, 0.1, 0.999, 0.001, Math.sqrt(1 - 0.999 ** step), 1e-8, 1 - lr * 0.01, -lr / (1 - 0.9 ** step)];
      },
    },
  },
];

/** Memory of `bytes`' instance after `fn(...args)` on `image`. */
function runOn(bytes: Uint8Array<ArrayBuffer>, fn: string, image: Uint8Array, args: number[]): Uint8Array {
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as Record<string, unknown>;
  const memory = e.memory as WebAssembly.Memory;
  const need = image.byteLength + 65536;
  if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  new Uint8Array(memory.buffer).set(image);
  (e[fn] as (...a: number[]) => void)(...args);
  return new Uint8Array(memory.buffer);
}

describe.each(PAIRS)('$name: the assembled module against the old byte arrays', ({ old, now, cases }) => {
  it('exports the same functions with the same signatures', () => {
    const sig = (b: Uint8Array<ArrayBuffer>) => WebAssembly.Module.exports(new WebAssembly.Module(b));
    expect(sig(now())).toEqual(sig(old()));
    expect(Object.keys(cases).sort()).toEqual(
      sig(now())
        .filter((e) => e.kind === 'function')
        .map((e) => e.name)
        .sort(),
    );
  });

  it.each(Object.keys(cases))('%s: the same memory after the call, on random inputs', (fn) => {
    for (let seed = 1; seed <= 8; seed++) {
      const m = new Image(rng(seed * 7919 + fn.length));
      const args = cases[fn]!(m);
      const image = m.bytes();
      const [a, b] = [runOn(old(), fn, image, args), runOn(now(), fn, image, args)];
      expect(b.byteLength).toBe(a.byteLength);
      const at = a.findIndex((x, i) => x !== b[i]);
      if (at >= 0) expect.fail(`${fn} (seed ${seed}, args ${args.join(', ')}): memory differs from byte ${at}`);
      // the call did something: the memory is not the image any more
      expect(a.subarray(0, image.byteLength).some((x, i) => x !== image[i])).toBe(true);
    }
  });
});
