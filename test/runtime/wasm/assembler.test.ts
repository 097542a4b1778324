/**
 * runtime/wasm/assembler.ts and every module the code assembles with it. Each kernel module (feature extraction and
 * training) passes wabt's validator with the SIMD feature (and fails it without: engines without SIMD run the
 * TypeScript loops instead), and wabt re-encodes its own disassembly of it to the same bytes. Small
 * functions written in the text format and assembled by wabt (wat2wasm) give the bytes the assembler gives, and run
 * as the JavaScript next to them says. Names that do not resolve are errors naming the function.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assemble,
  block,
  br,
  brIf,
  countUp,
  doWhile,
  f32,
  f32x4,
  f64,
  i32,
  instantiate,
  local,
  loop,
  sleb,
  typed,
  uleb,
  when,
  whileNot,
  type Func,
} from '../../../runtime/wasm/assembler.js';
import { fftModule, iirModule } from '../../../runtime/dsp/simd.js';
import { columnModule } from '../../../src/train/simd.js';
import { bankModule } from '../../../src/train/losses/bankKernels.js';
import { adamwModule } from '../../../src/train/optim.js';

type Wabt = Awaited<ReturnType<typeof import('wabt')>>;
let wabt: Wabt;
beforeAll(async () => {
  wabt = await (await import('wabt')).default();
});

const ROOT = join(import.meta.dirname, '../../..');

/** Every module the code assembles, with the file that builds it and the functions it exports. */
const MODULES: { name: string; file: string; bytes: () => Uint8Array<ArrayBuffer>; exports: string[] }[] = [
  { name: 'dsp fft', file: 'runtime/dsp/simd.ts', bytes: fftModule, exports: ['prep', 'first4', 'first2', 'pass', 'powacc', 'psum'] },
  {
    name: 'dsp iir',
    file: 'runtime/dsp/simd.ts',
    bytes: iirModule,
    // splatted input for 1–4 sections, paired input for 1, 2 and 4
    exports: ['var3', 'cascade1s', 'cascade2s', 'cascade3s', 'cascade4s', 'cascade1p', 'cascade2p', 'cascade4p'],
  },
  {
    name: 'train columns',
    file: 'src/train/simd.ts',
    bytes: columnModule,
    exports: ['colsum', 'sqdev', 'dotcols', 'bnfwd', 'bnbwd', 'bndz', 'transpose'],
  },
  { name: 'train bank', file: 'src/train/losses/bankKernels.ts', bytes: bankModule, exports: ['rowdots', 'rowacc'] },
  { name: 'train adamw', file: 'src/train/optim.ts', bytes: adamwModule, exports: ['update'] },
];

/** wabt's validator, with the SIMD proposal on (or off); wabt takes the feature flags beside its options. */
function validate(bytes: Uint8Array, simd = true): void {
  wabt.readWasm(bytes, { readDebugNames: false, simd }).validate();
}

/** wat2wasm of a text module (wabt's own encoder). */
function wat2wasm(text: string): Uint8Array {
  return new Uint8Array(wabt.parseWat('test.wat', text, { simd: true }).toBinary({}).buffer);
}

describe('every assembled kernel module', () => {
  it.each(MODULES)('$name: valid for wabt, encoded as wabt encodes it, exports what its callers use', ({ bytes, exports }) => {
    const b = bytes();
    validate(b);
    const text = wabt.readWasm(b, { readDebugNames: false, simd: true }).toText({});
    expect(wat2wasm(text)).toEqual(b);
    const mod = new WebAssembly.Module(b);
    expect(WebAssembly.Module.exports(mod).map((e) => e.name)).toEqual(['memory', ...exports]);
    expect(b.byteLength).toBeLessThan(4096); // synchronous compilation on a browser's main thread
  });

  it.each(MODULES)('$name: needs WebAssembly SIMD (without it the callers run their TypeScript loops)', ({ bytes }) => {
    expect(() => validate(bytes(), false)).toThrow(/readWasm failed/);
  });

  it('covers every source file that uses the assembler', () => {
    const users: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir)) {
        const p = join(dir, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.ts$/.test(e) && /wasm\/assembler\.js'/.test(readFileSync(p, 'utf8'))) users.push(relative(ROOT, p));
      }
    };
    for (const root of ['src', 'export', 'runtime', 'firmware-bridge', 'bench']) walk(join(ROOT, root));
    expect(users.sort()).toEqual([...new Set(MODULES.map((m) => m.file))].sort());
  });

  it('the validator rejects a module that misuses its operands (so the checks above can fail)', () => {
    const body = [local.get('a'), local.get('a'), f32x4.add, i32.const(0), i32.add]; // i32 operands for f32x4.add
    const bad = assemble([{ name: 'bad', params: typed('i32', 'a'), body }]);
    expect(() => validate(bad)).toThrow();
    expect(instantiate(bad)).toBeNull();
  });
});

