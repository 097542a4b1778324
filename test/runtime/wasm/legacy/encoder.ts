// The old module encoder (runtime/wasm/encoder.ts before the assembler), kept for the parity test only.
export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;

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

/** A length-prefixed vector of encoded items. */
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, payload: number[]): number[] => [id, ...uleb(payload.length), ...payload];
const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

export interface WasmFn {
  /** export name */
  name: string;
  /** parameter value types (I32, F32, …) */
  params: number[];
  /** local declarations as [count, type] groups; locals are numbered after the parameters */
  locals: [number, number][];
  /** the instructions, without the final `end` */
  body: number[];
}

/** A module with one exported memory and the given exported functions (identical signatures share a type). */
export function encodeModule(fns: WasmFn[]): Uint8Array<ArrayBuffer> {
  const sigs: string[] = [];
  const types: number[][] = [];
  const typeOf = fns.map((f) => {
    const key = f.params.join(',');
    let i = sigs.indexOf(key);
    if (i < 0) {
      i = sigs.push(key) - 1;
      types.push([0x60, ...vec(f.params.map((t) => [t])), 0]);
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
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...str('memory'), 0x02, 0], ...fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)])])),
    ...section(
      10,
      vec(
        fns.map((f) => {
          const code = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.body, 0x0b];
          return [...uleb(code.length), ...code];
        }),
      ),
    ),
  ]);
}
