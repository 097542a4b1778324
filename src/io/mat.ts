// size: reader and writer of one format, sharing its element tags, padding and class rules
/**
 * MATLAB Level-5 MAT-file reader and writer (the format of `save -v7` / scipy.io.savemat), written from the
 * published "MAT-File Format" description:
 *   - 128-byte header: 116 bytes of text, 8 bytes subsystem offset, version 0x0100, endian mark "IM"/"MI";
 *   - a sequence of data elements, each an 8-byte tag (type u32, byte count u32) + data padded to 8 bytes,
 *     or the 4+4 "small data element" form (byte count in the tag's upper 16 bits, ≤ 4 bytes of data);
 *   - miCOMPRESSED elements hold a zlib stream that inflates to another data element (never padded);
 *   - miMATRIX: array flags (class, complex/logical bits), dimensions (int32), name (int8), real part
 *     (any numeric storage type, e.g. MATLAB stores integer-valued doubles as miUINT8), optional imaginary part.
 * Data is column-major; we return row-major {@link NdArray}s. v7.3 files are HDF5 and are rejected by name.
 *
 * Only numeric and char matrices are decoded; cells, structs, objects and sparse matrices are reported as
 * `unsupported` entries (so a file with an extra variable still loads) and reading them as numbers fails
 * with a message naming the variable.
 */
import { inflateSync } from 'node:zlib';
import { Unzlib, zlibSync } from 'fflate';
import { DataFormatError } from './errors.js';
import {
  allocate,
  cToFortran,
  decodeElements,
  fortranToC,
  shapeSize,
  toBytes,
  type NdArray,
  type NumericArray,
  type NumericDType,
} from './ndarray.js';

// Data types (miXXX).
const miINT8 = 1;
const miUINT8 = 2;
const miINT16 = 3;
const miUINT16 = 4;
const miINT32 = 5;
const miUINT32 = 6;
const miSINGLE = 7;
const miDOUBLE = 9;
const miINT64 = 12;
const miUINT64 = 13;
const miMATRIX = 14;
const miCOMPRESSED = 15;
const miUTF8 = 16;
const miUTF16 = 17;
const miUTF32 = 18;

const MI_DTYPE: Record<number, NumericDType> = {
  [miINT8]: 'int8',
  [miUINT8]: 'uint8',
  [miINT16]: 'int16',
  [miUINT16]: 'uint16',
  [miINT32]: 'int32',
  [miUINT32]: 'uint32',
  [miSINGLE]: 'float32',
  [miDOUBLE]: 'float64',
  [miINT64]: 'int64',
  [miUINT64]: 'uint64',
};
const DTYPE_MI: Record<Exclude<NumericDType, 'bool'>, number> = {
  int8: miINT8,
  uint8: miUINT8,
  int16: miINT16,
  uint16: miUINT16,
  int32: miINT32,
  uint32: miUINT32,
  float32: miSINGLE,
  float64: miDOUBLE,
  int64: miINT64,
  uint64: miUINT64,
};

// Array classes (mxXXX_CLASS).
const mxCELL = 1;
const mxSTRUCT = 2;
const mxOBJECT = 3;
const mxCHAR = 4;
const mxSPARSE = 5;
const MX_DTYPE: Record<number, Exclude<NumericDType, 'bool'>> = {
  6: 'float64',
  7: 'float32',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};
const DTYPE_MX: Record<Exclude<NumericDType, 'bool'>, number> = {
  float64: 6,
  float32: 7,
  int8: 8,
  uint8: 9,
  int16: 10,
  uint16: 11,
  int32: 12,
  uint32: 13,
  int64: 14,
  uint64: 15,
};
const MX_NAME: Record<number, string> = { [mxCELL]: 'cell', [mxSTRUCT]: 'struct', [mxOBJECT]: 'object', [mxSPARSE]: 'sparse' };

const FLAG_COMPLEX = 0x08;
const FLAG_LOGICAL = 0x02;

