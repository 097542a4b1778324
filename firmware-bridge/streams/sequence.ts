/**
 * Unwraps a packet counter that wraps at `modulus` into a monotonic absolute index. Small backward steps are
 * reordering or duplicates (returned below the highest index seen); forward steps advance. After a long gap the
 * counter may have wrapped several times: given the index the sample clock expects, the unwrapper picks the
 * number of whole wraps that best matches elapsed time.
 */
export class SequenceUnwrapper {
  private lastRaw = -1;
  private highest = 0;

  constructor(readonly modulus: number) {
    if (!(modulus >= 2) || !Number.isInteger(modulus)) throw new RangeError(`modulus must be an integer ≥ 2, got ${modulus}`);
  }

  get started(): boolean {
    return this.lastRaw >= 0;
  }

  /** Highest absolute index returned so far. */
  get head(): number {
    return this.highest;
  }

  /** Forget history: the next counter value starts a new run at absolute index `at` (e.g. after a stream restart). */
  reset(at?: number): void {
    this.lastRaw = -1;
    if (at !== undefined) this.highest = at;
  }

  /** The absolute index unwrap() would return, without changing state. */
  peek(raw: number, expected?: number): number {
    const saved = [this.lastRaw, this.highest, this.everStarted] as const;
    const v = this.unwrap(raw, expected);
    [this.lastRaw, this.highest, this.everStarted] = saved;
    return v;
  }

  /**
   * @param raw counter value in [0, modulus)
   * @param expected absolute index predicted from elapsed time, if known
   */
  unwrap(raw: number, expected?: number): number {
    const M = this.modulus;
    if (this.lastRaw < 0) {
      // First value of a run: the very first maps to itself; after reset() the run continues above the old head.
      let abs = raw;
      if (this.everStarted) abs = this.highest + 1 + ((((raw - this.highest - 1) % M) + M) % M);
      this.everStarted = true;
      if (expected !== undefined && Number.isFinite(expected) && expected > abs) abs += Math.max(0, Math.floor((expected - abs) / M + 0.25)) * M;
      this.lastRaw = raw;
      this.highest = abs;
      return abs;
    }
    let d = (((raw - this.lastRaw) % M) + M) % M;
    if (d >= M / 2) d -= M;
    let abs = this.highest + d;
    if (d > 0 && expected !== undefined && Number.isFinite(expected)) {
      // Only trust the clock for whole wraps it is sure about: late bursts after a stall must not add a wrap.
      const k = Math.floor((expected - abs) / M + 0.25);
      if (k > 0) abs += k * M;
    }
    if (abs > this.highest) {
      this.highest = abs;
      this.lastRaw = raw;
    }
    return abs;
  }

  private everStarted = false;
}
