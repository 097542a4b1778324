/**
 * NumPy `.npy` (format versions 1.0, 2.0, 3.0) and `.npz` (a zip of .npy members) reading and writing.
 * Layout per numpy's format spec (NEP 1): magic "\x93NUMPY", major, minor, little-endian header length
 * (u16 for v1, u32 for v2/v3), then an ASCII Python dict literal {'descr', 'fortran_order', 'shape'} padded
 * with spaces and a newline, then the raw data.
 *
 * Besides numeric arrays we read fixed-width byte strings ('|S<n>'), because SEED-V's npz files store
 * pickled dicts as 0-d byte-string arrays (`np.savez(path, data=pickle.dumps(d))`).
 */
import { FlateErrorCode, strFromU8, unzipSync, zipSync, type FlateError, type Zippable } from 'fflate';
import { DataFormatError } from './errors.js';
import { DTYPE_BYTES, decodeElements, fortranToC, shapeSize, toBytes, type NdArray, type NumericDType } from './ndarray.js';

/** A fixed-width byte-string array ('S' dtype). numpy strips trailing NULs of each item when reading. */
export interface NpyBytesArray {
  dtype: 'bytes';
  itemSize: number;
  shape: number[];
  /** One Uint8Array per element, trailing NULs removed (as numpy returns them). */
  items: Uint8Array[];
}

export type NpyArray = NdArray | NpyBytesArray;

const KIND_DTYPE: Record<string, NumericDType> = {
  f8: 'float64',
  f4: 'float32',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
  b1: 'bool',
};

/** Parse a numpy type string such as '<f8', '|u1', '>i4', '|S251'. */
export function parseDescr(descr: string): { dtype: NumericDType; littleEndian: boolean } | { dtype: 'bytes'; itemSize: number } {
  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) throw new DataFormatError(`unsupported dtype descr '${descr}' (structured or object arrays are not supported)`);
  const [, order, kind, sizeStr] = m as unknown as [string, string, string, string];
  if (kind === 'S') return { dtype: 'bytes', itemSize: Number(sizeStr) };
  const dtype = KIND_DTYPE[kind + sizeStr];
  if (!dtype) throw new DataFormatError(`unsupported dtype '${descr}'`);
  return { dtype, littleEndian: order !== '>' };
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parse one .npy file. */
export function readNpy(bytes: Uint8Array, file?: string): NpyArray {
  const bad = (msg: string): never => {
    throw new DataFormatError(msg, file);
  };
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) bad('not a .npy file (missing \\x93NUMPY magic)');
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) bad('truncated .npy header');
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    return bad(`unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (start + headerLen > bytes.length) bad(`truncated .npy header (declares ${headerLen} bytes)`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeStr === undefined) bad(`malformed .npy header: ${header.trim()}`);
  const shape = shapeStr!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!/^\d+L?$/.test(s)) bad(`malformed shape in .npy header: (${shapeStr})`);
      return parseInt(s, 10);
    });
  let parsed: ReturnType<typeof parseDescr>;
  try {
    parsed = parseDescr(descr!);
  } catch (err) {
    return bad((err as Error).message);
  }
  const n = shapeSize(shape);
  const dataStart = start + headerLen;
  if (parsed.dtype === 'bytes') {
    const size = parsed.itemSize;
    if (dataStart + n * size > bytes.length) bad(`truncated .npy data: need ${n * size} bytes, have ${bytes.length - dataStart}`);
    const items: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      let end = size;
      const item = bytes.subarray(dataStart + i * size, dataStart + (i + 1) * size);
      while (end > 0 && item[end - 1] === 0) end--;
      items.push(item.slice(0, end));
    }
    return { dtype: 'bytes', itemSize: size, shape, items };
  }
  const need = n * DTYPE_BYTES[parsed.dtype];
  if (dataStart + need > bytes.length) bad(`truncated .npy data: need ${need} bytes, have ${bytes.length - dataStart}`);
  let data = decodeElements(bytes, dataStart, n, parsed.dtype, parsed.littleEndian);
  if (fortran === 'True') data = fortranToC(data, shape);
  return { dtype: parsed.dtype, shape, data };
}

const DTYPE_DESCR: Record<NumericDType, string> = {
  float64: '<f8',
  float32: '<f4',
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
  bool: '|b1',
};

/** Serialise a numeric array or byte strings as .npy v1.0 (C order), like numpy.save. */
export function writeNpy(a: NpyArray): Uint8Array {
  const descr = a.dtype === 'bytes' ? `|S${a.itemSize}` : DTYPE_DESCR[a.dtype];
  const shapeTxt = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeTxt}, }`;
  // numpy pads so that magic + len + header is a multiple of 64 bytes, ending in '\n'.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  let body: Uint8Array;
  if (a.dtype === 'bytes') {
    body = new Uint8Array(a.items.length * a.itemSize);
    a.items.forEach((it, i) => {
      if (it.length > a.itemSize) throw new DataFormatError(`byte string of ${it.length} bytes exceeds item size ${a.itemSize}`);
      body.set(it, i * a.itemSize);
    });
  } else {
    if (shapeSize(a.shape) !== a.data.length) throw new DataFormatError(`shape [${a.shape.join(', ')}] does not match ${a.data.length} elements`);
    body = toBytes(a.data);
  }
  const out = new Uint8Array(10 + header.length + body.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(body, 10 + header.length);
  return out;
}

/** Read every member of an .npz archive; keys are the member names without ".npy". */
export function readNpz(bytes: Uint8Array, file?: string): Map<string, NpyArray> {
  let files: Record<string, Uint8Array>;
  // unzipSync inflates entries in central-directory order and offers no per-entry error; the filter hook
  // runs just before each entry, so it tells us which one a corrupt deflate stream belongs to.
  let current: string | undefined;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        current = f.name;
        return true;
      },
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const code = (err as Partial<FlateError>).code;
    const inflating = code === FlateErrorCode.UnexpectedEOF || code === FlateErrorCode.InvalidBlockType || code === FlateErrorCode.InvalidLengthLiteral || code === FlateErrorCode.InvalidDistance;
    if (inflating && current !== undefined) {
      throw new DataFormatError(`damaged .npz: entry cannot be decompressed (${why}); the file is corrupt or incompletely copied`, file, current);
    }
    throw new DataFormatError(`not a readable .npz (zip) archive: ${why}`, file);
  }
  // fflate does not check CRC-32s: compare each entry with the value in the zip's central directory, so a
  // damaged archive fails here instead of yielding arrays of wrong numbers.
  const crcs = centralDirectoryCrcs(bytes, file);
  for (const [name, data] of Object.entries(files)) {
    const expected = crcs.get(name);
    if (expected === undefined) throw new DataFormatError('entry missing from the zip central directory', file, name);
    const got = crc32(data);
    if (got !== expected) {
      throw new DataFormatError(
        `damaged .npz: CRC-32 of the extracted entry is ${hex32(got)}, the zip directory records ${hex32(expected)}; the file is corrupt or incompletely copied`,
        file,
        name,
      );
    }
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(files)) {
    if (!name.endsWith('.npy')) continue;
    const key = name.slice(0, -4);
    try {
      out.set(key, readNpy(data));
    } catch (err) {
      throw new DataFormatError(err instanceof Error ? err.message : String(err), file, `${key}.npy`);
    }
  }
  return out;
}

