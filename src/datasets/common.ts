/** Shared pieces of the readers: shape checks and re-layout of feature matrices into the dataset type. */
import { DataFormatError } from '../io/errors.js';
import { matNumeric, type MatFile } from '../io/mat.js';
import { toFloat64, type NdArray } from '../io/ndarray.js';

export interface LoadProgress {
  /** Files done / total, and the file just finished. */
  (done: number, total: number, file: string): void;
}

export interface CommonLoadOptions {
  /** Restrict to these subject ids (as in file names). */
  subjects?: readonly string[];
  /** Restrict to these 1-based sessions. */
  sessions?: readonly number[];
  onProgress?: LoadProgress;
}

function shapeStr(s: readonly number[]): string {
  return `${s.join(' × ')}`;
}

/**
 * Refuse a NaN or ±Infinity where data enters training: one such value in one trial turns the loss, the
 * normalisation statistics and every checkpoint into NaN without any other error. `values` is what the reader
 * returns (Float32: a finite file value beyond ±3.4e38 also ends up infinite); `locate(i)` names element i
 * (window, channel, band…) for the message, `trial` the trial it belongs to.
 */
export function requireFinite(values: ArrayLike<number>, file: string, key: string, trial: string, locate: (i: number) => string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) continue;
    const why = Number.isNaN(v) ? 'NaN' : `${v} (or a value beyond the float32 range ±3.4e38)`;
    throw new DataFormatError(
      `${trial}: ${locate(i)} is ${why}; non-finite values are refused (they would train silently into NaN). The file is damaged, or holds missing values that need cleaning first`,
      file,
      key,
    );
  }
}

/**
 * A feature matrix stored channels × windows × bands (SEED, SEED-IV eeg_feature_smooth) → Float32
 * [windows][channels][bands]. A trial with a single window may have been saved by MATLAB as 62 × 5
 * (trailing singleton dimensions are kept by MATLAB only up to 2-D); that form is accepted too.
 */
export function eegFromChannelsWindowsBands(
  mat: MatFile,
  key: string,
  file: string,
  channels: number,
  bands: number,
  trial = `key ${key}`,
): { eeg: Float32Array; windows: number } {
  const a = matNumeric(mat, key, file);
  let [C, W, B] = a.shape as [number, number, number];
  if (a.shape.length === 2 && a.shape[0] === channels && a.shape[1] === bands) [C, W, B] = [channels, 1, bands];
  else if (a.shape.length !== 3 || C !== channels || B !== bands) {
    throw new DataFormatError(`expected ${channels} channels × windows × ${bands} bands, found ${shapeStr(a.shape)}`, file, key);
  }
  if (W === 0) throw new DataFormatError('trial has 0 windows', file, key);
  const src = toFloat64(a);
  const out = new Float32Array(W * C * B);
  for (let c = 0; c < C; c++) {
    for (let w = 0; w < W; w++) {
      const s = (c * W + w) * B;
      const d = (w * C + c) * B;
      for (let b = 0; b < B; b++) out[d + b] = src[s + b]!;
    }
  }
  requireFinite(
    out,
    file,
    key,
    trial,
    (i) =>
      `window ${Math.floor(i / (C * B)) + 1}, channel ${(Math.floor(i / B) % C) + 1}, band ${(i % B) + 1} (stored at index [${(Math.floor(i / B) % C) + 1}, ${Math.floor(i / (C * B)) + 1}, ${(i % B) + 1}], 1-based)`,
  );
  return { eeg: out, windows: W };
}

/** Eye features stored features × windows (SEED-IV eye_feature_smooth) → Float32 [windows][features]. */
export function eyeFromFeaturesWindows(
  mat: MatFile,
  key: string,
  file: string,
  features: number,
  trial = `key ${key}`,
): { eye: Float32Array; windows: number } {
  const a = matNumeric(mat, key, file);
  if (a.shape.length !== 2 || a.shape[0] !== features) {
    throw new DataFormatError(`expected ${features} eye features × windows, found ${shapeStr(a.shape)}`, file, key);
  }
  const W = a.shape[1]!;
  if (W === 0) throw new DataFormatError('trial has 0 windows', file, key);
  const src = toFloat64(a);
  const out = new Float32Array(W * features);
  for (let f = 0; f < features; f++) for (let w = 0; w < W; w++) out[w * features + f] = src[f * W + w]!;
  requireFinite(
    out,
    file,
    key,
    trial,
    (i) =>
      `window ${Math.floor(i / features) + 1}, eye feature ${(i % features) + 1} (stored at index [${(i % features) + 1}, ${Math.floor(i / features) + 1}], 1-based)`,
  );
  return { eye: out, windows: W };
}

/** windows × columns array (SEED-V npz) as Float64, with shape checks. */
export function windowsByColumns(a: NdArray, columns: number, file: string, key: string): { data: Float64Array; windows: number } {
  if (a.shape.length !== 2 || a.shape[1] !== columns) {
    throw new DataFormatError(`expected windows × ${columns}, found ${shapeStr(a.shape)}`, file, key);
  }
  if (a.shape[0] === 0) throw new DataFormatError('trial has 0 windows', file, key);
  return { data: toFloat64(a), windows: a.shape[0]! };
}

export function pairingError(
  subject: string,
  session: number,
  trial: number,
  eegW: number,
  eyeW: number,
  eegFile: string,
  eyeFile: string,
): DataFormatError {
  return new DataFormatError(
    `EEG and eye windows disagree for subject ${subject}, session ${session}, trial ${trial}: ${eegW} EEG windows (${eegFile}) vs ${eyeW} eye windows (${eyeFile})`,
  );
}
