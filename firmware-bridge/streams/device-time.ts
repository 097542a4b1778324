/**
 * Block numbers from a device clock instead of a packet counter (Muse S Athena stamps every packet with a u32
 * count of 256 kHz ticks and has no per-stream counter we trust). A packet's block is its tick distance from a
 * reference packet over the ticks one block spans, rounded; the reference follows the stream, so the u32 wrap
 * (every 4.7 h) needs no special case and a bad tick value cannot move it: the reference moves only to a packet
 * within `window` blocks of it, or to one that agrees with the packet just before it. Duplicates and reordered
 * packets get the same block numbers as the originals, so the block assembler can drop and reorder them. A
 * corrupted tick gives a far block that the assembler holds until another packet confirms it (it never does).
 */
export class DeviceTimeBlocks {
  private ref: { ticks: number; block: number } | null = null;
  private last: { ticks: number; block: number } | null = null;

  constructor(
    readonly ticksPerBlock: number,
    readonly tickModulus = 2 ** 32,
    readonly window = 64,
  ) {
    if (!(ticksPerBlock > 0)) throw new RangeError(`ticks per block must be > 0, got ${ticksPerBlock}`);
  }

  /** Block number of a packet stamped `ticks` (0 for the first packet; may be negative before it). */
  block(ticks: number): number {
    const here = { ticks, block: 0 };
    if (!this.ref || !this.last) {
      this.ref = this.last = here;
      return 0;
    }
    const n = this.steps(this.ref, ticks);
    if (Math.abs(n) <= this.window) {
      here.block = this.ref.block + n;
      this.ref = here;
    } else {
      const m = this.steps(this.last, ticks);
      if (this.last !== this.ref && Math.abs(m) <= this.window) {
        // Two packets in a row agree on a new place: the stream really moved (a long loss, a device restart).
        here.block = this.last.block + m;
        this.ref = here;
      } else here.block = this.ref.block + n;
    }
    this.last = here;
    return here.block;
  }

  private steps(from: { ticks: number }, ticks: number): number {
    const M = this.tickModulus;
    let d = (((ticks - from.ticks) % M) + M) % M;
    if (d >= M / 2) d -= M;
    return Math.round(d / this.ticksPerBlock);
  }
}
