/**
 * NumPy `.npy` (format versions 1.0, 2.0, 3.0) and `.npz` (a zip of .npy members) reading and writing.
 * Layout per numpy's format spec (NEP 1): magic "\x93NUMPY", major, minor, little-endian header length
 * (u16 for v1, u32 for v2/v3), then an ASCII Python dict literal {'descr', 'fortran_order', 'shape'} padded
 * with spaces and a newline, then the raw data.
 *
 * Besides numeric arrays we read fixed-width byte strings ('|S<n>'), because SEED-V's npz files store
 * pickled dicts as 0-d byte-string arrays (`np.savez(path, data=pickle.dumps(d))`).
 */
import { Inflate, strFromU8, zipSync, type Zippable } from 'fflate';
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
    // numpy never stores zero-width strings ('S0' arrays are saved as 'S1'); with width 0 the element count is
    // not bounded by the file, and a header of shape (10**12,) would loop for hours.
    if (size === 0) bad(`byte-string dtype of width 0 ('|S0') with shape (${shape.join(', ')}): numpy does not write these`);
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
    if (shapeSize(a.shape) !== a.data.length)
      throw new DataFormatError(`shape [${a.shape.join(', ')}] does not match ${a.data.length} elements`);
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

export interface ReadNpzOptions {
  /** Largest declared (inflated) size of one entry (default {@link NPZ_MAX_ENTRY}). */
  maxEntryBytes?: number;
  /** Largest total declared size of all entries (default {@link NPZ_MAX_TOTAL}). */
  maxTotalBytes?: number;
}

/**
 * Default limits on what an archive may inflate to: 256 MiB per entry, 1 GiB per archive. A SEED-V feature
 * file holds ~10 MB; a deflate stream can inflate ~1000-fold, so a few hundred KB could otherwise claim gigabytes.
 */