const hex32 = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

/**
 * Entry name → CRC-32 from the zip central directory (APPNOTE 4.3.12). The CRC field is 32-bit even in
 * zip64 archives; only the directory's offset and count move to the zip64 end record. Names are decoded as
 * fflate decodes them (UTF-8 when general-purpose bit 11 is set, else Latin-1) so the keys match unzipSync's.
 */
function centralDirectoryCrcs(b: Uint8Array, file?: string): Map<string, number> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const bad = (msg: string): never => {
    throw new DataFormatError(`damaged .npz: ${msg}`, file);
  };
  let eocd = b.length - 22;
  while (eocd >= 0 && dv.getUint32(eocd, true) !== 0x06054b50) eocd--;
  if (eocd < 0) bad('no zip end-of-central-directory record');
  let count = dv.getUint16(eocd + 10, true);
  let at = dv.getUint32(eocd + 16, true);
  // zip64: a locator 20 bytes before the end record points at the zip64 end record.
  if (eocd >= 20 && dv.getUint32(eocd - 20, true) === 0x07064b50) {
    const z = Number(dv.getBigUint64(eocd - 12, true));
    if (z + 56 > b.length || dv.getUint32(z, true) !== 0x06064b50) bad('zip64 end record not found where its locator points');
    count = Number(dv.getBigUint64(z + 32, true));
    at = Number(dv.getBigUint64(z + 48, true));
  }
  const out = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    if (at + 46 > b.length || dv.getUint32(at, true) !== 0x02014b50) bad(`central directory entry #${i} not found at byte ${at}`);
    const flags = dv.getUint16(at + 8, true);
    const nameLen = dv.getUint16(at + 28, true);
    const name = strFromU8(b.subarray(at + 46, at + 46 + nameLen), !(flags & 0x800));
    out.set(name, dv.getUint32(at + 16, true));
    at += 46 + nameLen + dv.getUint16(at + 30, true) + dv.getUint16(at + 32, true);
  }
  return out;
}

// CRC-32 (IEEE 802.3, as zip uses). fflate computes it internally but does not export it, and Node's
// zlib.crc32 only exists from Node 20.15 / 22.2 while the package supports every Node >= 20.
let CRC_TABLE: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Write an .npz archive (np.savez when `compress` is false, np.savez_compressed when true). */
export function writeNpz(members: Record<string, NpyArray>, opts: { compress?: boolean } = {}): Uint8Array {
  const z: Zippable = {};
  for (const [k, v] of Object.entries(members)) z[`${k}.npy`] = [writeNpy(v), { level: opts.compress ? 6 : 0 }];
  return zipSync(z);
}

/** The raw bytes of a 0-d byte-string member (how np.savez stores a Python `bytes` value). */
export function npzBytesMember(members: Map<string, NpyArray>, key: string, file?: string): Uint8Array {
  const m = members.get(key);
  if (!m) throw new DataFormatError(`member '${key}.npy' not found (archive has: ${[...members.keys()].join(', ') || 'nothing'})`, file, key);
  if (m.dtype !== 'bytes' || m.items.length !== 1) {
    throw new DataFormatError(`expected a 0-d bytes array holding a pickle, found dtype ${m.dtype} shape (${m.shape.join(', ')})`, file, key);
  }
  return m.items[0]!;
}