describe('the assembler', () => {
  it('encodes LEB128 as the DWARF specification tabulates it', () => {
    expect([2, 127, 128, 129, 130, 12857].map(uleb)).toEqual([[0x02], [0x7f], [0x80, 0x01], [0x81, 0x01], [0x82, 0x01], [0xb9, 0x64]]);
    expect([2, -2, 127, -127, 128, -128, 129, -129].map(sleb)).toEqual([
      [0x02],
      [0x7e],
      [0xff, 0x00],
      [0x81, 0x7f],
      [0x80, 0x01],
      [0x80, 0x7f],
      [0x81, 0x01],
      [0xff, 0x7e],
    ]);
  });

  const { get, set } = local;
  // Each function beside the text wabt assembles it from, and what it computes.
  const cases: { fn: Func; wat: string; run: (f: (...a: number[]) => number, memory: WebAssembly.Memory) => void }[] = [
    {
      // countUp: test first, unsigned bound; typed result
      fn: {
        name: 'sum',
        params: typed('i32', 'n'),
        results: ['i32'],
        locals: typed('i32', 'i', 's'),
        body: [countUp('i', 'n', 1, [get('s'), get('i'), i32.add, set('s')]), get('s')],
      },
      wat: `(func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
        i32.const 0 local.set $i
        block $exit loop $top
          local.get $i local.get $n i32.ge_u br_if $exit
          local.get $s local.get $i i32.add local.set $s
          local.get $i i32.const 1 i32.add local.set $i
          br $top
        end end
        local.get $s)`,
      run: (f) => {
        expect(f(0)).toBe(0);
        expect(f(10)).toBe(45);
      },
    },
    {
      // doWhile runs its body once before testing; when/else on the i32 left by the condition
      fn: {
        name: 'collatz',
        params: typed('i32', 'n'),
        results: ['i32'],
        locals: { steps: 'i32' },
        body: [
          doWhile(
            [
              when(
                [get('n'), i32.const(1), i32.and],
                [get('n'), i32.const(3), i32.mul, i32.const(1), i32.add, set('n')],
                [get('n'), i32.const(1), i32.shr_u, set('n')],
              ),
              get('steps'),
              i32.const(1),
              i32.add,
              set('steps'),
            ],
            [i32.const(1), get('n'), i32.lt_u],
          ),
          get('steps'),
        ],
      },
      wat: `(func (export "collatz") (param $n i32) (result i32) (local $steps i32)
        loop $do
          local.get $n i32.const 1 i32.and
          if
            local.get $n i32.const 3 i32.mul i32.const 1 i32.add local.set $n
          else
            local.get $n i32.const 1 i32.shr_u local.set $n
          end
          local.get $steps i32.const 1 i32.add local.set $steps
          i32.const 1 local.get $n i32.lt_u br_if $do
        end
        local.get $steps)`,
      run: (f) => {
        const ref = (n: number) => {
          let s = 0;
          do {
            n = n & 1 ? 3 * n + 1 : n >>> 1;
            s++;
          } while (1 < n);
          return s;
        };
        for (const n of [1, 2, 3, 7, 27, 97]) expect(f(n)).toBe(ref(n));
      },
    },
    {
      // a branch by name out of two levels, past an inner label of the same kind; whileNot; f64 and f32 ops
      fn: {
        name: 'firstAbove',
        params: { ...typed('i32', 'n'), limit: 'f64' },
        results: ['i32'],
        locals: { i: 'i32', found: 'i32' },
        body: [
          i32.const(-1),
          set('found'),
          block('done', [
            whileNot(
              [get('n'), get('i'), i32.le_u],
              [
                block('skip', [
                  get('i'),
                  f64.convert_i32_s,
                  get('i'),
                  f64.convert_i32_s,
                  f64.add,
                  get('limit'),
                  f64.ne,
                  brIf('skip'),
                  get('i'),
                  set('found'),
                  br('done'),
                ]),
                get('i'),
                i32.const(1),
                i32.add,
                set('i'),
              ],
            ),
          ]),
          get('found'),
        ],
      },
      wat: `(func (export "firstAbove") (param $n i32) (param $limit f64) (result i32) (local $i i32) (local $found i32)
        i32.const -1 local.set $found
        block $done
          block $exit loop $top
            local.get $n local.get $i i32.le_u br_if $exit
            block $skip
              local.get $i f64.convert_i32_s local.get $i f64.convert_i32_s f64.add local.get $limit f64.ne br_if $skip
              local.get $i local.set $found br $done
            end
            local.get $i i32.const 1 i32.add local.set $i
            br $top
          end end
        end
        local.get $found)`,
      run: (f) => {
        expect(f(10, 8)).toBe(4);
        expect(f(3, 8)).toBe(-1);
        expect(f(10, 7)).toBe(-1);
      },
    },
    {
      // memory access with offsets, loop/br by explicit labels, f32 round trip through memory
      fn: {
        name: 'copyUp',
        params: typed('i32', 'from', 'count'),
        results: ['i32'],
        locals: { p: 'i32' },
        body: [
          get('from'),
          set('p'),
          block(
            'out',
            loop('next', [
              get('p'),
              get('from'),
              get('count'),
              i32.const(2),
              i32.shl,
              i32.add,
              i32.ge_u,
              brIf('out'),
              get('p'),
              get('p'),
              f32.load(),
              f32.store(1024),
              get('p'),
              i32.const(4),
              i32.add,
              set('p'),
              br('next'),
            ]),
          ),
          get('p'),
          i32.load(1024 - 4),
        ],
      },
      wat: `(func (export "copyUp") (param $from i32) (param $count i32) (result i32) (local $p i32)
        local.get $from local.set $p
        block $out loop $next
          local.get $p local.get $from local.get $count i32.const 2 i32.shl i32.add i32.ge_u br_if $out
          local.get $p local.get $p f32.load f32.store offset=1024
          local.get $p i32.const 4 i32.add local.set $p
          br $next
        end end
        local.get $p i32.load offset=1020)`,
      run: (f, memory) => {
        const values = Float32Array.of(1.5, -2.25, 3e-39, 65504); // 3e-39: a subnormal, kept as it is
        new Float32Array(memory.buffer, 16, 4).set(values);
        const last = f(16, 4);
        expect(new Float32Array(memory.buffer, 16 + 1024, 4)).toEqual(values);
        expect(last).toBe(new Int32Array(Float32Array.of(65504).buffer)[0]);
      },
    },
  ];

  it.each(cases)('$fn.name: the bytes wat2wasm gives, and the results', ({ fn, wat, run }) => {
    const ours = assemble([fn]);
    expect(ours).toEqual(wat2wasm(`(module (memory (export "memory") 1) ${wat})`));
    validate(ours, false); // scalar code: valid without the SIMD feature too
    const e = instantiate(ours)!;
    run(e[fn.name] as (...a: number[]) => number, e.memory as WebAssembly.Memory);
  });

  it('assembles several functions, sharing the type of equal signatures', () => {
    const fns = cases.map((c) => c.fn);
    const ours = assemble([...fns, { ...fns[0]!, name: 'sum2' }]);
    validate(ours);
    const text = wabt.readWasm(ours, { readDebugNames: false, simd: true }).toText({});
    const signatures = new Set(fns.map((f) => `${Object.values(f.params).join()}->${f.results!.join()}`));
    expect(signatures.size).toBeLessThan(fns.length);
    expect(text.match(/\(type \(;\d+;\) \(func/g)).toHaveLength(signatures.size);
    const e = instantiate(ours)!;
    expect((e.sum2 as (n: number) => number)(5)).toBe(10);
  });

  it('names the function and the name that does not resolve', () => {
    const fn = (body: Func['body'], extra: Partial<Func> = {}): Func => ({
      name: 'k',
      params: typed('i32', 'a'),
      locals: { b: 'i32' },
      body,
      ...extra,
    });
    expect(() => assemble([fn([local.get('c'), local.set('b')])])).toThrow('function "k" has no local "c"');
    expect(() => assemble([fn([block('x', []), br('x')])])).toThrow('function "k" branches to "x" from outside it');
    expect(() => assemble([fn([], { locals: { a: 'f64' } })])).toThrow('function "k" declares "a" twice');
  });
});
