/**
 * A small WebAssembly assembler for the kernels built at run time (feature extraction in runtime/dsp/simd.ts,
 * training kernels in src/train): instructions by their text-format names (`i32.add`, `f64x2.mul`,
 * `v128.load(16)`), locals and branch labels by name, typed signatures, structured control flow. A module has one
 * memory, exported as `memory` (1 page to start, grown by the caller), and exported functions. No build step and
 * no binary in the package; runs in Node and in browsers.
 *
 * Why not a package: binaryen (megabytes) and wabt (~700 KB, asynchronous start-up; the tests use it to validate
 * every module) are far larger than the kernels, and webpack's @webassemblyjs AST packages bring a much larger API;
 * the kernels need a few dozen opcodes and an encoder of this size.
 *
 * Code is data: an instruction is a small object, a sequence is an array (nested arrays are flattened), so
 * kernels compose fragments with ordinary functions. Names are resolved when the module is assembled; an unknown
 * local or label throws there, naming the function.
 */

export type ValType = 'i32' | 'f32' | 'f64' | 'v128';
const TYPE_CODE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** A label: a name given by the kernel, or a symbol made by the loop helpers below (never clashes). */
export type Label = string | symbol;

/** One instruction. */
export type Instr =
  | { readonly bytes: readonly number[] } // opcode and immediates, already encoded
  | { readonly local: 0x20 | 0x21 | 0x22; readonly name: string } // local.get / set / tee
  | { readonly branch: 0x0c | 0x0d; readonly label: Label } // br / br_if
  | { readonly block: 0x02 | 0x03 | 0x04; readonly label: Label | undefined; readonly body: Code; readonly otherwise?: Code };

/** Instructions: one, or a sequence of them (arrays nest freely). */
export type Code = Instr | readonly Code[];

/** Unsigned LEB128 (sizes, indices). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

// ---- instructions ------------------------------------------------------------------------------------------

const op = (...bytes: number[]): Instr => ({ bytes });
const simd = (code: number, ...imm: number[]): Instr => ({ bytes: [0xfd, ...uleb(code), ...imm] });
/** A memory access with its natural alignment (log2 bytes) and a constant offset added to the address. */
const memory =
  (code: number, align: number) =>
  (offset = 0): Instr =>
    op(code, align, ...uleb(offset));
const simdMemory =
  (code: number, align: number) =>
  (offset = 0): Instr =>
    simd(code, align, ...uleb(offset));

export const i32 = {
  const: (n: number): Instr => op(0x41, ...sleb(n)),
  load: memory(0x28, 2),
  add: op(0x6a),
  sub: op(0x6b),
  mul: op(0x6c),
  and: op(0x71),
  shl: op(0x74),
  shr_u: op(0x76),
  lt_s: op(0x48),
  lt_u: op(0x49),
  le_u: op(0x4d),
  ge_u: op(0x4f),
} as const;

export const f32 = {
  load: memory(0x2a, 2),
  store: memory(0x38, 2),
  demote_f64: op(0xb6),
} as const;

export const f64 = {
  load: memory(0x2b, 3),
  add: op(0xa0),
  ne: op(0x62),
  convert_i32_s: op(0xb7),
} as const;

export const v128 = {
  load: simdMemory(0x00, 4),
  store: simdMemory(0x0b, 4),
  /** 8 bytes into the low half, the high half zero */
  load64_zero: simdMemory(0x5d, 3),
  and: simd(0x4e),
} as const;

export const i32x4 = {
  splat: simd(0x11),
} as const;

export const f32x4 = {
  splat: simd(0x13),
  add: simd(0xe4),
  sub: simd(0xe5),
  mul: simd(0xe6),
  div: simd(0xe7),
  sqrt: simd(0xe3),
  gt: simd(0x44),
  /** pseudo-maximum: b < a ? a : b per lane */
  pmax: simd(0xeb),
} as const;

export const f64x2 = {
  splat: simd(0x14),
  extract_lane: (lane: 0 | 1): Instr => simd(0x21, lane),
  replace_lane: (lane: 0 | 1): Instr => simd(0x22, lane),
  add: simd(0xf0),
  sub: simd(0xf1),
  mul: simd(0xf2),
  div: simd(0xf3),
  neg: simd(0xed),
  promote_low_f32x4: simd(0x5f),
} as const;

/** Parameters and locals by name. */
export const local = {
  get: (name: string): Instr => ({ local: 0x20, name }),
  set: (name: string): Instr => ({ local: 0x21, name }),
  tee: (name: string): Instr => ({ local: 0x22, name }),
} as const;

// ---- control flow (blocks have no result) -------------------------------------------------------------------

/** `block $label … end`: `br $label` inside jumps past its end. */
export const block = (label: Label, body: Code): Instr => ({ block: 0x02, label, body });
/** `loop $label … end`: `br $label` inside jumps back to its start. */
export const loop = (label: Label, body: Code): Instr => ({ block: 0x03, label, body });
/** `cond; if … else … end` on the i32 that `cond` leaves (non-zero: `then`). */
export const when = (cond: Code, then: Code, otherwise?: Code): Code => [cond, { block: 0x04, label: undefined, body: then, otherwise }];
export const br = (label: Label): Instr => ({ branch: 0x0c, label });
/** Branch to `label` if the i32 on the stack is non-zero. */
export const brIf = (label: Label): Instr => ({ branch: 0x0d, label });

