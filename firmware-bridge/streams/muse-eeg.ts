/**
 * Reassembles Muse EEG notifications (one characteristic per electrode, all sharing a 16-bit block index) into
 * sample rows on the 256 Hz grid. A thin Muse-specific face over BlockAssembler: blocks are grouped by index,
 * the index is unwrapped across 0xffff, duplicates are dropped, lost blocks become NaN rows plus a gap event,
 * and sample times come from a running fit of arrival time on sample index (see SampleClock).
 */
import { MUSE } from '../protocols/muse.js';
import { BlockAssembler, type BlockEvent, type BlockStreamStats, type ClockEvent } from './blocks.js';

export interface EegRows {
  kind: 'eeg';
  /** host time (ms) of each row */
  t: Float64Array;
  /** one array per channel, same length as t; NaN where an electrode's block was lost */
  channels: Float64Array[];
  /** absolute index of the first row since the stream started */
  firstSample: number;
}
export interface GapEvent {
  kind: 'gap';
  stream: 'eeg';
  /** samples lost per affected electrode */
  lostSamples: number;
  fromSample: number;
  /** affected electrodes; absent when every electrode lost these samples */
  channels?: string[];
  /** true when NaN rows were emitted for the gap */
  filled: boolean;
}
/** The host clock stepped, glitched or gave an unusable time (no sample is lost by it; see SampleClock). */
export type EegClockEvent = ClockEvent & { stream: 'eeg' };
export type EegStreamEvent = EegRows | GapEvent | EegClockEvent;

export interface MuseEegAssemblerOptions {
  /** Electrode count: 4 (TP9, AF7, AF8, TP10) or 5 with the right AUX input (presets p20/p50). */
  channels?: number;
  /** Blocks to wait for a late electrode before emitting a block with NaN for it. */
  maxLagBlocks?: number;
  /** Channel names (default TP9, AF7, AF8, TP10[, AUX]). */
  names?: readonly string[];
}

export class MuseEegAssembler {
  private readonly inner: BlockAssembler;

  constructor(opts: MuseEegAssemblerOptions = {}) {
    const n = opts.channels ?? opts.names?.length ?? 4;
    const names = opts.names ?? ['TP9', 'AF7', 'AF8', 'TP10', 'AUX'].slice(0, n);
    if (names.length !== n) throw new RangeError(`${n} channels but ${names.length} names`);
    this.inner = new BlockAssembler({
      stream: 'eeg',
      channels: names,
      samplesPerBlock: MUSE.samplesPerPacket,
      sampleRate: MUSE.sampleRate,
      indexModulus: 0x10000,
      ...(opts.maxLagBlocks !== undefined ? { maxLagBlocks: opts.maxLagBlocks } : {}),
    });
  }

  get stats(): BlockStreamStats {
    return this.inner.stats;
  }

  /** Feed one decoded block of `channel` (0-based electrode order). Returns the events it completes. */
  push(channel: number, index: number, samples: Float64Array, hostTimeMs: number): EegStreamEvent[] {
    return this.inner.push(channel, index, samples, hostTimeMs).map(toEeg);
  }

  /** Emit everything still pending (end of stream). */
  flush(): EegStreamEvent[] {
    return this.inner.flush().map(toEeg);
  }

  /** The host halted and resumed the stream: re-anchor counter and clock. */
  restart(): EegStreamEvent[] {
    return this.inner.restart().map(toEeg);
  }
}

function toEeg(e: BlockEvent): EegStreamEvent {
  if (e.kind === 'rows') return { kind: 'eeg', t: e.t, channels: e.channels, firstSample: e.firstSample };
  if (e.kind === 'clock') return { ...e, stream: 'eeg' };
  return { ...e, stream: 'eeg' };
}
