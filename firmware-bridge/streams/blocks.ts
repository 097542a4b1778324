/**
 * Generic reassembly of a sampled stream that arrives in numbered blocks, possibly one notification per channel
 * (Muse EEG: one characteristic per electrode, all sharing a 16-bit block index) or all channels at once (IMU,
 * Ganglion, open profile). It unwraps the counter, groups channels by block, waits a few blocks for late or
 * reordered packets, drops duplicates, accounts for every lost sample in gap events, marks missing channels as
 * NaN, and stamps every sample on a regular grid anchored to the host clock (see SampleClock).
 *
 * Lost samples are counted from the packet counter only, never from host time: between two accepted packets at
 * most one counter cycle can be lost, and a jump beyond the reordering window is accepted only when another
 * packet confirms it (a corrupted counter is not). Host time misbehaving (steps, glitches, NaN, 1e308) is
 * reported as clock events and changes only the times of rows, never which samples they hold. Work per packet
 * is bounded by the window sizes, whatever the counter or the timestamp says.
 */
import { SampleClock, usableHostTime, type ClockChange, type SampleClockOptions } from './clock.js';
import { SequenceUnwrapper } from './sequence.js';

export interface BlockStreamConfig {
  /** Stream name used in events, e.g. "eeg", "accelerometer". */
  stream: string;
  channels: readonly string[];
  samplesPerBlock: number;
  sampleRate: number;
  /** The block counter wraps at this value (65536 for a uint16). */
  indexModulus: number;
  /** Blocks to wait for a late channel or a reordered block before giving up on it (default 4). */
  maxLagBlocks?: number;
  /** Lost stretches up to this many samples are filled with NaN rows so the grid stays continuous (default 2 s). */
  maxFillSamples?: number;
  /** A block this many blocks behind the stream is not late but a restarted counter (default 64). */
  restartBlocks?: number;
  clock?: SampleClockOptions;
}

export interface RowsEvent {
  kind: 'rows';
  stream: string;
  /** Absolute index of the first row's sample since the stream started. */
  firstSample: number;
  /** Host time (ms) of each row, on the sampling grid. */
  t: Float64Array;
  /** One array per channel (config order), same length as t; NaN where the channel's data were lost. */
  channels: Float64Array[];
}

export interface GapEvent {
  kind: 'gap';
  stream: string;
  /** Samples lost per affected channel. */
  lostSamples: number;
  /** Absolute sample index where the gap starts. */
  fromSample: number;
  /** Channels affected; absent when the whole stream (every channel) lost these samples. */
  channels?: string[];
  /** True when NaN rows were emitted for the gap; false for long gaps (the time grid jumps instead). */
  filled: boolean;
}

/** The host clock did something the sampling grid does not follow (see ClockChange); no sample is lost by it. */
export interface ClockEvent {
  kind: 'clock';
  stream: string;
  change: ClockChange['change'];
  /** Absolute sample index where it was first seen. */
  fromSample: number;
  /** The host time that showed it. */
  hostMs: number;
  /** Host time minus the grid's time there (ms); null when not measurable. */
  jumpMs: number | null;
  notifications: number;
}

export type BlockEvent = RowsEvent | GapEvent | ClockEvent;

export interface BlockStreamStats {
  blocks: number;
  duplicates: number;
  /** Packets that arrived after their block had been emitted: duplicates of emitted blocks, or too late (then already counted as lost). */
  late: number;
  /** Channel-samples lost (a lost block of 12 samples on 4 channels counts 48). */
  lostSamples: number;
  restarts: number;
  /** Packets whose counter jumped far from the stream and was not confirmed by another packet (corruption). */
  suspect: number;
  /** Samples lost per channel (by name); sums to lostSamples. */
  lostByChannel: Record<string, number>;
  /** Clock events reported: host time steps (re-anchored), glitches and unusable times (ignored). */
  clockSteps: number;
  clockGlitches: number;
  invalidTimes: number;
}

interface Held {
  abs: number;
  raw: number;
  /** Channel index, or −1 for a block holding every channel. */
  channel: number;
  data: Float64Array | readonly Float64Array[];
  hostMs: number;
  behind: boolean;
  headAtHold: number;
}

