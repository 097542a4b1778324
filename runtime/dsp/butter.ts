/**
 * IIR filter design: digital Butterworth filters as second-order sections (SOS) and the iirnotch
 * notch filter. The design follows the same steps as scipy.signal (analog prototype → frequency
 * transform → bilinear transform → pole/zero pairing into sections with the 'nearest' rule), so the
 * coefficients agree with `scipy.signal.butter(N, Wn, btype, fs=fs, output='sos')` to ~1e-12.
 *
 * An SOS matrix is a Float64Array of 6·nSections numbers, rows [b0 b1 b2 a0 a1 a2] with a0 = 1.
 */

export type Sos = Float64Array;
export type ButterType = 'lowpass' | 'highpass' | 'bandpass' | 'bandstop';

/** Minimal complex arithmetic on [re, im] pairs. */
type C = readonly [number, number];
const cAdd = (a: C, b: C): C => [a[0] + b[0], a[1] + b[1]];
const cSub = (a: C, b: C): C => [a[0] - b[0], a[1] - b[1]];
const cMul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
const cScale = (a: C, s: number): C => [a[0] * s, a[1] * s];
function cDiv(a: C, b: C): C {
  // Smith's algorithm, as numpy does, to avoid overflow and keep rounding close to numpy's.
  const [ar, ai] = a;
  const [br, bi] = b;
  if (Math.abs(br) >= Math.abs(bi)) {
    if (br === 0 && bi === 0) return [ar / 0, ai / 0];
    const r = bi / br;
    const d = br + bi * r;
    return [(ar + ai * r) / d, (ai - ar * r) / d];
  }
  const r = br / bi;
  const d = bi + br * r;
  return [(ar * r + ai) / d, (ai * r - ar) / d];
}
const cAbs = (a: C): number => Math.hypot(a[0], a[1]);
function cSqrt(a: C): C {
  const [re, im] = a;
  if (re === 0 && im === 0) return [0, im];
  const m = cAbs(a);
  if (re >= 0) {
    const t = Math.sqrt((m + re) / 2);
    return [t, im / (2 * t)];
  }
  const t = Math.sqrt((m - re) / 2);
  return [Math.abs(im) / (2 * t), Object.is(im, -0) || im < 0 ? -t : t];
}
const isReal = (a: C): boolean => a[1] === 0;

/** Analog Butterworth prototype poles (no zeros, gain 1), in scipy's order. */
function buttap(N: number): C[] {
  const p: C[] = [];
  for (let m = -N + 1; m < N; m += 2) {
    const th = (Math.PI * m) / (2 * N);
    // -exp(iθ); the middle pole (m = 0) is exactly -1.
    p.push([-Math.cos(th), m === 0 ? -0 : -Math.sin(th)]);
  }
  return p;
}

interface Zpk {
  z: C[];
  p: C[];
  k: number;
}

function prodDiff(c: number, xs: C[]): C {
  let acc: C = [1, 0];
  for (const x of xs) acc = cMul(acc, cSub([c, 0], x));
  return acc;
}

function bilinearZpk({ z, p, k }: Zpk, fs: number): Zpk {
  const fs2 = 2 * fs;
  const degree = p.length - z.length;
  const zz = z.map((x) => cDiv(cAdd([fs2, 0], x), cSub([fs2, 0], x)));
  const pz = p.map((x) => cDiv(cAdd([fs2, 0], x), cSub([fs2, 0], x)));
  for (let i = 0; i < degree; i++) zz.push([-1, 0]);
  const kz = k * cDiv(prodDiff(fs2, z), prodDiff(fs2, p))[0];
  return { z: zz, p: pz, k: kz };
}

function prodNeg(xs: C[]): C {
  let acc: C = [1, 0];
  for (const x of xs) acc = cMul(acc, [-x[0], -x[1]]);
  return acc;
}

