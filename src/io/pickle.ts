// size: one interpreter over a fixed opcode whitelist; split up, the whitelist would no longer be readable in one place
/**
 * A deliberately small Python pickle decoder (protocols 2–5) for data: None/bool/int/float/str/bytes,
 * lists, tuples, dicts, and numpy arrays / scalars in the forms numpy actually writes:
 *   - protocols 2–4: numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD with
 *     (version, shape, dtype, is_fortran, raw bytes); protocol 2 wraps the raw bytes as
 *     _codecs.encode(latin-1 str, 'latin1');
 *   - protocol 5: numpy.core.numeric._frombuffer(bytearray, dtype, shape, order);
 *   - dtypes: numpy.dtype('f8', False, True) + BUILD (3, '<', None, None, None, -1, -1, 0);
 *   - scalars: numpy.core.multiarray.scalar(dtype, raw bytes);
 *   - numpy ≥ 2 spells the modules numpy._core.*; both are accepted.
 * It is an interpreter for a fixed whitelist: any other opcode or global is an error, so a pickle can never
 * make us call arbitrary code (Python's own unpickler would).
 */
import { DataFormatError } from './errors.js';
import { decodeElements, fortranToC, shapeSize, DTYPE_BYTES, type NdArray, type NumericDType } from './ndarray.js';
import { parseDescr } from './npy.js';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export type PyKey = number | bigint | string | boolean | null;
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | Map<PyKey, PyValue> | NdArray;

// Intermediate objects that only live on the stack while numpy objects are being rebuilt.
class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}
class DType {
  byteorder = '=';
  constructor(readonly descr: string) {}
}
class PendingArray {}
class Mark {}
type Item = PyValue | Global | DType | PendingArray | Mark;

const RECONSTRUCT = new Set(['numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct']);
const SCALAR = new Set(['numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar']);
const FROMBUFFER = new Set(['numpy.core.numeric._frombuffer', 'numpy._core.numeric._frombuffer']);
const ALLOWED_GLOBALS = new Set([...RECONSTRUCT, ...SCALAR, ...FROMBUFFER, 'numpy.ndarray', 'numpy.dtype', '_codecs.encode']);

export interface UnpickleOptions {
  file?: string;
  key?: string;
}