export type MatVariable =
  | { kind: 'numeric'; name: string; array: NdArray; imag?: NumericArray; logical: boolean }
  | { kind: 'char'; name: string; shape: number[]; text: string }
  | { kind: 'unsupported'; name: string; className: string };

export interface MatFile {
  header: string;
  /** Decoded variables in file order. Names starting with "__" never appear here (scipy adds those only on load). */
  variables: Map<string, MatVariable>;
  /** Every variable name in the file, including those skipped by `only`. */
  names: string[];
}

export interface ReadMatOptions {
  /** File name for error messages. */
  file?: string;
  /**
   * Decode only variables whose name passes this filter (others are skipped without decoding their data;
   * compressed ones are inflated only far enough to read the name).
   */
  only?: (name: string) => boolean;
  /**
   * Largest inflated size of one miCOMPRESSED element (default {@link MAT_MAX_INFLATED_ELEMENT}). A larger
   * declared size is refused before inflating, and a stream is never inflated past the size its tag declares.
   */
  maxInflatedBytes?: number;
  /** Largest total of inflated bytes in one file (default {@link MAT_MAX_INFLATED_FILE}). */
  maxTotalInflatedBytes?: number;
}

/**
 * Default inflation limits: 256 MiB per variable, 1 GiB per file. The largest SEED-family variables are raw
 * trials, 62 channels × ~4 min at 200 Hz in float64 ≈ 24 MB; a whole SEED-IV eeg_raw_data file ≈ 600 MB.
 * A zlib stream can inflate ~1000-fold, so without limits a small file could claim gigabytes of memory.
 */
export const MAT_MAX_INFLATED_ELEMENT = 256 * 2 ** 20;
export const MAT_MAX_INFLATED_FILE = 2 ** 30;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 0)} MiB`;

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

function fail(msg: string, opts: ReadMatOptions, key?: string): never {
  throw new DataFormatError(msg, opts.file, key);
}

/** Parse a MAT v5/v7 file from memory. Malformed input only ever throws DataFormatError. */
export function readMat(bytes: Uint8Array, opts: ReadMatOptions = {}): MatFile {
  try {
    return readMatUnchecked(bytes, opts);
  } catch (err) {
    if (err instanceof DataFormatError) throw err;
    fail(`corrupt MAT-file (${err instanceof Error ? err.message : String(err)})`, opts);
  }
}

function readMatUnchecked(bytes: Uint8Array, opts: ReadMatOptions): MatFile {
  if (bytes.length >= 520 && HDF5_SIGNATURE.every((b, i) => bytes[512 + i] === b)) {
    fail('MATLAB v7.3 (HDF5) MAT-file: not supported; re-save it in MATLAB with save(..., "-v7") or use scipy.io.savemat', opts);
  }
  if (bytes.length < 128) fail(`truncated: ${bytes.length} bytes, a MAT v5 header alone is 128`, opts);
  const header = new TextDecoder('latin1').decode(bytes.subarray(0, 116)).replace(/[\s\0]+$/, '');
  if (/^MATLAB 7\.3/.test(header)) {
    fail('MATLAB v7.3 (HDF5) MAT-file: not supported; re-save it with save(..., "-v7") or scipy.io.savemat', opts);
  }
  const e0 = bytes[126]!;
  const e1 = bytes[127]!;
  let le: boolean;
  if (e0 === 0x49 && e1 === 0x4d)
    le = true; // "IM"
  else if (e0 === 0x4d && e1 === 0x49)
    le = false; // "MI"
  else {
    // Level-4 files have no text header; anything else is not a MAT file at all.
    fail(`not a MATLAB Level-5 MAT-file (no "MI"/"IM" endian mark at byte 126; v4 MAT-files are not supported)`, opts);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(124, le);
  if (version === 0x0200) fail('MATLAB v7.3 (HDF5) MAT-file: not supported', opts);
  if (version !== 0x0100) fail(`unknown MAT-file version 0x${version.toString(16)} in header`, opts);

  const variables = new Map<string, MatVariable>();
  const names: string[] = [];
  const seen = (name: string) => {
    if (names.includes(name)) fail(`variable "${name}" appears twice`, opts, name);
    names.push(name);
  };
  const budget = { element: opts.maxInflatedBytes ?? MAT_MAX_INFLATED_ELEMENT, left: opts.maxTotalInflatedBytes ?? MAT_MAX_INFLATED_FILE };
  let pos = 128;
  let index = 0;
  while (pos < bytes.length) {
    // Trailing zero padding after the last element is tolerated (some writers pad the file).
    if (bytes.length - pos < 8) {
      if (bytes.subarray(pos).every((b) => b === 0)) break;
      fail(`truncated data element tag at byte ${pos}`, opts);
    }
    const type = dv.getUint32(pos, le);
    const nbytes = dv.getUint32(pos + 4, le);
    const where = `element #${index} at byte ${pos}`;
    if (type === 0 && nbytes === 0 && bytes.subarray(pos).every((b) => b === 0)) break;
    if (pos + 8 + nbytes > bytes.length) {
      fail(`truncated: ${where} declares ${nbytes} bytes but only ${bytes.length - pos - 8} remain`, opts);
    }
    const body = bytes.subarray(pos + 8, pos + 8 + nbytes);
    let v: MatVariable | null;
    if (type === miCOMPRESSED) {
      v = readCompressed(body, le, opts, where, seen, budget);
      pos += 8 + nbytes; // compressed elements are not padded
    } else if (type === miMATRIX) {
      v = parseMatrix(body, le, opts, where, seen);
      pos += 8 + pad8(nbytes);
    } else {
      fail(`${where}: top-level element of type ${type}, expected miMATRIX (14) or miCOMPRESSED (15)`, opts);
    }
    if (v) variables.set(v.name, v);
    index++;
  }
  return { header, variables, names };
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** What `inflateSync(…, { info: true })` returns (@types/node types the result as a plain Buffer). */
interface InflateInfo {
  buffer: Buffer;
  engine: { bytesWritten: number };
}

