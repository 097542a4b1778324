/**
 * Generic reassembly of a sampled stream that arrives in numbered blocks, possibly one notification per channel
 * (Muse EEG: one characteristic per electrode, all sharing a 16-bit block index) or all channels at once (IMU,
 * Ganglion, open profile). It unwraps the counter, groups channels by block, waits a few blocks for late or
 * reordered packets, drops duplicates, accounts for every lost sample in gap events, marks missing channels as
 * NaN, and stamps every sample on a regular grid anchored to the host clock (see SampleClock).
 */
import { SampleClock, type SampleClockOptions } from './clock.js';
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

export type BlockEvent = RowsEvent | GapEvent;

export interface BlockStreamStats {
  blocks: number;
  duplicates: number;
  /** Packets that arrived after their block had been emitted: duplicates of emitted blocks, or too late (then already counted as lost). */
  late: number;
  /** Channel-samples lost (a lost block of 12 samples on 4 channels counts 48). */
  lostSamples: number;
  restarts: number;
  /** Packets whose counter jumped far from the stream and was not confirmed by the next packet (corruption). */
  suspect: number;
}

export class BlockAssembler {
  readonly config: Required<Omit<BlockStreamConfig, 'clock'>> & { clock?: SampleClockOptions };
  readonly clock: SampleClock;
  readonly stats: BlockStreamStats = { blocks: 0, duplicates: 0, late: 0, lostSamples: 0, restarts: 0, suspect: 0 };
  private readonly nCh: number;
  private readonly seq: SequenceUnwrapper;
  private readonly pending = new Map<number, (Float64Array | null)[]>();
  private next: number | null = null;
  private highest = -Infinity;
  private lastT = -Infinity;
  private suspect: { abs: number; t: number } | null = null;

  constructor(config: BlockStreamConfig) {
    this.config = {
      maxLagBlocks: 4,
      maxFillSamples: 2 * config.sampleRate,
      restartBlocks: 64,
      ...config,
    };
    this.nCh = config.channels.length;
    if (this.nCh < 1) throw new RangeError('a block stream needs at least one channel');
    this.seq = new SequenceUnwrapper(config.indexModulus);
    this.clock = new SampleClock(config.sampleRate, config.clock);
  }

  /** Feed one channel's block. */
  push(channel: number, rawIndex: number, samples: Float64Array, hostMs: number): BlockEvent[] {
    if (channel < 0 || channel >= this.nCh || !Number.isInteger(channel)) throw new RangeError(`channel ${channel} out of range 0..${this.nCh - 1}`);
    if (samples.length !== this.config.samplesPerBlock) throw new RangeError(`a ${this.config.stream} block holds ${this.config.samplesPerBlock} samples, got ${samples.length}`);
    const out: BlockEvent[] = [];
    const abs = this.locate(rawIndex, hostMs, out);
    if (abs === null) return out;
    let entry = this.pending.get(abs);
    if (!entry) {
      entry = new Array<Float64Array | null>(this.nCh).fill(null);
      this.pending.set(abs, entry);
      this.clock.observe((abs + 1) * this.config.samplesPerBlock - 1, hostMs);
    }
    if (entry[channel]) {
      this.stats.duplicates++;
      return out;
    }
    entry[channel] = samples;
    if (abs > this.highest) this.highest = abs;
    this.drain(false, out);
    return out;
  }

  /** Feed a block holding every channel (channels[c] has samplesPerBlock values). */
  pushAll(rawIndex: number, channels: readonly Float64Array[], hostMs: number): BlockEvent[] {
    if (channels.length !== this.nCh) throw new RangeError(`expected ${this.nCh} channels, got ${channels.length}`);
    const out: BlockEvent[] = [];
    const abs = this.locate(rawIndex, hostMs, out);
    if (abs === null) return out;
    if (this.pending.has(abs)) {
      this.stats.duplicates++;
      return out;
    }
    this.pending.set(abs, channels.slice());
    this.clock.observe((abs + 1) * this.config.samplesPerBlock - 1, hostMs);
    if (abs > this.highest) this.highest = abs;
    this.drain(false, out);
    return out;
  }

