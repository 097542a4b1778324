/**
 * Decompression bombs for the MAT and npz readers, built without ever holding the inflated bytes: a raw deflate
 * stream of N MiB of zeros is one compressed MiB of zeros (a non-final, byte-aligned segment ending in a sync
 * flush) repeated N times, then a final empty block. Each segment refers to nothing before it, so the
 * concatenation is a valid stream; 1 MiB of zeros deflates to ~1 KB, the ~1000-fold ratio real bombs use.
 */
import { constants, deflateRawSync } from 'node:zlib';

const MiB = 2 ** 20;
let zeroSegment: Buffer | null = null;

function segment(data: Uint8Array): Buffer {
  return deflateRawSync(data, { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
}

/** Raw deflate of `prefix` followed by `zeroMiB` MiB of zeros. */
export function deflateZeros(prefix: Uint8Array, zeroMiB: number): Buffer {
  zeroSegment ??= segment(new Uint8Array(MiB));
  const parts: Buffer[] = [segment(prefix)];
  for (let i = 0; i < zeroMiB; i++) parts.push(zeroSegment);
  parts.push(deflateRawSync(new Uint8Array(0))); // final empty block
  return Buffer.concat(parts);
}

/** Adler-32 of `prefix` + `zeros` zero bytes (zeros leave a unchanged and add a to b each). */
function adler32(prefix: Uint8Array, zeros: number): number {
  let a = 1;
  let b = 0;
  for (const x of prefix) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  b = (b + a * (zeros % 65521)) % 65521;
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream (as in a MAT miCOMPRESSED element) of `prefix` + `zeroMiB` MiB of zeros, with a correct trailer. */
export function zlibZeros(prefix: Uint8Array, zeroMiB: number): Buffer {
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(adler32(prefix, zeroMiB * MiB));
  return Buffer.concat([Buffer.from([0x78, 0xda]), deflateZeros(prefix, zeroMiB), trailer]);
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};

/** A MAT v5 file header (128 bytes, little-endian). */
export function matHeader(): Buffer {
  const h = Buffer.alloc(128, 0x20);
  h.write('MATLAB 5.0 MAT-file, bomb test', 0, 'latin1');
  h.fill(0, 116, 124);
  h[124] = 0x00;
  h[125] = 0x01;
  h.write('IM', 126, 'latin1');
  return h;
}

/** The miMATRIX element (tag + body) of a real double matrix `name` of shape [rows, cols] whose data are zeros. */
export function matrixElementHead(name: string, rows: number, cols: number): Buffer {
  const n = rows * cols;
  const nameBytes = Buffer.from(name, 'latin1');
  const namePadded = Buffer.concat([nameBytes, Buffer.alloc((8 - (nameBytes.length % 8)) % 8)]);
  const body = Buffer.concat([
    u32(6),
    u32(8),
    u32(6),
    u32(0), // array flags: miUINT32, 8 bytes, class double
    u32(5),
    u32(8),
    u32(rows),
    u32(cols), // dimensions: miINT32
    u32(1),
    u32(nameBytes.length),
    namePadded, // name: miINT8
    u32(9),
    u32(n * 8), // real part: miDOUBLE, n × 8 bytes (the zeros follow)
  ]);
  return Buffer.concat([u32(14), u32(body.length + n * 8), body]);
}

/**
 * A MAT file with one compressed variable: `declared` = [rows, cols] is what its tags say; the stream inflates to
 * the tags' bytes followed by `zeroMiB` MiB of zeros (honest when rows·cols·8 = zeroMiB MiB, a lie otherwise).
 */
export function matBomb(rows: number, cols: number, zeroMiB: number): Buffer {
  const stream = zlibZeros(matrixElementHead('x', rows, cols), zeroMiB);
  return Buffer.concat([matHeader(), u32(15), u32(stream.length), stream]);
}

/** A .npy v1 header for a float64 array of `shape`. */
export function npyHeader(shape: number[]): Buffer {
  let h = `{'descr': '<f8', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = Math.ceil((10 + h.length + 1) / 64) * 64;
  h = h.padEnd(total - 10 - 1, ' ') + '\n';
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), u16(h.length), Buffer.from(h, 'latin1')]);
}

/**
 * An .npz (zip) with one deflated entry "x.npy": a .npy header for `shape` followed by `zeroMiB` MiB of zeros.
 * The zip directory declares `declaredSize` inflated bytes (the truth, or a lie) and CRC `crc`.
 */
export function npzBomb(shape: number[], zeroMiB: number, declaredSize: number, crc = 0): Buffer {
  const name = Buffer.from('x.npy');
  const data = deflateZeros(npyHeader(shape), zeroMiB);
  const local = Buffer.concat([
    u32(0x04034b50),
    u16(20),
    u16(0),
    u16(8),
    u16(0),
    u16(0),
    u32(crc),
    u32(data.length),
    u32(declaredSize),
    u16(name.length),
    u16(0),
    name,
  ]);
  const central = Buffer.concat([
    u32(0x02014b50),
    u16(20),
    u16(20),
    u16(0),
    u16(8),
    u16(0),
    u16(0),
    u32(crc),
    u32(data.length),
    u32(declaredSize),
    u16(name.length),
    u16(0),
    u16(0),
    u16(0),
    u16(0),
    u32(0),
    u32(0),
    name,
  ]);
  const at = local.length + data.length;
  const eocd = Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(1), u16(1), u32(central.length), u32(at), u16(0)]);
  return Buffer.concat([local, data, central, eocd]);
}