/**
 * Inflate one miCOMPRESSED element with Node's zlib rather than fflate: fflate's unzlibSync neither checks the
 * Adler-32 trailer nor reports where the stream ended, so a damaged element decoded to garbage numbers.
 * zlib verifies the trailer ("incorrect data check") and truncation ("unexpected end of file"); `info`
 * gives the bytes it consumed, which must be the whole element (scipy.io.loadmat requires the same).
 */
function inflate(body: Uint8Array, le: boolean, opts: ReadMatOptions, where: string, maxOutputLength: number, limitIs: string): Uint8Array {
  function damaged(why: string): never {
    // The variable name sits at the start of the stream, usually before the damage: name it when readable.
    const name = peekCompressedName(body, le);
    const key = name !== null && /^[A-Za-z]\w{0,62}$/.test(name) ? name : undefined;
    fail(`${where}: damaged miCOMPRESSED element (${why}); the file is corrupt or incompletely copied, get a fresh copy`, opts, key);
  }
  let out: InflateInfo;
  try {
    // maxOutputLength makes zlib stop as soon as the output passes the declared size (no inflating the rest).
    out = inflateSync(body, { info: true, maxOutputLength }) as unknown as InflateInfo;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE') {
      fail(
        `${where}: miCOMPRESSED element inflates to more than ${maxOutputLength} bytes (${limitIs}); refused without inflating the rest (a decompression bomb, or a damaged file)`,
        opts,
      );
    }
    if (e.code === 'Z_DATA_ERROR' && /incorrect data check/.test(e.message))
      damaged('Adler-32 checksum of the inflated data does not match the zlib trailer');
    if (e.code === 'Z_BUF_ERROR') damaged(`zlib stream truncated: no end marker within the element's ${body.length} bytes`);
    damaged(`corrupt zlib stream: ${e.message}`);
  }
  if (out.engine.bytesWritten !== body.length)
    damaged(`zlib stream ends after ${out.engine.bytesWritten} of the element's ${body.length} bytes`);
  return new Uint8Array(out.buffer.buffer, out.buffer.byteOffset, out.buffer.byteLength);
}