/** Decode a pickle. Throws DataFormatError (naming file/key and byte offset) on anything outside the whitelist. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): PyValue {
  try {
    return unpickleUnchecked(bytes, opts);
  } catch (err) {
    if (err instanceof DataFormatError) throw err;
    // e.g. invalid UTF-8 in a string opcode
    throw new DataFormatError(`pickle: corrupt data (${err instanceof Error ? err.message : String(err)})`, opts.file, opts.key);
  }
}

function unpickleUnchecked(bytes: Uint8Array, opts: UnpickleOptions): PyValue {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const stack: Item[] = [];
  const memo = new Map<number, Item>();
  // Memo keys holding a not-yet-built object (ndarray, dtype), so BUILD updates them without scanning the whole
  // memo: a scan per BUILD is quadratic, and a pickle of many small arrays and memo entries would take hours.
  const pendingKeys = new Map<Item, number[]>();
  const remember = (k: number, it: Item) => {
    memo.set(k, it);
    if (it instanceof PendingArray || it instanceof DType) {
      const list = pendingKeys.get(it);
      if (list) list.push(k);
      else pendingKeys.set(it, [k]);
    }
  };
  const fail = (msg: string): never => {
    throw new DataFormatError(`pickle: ${msg} (at byte ${pos})`, opts.file, opts.key);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`truncated: need ${n} more bytes`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), dv.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the data`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const utf8 = (n: number) => new TextDecoder('utf-8', { fatal: true }).decode(take(n));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  // The top of the stack (None is null, so `stack[n - 1] ?? fail()` would refuse it).
  const top = (what: string): Item => (stack.length ? stack[stack.length - 1]! : fail(`${what} on empty stack`));
  const pop = (): Item => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop()!;
  };
  const popMark = (): Item[] => {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i] instanceof Mark) {
        const items = stack.splice(i);
        items.shift();
        return items;
      }
    }
    return fail('MARK not found');
  };
  const value = (it: Item, what: string): PyValue => {
    if (it instanceof Global || it instanceof DType || it instanceof PendingArray || it instanceof Mark) {
      return fail(`${what}: unexpected ${it.constructor.name} object`);
    }
    return it;
  };
  const key = (it: Item): PyKey => {
    if (it === null || typeof it === 'number' || typeof it === 'bigint' || typeof it === 'string' || typeof it === 'boolean') return it;
    return fail(`unsupported dict key type (${describe(it)})`);
  };
  const setItems = (dict: Item, kv: Item[]) => {
    if (!(dict instanceof Map)) fail('SETITEM(S) on a non-dict');
    if (kv.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) (dict as Map<PyKey, PyValue>).set(key(kv[i]!), value(kv[i + 1]!, 'dict value'));
  };
  const int = (n: bigint): number | bigint =>
    n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  const longLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    // Through a hex string: shifting a growing BigInt byte by byte is quadratic (a 1-MB LONG4 would take hours).
    let hex = '';
    for (let i = b.length - 1; i >= 0; i--) hex += b[i]!.toString(16).padStart(2, '0');
    let v = BigInt(`0x${hex}`);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return int(v);
  };

  const callGlobal = (fn: Global, argsItem: Item): Item => {
    if (!(argsItem instanceof PyTuple)) return fail(`REDUCE arguments for ${fn.full} are not a tuple`);
    const args = argsItem.items;
    const f = fn.full;
    if (f === 'numpy.dtype') {
      if (typeof args[0] !== 'string') fail('numpy.dtype(...) without a type string');
      return new DType(args[0] as string);
    }
    if (RECONSTRUCT.has(f)) {
      const cls = args[0];
      if (!(cls instanceof Global) || cls.full !== 'numpy.ndarray')
        fail(`_reconstruct of ${describe(cls)}, only numpy.ndarray is supported`);
      return new PendingArray();
    }
    if (f === '_codecs.encode') {
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1'))
        fail(`_codecs.encode only supports (str, 'latin1'), got ${describe(enc as Item)}`);
      const out = new Uint8Array((s as string).length);
      for (let i = 0; i < out.length; i++) {
        const c = (s as string).charCodeAt(i);
        if (c > 255) fail('_codecs.encode: non-latin-1 character');
        out[i] = c;
      }
      return out;
    }
    if (SCALAR.has(f)) {
      const [dt, raw] = args as unknown as [Item, Item];
      if (!(dt instanceof DType) || !(raw instanceof Uint8Array)) return fail('numpy scalar(...) with unexpected arguments');
      const a = arrayFrom(dt, raw, [], false, fail);
      const v = a.data[0];
      return typeof v === 'bigint' ? int(v) : dt.descr === 'b1' ? Boolean(v) : (v as number);
    }
    if (FROMBUFFER.has(f)) {
      const [buf, dt, shape, order] = args as unknown as [Item, Item, Item, Item];
      if (!(buf instanceof Uint8Array) || !(dt instanceof DType) || !(shape instanceof PyTuple))
        return fail('_frombuffer(...) with unexpected arguments');
      return arrayFrom(dt, buf, shapeOf(shape, fail), order === 'F', fail);
    }
    return fail(`call of ${f} is not supported`);
  };

  const build = (obj: Item, state: Item): Item => {
    if (obj instanceof DType) {
      if (!(state instanceof PyTuple) || typeof state.items[1] !== 'string') fail('unexpected numpy dtype state');
      const items = (state as PyTuple).items;
      if (items[3] !== null && items[3] !== undefined) fail(`structured numpy dtype (fields) is not supported`);
      obj.byteorder = items[1] as string;
      return obj;
    }
    if (obj instanceof PendingArray) {
      if (!(state instanceof PyTuple) || state.items.length < 5) return fail('unexpected ndarray state');
      const [, shape, dt, fortran, raw] = state.items as unknown as [Item, Item, Item, Item, Item];
      if (!(shape instanceof PyTuple) || !(dt instanceof DType)) return fail('ndarray state without shape/dtype');
      if (Array.isArray(raw)) return fail('object arrays (dtype=object) are not supported');
      if (!(raw instanceof Uint8Array)) return fail('ndarray state without raw bytes');
      return arrayFrom(dt, raw, shapeOf(shape, fail), fortran === true, fail);
    }
    return fail(`BUILD on ${describe(obj)} is not supported`);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol > 5');
        break;
      case 0x95: // FRAME: framing is transparent to a reader that has the whole buffer
        u64();
        break;
      case 0x2e: {
        // STOP
        const result = pop();
        return value(result, 'result');
      }
      case 0x28: // MARK
        stack.push(new Mark());
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top('DUP'));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(longLE(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(longLE(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: // BINSTRING (Python 2 str): treat as latin-1 text
        stack.push(new TextDecoder('latin1').decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map<PyKey, PyValue>());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()] as PyValue[]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b] as PyValue[]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c] as PyValue[]));
        break;
      }
      case 0x74: // TUPLE
        // Tuples may hold Globals (e.g. _reconstruct's ndarray class) and dtypes; keep the items as they are.
        stack.push(new PyTuple(popMark() as PyValue[]));
        break;
      case 0x61: {
        // APPEND
        const v = value(pop(), 'list item');
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) fail('APPEND on a non-list');
        (list as PyValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark().map((x) => value(x, 'list item'));
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) fail('APPENDS on a non-list');
        for (const it of items) (list as PyValue[]).push(it); // not push(...items): a long run overflows the call stack
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(stack[stack.length - 1] ?? null, [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(stack[stack.length - 1] ?? null, kv);
        break;
      }
      case 0x71: // BINPUT
        remember(u8(), top('BINPUT'));
        break;
      case 0x72: // LONG_BINPUT
        remember(u32(), top('LONG_BINPUT'));
        break;
      case 0x94: // MEMOIZE
        remember(memo.size, top('MEMOIZE'));
        break;
      case 0x68: {
        // BINGET
        const i = u8();
        if (!memo.has(i)) fail(`BINGET of unknown memo ${i}`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x6a: {
        // LONG_BINGET
        const i = u32();
        if (!memo.has(i)) fail(`LONG_BINGET of unknown memo ${i}`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const g = new Global(line(), line());
        if (!ALLOWED_GLOBALS.has(g.full)) fail(`global ${g.full} is not allowed (only numpy arrays/dtypes/scalars are decoded)`);
        stack.push(g);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const mod = pop();
        if (typeof mod !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        const g = new Global(mod as string, name as string);
        if (!ALLOWED_GLOBALS.has(g.full)) fail(`global ${g.full} is not allowed (only numpy arrays/dtypes/scalars are decoded)`);
        stack.push(g);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof Global)) fail(`REDUCE on ${describe(fn)}`);
        stack.push(callGlobal(fn as Global, args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = pop();
        const built = build(obj, state);
        stack.push(built);
        // Memo entries that referred to the pending object must see the built value (numpy arrays are
        // memoised before BUILD and may be referenced again by BINGET).
        if (built !== obj) {
          for (const k of pendingKeys.get(obj) ?? []) if (memo.get(k) === obj) memo.set(k, built);
          pendingKeys.delete(obj);
        }
        break;
      }
      default:
        return fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

function describe(it: unknown): string {
  if (it === null) return 'None';
  if (it instanceof Global) return `global ${it.full}`;
  if (it instanceof PyTuple) return 'tuple';
  if (it instanceof Map) return 'dict';
  if (Array.isArray(it)) return 'list';
  if (it instanceof Uint8Array) return 'bytes';
  if (typeof it === 'object') return (it as object).constructor?.name ?? 'object';
  return typeof it;
}

function shapeOf(t: PyTuple, fail: (m: string) => never): number[] {
  return t.items.map((d) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) fail('ndarray shape must hold non-negative ints');
    return d as number;
  });
}

function arrayFrom(dt: DType, raw: Uint8Array, shape: number[], fortran: boolean, fail: (m: string) => never): NdArray {
  let parsed: ReturnType<typeof parseDescr>;
  try {
    const order = dt.byteorder === '>' ? '>' : '<';
    parsed = parseDescr(/^[<>|=]/.test(dt.descr) ? dt.descr : order + dt.descr);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (parsed.dtype === 'bytes') return fail('byte-string numpy arrays inside a pickle are not supported');
  const n = shapeSize(shape);
  const size = DTYPE_BYTES[parsed.dtype as NumericDType];
  if (raw.length !== n * size) fail(`ndarray of shape (${shape.join(', ')}) needs ${n * size} bytes, pickle has ${raw.length}`);
  let data = decodeElements(raw, 0, n, parsed.dtype, parsed.littleEndian);
  if (fortran) data = fortranToC(data, shape);
  return { dtype: parsed.dtype, shape, data };
}

// ---------------------------------------------------------------------------------------------------------
// Writer: protocol-4 pickles of dicts (int/str keys) of numpy arrays, in the same form numpy itself writes,
// so Python's pickle.loads gives back real ndarrays.

const DESCR: Record<NumericDType, [string, string]> = {
  float64: ['f8', '<'],
  float32: ['f4', '<'],
  int8: ['i1', '|'],
  uint8: ['u1', '|'],
  int16: ['i2', '<'],
  uint16: ['u2', '<'],
  int32: ['i4', '<'],
  uint32: ['u4', '<'],
  int64: ['i8', '<'],
  uint64: ['u8', '<'],
  bool: ['b1', '|'],
};

class Out {
  private buf = new Uint8Array(1024);
  length = 0;
  private ensure(n: number) {
    if (this.length + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  byte(...bs: number[]) {
    this.ensure(bs.length);
    for (const b of bs) this.buf[this.length++] = b;
  }
  bytes(b: Uint8Array) {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u32(v: number) {
    this.byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  u64(v: number) {
    this.u32(v >>> 0);
    this.u32(Math.floor(v / 2 ** 32));
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function writeStr(o: Out, s: string) {
  const b = new TextEncoder().encode(s);
  if (b.length < 256) {
    o.byte(0x8c, b.length);
  } else {
    o.byte(0x58);
    o.u32(b.length);
  }
  o.bytes(b);
}

function writeInt(o: Out, v: number) {
  if (!Number.isInteger(v)) throw new DataFormatError(`pickle writer: ${v} is not an integer`);
  if (v >= 0 && v < 256) o.byte(0x4b, v);
  else if (v >= 0 && v < 65536) o.byte(0x4d, v & 0xff, v >> 8);
  else if (v >= -(2 ** 31) && v < 2 ** 31) {
    o.byte(0x4a);
    o.u32(v >>> 0);
  } else throw new DataFormatError(`pickle writer: integer ${v} out of 32-bit range`);
}

function writeBytes(o: Out, b: Uint8Array) {
  if (b.length < 256) o.byte(0x43, b.length);
  else if (b.length < 2 ** 32) {
    o.byte(0x42);
    o.u32(b.length);
  } else {
    o.byte(0x8e);
    o.u64(b.length);
  }
  o.bytes(b);
}

function writeArray(o: Out, a: NdArray) {
  const [kind, order] = DESCR[a.dtype];
  // numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')
  writeStr(o, 'numpy.core.multiarray');
  writeStr(o, '_reconstruct');
  o.byte(0x93);
  writeStr(o, 'numpy');
  writeStr(o, 'ndarray');
  o.byte(0x93);
  writeInt(o, 0);
  o.byte(0x85);
  writeBytes(o, new Uint8Array([0x62]));
  o.byte(0x87, 0x52);
  // state: (1, shape, dtype, False, raw)
  o.byte(0x28);
  writeInt(o, 1);
  o.byte(0x28);
  for (const d of a.shape) writeInt(o, d);
  o.byte(0x74);
  writeStr(o, 'numpy');
  writeStr(o, 'dtype');
  o.byte(0x93);
  writeStr(o, kind);
  o.byte(0x89, 0x88, 0x87, 0x52);
  o.byte(0x28);
  writeInt(o, 3);
  writeStr(o, order);
  o.byte(0x4e, 0x4e, 0x4e);
  o.byte(0x4a);
  o.u32(0xffffffff);
  o.byte(0x4a);
  o.u32(0xffffffff);
  writeInt(o, 0);
  o.byte(0x74, 0x62);
  o.byte(0x89);
  writeBytes(o, new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  o.byte(0x74, 0x62);
}

/** Pickle (protocol 4, unframed) a dict mapping int or str keys to numpy arrays. */
export function pickleDictOfArrays(dict: Map<number | string, NdArray>): Uint8Array {
  const o = new Out();
  o.byte(0x80, 4, 0x7d);
  if (dict.size) {
    o.byte(0x28);
    for (const [k, v] of dict) {
      if (typeof k === 'number') writeInt(o, k);
      else writeStr(o, k);
      if (shapeSize(v.shape) !== v.data.length) throw new DataFormatError(`pickle writer: key ${k}: shape does not match data`);
      writeArray(o, v);
    }
    o.byte(0x75);
  }
  o.byte(0x2e);
  return o.result();
}

/** Look up a dict member by int key, with an error naming the key. */
export function pyDictGet(d: PyValue, k: number, ctx: UnpickleOptions = {}): PyValue | undefined {
  if (!(d instanceof Map)) throw new DataFormatError(`expected a pickled dict, found ${describe(d)}`, ctx.file, ctx.key);
  return d.get(k);
}