export const NPZ_MAX_ENTRY = 256 * 2 ** 20;
export const NPZ_MAX_TOTAL = 2 ** 30;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 0)} MiB`;

/**
 * Read every member of an .npz archive; keys are the member names without ".npy".
 *
 * Entries are extracted from the zip central directory here rather than with fflate's unzipSync, which
 * allocates whatever size the directory declares and inflates a stream to its end even past that size: every
 * declared size is checked against the limits before anything is inflated, and an entry's stream is fed to the
 * inflater in small pieces and dropped as soon as its output passes the declared size (a zip bomb is refused
 * after at most that many bytes, in time proportional to them).
 */
export function readNpz(bytes: Uint8Array, file?: string, opts: ReadNpzOptions = {}): Map<string, NpyArray> {
  const maxEntry = opts.maxEntryBytes ?? NPZ_MAX_ENTRY;
  const maxTotal = opts.maxTotalBytes ?? NPZ_MAX_TOTAL;
  const entries = centralDirectory(bytes, file);
  const seen = new Set<string>();
  let total = 0;
  for (const e of entries) {
    if (seen.has(e.name)) throw new DataFormatError('damaged .npz: the zip directory lists this entry twice', file, e.name);
    seen.add(e.name);
    if (e.size > maxEntry) {
      throw new DataFormatError(
        `entry declares ${e.size} bytes (${mib(e.size)}) inflated, more than the ${mib(maxEntry)} this reader extracts per entry; refused before inflating (a zip bomb, or an array far larger than any SEED-V one)`,
        file,
        e.name,
      );
    }
    total += e.size;
    if (total > maxTotal)
      throw new DataFormatError(
        `the entries declare ${total} bytes or more inflated, more than the ${mib(maxTotal)} this reader extracts per archive; refused before inflating`,
        file,
        e.name,
      );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, NpyArray>();
  for (const e of entries) {
    const damaged = (why: string): never => {
      throw new DataFormatError(
        `damaged .npz: entry cannot be decompressed (${why}); the file is corrupt or incompletely copied`,
        file,
        e.name,
      );
    };
    if (e.offset + 30 > bytes.length || dv.getUint32(e.offset, true) !== 0x04034b50) damaged(`no local header at byte ${e.offset}`);
    const start = e.offset + 30 + dv.getUint16(e.offset + 26, true) + dv.getUint16(e.offset + 28, true);
    if (start + e.compressedSize > bytes.length) damaged(`its ${e.compressedSize} bytes run past the end of the file`);
    const raw = bytes.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) damaged(`stored entry of ${e.compressedSize} bytes, the directory declares ${e.size}`);
      data = raw;
    } else if (e.method === 8) {
      let r: { data: Uint8Array; overflow: boolean };
      try {
        r = inflateBounded(raw, e.size);
      } catch (err) {
        return damaged(err instanceof Error ? err.message : String(err));
      }
      data = r.data;
      if (r.overflow) {
        // The first `size` bytes are what the directory describes: a CRC mismatch there says "damaged" first.
        const got = crc32(data);
        const past = `the stream inflates past the ${e.size} bytes the zip directory declares, and was dropped there without inflating the rest (a zip bomb, or a damaged file)`;
        throw new DataFormatError(
          got !== e.crc
            ? `damaged .npz: CRC-32 of the extracted entry is ${hex32(got)}, the zip directory records ${hex32(e.crc)}; ${past}`
            : `damaged .npz: ${past}`,
          file,
          e.name,
        );
      }
      if (data.length !== e.size) damaged(`inflates to ${data.length} bytes, the zip directory declares ${e.size}`);
    } else {
      throw new DataFormatError(`unsupported zip compression method ${e.method} (numpy writes 0, stored, or 8, deflate)`, file, e.name);
    }
    // Compare with the CRC-32 in the zip directory, so a damaged archive fails here instead of yielding arrays
    // of wrong numbers.
    const got = crc32(data);
    if (got !== e.crc) {
      throw new DataFormatError(
        `damaged .npz: CRC-32 of the extracted entry is ${hex32(got)}, the zip directory records ${hex32(e.crc)}; the file is corrupt or incompletely copied`,
        file,
        e.name,
      );
    }
    if (!e.name.endsWith('.npy')) continue;
    const key = e.name.slice(0, -4);
    try {
      out.set(key, readNpy(data));
    } catch (err) {
      throw new DataFormatError(err instanceof Error ? err.message : String(err), file, `${key}.npy`);
    }
  }
  return out;
}

const hex32 = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

/** Raw-deflate `raw` into at most `size` bytes; `overflow` when the stream has more (the rest is not inflated). */
function inflateBounded(raw: Uint8Array, size: number): { data: Uint8Array; overflow: boolean } {
  // Chunks are kept as they come (not a buffer of the declared size up front: a damaged directory entry may
  // declare far more than its stream holds).
  const chunks: Uint8Array[] = [];
  let have = 0;
  let overflow = false;
  const inf = new Inflate((chunk) => {
    const room = size - have;
    if (chunk.length > room) overflow = true;
    const keep = room >= chunk.length ? chunk : chunk.subarray(0, room);
    if (keep.length) chunks.push(keep);
    have += keep.length;
  });
  // Deflate inflates at most ~1032-fold: pieces sized to the room left (1–64 KB) keep what is ever inflated beyond
  // `size` to about 1 MB when a stream overruns a small declared size.
  if (raw.length === 0) inf.push(raw, true);
  for (let off = 0; off < raw.length && !overflow;) {
    const step = Math.max(1024, Math.min(65536, Math.floor((size - have) / 1032) + 1));
    const end = Math.min(raw.length, off + step);
    inf.push(raw.subarray(off, end), end === raw.length);
    off = end;
  }
  if (chunks.length === 1) return { data: chunks[0]!, overflow };
  const out = new Uint8Array(have);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return { data: out, overflow };
}

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  /** Declared inflated size. */
  size: number;
  /** Offset of the local file header. */
  offset: number;
}

/**
 * The zip central directory (APPNOTE 4.3.12, 4.3.16; zip64 4.3.14–15 and extra field 0x0001). Names are decoded
 * as fflate decodes them (UTF-8 when general-purpose bit 11 is set, else Latin-1).
 */
function centralDirectory(b: Uint8Array, file?: string): ZipEntry[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const bad = (msg: string): never => {
    throw new DataFormatError(`not a readable .npz (zip) archive: ${msg}`, file);
  };
  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  let eocd = b.length - 22;
  const lowest = Math.max(0, b.length - 22 - 0xffff);
  while (eocd >= lowest && dv.getUint32(eocd, true) !== 0x06054b50) eocd--;
  if (eocd < lowest) bad('no zip end-of-central-directory record');
  let count = dv.getUint16(eocd + 10, true);
  let at = dv.getUint32(eocd + 16, true);
  const zip64 = eocd >= 20 && dv.getUint32(eocd - 20, true) === 0x07064b50;
  if (zip64) {
    const z = Number(dv.getBigUint64(eocd - 12, true));
    if (z + 56 > b.length || dv.getUint32(z, true) !== 0x06064b50) bad('zip64 end record not found where its locator points');
    count = Number(dv.getBigUint64(z + 32, true));
    at = Number(dv.getBigUint64(z + 48, true));
  }
  // Each directory entry takes at least 46 bytes: a count the file cannot hold is refused before looping.
  if (count * 46 > b.length) bad(`the directory claims ${count} entries, more than the file can hold`);
  const out: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > b.length || dv.getUint32(at, true) !== 0x02014b50) bad(`central directory entry #${i} not found at byte ${at}`);
    const flags = dv.getUint16(at + 8, true);
    const nameLen = dv.getUint16(at + 28, true);
    const extraLen = dv.getUint16(at + 30, true);
    if (at + 46 + nameLen + extraLen > b.length) bad(`central directory entry #${i} runs past the end of the file`);
    const name = strFromU8(b.subarray(at + 46, at + 46 + nameLen), !(flags & 0x800));
    let compressedSize = dv.getUint32(at + 20, true);
    let size = dv.getUint32(at + 24, true);
    let offset = dv.getUint32(at + 42, true);
    const M = 0xffffffff;
    if (size === M || compressedSize === M || offset === M) {
      // Zip64 extended information: the 8-byte values present are those whose 4-byte field is 0xffffffff, in
      // the order original size, compressed size, local header offset.
      let found = false;
      for (let e = at + 46 + nameLen; e + 4 <= at + 46 + nameLen + extraLen; e += 4 + dv.getUint16(e + 2, true)) {
        if (dv.getUint16(e, true) !== 1) continue;
        let p = e + 4;
        const next = () => {
          if (p + 8 > e + 4 + dv.getUint16(e + 2, true)) bad(`entry ${JSON.stringify(name)}: zip64 extra field too short`);
          const v = Number(dv.getBigUint64(p, true));
          p += 8;
          return v;
        };
        if (size === M) size = next();
        if (compressedSize === M) compressedSize = next();
        if (offset === M) offset = next();
        found = true;
        break;
      }
      if (!found) bad(`entry ${JSON.stringify(name)}: sizes of 0xffffffff without a zip64 extra field`);
    }
    out.push({ name, method: dv.getUint16(at + 10, true), crc: dv.getUint32(at + 16, true), compressedSize, size, offset });
    at += 46 + nameLen + extraLen + dv.getUint16(at + 32, true);
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
  if (!m)
    throw new DataFormatError(`member '${key}.npy' not found (archive has: ${[...members.keys()].join(', ') || 'nothing'})`, file, key);
  if (m.dtype !== 'bytes' || m.items.length !== 1) {
    throw new DataFormatError(
      `expected a 0-d bytes array holding a pickle, found dtype ${m.dtype} shape (${m.shape.join(', ')})`,
      file,
      key,
    );
  }
  return m.items[0]!;
}