function readCompressed(
  body: Uint8Array,
  le: boolean,
  opts: ReadMatOptions,
  where: string,
  seen: (name: string) => void,
  budget: { element: number; left: number },
): MatVariable | null {
  if (opts.only) {
    const name = peekCompressedName(body, le);
    if (name !== null && !opts.only(name)) {
      seen(name);
      return null;
    }
  }
  // The inner tag (first 8 inflated bytes) declares the element's size: check it against the limits before
  // inflating, and inflate no further than it.
  let cap = Math.min(budget.element, budget.left);
  let limitIs = 'the limit of this reader';
  const head = inflatePrefixSafe(body, 8);
  if (head && head.length >= 8) {
    const hv = new DataView(head.buffer, head.byteOffset, 8);
    const type = hv.getUint32(0, le);
    if (type !== miMATRIX) fail(`${where}: compressed element holds type ${type}, expected miMATRIX (14)`, opts);
    const declared = 8 + pad8(hv.getUint32(4, le));
    const key = () => {
      const name = peekCompressedName(body, le);
      return name !== null && /^[A-Za-z]\w{0,62}$/.test(name) ? name : undefined;
    };
    if (declared > budget.element) {
      fail(
        `${where}: compressed variable declares ${declared} bytes (${mib(declared)}) inflated, more than the ${mib(budget.element)} this reader inflates per variable; refused before inflating (a decompression bomb, or a variable far larger than any SEED-family one)`,
        opts,
        key(),
      );
    }
    if (declared > budget.left) {
      fail(
        `${where}: inflating this variable (${mib(declared)}) would pass the ${mib(opts.maxTotalInflatedBytes ?? MAT_MAX_INFLATED_FILE)} this reader inflates per file; refused before inflating`,
        opts,
        key(),
      );
    }
    cap = declared;
    limitIs = 'the size its tag declares';
  }
  const inner = inflate(body, le, opts, where, cap, limitIs);
  budget.left -= inner.length;
  if (inner.length < 8) fail(`${where}: compressed element inflates to ${inner.length} bytes, less than a tag`, opts);
  const dv = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
  const type = dv.getUint32(0, le);
  const nbytes = dv.getUint32(4, le);
  if (type !== miMATRIX) fail(`${where}: compressed element holds type ${type}, expected miMATRIX (14)`, opts);
  if (8 + nbytes > inner.length) fail(`${where}: compressed miMATRIX declares ${nbytes} bytes, ${inner.length - 8} inflated`, opts);
  return parseMatrix(inner.subarray(8, 8 + nbytes), le, opts, where, seen);
}

/**
 * Inflate just the first bytes of a compressed element to learn the variable name, so `only` can skip the
 * big feature matrices a caller did not ask for. Returns null when the name cannot be read that way.
 */
function peekCompressedName(body: Uint8Array, le: boolean): string | null {
  try {
    // A zlib stream's first deflate block is usually large; inflating a prefix with the stream API gives
    // us the head of the output without inflating the whole variable.
    const head = inflatePrefix(body, 256);
    if (!head || head.length < 8 + 16 + 8) return null;
    const sub = readElementHeaders(head.subarray(8), le);
    return sub;
  } catch {
    return null;
  }
}

function inflatePrefixSafe(body: Uint8Array, want: number): Uint8Array | null {
  try {
    return inflatePrefix(body, want);
  } catch {
    return null; // damaged: the full inflate reports it
  }
}