function transform({ z, p, k }: Zpk, btype: ButterType, warped: number[]): Zpk {
  const degree = p.length - z.length;
  if (btype === 'lowpass') {
    const wo = warped[0]!;
    return { z: z.map((x) => cScale(x, wo)), p: p.map((x) => cScale(x, wo)), k: k * wo ** degree };
  }
  if (btype === 'highpass') {
    const wo = warped[0]!;
    const zh = z.map((x) => cDiv([wo, 0], x));
    const ph = p.map((x) => cDiv([wo, 0], x));
    for (let i = 0; i < degree; i++) zh.push([0, 0]);
    return { z: zh, p: ph, k: k * cDiv(prodNeg(z), prodNeg(p))[0] };
  }
  const bw = warped[1]! - warped[0]!;
  const wo = Math.sqrt(warped[0]! * warped[1]!);
  const wo2: C = [wo * wo, 0];
  const shift = (xs: C[]): C[] => {
    const plus: C[] = [];
    const minus: C[] = [];
    for (const x of xs) {
      const r = cSqrt(cSub(cMul(x, x), wo2));
      plus.push(cAdd(x, r));
      minus.push(cSub(x, r));
    }
    return plus.concat(minus);
  };
  if (btype === 'bandpass') {
    const zb = shift(z.map((x) => cScale(x, bw / 2)));
    const pb = shift(p.map((x) => cScale(x, bw / 2)));
    for (let i = 0; i < degree; i++) zb.push([0, 0]);
    return { z: zb, p: pb, k: k * bw ** degree };
  }
  // bandstop
  const zs = shift(z.map((x) => cDiv([bw / 2, 0], x)));
  const ps = shift(p.map((x) => cDiv([bw / 2, 0], x)));
  for (let i = 0; i < degree; i++) zs.push([0, wo]);
  for (let i = 0; i < degree; i++) zs.push([0, -wo]);
  return { z: zs, p: ps, k: k * cDiv(prodNeg(z), prodNeg(p))[0] };
}

/** Split into one member of each conjugate pair (positive imaginary part) and the reals, scipy's order. */
function cplxReal(zs: C[]): { c: C[]; r: number[] } {
  const tol = 100 * Number.EPSILON;
  const sorted = zs.slice().sort((a, b) => a[0] - b[0] || Math.abs(a[1]) - Math.abs(b[1]));
  const r: number[] = [];
  const pos: C[] = [];
  const neg: C[] = [];
  for (const x of sorted) {
    if (Math.abs(x[1]) <= tol * cAbs(x)) r.push(x[0]);
    else if (x[1] > 0) pos.push(x);
    else neg.push(x);
  }
  if (pos.length !== neg.length) throw new Error('complex value without a matching conjugate');
  // Runs of equal real part are sorted by |imag| already (secondary sort key).
  const c = pos.map((x, i) => [(x[0] + neg[i]![0]) / 2, (x[1] - neg[i]![1]) / 2] as C);
  return { c, r };
}

/** b (or a) of one section from up to two roots, real-valued, padded to length 3 at the front like scipy. */
function sectionPoly(roots: C[]): [number, number, number] {
  if (roots.length === 0) return [0, 0, 1];
  if (roots.length === 1) return [0, 1, -roots[0]![0]];
  const [r1, r2] = roots as [C, C];
  const s = cAdd(r1, r2);
  const m = cMul(r1, r2);
  return [1, -s[0], m[0]];
}