/** `do body while (cond)`: the body runs at least once, `cond` (an i32) is tested at its end. */
export function doWhile(body: Code, cond: Code): Instr {
  const top = Symbol('do');
  return loop(top, [body, cond, brIf(top)]);
}

/** `while (!exit) body`: `exit` (an i32) is tested before each pass. */
export function whileNot(exit: Code, body: Code): Instr {
  const [out, top] = [Symbol('exit'), Symbol('while')];
  return block(out, loop(top, [exit, brIf(out), body, br(top)]));
}

/** `for (v = 0; v < limit (unsigned); v += step) body`, with `limit` a local. */
export function countUp(v: string, limit: string, step: number, body: Code): Code {
  const { get, set } = local;
  return [i32.const(0), set(v), whileNot([get(v), get(limit), i32.ge_u], [body, get(v), i32.const(step), i32.add, set(v)])];
}

// ---- functions and modules ----------------------------------------------------------------------------------

export interface Func {
  /** export name */
  name: string;
  /** parameters in order, by name */
  params: Record<string, ValType>;
  results?: ValType[];
  /** locals in order, by name */
  locals?: Record<string, ValType>;
  /** the instructions, without the final `end` */
  body: Code;
}

/** `{ a: type, b: type, … }` for params or locals that share a type. */
export function typed(type: ValType, ...names: string[]): Record<string, ValType> {
  return Object.fromEntries(names.map((n) => [n, type]));
}

function encodeBody(f: Func): number[] {
  const index = new Map<string, number>();
  for (const name of [...Object.keys(f.params), ...Object.keys(f.locals ?? {})]) {
    if (index.has(name)) throw new Error(`wasm assembler: function "${f.name}" declares "${name}" twice`);
    index.set(name, index.size);
  }
  const out: number[] = [];
  const labels: (Label | undefined)[] = []; // innermost last
  const emit = (code: Code): void => {
    if (Array.isArray(code)) {
      for (const c of code as readonly Code[]) emit(c);
      return;
    }
    const ins = code as Instr;
    if ('bytes' in ins) out.push(...ins.bytes);
    else if ('local' in ins) {
      const i = index.get(ins.name);
      if (i === undefined) throw new Error(`wasm assembler: function "${f.name}" has no local "${ins.name}"`);
      out.push(ins.local, ...uleb(i));
    } else if ('branch' in ins) {
      const at = labels.lastIndexOf(ins.label);
      if (at < 0) throw new Error(`wasm assembler: function "${f.name}" branches to "${String(ins.label)}" from outside it`);
      out.push(ins.branch, ...uleb(labels.length - 1 - at));
    } else {
      out.push(ins.block, 0x40); // 0x40: no result
      labels.push(ins.label);
      emit(ins.body);
      if (ins.otherwise !== undefined) {
        out.push(0x05);
        emit(ins.otherwise);
      }
      labels.pop();
      out.push(0x0b);
    }
  };
  emit(f.body);
  // locals as runs of one type, in declaration order
  const runs: [number, ValType][] = [];
  for (const t of Object.values(f.locals ?? {})) {
    const last = runs[runs.length - 1];
    if (last && last[1] === t) last[0]++;
    else runs.push([1, t]);
  }
  return [...vec(runs.map(([n, t]) => [...uleb(n), TYPE_CODE[t]])), ...out, 0x0b];
}

/** A length-prefixed vector of encoded items. */
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, payload: number[]): number[] => [id, ...uleb(payload.length), ...payload];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/** A module with one exported memory and the given exported functions (identical signatures share a type). */
export function assemble(funcs: Func[]): Uint8Array<ArrayBuffer> {
  const sigs: string[] = [];
  const types: number[][] = [];
  const typeOf = funcs.map((f) => {
    const params = Object.values(f.params).map((t) => TYPE_CODE[t]);
    const results = (f.results ?? []).map((t) => TYPE_CODE[t]);
    const key = `${params.join(',')}->${results.join(',')}`;
    let i = sigs.indexOf(key);
    if (i < 0) {
      i = sigs.push(key) - 1;
      types.push([0x60, ...vec(params.map((t) => [t])), ...vec(results.map((t) => [t]))]);
    }
    return i;
  });
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(3, vec(typeOf.map((i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])), // one memory, at least 1 page, no maximum
    ...section(7, vec([[...name('memory'), 0x02, 0], ...funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])])),
    ...section(
      10,
      vec(
        funcs.map((f) => {
          const code = encodeBody(f);
          return [...uleb(code.length), ...code];
        }),
      ),
    ),
  ]);
}

/** Compile and instantiate, or null where WebAssembly (SIMD) is unavailable or code generation is disallowed. */
export function instantiate(bytes: Uint8Array<ArrayBuffer>): Record<string, unknown> | null {
  try {
    if (typeof WebAssembly !== 'object') return null;
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as Record<string, unknown>;
  } catch {
    return null; // no SIMD, code generation disallowed, or too large for synchronous compilation here
  }
}

/** Compile only (for modules instantiated many times), or null as above. */
export function compile(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module | null {
  try {
    return typeof WebAssembly === 'object' ? new WebAssembly.Module(bytes) : null;
  } catch {
    return null;
  }
}