  /** Emit everything still pending (end of stream). */
  flush(): BlockEvent[] {
    const out: BlockEvent[] = [];
    this.drain(true, out);
    return out;
  }

  /** The stream was restarted by the host (e.g. halt then resume): flush and re-anchor counter and clock. */
  restart(): BlockEvent[] {
    const out = this.flush();
    this.seq.reset();
    this.clock.reset();
    this.next = null;
    this.highest = -Infinity;
    return out;
  }

  /** Absolute block of a packet, or null when it is a duplicate/late arrival or an unconfirmed jump. */
  private locate(rawIndex: number, hostMs: number, out: BlockEvent[]): number | null {
    const spb = this.config.samplesPerBlock;
    const expected = this.clock.ready ? this.clock.sampleAt(hostMs) / spb - 1 : undefined;
    const head = this.seq.head;
    const started = this.next !== null;
    // Probe without committing: a corrupted counter byte must not move the stream.
    const probe = this.seq.peek(rawIndex, expected);
    const farAhead = started && probe > head + this.config.restartBlocks && (expected === undefined || probe > expected + this.config.restartBlocks);
    const farBehind = started && probe < this.next! - this.config.restartBlocks;
    if (farAhead || farBehind) {
      // Accept a jump only when a second packet confirms it (all channels of a real jump agree).
      const s = this.suspect;
      if (!s || Math.abs(probe - s.abs) > this.config.maxLagBlocks + 1 || hostMs - s.t > 2000) {
        this.suspect = { abs: probe, t: hostMs };
        this.stats.suspect++;
        return null;
      }
      this.suspect = null;
      if (farBehind) {
        // The device restarted its counter: flush and continue the sample count after what we have.
        this.stats.restarts++;
        this.drain(true, out);
        this.seq.reset();
        this.clock.reset();
        const abs = this.seq.unwrap(rawIndex);
        this.next = abs;
        this.highest = abs;
        return abs;
      }
    } else this.suspect = null;
    const abs = this.seq.unwrap(rawIndex, expected);
    if (this.next === null) this.next = abs;
    if (abs < this.next) {
      this.stats.late++;
      return null;
    }
    return abs;
  }

  private drain(all: boolean, out: BlockEvent[]): void {
    const { samplesPerBlock: spb, maxLagBlocks, maxFillSamples, channels, stream } = this.config;
    while (this.next !== null && this.next <= this.highest) {
      const abs = this.next;
      const e = this.pending.get(abs);
      const complete = e !== undefined && e.every((d) => d !== null);
      if (!complete && !all && this.highest - abs < maxLagBlocks) break;
      if (!e) {
        // A run of wholly lost blocks up to the next block we hold.
        let m = 1;
        while (abs + m <= this.highest && !this.pending.has(abs + m)) m++;
        const lost = m * spb;
        const filled = lost <= maxFillSamples;
        this.stats.lostSamples += lost * this.nCh;
        out.push({ kind: 'gap', stream, lostSamples: lost, fromSample: abs * spb, filled });
        if (filled) out.push(this.rows(abs, m, null));
        this.next = abs + m;
        continue;
      }
      const missing = channels.filter((_, c) => e[c] === null);
      if (missing.length > 0) {
        this.stats.lostSamples += spb * missing.length;
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
      // Keep rows strictly increasing even when the fit moves backwards a little between blocks.
      if (!(v > this.lastT)) v = this.lastT + period * 0.5;
      t[j] = v;
      this.lastT = v;
    }
    const channels = Array.from({ length: this.nCh }, (_, c) => data?.[c] ?? new Float64Array(n).fill(NaN));
    return { kind: 'rows', stream: this.config.stream, firstSample: first, t, channels };
  }
}