export class BlockAssembler {
  readonly config: Required<Omit<BlockStreamConfig, 'clock'>> & { clock?: SampleClockOptions };
  readonly clock: SampleClock;
  readonly stats: BlockStreamStats;
  private readonly nCh: number;
  private readonly seq: SequenceUnwrapper;
  private readonly pending = new Map<number, (Float64Array | null)[]>();
  private next: number | null = null;
  private highest = -Infinity;
  private lastT = -Infinity;
  /** Packets whose counter is far from the stream (or that would start it), waiting for a second packet to agree. */
  private held: Held[] = [];

  constructor(config: BlockStreamConfig) {
    this.config = {
      maxLagBlocks: 4,
      maxFillSamples: 2 * config.sampleRate,
      restartBlocks: 64,
      ...config,
    };
    this.nCh = config.channels.length;
    if (this.nCh < 1) throw new RangeError('a block stream needs at least one channel');
    if (!(config.samplesPerBlock >= 1) || !Number.isInteger(config.samplesPerBlock))
      throw new RangeError(`samplesPerBlock must be an integer ≥ 1, got ${config.samplesPerBlock}`);
    this.seq = new SequenceUnwrapper(config.indexModulus);
    this.clock = new SampleClock(config.sampleRate, config.clock);
    this.stats = {
      blocks: 0,
      duplicates: 0,
      late: 0,
      lostSamples: 0,
      restarts: 0,
      suspect: 0,
      lostByChannel: Object.fromEntries(config.channels.map((c) => [c, 0])),
      clockSteps: 0,
      clockGlitches: 0,
      invalidTimes: 0,
    };
  }

  /** Feed one channel's block. */
  push(channel: number, rawIndex: number, samples: Float64Array, hostMs: number): BlockEvent[] {
    if (channel < 0 || channel >= this.nCh || !Number.isInteger(channel))
      throw new RangeError(`channel ${channel} out of range 0..${this.nCh - 1}`);
    if (samples.length !== this.config.samplesPerBlock)
      throw new RangeError(`a ${this.config.stream} block holds ${this.config.samplesPerBlock} samples, got ${samples.length}`);
    const out: BlockEvent[] = [];
    this.arrive(rawIndex, hostMs, channel, samples, out);
    return out;
  }

  /** Feed a block holding every channel (channels[c] has samplesPerBlock values). */
  pushAll(rawIndex: number, channels: readonly Float64Array[], hostMs: number): BlockEvent[] {
    if (channels.length !== this.nCh) throw new RangeError(`expected ${this.nCh} channels, got ${channels.length}`);
    for (const c of channels)
      if (c.length !== this.config.samplesPerBlock)
        throw new RangeError(`a ${this.config.stream} block holds ${this.config.samplesPerBlock} samples, got ${c.length}`);
    const out: BlockEvent[] = [];
    this.arrive(rawIndex, hostMs, -1, channels, out);
    return out;
  }

  /** Emit everything still pending (end of stream). */
  flush(): BlockEvent[] {
    const out: BlockEvent[] = [];
    if (this.next === null && this.held.length > 0) {
      // A stream of a single packet: nothing contradicts it.
      const [first, ...rest] = this.held;
      this.held = [];
      this.stats.suspect += rest.length;
      this.startRun([first!], out);
    }
    this.stats.suspect += this.held.length;
    this.held = [];
    this.drain(true, out);
    this.clock.finish();
    this.clockEvents(out);
    return out;
  }

  /** The stream was restarted by the host (e.g. halt then resume): flush and re-anchor counter and clock. */
  restart(): BlockEvent[] {
    const out = this.flush();
    this.seq.reset();
    this.clock.reset();
    this.clockEvents(out);
    this.next = null;
    this.highest = -Infinity;
    return out;
  }