function inflatePrefix(body: Uint8Array, want: number): Uint8Array | null {
  const chunks: Uint8Array[] = [];
  let have = 0;
  const u = new Unzlib((chunk) => {
    chunks.push(chunk);
    have += chunk.length;
  });
  // Feed the compressed data in small pieces until enough output has appeared.
  for (let off = 0; off < body.length && have < want; off += 512) {
    u.push(body.subarray(off, Math.min(body.length, off + 512)), off + 512 >= body.length);
  }
  if (have === 0) return null;
  const out = new Uint8Array(have);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Name of a miMATRIX whose body starts at `b` (flags, dims, name), or null if the bytes end first. */
function readElementHeaders(b: Uint8Array, le: boolean): string | null {
  let p = 0;
  for (let k = 0; k < 3; k++) {
    const t = readTag(b, p, le);
    if (!t || t.dataStart + t.nbytes > b.length) return null;
    if (k === 2) return new TextDecoder('latin1').decode(b.subarray(t.dataStart, t.dataStart + t.nbytes));
    p = t.next;
  }
  return null;
}

interface Tag {
  type: number;
  nbytes: number;
  dataStart: number;
  next: number;
}

function readTag(b: Uint8Array, p: number, le: boolean): Tag | null {
  if (p + 8 > b.length) return null;
  const dv = new DataView(b.buffer, b.byteOffset + p, 8);
  const first = dv.getUint32(0, le);
  const small = first >>> 16;
  if (small !== 0) {
    // Small data element: type in the low 16 bits, byte count in the high 16, data in the next 4 bytes.
    if (small > 4) return null;
    return { type: first & 0xffff, nbytes: small, dataStart: p + 4, next: p + 8 };
  }
  const nbytes = dv.getUint32(4, le);
  return { type: first, nbytes, dataStart: p + 8, next: p + 8 + pad8(nbytes) };
}

function parseMatrix(b: Uint8Array, le: boolean, opts: ReadMatOptions, where: string, seen: (name: string) => void): MatVariable | null {
  let p = 0;
  const sub = (what: string): Tag => {
    const t = readTag(b, p, le);
    if (!t) fail(`${where}: truncated miMATRIX (missing ${what} tag)`, opts);
    if (t.dataStart + t.nbytes > b.length) fail(`${where}: truncated miMATRIX (${what} declares ${t.nbytes} bytes)`, opts);
    p = t.next;
    return t;
  };
  // An empty miMATRIX (0 bytes) is how MATLAB writes an empty cell element; not a variable.
  if (b.length === 0) return null;
  const flagsTag = sub('array flags');
  if (flagsTag.type !== miUINT32 || flagsTag.nbytes !== 8)
    fail(`${where}: bad array-flags subelement (type ${flagsTag.type}, ${flagsTag.nbytes} bytes)`, opts);
  const fdv = new DataView(b.buffer, b.byteOffset + flagsTag.dataStart, 8);
  const flagWord = fdv.getUint32(0, le);
  const mxClass = flagWord & 0xff;
  const flags = (flagWord >>> 8) & 0xff;
  const dimsTag = sub('dimensions');
  if (dimsTag.type !== miINT32 || dimsTag.nbytes % 4 !== 0 || dimsTag.nbytes < 8) {
    fail(`${where}: bad dimensions subelement (type ${dimsTag.type}, ${dimsTag.nbytes} bytes)`, opts);
  }
  const dims = Array.from(decodeElements(b, dimsTag.dataStart, dimsTag.nbytes / 4, 'int32', le));
  if (dims.some((d) => d < 0)) fail(`${where}: negative dimension in [${dims.join(', ')}]`, opts);
  const nameTag = sub('array name');
  if (nameTag.type !== miINT8 && nameTag.type !== miUINT8) fail(`${where}: array-name subelement has type ${nameTag.type}`, opts);
  const name = new TextDecoder('latin1').decode(b.subarray(nameTag.dataStart, nameTag.dataStart + nameTag.nbytes));
  seen(name);
  if (opts.only && !opts.only(name)) return null;

  const unsupported = MX_NAME[mxClass];
  if (unsupported) return { kind: 'unsupported', name, className: unsupported };
  const n = shapeSize(dims);
  if (mxClass === mxCHAR) {
    const t = sub('character data');
    let codes: ArrayLike<number>;
    if (t.type === miUTF8)
      codes = Array.from(new TextDecoder('utf-8').decode(b.subarray(t.dataStart, t.dataStart + t.nbytes))).map((c) => c.codePointAt(0)!);
    else if (t.type === miUTF16) codes = decodeElements(b, t.dataStart, t.nbytes / 2, 'uint16', le);
    else if (t.type === miUTF32) codes = decodeElements(b, t.dataStart, t.nbytes / 4, 'uint32', le);
    else {
      const dt = MI_DTYPE[t.type];
      if (!dt || dt === 'float32' || dt === 'float64' || dt === 'int64' || dt === 'uint64')
        fail(`${where}: char array stored as type ${t.type}`, opts, name);
      codes = decodeElements(b, t.dataStart, t.nbytes / bytesOf(t.type), dt, le) as ArrayLike<number>;
    }
    if (codes.length !== n) fail(`${where}: char data has ${codes.length} characters, dimensions need ${n}`, opts, name);
    // Column-major char matrix: rows are strings. Rebuild them row by row.
    const rows = dims[0] ?? 0;
    const cols = rows ? n / rows : 0;
    const lines: string[] = [];
    for (let r = 0; r < rows; r++) {
      let s = '';
      for (let c = 0; c < cols; c++) s += String.fromCodePoint(codes[c * rows + r] ?? 32);
      lines.push(s);
    }
    return { kind: 'char', name, shape: dims, text: lines.join('\n') };
  }
  const dtype = MX_DTYPE[mxClass];
  if (!dtype) fail(`${where}: unknown array class ${mxClass}`, opts, name);
  const real = readNumeric(b, sub('real part'), dtype, n, le, opts, where, name);
  let imag: NumericArray | undefined;
  if (flags & FLAG_COMPLEX) imag = fortranToC(readNumeric(b, sub('imaginary part'), dtype, n, le, opts, where, name), dims);
  const logical = (flags & FLAG_LOGICAL) !== 0;
  return {
    kind: 'numeric',
    name,
    array: { dtype: logical ? 'bool' : dtype, shape: dims, data: fortranToC(real, dims) },
    ...(imag ? { imag } : {}),
    logical,
  };
}

function bytesOf(miType: number): number {
  const dt = MI_DTYPE[miType];
  if (!dt) return 1;
  return { float64: 8, float32: 4, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1 }[dt];
}

/** Decode a real/imag subelement stored as any numeric type into the array class's own type. */
function readNumeric(
  b: Uint8Array,
  t: Tag,
  dtype: Exclude<NumericDType, 'bool'>,
  n: number,
  le: boolean,
  opts: ReadMatOptions,
  where: string,
  name: string,
): NumericArray {
  const storage = MI_DTYPE[t.type];
  if (!storage) fail(`${where}: numeric data stored as unknown type ${t.type}`, opts, name);
  const size = bytesOf(t.type);
  if (t.nbytes !== n * size) fail(`${where}: data has ${t.nbytes} bytes, dimensions need ${n} × ${size}`, opts, name);
  const raw = decodeElements(b, t.dataStart, n, storage, le);
  if (storage === dtype) return raw;
  const out = allocate(dtype, n);
  const big = dtype === 'int64' || dtype === 'uint64';
  for (let i = 0; i < n; i++) {
    const v = raw[i]!;
    (out as unknown as (number | bigint)[])[i] = big ? BigInt(typeof v === 'bigint' ? v : Math.trunc(v)) : Number(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Writer

export interface MatWriteOptions {
  /** Wrap each variable in a zlib-compressed miCOMPRESSED element (as MATLAB -v7 and savemat(do_compression=True)). */
  compress?: boolean;
  /** Header text (at most 116 bytes). */
  header?: string;
}

export type MatWritable = NdArray | { kind: 'char'; text: string };

/** Write numeric arrays (row-major NdArrays; 1-D becomes a 1×n row like scipy) and single-row char arrays. */
export function writeMat(vars: Record<string, MatWritable> | Map<string, MatWritable>, opts: MatWriteOptions = {}): Uint8Array {
  const entries = vars instanceof Map ? [...vars.entries()] : Object.entries(vars);
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(128);
  const text = (opts.header ?? `MATLAB 5.0 MAT-file, written by cmcrd-edge, Created on: ${new Date().toUTCString()}`).slice(0, 116);
  for (let i = 0; i < 116; i++) head[i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0x20;
  // Bytes 116..123: subsystem data offset, all zeros ("no subsystem data"), as scipy writes.
  head[124] = 0x00;
  head[125] = 0x01; // version 0x0100, little-endian
  head[126] = 0x49; // 'I'
  head[127] = 0x4d; // 'M'
  parts.push(head);
  for (const [name, v] of entries) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new DataFormatError(`invalid MATLAB variable name "${name}"`);
    const el = element(miMATRIX, matrixBody(name, v));
    if (opts.compress) parts.push(element(miCOMPRESSED, zlibSync(el), false));
    else parts.push(el);
  }
  return concat(parts);
}

function matrixBody(name: string, v: MatWritable): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  if ('kind' in v) {
    const codes = new Uint16Array(
      [...v.text].map((c) => {
        const cp = c.codePointAt(0)!;
        if (cp > 0xffff) throw new DataFormatError(`char variable "${name}": code point ${cp} does not fit UTF-16 storage`);
        return cp;
      }),
    );
    return concat([flagsElement(mxCHAR, 0), dimsElement([1, codes.length]), element(miINT8, nameBytes), element(miUINT16, toBytes(codes))]);
  }
  const shape = v.shape.length === 0 ? [1, 1] : v.shape.length === 1 ? [1, v.shape[0]!] : v.shape;
  if (shapeSize(shape) !== v.data.length)
    throw new DataFormatError(`variable "${name}": shape [${v.shape.join(', ')}] does not match ${v.data.length} elements`);
  const logical = v.dtype === 'bool';
  const dtype: Exclude<NumericDType, 'bool'> = logical ? 'uint8' : (v.dtype as Exclude<NumericDType, 'bool'>);
  const col = cToFortran(v.data, shape);
  return concat([
    flagsElement(DTYPE_MX[dtype], logical ? FLAG_LOGICAL : 0),
    dimsElement(shape),
    element(miINT8, nameBytes),
    element(DTYPE_MI[dtype], toBytes(col)),
  ]);
}

function flagsElement(mxClass: number, flags: number): Uint8Array {
  const w = new Uint32Array([mxClass | (flags << 8), 0]);
  return element(miUINT32, toBytes(w));
}

function dimsElement(shape: readonly number[]): Uint8Array {
  return element(miINT32, toBytes(new Int32Array(shape)));
}

/** A data element; ≤ 4 bytes of data use the small-element form (as MATLAB and scipy do for short names). */
function element(type: number, data: Uint8Array, padded = true): Uint8Array {
  if (padded && data.length <= 4 && type !== miMATRIX && type !== miCOMPRESSED) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setUint32(0, ((data.length << 16) | type) >>> 0, true);
    out.set(data, 4);
    return out;
  }
  const len = padded ? pad8(data.length) : data.length;
  const out = new Uint8Array(8 + len);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, data.length, true);
  out.set(data, 8);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A numeric variable as float64 data + shape; errors name the file and variable when it is missing or not numeric. */
export function matNumeric(mat: MatFile, name: string, file?: string): NdArray {
  const v = mat.variables.get(name);
  if (!v)
    throw new DataFormatError(
      `variable not found (file has: ${mat.names.slice(0, 12).join(', ')}${mat.names.length > 12 ? ', …' : ''})`,
      file,
      name,
    );
  if (v.kind !== 'numeric')
    throw new DataFormatError(`expected a numeric matrix, found ${v.kind === 'char' ? 'a char array' : `a ${v.className}`}`, file, name);
  if (v.imag) throw new DataFormatError('expected a real matrix, found a complex one', file, name);
  return v.array;
}
