/**
 * Streaming gap filling for short losses: runs of NaN (lost samples) up to `maxFill` samples long are replaced
 * by linear interpolation between the last good sample before and the first good sample after the run; longer
 * runs stay NaN (the feature extractor then invalidates the windows they touch). The filler holds back a
 * trailing NaN run until it can decide, so its output lags the input by at most `maxFill` samples, and the
 * concatenated output equals the offline result for the same input, whatever the block sizes.
 */
export class GapFiller {
  private pending: Float64Array[];
  private last: number[];
  private filledTotal = 0;

  constructor(
    readonly channels: number,
    readonly maxFill: number,
  ) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be a positive integer, got ${channels}`);
    if (!Number.isInteger(maxFill) || maxFill < 0) throw new RangeError(`maxFill must be a non-negative integer, got ${maxFill}`);
    this.pending = Array.from({ length: channels }, () => new Float64Array(0));
    this.last = new Array<number>(channels).fill(NaN);
  }

  /** Samples filled by interpolation so far (all channels). */
  get filled(): number {
    return this.filledTotal;
  }

  /**
   * Push one block per channel (equal lengths). Returns the samples that are now final, the same count for
   * every channel (channels are released in lockstep so rows stay aligned).
   */
  push(block: readonly ArrayLike<number>[]): Float64Array[] {
    if (block.length !== this.channels) throw new RangeError(`expected ${this.channels} channels, got ${block.length}`);
    const n = block[0]!.length;
    if (block.some((b) => b.length !== n)) throw new RangeError('all channels of a block must have the same length');
    const work = this.pending.map((p, c) => {
      const w = new Float64Array(p.length + n);
      w.set(p);
      for (let i = 0; i < n; i++) w[p.length + i] = block[c]![i]!;
      return w;
    });
    // Per channel: how many leading samples are final.
    const ready = work.map((w, c) => this.resolve(w, c));
    const k = Math.min(...ready);
    const out = work.map((w) => w.slice(0, k));
    this.pending = work.map((w) => w.slice(k));
    out.forEach((o, c) => {
      if (o.length) this.last[c] = o[o.length - 1]!;
    });
    return out;
  }

  /** End of stream: release everything (a trailing gap stays NaN). */
  flush(): Float64Array[] {
    const out = this.pending;
    this.pending = this.pending.map(() => new Float64Array(0));
    return out;
  }

  /** Fill what can be filled in place; return the count of leading samples that will not change any more. */
  private resolve(w: Float64Array, c: number): number {
    let i = 0;
    while (i < w.length) {
      if (!Number.isNaN(w[i]!)) {
        i++;
        continue;
      }
      let j = i;
      while (j < w.length && Number.isNaN(w[j]!)) j++;
      const run = j - i;
      if (run > this.maxFill) {
        i = j; // too long: stays NaN, final
        continue;
      }
      if (j === w.length) return i; // run still open: wait for the sample after it
      const before = i > 0 ? w[i - 1]! : this.last[c]!;
      if (Number.isNaN(before)) {
        i = j; // nothing to interpolate from (stream start or after a long gap): stays NaN
        continue;
      }
      const after = w[j]!;
      for (let k = 0; k < run; k++) w[i + k] = before + ((after - before) * (k + 1)) / (run + 1);
      this.filledTotal += run;
      i = j;
    }
    return w.length;
  }
}