  private arrive(raw: number, hostMs: number, channel: number, data: Float64Array | readonly Float64Array[], out: BlockEvent[]): void {
    const spb = this.config.samplesPerBlock;
    const usable = usableHostTime(hostMs);
    // An unusable time is reported by the clock when the packet is observed; held packets are not observed.
    if (usable) this.clock.valid();
    const unobserved = (abs: number) => !usable && this.clock.invalid((abs + 1) * spb - 1, hostMs);
    const window = this.config.maxLagBlocks + 1;
    if (this.next === null) {
      // A stream starts only when two packets agree, so a corrupted first counter cannot set it.
      const M = this.config.indexModulus;
      const mates = this.held.filter((h) => modDist(h.raw, raw, M) <= window && (h.raw !== raw || (channel >= 0 && h.channel !== channel)));
      const me: Held = { abs: 0, raw, channel, data, hostMs, behind: false, headAtHold: 0 };
      if (mates.length === 0) {
        unobserved(0);
        this.hold(me);
        return this.clockEvents(out);
      }
      this.stats.suspect += this.held.length - mates.length;
      this.held = [];
      this.startRun([...mates, me], out);
    } else {
      const hint = usable ? this.clock.sampleAt(hostMs) / spb - 1 : undefined;
      const probe = this.seq.peek(raw, hint);
      const head = this.seq.head;
      if (probe < this.next && probe >= this.next - this.config.restartBlocks) {
        this.stats.late++;
        this.clock.observe((probe + 1) * spb - 1, hostMs, false);
      } else if (probe < this.next || probe > head + window) {
        const behind = probe < this.next;
        const me: Held = { abs: probe, raw, channel, data, hostMs, behind, headAtHold: head };
        const mates = this.held.filter(
          (h) => h.behind === behind && Math.abs(h.abs - probe) <= window && (h.abs !== probe || (channel >= 0 && h.channel !== channel)),
        );
        if (mates.length === 0) {
          unobserved(head + 1);
          this.hold(me);
        } else {
          // Confirmed: a real jump (lost blocks, counted by the counter) or a restarted counter.
          this.stats.suspect += this.held.length - mates.length;
          this.held = [];
          if (behind) {
            this.stats.restarts++;
            this.drain(true, out);
            this.seq.reset();
            this.clock.reset();
            this.clockEvents(out);
            this.next = null;
            this.highest = -Infinity;
            this.startRun([...mates, me], out);
          } else for (const h of [...mates, me]) this.store(h.abs, h.raw, h.channel, h.data, h.hostMs, out);
        }
      } else {
        this.store(probe, raw, channel, data, hostMs, out);
        // Held packets the stream has moved past without confirming them were corrupted.
        if (this.held.length > 0) {
          const keep = this.held.filter((h) => this.seq.head - h.headAtHold <= window);
          this.stats.suspect += this.held.length - keep.length;
          this.held = keep;
        }
      }
    }
    this.clockEvents(out);
  }

  private hold(h: Held): void {
    this.held.push(h);
    // Bounded: enough for every channel of a couple of blocks.
    if (this.held.length > 2 * this.nCh + 8) {
      this.held.shift();
      this.stats.suspect++;
    }
  }

  /** Begin a run of the counter with packets that agree (arrival order); the earliest in counter order leads. */
  private startRun(hs: Held[], out: BlockEvent[]): void {
    const M = this.config.indexModulus;
    const base = hs[0]!.raw;
    const off = hs.map((h) => signedMod(h.raw - base, M));
    const min = Math.min(...off);
    const lead = hs[off.indexOf(min)]!;
    const abs0 = this.seq.peek(lead.raw);
    this.seq.accept(abs0, lead.raw);
    this.next = abs0;
    hs.forEach((h, i) => this.store(abs0 + off[i]! - min, h.raw, h.channel, h.data, h.hostMs, out));
  }

