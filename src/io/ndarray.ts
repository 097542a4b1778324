/**
 * A minimal n-d array: a typed array in row-major (C) order plus its shape. Both the MAT and the npy readers
 * return these, already converted from column-major where the file stored it that way.
 */
export type NumericDType = 'float64' | 'float32' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

export interface DTypeArrayMap {
  float64: Float64Array;
  float32: Float32Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

export type NumericArray = DTypeArrayMap[NumericDType];

export interface NdArray<D extends NumericDType = NumericDType> {
  dtype: D;
  shape: number[];
  data: DTypeArrayMap[D];
}

export const DTYPE_BYTES: Record<NumericDType, number> = {
  float64: 8,
  float32: 4,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
};

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function allocate<D extends NumericDType>(dtype: D, n: number): DTypeArrayMap[D] {
  switch (dtype) {
    case 'float64':
      return new Float64Array(n) as DTypeArrayMap[D];
    case 'float32':
      return new Float32Array(n) as DTypeArrayMap[D];
    case 'int8':
      return new Int8Array(n) as DTypeArrayMap[D];
    case 'uint8':
    case 'bool':
      return new Uint8Array(n) as DTypeArrayMap[D];
    case 'int16':
      return new Int16Array(n) as DTypeArrayMap[D];
    case 'uint16':
      return new Uint16Array(n) as DTypeArrayMap[D];
    case 'int32':
      return new Int32Array(n) as DTypeArrayMap[D];
    case 'uint32':
      return new Uint32Array(n) as DTypeArrayMap[D];
    case 'int64':
      return new BigInt64Array(n) as DTypeArrayMap[D];
    case 'uint64':
      return new BigUint64Array(n) as DTypeArrayMap[D];
  }
  throw new Error(`unknown dtype ${String(dtype)}`);
}

/**
 * Decode `n` little- or big-endian elements of `dtype` starting at `offset` of `bytes` (no alignment needed).
 * Throws RangeError when the bytes run out.
 */
export function decodeElements<D extends NumericDType>(
  bytes: Uint8Array,
  offset: number,
  n: number,
  dtype: D,
  littleEndian = true,
): DTypeArrayMap[D] {
  const size = DTYPE_BYTES[dtype];
  if (offset < 0 || offset + n * size > bytes.length) {
    throw new RangeError(`need ${n * size} bytes at offset ${offset}, only ${Math.max(0, bytes.length - offset)} left`);
  }
  // Fast path: aligned little-endian data can be copied straight into a fresh typed array.
  if (littleEndian && size > 1) {
    // Copy into a fresh buffer (not bytes.slice: on a Node Buffer that is a view into a shared pool).
    const copy = new Uint8Array(n * size);
    copy.set(bytes.subarray(offset, offset + n * size));
    switch (dtype) {
      case 'float64':
        return new Float64Array(copy.buffer) as DTypeArrayMap[D];
      case 'float32':
        return new Float32Array(copy.buffer) as DTypeArrayMap[D];
      case 'int16':
        return new Int16Array(copy.buffer) as DTypeArrayMap[D];
      case 'uint16':
        return new Uint16Array(copy.buffer) as DTypeArrayMap[D];
      case 'int32':
        return new Int32Array(copy.buffer) as DTypeArrayMap[D];
      case 'uint32':
        return new Uint32Array(copy.buffer) as DTypeArrayMap[D];
      case 'int64':
        return new BigInt64Array(copy.buffer) as DTypeArrayMap[D];
      case 'uint64':
        return new BigUint64Array(copy.buffer) as DTypeArrayMap[D];
    }
  }
  if (size === 1) {
    const out = allocate(dtype, n);
    if (dtype === 'int8') (out as Int8Array).set(new Int8Array(bytes.buffer, bytes.byteOffset + offset, n));
    else (out as Uint8Array).set(bytes.subarray(offset, offset + n));
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, n * size);
  const out = allocate(dtype, n);
  for (let i = 0; i < n; i++) {
    const p = i * size;
    switch (dtype) {
      case 'float64':
        (out as Float64Array)[i] = dv.getFloat64(p, littleEndian);
        break;
      case 'float32':
        (out as Float32Array)[i] = dv.getFloat32(p, littleEndian);
        break;
      case 'int16':
        (out as Int16Array)[i] = dv.getInt16(p, littleEndian);
        break;
      case 'uint16':
        (out as Uint16Array)[i] = dv.getUint16(p, littleEndian);
        break;
      case 'int32':
        (out as Int32Array)[i] = dv.getInt32(p, littleEndian);
        break;
      case 'uint32':
        (out as Uint32Array)[i] = dv.getUint32(p, littleEndian);
        break;
      case 'int64':
        (out as BigInt64Array)[i] = dv.getBigInt64(p, littleEndian);
        break;
      case 'uint64':
        (out as BigUint64Array)[i] = dv.getBigUint64(p, littleEndian);
        break;
    }
  }
  return out;
}

/** Little-endian bytes of a typed array (a view when possible). */
export function toBytes(data: NumericArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Reorder a column-major (Fortran) buffer of the given shape into row-major order. Works for any rank;
 * 2-D gets a tight loop because every SEED matrix goes through here.
 */
export function fortranToC<T extends NumericArray>(src: T, shape: readonly number[]): T {
  const n = shapeSize(shape);
  const rank = shape.length;
  if (rank <= 1 || n <= 1) return src;
  const dst = new (src.constructor as new (n: number) => T)(n);
  const d = dst as unknown as ArrayLike<number | bigint> & { [i: number]: number | bigint };
  const s = src as unknown as ArrayLike<number | bigint>;
  if (rank === 2) {
    const [r, c] = shape as [number, number];
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) d[i * c + j] = s[j * r + i]!;
    return dst;
  }
  if (rank === 3) {
    const [a, b, c] = shape as [number, number, number];
    const ab = a * b;
    for (let i = 0; i < a; i++)
      for (let j = 0; j < b; j++) {
        const dRow = (i * b + j) * c;
        const sBase = i + a * j;
        for (let k = 0; k < c; k++) d[dRow + k] = s[sBase + ab * k]!;
      }
    return dst;
  }
  // Walk the destination in row-major order, tracking the source offset with Fortran strides.
  const fStride = new Array<number>(rank);
  fStride[0] = 1;
  for (let k = 1; k < rank; k++) fStride[k] = fStride[k - 1]! * shape[k - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let srcOff = 0;
  for (let i = 0; i < n; i++) {
    d[i] = s[srcOff]!;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      srcOff += fStride[k]!;
      if (idx[k]! < shape[k]!) break;
      srcOff -= fStride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return dst;
}

/** Inverse of {@link fortranToC}: row-major buffer → column-major order. */
export function cToFortran<T extends NumericArray>(src: T, shape: readonly number[]): T {
  // Column-major of shape S equals row-major of the reversed shape, transposed; reuse fortranToC on it.
  return fortranToC(src, [...shape].reverse());
}

/** Convert any numeric NdArray's data to Float64Array (int64 beyond 2^53 loses precision, as in numpy). */
export function toFloat64(a: NdArray): Float64Array {
  if (a.data instanceof Float64Array) return a.data;
  const out = new Float64Array(a.data.length);
  if (a.data instanceof BigInt64Array || a.data instanceof BigUint64Array) {
    for (let i = 0; i < out.length; i++) out[i] = Number(a.data[i]!);
  } else {
    out.set(a.data);
  }
  return out;
}
