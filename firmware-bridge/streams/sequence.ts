/**
 * Unwraps a packet counter that wraps at `modulus` into a monotonic absolute index. The counter alone can say
 * only one thing about a new value: it is d = (raw − last) mod M steps after the head, or M − d steps behind
 * it. Small forward steps advance; small backward steps are reordering or duplicates (returned below the head).
 * A step of half a cycle or more is ambiguous: a hint from elapsed host time may pick between the two readings,
 * but never adds whole wraps: gaps the counter cannot express are not inferred from time (a host clock step
 * would otherwise become thousands of invented lost blocks). Each call is O(1) whatever the hint's value.
 */
export class SequenceUnwrapper {
  private lastRaw = -1;
  private highest = 0;
  private everStarted = false;

  constructor(readonly modulus: number) {
    if (!(modulus >= 2) || !Number.isInteger(modulus)) throw new RangeError(`modulus must be an integer ≥ 2, got ${modulus}`);
  }

  get started(): boolean {
    return this.lastRaw >= 0;
  }

  /** Highest absolute index accepted so far. */
  get head(): number {
    return this.highest;
  }

  /** Forget history: the next counter value starts a new run after the current head (or at absolute index `at`). */
  reset(at?: number): void {
    this.lastRaw = -1;
    if (at !== undefined) this.highest = at;
  }

  /**
   * Where `raw` falls, without changing state.
   * @param raw counter value in [0, modulus)
   * @param hint absolute index expected from elapsed host time; used only for steps of half a cycle or more and
   *   only when it lies within (head − M/2, head + M): a hint outside what one counter step can reach is ignored.
   */
  peek(raw: number, hint?: number): number {
    const M = this.modulus;
    const r = mod(raw, M);
    if (this.lastRaw < 0) {
      // First value of a run: the very first maps to itself; after reset() the run continues above the old head.
      return this.everStarted ? this.highest + 1 + mod(r - this.highest - 1, M) : r;
    }
    const d = mod(r - this.lastRaw, M);
    const forward = this.highest + d;
    const behind = forward - M;
    if (d >= M / 2 && hint !== undefined && Number.isFinite(hint) && hint > this.highest - M / 2 && hint < this.highest + M) {
      return Math.abs(forward - hint) < Math.abs(behind - hint) ? forward : behind;
    }
    return d < M / 2 ? forward : behind;
  }

  /** Commit a located value: `abs` as returned by peek() for `raw` (or a run's first value). */
  accept(abs: number, raw: number): void {
    if (this.lastRaw < 0 || abs > this.highest) {
      this.highest = abs;
      this.lastRaw = mod(raw, this.modulus);
      this.everStarted = true;
    }
  }

  /** peek() then accept(). */
  unwrap(raw: number, hint?: number): number {
    const abs = this.peek(raw, hint);
    this.accept(abs, raw);
    return abs;
  }
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}