  private store(
    abs: number,
    raw: number,
    channel: number,
    data: Float64Array | readonly Float64Array[],
    hostMs: number,
    out: BlockEvent[],
  ): void {
    const spb = this.config.samplesPerBlock;
    this.seq.accept(abs, raw);
    if (abs < this.next!) {
      this.stats.late++;
      this.clock.observe((abs + 1) * spb - 1, hostMs, false);
      return;
    }
    let entry = this.pending.get(abs);
    if (channel >= 0) {
      if (!entry) {
        entry = new Array<Float64Array | null>(this.nCh).fill(null);
        this.pending.set(abs, entry);
        this.clock.observe((abs + 1) * spb - 1, hostMs);
      } else this.clock.observe((abs + 1) * spb - 1, hostMs, false);
      if (entry[channel]) {
        this.stats.duplicates++;
        return;
      }
      entry[channel] = data as Float64Array;
    } else {
      if (entry) {
        this.clock.observe((abs + 1) * spb - 1, hostMs, false);
        this.stats.duplicates++;
        return;
      }
      this.pending.set(abs, (data as readonly Float64Array[]).slice());
      this.clock.observe((abs + 1) * spb - 1, hostMs);
    }
    if (abs > this.highest) this.highest = abs;
    this.drain(false, out);
  }

  private clockEvents(out: BlockEvent[]): void {
    for (const c of this.clock.takeChanges()) {
      if (c.change === 'step') {
        this.stats.clockSteps++;
        // Rows follow the host clock: after a step (either way) their times continue from the new anchor.
        this.lastT = -Infinity;
      } else if (c.change === 'glitch') this.stats.clockGlitches++;
      else this.stats.invalidTimes++;
      out.push({
        kind: 'clock',
        stream: this.config.stream,
        change: c.change,
        fromSample: c.atSample,
        hostMs: c.hostMs,
        jumpMs: c.jumpMs,
        notifications: c.notifications,
      });
    }
  }

  private drain(all: boolean, out: BlockEvent[]): void {
    const { samplesPerBlock: spb, maxLagBlocks, maxFillSamples, channels, stream } = this.config;
    while (this.next !== null && this.next <= this.highest) {
      const abs = this.next;
      const e = this.pending.get(abs);
      const complete = e !== undefined && e.every((d) => d !== null);
      if (!complete && !all && this.highest - abs < maxLagBlocks) break;
      if (!e) {
        // A run of wholly lost blocks up to the next block held (pending is small: no walk over the gap).
        let to = this.highest;
        for (const k of this.pending.keys()) if (k > abs && k < to) to = k;
        const m = to - abs;
        const lost = m * spb;
        const filled = lost <= maxFillSamples;
        this.stats.lostSamples += lost * this.nCh;
        for (const c of channels) this.stats.lostByChannel[c]! += lost;
        out.push({ kind: 'gap', stream, lostSamples: lost, fromSample: abs * spb, filled });
        if (filled) out.push(this.rows(abs, m, null));
        this.next = abs + m;
        continue;
      }
      const missing = channels.filter((_, c) => e[c] === null);
      if (missing.length > 0) {
        this.stats.lostSamples += spb * missing.length;
        for (const c of missing) this.stats.lostByChannel[c]! += spb;
        out.push({ kind: 'gap', stream, lostSamples: spb, fromSample: abs * spb, channels: missing, filled: true });
      }
      out.push(this.rows(abs, 1, e));
      this.stats.blocks++;
      this.pending.delete(abs);
      this.next = abs + 1;
    }
  }

  private rows(abs: number, blocks: number, data: (Float64Array | null)[] | null): RowsEvent {
    const spb = this.config.samplesPerBlock;
    const n = spb * blocks;
    const first = abs * spb;
    const t = new Float64Array(n);
    const period = this.clock.periodMs;
    for (let j = 0; j < n; j++) {
      let v = this.clock.timeOf(first + j);
      if (Number.isNaN(v)) {
        // No usable host time yet: the row has no time, but keeps its place on the sample grid.
        t[j] = NaN;
        continue;
      }
      // Keep rows strictly increasing even when the fit moves backwards a little between blocks.
      if (!(v > this.lastT)) v = this.lastT + period * 0.5;
      t[j] = v;
      this.lastT = v;
    }
    const channels = Array.from({ length: this.nCh }, (_, c) => data?.[c] ?? new Float64Array(n).fill(NaN));
    return { kind: 'rows', stream: this.config.stream, firstSample: first, t, channels };
  }
}

function signedMod(a: number, m: number): number {
  const r = ((a % m) + m) % m;
  return r >= m / 2 ? r - m : r;
}

function modDist(a: number, b: number, m: number): number {
  return Math.abs(signedMod(a - b, m));
}
