/**
 * Rational polyphase resampling (up/down), the same arithmetic as scipy.signal.resample_poly with its
 * default Kaiser(β = 5) anti-alias filter: FIR h of length 2·half+1, half = 10·max(up, down),
 * cutoff 1/max(up, down) of Nyquist, gain `up`; zero padding outside the signal; output length
 * ⌈n·up/down⌉; zero-phase (centred filter). The streaming form holds back the few input samples that
 * the centred filter still needs, so it emits exactly the offline samples, only later.
 */

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (series; converges fast for β ≤ 20). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Windowed-sinc low-pass like scipy.signal.firwin(numtaps, cutoff, window=('kaiser', beta)), cutoff in (0, 1] of Nyquist. */
export function firwinKaiser(numtaps: number, cutoff: number, beta: number): Float64Array {
  const h = new Float64Array(numtaps);
  const alpha = (numtaps - 1) / 2;
  const i0b = besselI0(beta);
  for (let n = 0; n < numtaps; n++) {
    const m = n - alpha;
    const sinc = m === 0 ? 1 : Math.sin(Math.PI * cutoff * m) / (Math.PI * cutoff * m);
    const r = (2 * n) / (numtaps - 1) - 1;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b;
    h[n] = cutoff * sinc * w;
  }
  // firwin scales for unit gain at DC.
  let s = 0;
  for (let n = 0; n < numtaps; n++) s += h[n]!;
  for (let n = 0; n < numtaps; n++) h[n]! /= s;
  return h;
}

export interface ResampleRatio {
  up: number;
  down: number;
}

export function resampleRatio(fsIn: number, fsOut: number): ResampleRatio {
  if (!(fsIn > 0) || !(fsOut > 0) || !Number.isInteger(fsIn) || !Number.isInteger(fsOut)) {
    throw new RangeError(`sampling rates must be positive integers, got ${fsIn} → ${fsOut}`);
  }
  const g = gcd(fsIn, fsOut);
  return { up: fsOut / g, down: fsIn / g };
}

function designFilter(up: number, down: number): { h: Float64Array; half: number } {
  const maxRate = Math.max(up, down);
  const half = 10 * maxRate;
  const h = firwinKaiser(2 * half + 1, 1 / maxRate, 5.0);
  for (let i = 0; i < h.length; i++) h[i]! *= up;
  return { h, half };
}

/** Offline resampling by up/down (like scipy.signal.resample_poly(x, up, down)). */
export function resamplePoly(x: ArrayLike<number>, up: number, down: number): Float64Array {
  const r = new StreamingResampler(1, 1, { up, down });
  const nOut = Math.ceil((x.length * up) / down);
  const head = r.push(x);
  const tail = r.flush(x.length);
  const out = new Float64Array(nOut);
  out.set(head.subarray(0, Math.min(head.length, nOut)));
  out.set(tail.subarray(0, Math.max(0, nOut - head.length)), head.length);
  return out;
}

/**
 * Streaming resampler: push blocks of any size, get every output sample whose filter support is
 * complete. Concatenated outputs equal {@link resamplePoly} on the concatenated input (plus `flush`).
 * Input is kept in a growable buffer that is compacted in place, so a push costs O(block + taps).
 */
export class StreamingResampler {
  readonly up: number;
  readonly down: number;
  private readonly h: Float64Array;
  private readonly half: number;
  private buf: Float64Array = new Float64Array(256);
  private bufLen = 0; // valid samples in buf
  private bufStart = 0; // absolute index of buf[0]
  private nIn = 0;
  private nextOut = 0; // absolute index of the next output sample

  constructor(fsIn: number, fsOut: number, ratio?: ResampleRatio) {
    const { up, down } = ratio ?? resampleRatio(fsIn, fsOut);
    if (!Number.isInteger(up) || !Number.isInteger(down) || up < 1 || down < 1) {
      throw new RangeError(`up/down must be positive integers, got ${up}/${down}`);
    }
    const g = gcd(up, down);
    this.up = up / g;
    this.down = down / g;
    ({ h: this.h, half: this.half } = designFilter(this.up, this.down));
  }

  /** Input samples still held back (the filter's look-ahead), in input samples. */
  get latencySamples(): number {
    return Math.ceil(this.half / this.up);
  }

  /** Input samples pushed so far. */
  get inputCount(): number {
    return this.nIn;
  }

  /** Output samples emitted so far. */
  get outputCount(): number {
    return this.nextOut;
  }

  /** Inclusive range of input indices that output sample `m` depends on (before clipping to the signal). */
  support(m: number): [number, number] {
    const centre = m * this.down + this.half;
    return [Math.ceil((centre - (this.h.length - 1)) / this.up), Math.floor(centre / this.up)];
  }

  push(block: ArrayLike<number>): Float64Array {
    this.append(block);
    return this.emit(this.nIn, false);
  }

  /** Emit the remaining outputs of a finite signal of `totalInput` samples (zero padding past its end). */
  flush(totalInput = this.nIn): Float64Array {
    return this.emit(totalInput, true);
  }

  private append(block: ArrayLike<number>): void {
    const need = this.bufLen + block.length;
    if (need > this.buf.length) {
      const grown = new Float64Array(Math.max(need, 2 * this.buf.length));
      grown.set(this.buf.subarray(0, this.bufLen));
      this.buf = grown;
    }
    const b = this.buf;
    const off = this.bufLen;
    for (let i = 0; i < block.length; i++) b[off + i] = block[i]!;
    this.bufLen = need;
    this.nIn += block.length;
  }

  private emit(totalInput: number, final: boolean): Float64Array {
    const { up, down, h, half, buf } = this;
    const taps = h.length;
    const nOutTotal = Math.ceil((totalInput * up) / down);
    // Number of outputs we can produce now.
    let nAvail: number;
    if (final) nAvail = Math.max(0, nOutTotal - this.nextOut);
    else {
      // y[m] needs x up to ⌊(m·down + half)/up⌋ ≤ nIn − 1.
      const mMax = Math.floor(((this.nIn - 1) * up + (up - 1) - half) / down);
      nAvail = Math.max(0, mMax - this.nextOut + 1);
    }
    const out = new Float64Array(nAvail);
    const lastIn = this.nIn - 1;
    for (let j = 0; j < nAvail; j++) {
      const m = this.nextOut + j;
      const centre = m * down + half; // y[m] = Σ_n x[n]·h[centre − n·up]
      const nMax = Math.floor(centre / up);
      const nMin = Math.max(0, Math.ceil((centre - (taps - 1)) / up));
      const hi = Math.min(nMax, lastIn);
      let acc = 0;
      let hk = centre - nMin * up;
      for (let n = nMin - this.bufStart, end = hi - this.bufStart; n <= end; n++, hk -= up) acc += buf[n]! * h[hk]!;
      out[j] = acc;
    }
    this.nextOut += nAvail;
    // Drop input no future output needs (compact in place once the dead prefix is large).
    const keepFrom = Math.min(this.nIn, Math.max(0, Math.ceil((this.nextOut * down + half - (taps - 1)) / up)));
    const drop = keepFrom - this.bufStart;
    if (drop > 0 && drop >= this.bufLen / 2) {
      buf.copyWithin(0, drop, this.bufLen);
      this.bufLen -= drop;
      this.bufStart = keepFrom;
    }
    return out;
  }
}
