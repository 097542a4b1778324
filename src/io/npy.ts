/**
 * NumPy `.npy` (format versions 1.0, 2.0, 3.0) and `.npz` (a zip of .npy members) reading and writing.
 * Layout per numpy's format spec (NEP 1): magic "\x93NUMPY", major, minor, little-endian header length
 * (u16 for v1, u32 for v2/v3), then an ASCII Python dict literal {'descr', 'fortran_order', 'shape'} padded
 * with spaces and a newline, then the raw data.
 *
 * Besides numeric arrays we read fixed-width byte strings ('|S<n>'), because SEED-V's npz files store
 * pickled dicts as 0-d byte-string arrays (`np.savez(path, data=pickle.dumps(d))`).
 */
import { unzipSync, zipSync, type Zippable } from 'fflate';
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
  try {
    files = unzipSync(bytes);
  } catch (err) {
    throw new DataFormatError(`not a readable .npz (zip) archive: ${err instanceof Error ? err.message : String(err)}`, file);
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