function argminBy<T>(xs: T[], f: (x: T) => number): number {
  let best = 0;
  let bv = Infinity;
  for (let i = 0; i < xs.length; i++) {
    const v = f(xs[i]!);
    if (v < bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** Index of the element of `from` nearest to `to`, restricted to reals / complex / any. */
function nearestIdx(from: C[], to: C, which: 'real' | 'complex' | 'any'): number {
  const order = from.map((_, i) => i).sort((i, j) => cAbs(cSub(from[i]!, to)) - cAbs(cSub(from[j]!, to)));
  if (which === 'any') return order[0]!;
  for (const i of order) if (isReal(from[i]!) === (which === 'real')) return i;
  throw new Error(`no ${which} root left to pair`);
}

/** scipy.signal.zpk2sos with pairing='nearest' for digital filters. */
export function zpk2sos(zIn: C[], pIn: C[], k: number): Sos {
  if (zIn.length === 0 && pIn.length === 0) return Float64Array.from([k, 0, 0, 1, 0, 0]);
  let p = pIn.slice();
  let z = zIn.slice();
  while (p.length < z.length) p.push([0, 0]);
  while (z.length < p.length) z.push([0, 0]);
  const nSections = (Math.max(p.length, z.length) + 1) >> 1;
  if (p.length % 2 === 1) {
    p.push([0, 0]);
    z.push([0, 0]);
  }
  const zc = cplxReal(z);
  const pc = cplxReal(p);
  z = [...zc.c, ...zc.r.map((x) => [x, 0] as C)];
  p = [...pc.c, ...pc.r.map((x) => [x, 0] as C)];
  const worst = (xs: C[]) => argminBy(xs, (x) => Math.abs(1 - cAbs(x)));
  const take = (xs: C[], i: number): C => xs.splice(i, 1)[0]!;
  const conj = (x: C): C => [x[0], -x[1]];
  const sos = new Float64Array(6 * nSections);
  const put = (si: number, zs: C[], ps: C[]) => {
    sos.set(sectionPoly(zs), 6 * si);
    sos.set(sectionPoly(ps), 6 * si + 3);
  };
  const nReal = (xs: C[]) => xs.filter(isReal).length;
  for (let si = nSections - 1; si >= 0; si--) {
    const p1 = take(p, worst(p));
    if (isReal(p1) && nReal(p) === 0) {
      const z1 = take(z, nearestIdx(z, p1, 'real'));
      put(si, [z1, [0, 0]], [p1, [0, 0]]);
    } else if (p.length + 1 === z.length && !isReal(p1) && nReal(p) === 1 && nReal(z) === 1) {
      const z1 = take(z, nearestIdx(z, p1, 'complex'));
      put(si, [z1, conj(z1)], [p1, conj(p1)]);
    } else {
      let p2: C;
      if (isReal(p1)) {
        const realIdx = p.map((x, i) => (isReal(x) ? i : -1)).filter((i) => i >= 0);
        const j = realIdx[worst(realIdx.map((i) => p[i]!))]!;
        p2 = take(p, j);
      } else {
        p2 = conj(p1);
      }
      if (z.length > 0) {
        const z1 = take(z, nearestIdx(z, p1, 'any'));
        if (!isReal(z1)) put(si, [z1, conj(z1)], [p1, p2]);
        else if (z.length > 0) {
          const z2 = take(z, nearestIdx(z, p1, 'real'));
          put(si, [z1, z2], [p1, p2]);
        } else put(si, [z1], [p1, p2]);
      } else put(si, [], [p1, p2]);
    }
  }
  for (let i = 0; i < 3; i++) sos[i]! *= k;
  return sos;
}

export interface ButterOptions {
  /** Sampling rate in Hz; cutoffs are then in Hz. Without it, cutoffs are fractions of Nyquist (0..1). */
  fs?: number;
}

/**
 * Digital Butterworth filter of order `order` as SOS, like
 * `scipy.signal.butter(order, cutoff, btype, fs=fs, output='sos')`. Band filters take [lo, hi] and
 * have 2·order poles, as in scipy.
 */
export function butterSos(order: number, cutoff: number | readonly [number, number], btype: ButterType, opts: ButterOptions = {}): Sos {
  if (!Number.isInteger(order) || order < 1) throw new RangeError(`filter order must be a positive integer, got ${order}`);
  const wn = (typeof cutoff === 'number' ? [cutoff] : [...cutoff]).map((w) => (opts.fs === undefined ? w : (2 * w) / opts.fs));
  const band = btype === 'bandpass' || btype === 'bandstop';
  if (band !== (wn.length === 2))
    throw new RangeError(`${btype} needs ${band ? 'two cut-off frequencies [lo, hi]' : 'one cut-off frequency'}`);
  for (const w of wn) {
    if (!(w > 0 && w < 1)) {
      throw new RangeError(
        `cut-off frequencies must lie strictly between 0 and Nyquist${opts.fs ? ` (${opts.fs / 2} Hz)` : ''}, got ${typeof cutoff === 'number' ? cutoff : cutoff.join(', ')}`,
      );
    }
  }
  if (band && !(wn[0]! < wn[1]!)) throw new RangeError(`band edges must satisfy lo < hi, got ${wn.join(', ')}`);
  // Pre-warp with fs = 2 (normalised frequencies), as scipy does.
  const warped = wn.map((w) => 4 * Math.tan((Math.PI * w) / 2));
  const analog = transform({ z: [], p: buttap(order), k: 1 }, btype, warped);
  const { z, p, k } = bilinearZpk(analog, 2);
  return zpk2sos(z, p, k);
}

/**
 * Second-order IIR notch at `f0` Hz with quality factor Q (−3 dB width f0/Q), like
 * `scipy.signal.iirnotch(f0, Q, fs)`, returned as a single SOS section.
 */
export function iirNotchSos(f0: number, Q: number, fs: number): Sos {
  const w0n = (2 * f0) / fs;
  if (!(w0n > 0 && w0n < 1)) throw new RangeError(`notch frequency must lie between 0 and Nyquist (${fs / 2} Hz), got ${f0}`);
  if (!(Q > 0)) throw new RangeError(`notch Q must be positive, got ${Q}`);
  const bw = (w0n / Q) * Math.PI;
  const w0 = w0n * Math.PI;
  const gb = 1 / Math.sqrt(2);
  const beta = (Math.sqrt(1 - gb ** 2) / gb) * Math.tan(bw / 2);
  const gain = 1 / (1 + beta);
  const c = Math.cos(w0);
  return Float64Array.from([gain, gain * -2 * c, gain, 1, -2 * gain * c, 2 * gain - 1]);
}
