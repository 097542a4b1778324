import { describe, expect, it } from 'vitest';
import { BlockAssembler, type BlockEvent } from '../../firmware-bridge/streams/blocks.js';
import { SampleClock } from '../../firmware-bridge/streams/clock.js';
import { SequenceUnwrapper } from '../../firmware-bridge/streams/sequence.js';
import { MuseEegAssembler } from '../../firmware-bridge/streams/muse-eeg.js';
import { Rng } from '../../firmware-bridge/sim/rng.js';

const NAMES = ['TP9', 'AF7', 'AF8', 'TP10'];
const BLOCK_MS = (12 / 256) * 1000;
/** Value of channel c at absolute sample n (distinct everywhere, so misplaced samples are caught). */
const val = (c: number, n: number) => c * 1e6 + n;
const block = (c: number, b: number) => Float64Array.from({ length: 12 }, (_, j) => val(c, b * 12 + j));

function collect(events: BlockEvent[], rows: Map<number, number[]>, gaps: BlockEvent[]): void {
  for (const e of events) {
    if (e.kind === 'gap') gaps.push(e);
    else for (let j = 0; j < e.t.length; j++) rows.set(e.firstSample + j, e.channels.map((ch) => ch[j]!));
  }
}

describe('BlockAssembler', () => {
  it('unwraps the 16-bit index across 0xffff and accounts exactly for lost blocks, lost electrodes, duplicates and reordering', () => {
    const asm = new BlockAssembler({ stream: 'eeg', channels: NAMES, samplesPerBlock: 12, sampleRate: 256, indexModulus: 0x10000 });
    const rows = new Map<number, number[]>();
    const gaps: BlockEvent[] = [];
    const first = 65530; // wraps after 6 blocks
    const lostWhole = new Set([3, 4, 20]);
    const lostChannel = new Map([[8, 1], [15, 3]]);
    const order: [number, number][] = [];
    for (let b = 0; b < 40; b++) {
      if (lostWhole.has(b)) continue;
      for (let c = 0; c < 4; c++) if (lostChannel.get(b) !== c) order.push([b, c]);
    }
    // swap a few neighbours (reordering within the lag window) and duplicate some packets
    for (const k of [10, 31, 60, 90]) [order[k], order[k + 5]] = [order[k + 5]!, order[k]!];
    const stream = [...order.slice(0, 50), order[12]!, ...order.slice(50), order[70]!];
    let t = 1000;
    for (const [b, c] of stream) {
      t += BLOCK_MS / 4;
      collect(asm.push(c, (first + b) % 0x10000, block(c, first + b), t), rows, gaps);
    }
    collect(asm.flush(), rows, gaps);
    expect(asm.stats.duplicates + asm.stats.late).toBe(2);
    // every row present, in place; NaN exactly where lost
    for (let b = 0; b < 40; b++)
      for (let j = 0; j < 12; j++) {
        const n = (first + b) * 12 + j;
        const r = rows.get(n)!;
        expect(r).toBeDefined();
        for (let c = 0; c < 4; c++) {
          if (lostWhole.has(b) || lostChannel.get(b) === c) expect(r[c]).toBeNaN();
          else expect(r[c]).toBe(val(c, n));
        }
      }
    const whole = gaps.filter((g) => g.kind === 'gap' && !g.channels);
    expect(whole.map((g) => g.kind === 'gap' && [g.fromSample, g.lostSamples])).toEqual([
      [(first + 3) * 12, 24],
      [(first + 20) * 12, 12],
    ]);
    const partial = gaps.filter((g) => g.kind === 'gap' && g.channels);
    expect(partial.map((g) => g.kind === 'gap' && g.channels)).toEqual([['AF7'], ['TP10']]);
    expect(asm.stats.lostSamples).toBe(3 * 12 * 4 + 2 * 12);
  });

  it('stamps samples on a regular grid even when arrivals jitter', () => {
    const asm = new MuseEegAssembler();
    const rng = new Rng(5);
    const ts: number[] = [];
    for (let b = 0; b < 2000; b++) {
      const arrival = 5000 + (b + 1) * BLOCK_MS + 5 + rng.uniform(0, 25);
      for (let c = 0; c < 4; c++) for (const e of asm.push(c, b & 0xffff, new Float64Array(12), arrival)) if (e.kind === 'eeg') ts.push(...e.t);
    }
    const last = ts.slice(-256 * 10);
    const d = last.slice(1).map((x, i) => x - last[i]!);
    // raw arrival jitter is 25 ms (6 sample periods); the grid moves by well under a period
    for (const x of d) expect(Math.abs(x - 1000 / 256)).toBeLessThan(0.5);
    const sorted = d.map((x) => Math.abs(x - 1000 / 256)).sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length * 0.9)]!).toBeLessThan(0.01);
  });

  it('ignores a corrupted index that jumps far away, but follows a real counter restart', () => {
    const asm = new BlockAssembler({ stream: 'x', channels: ['a'], samplesPerBlock: 1, sampleRate: 100, indexModulus: 0x10000 });
    const gaps: BlockEvent[] = [];
    const rows = new Map<number, number[]>();
    let t = 0;
    for (let i = 0; i < 200; i++) collect(asm.pushAll(i, [Float64Array.of(i)], (t += 10)), rows, gaps);
    collect(asm.pushAll(40000, [Float64Array.of(-1)], (t += 10)), rows, gaps); // corrupted
    for (let i = 200; i < 210; i++) collect(asm.pushAll(i, [Float64Array.of(i)], (t += 10)), rows, gaps);
    collect(asm.flush(), rows, gaps);
    expect(asm.stats.suspect).toBe(1);
    expect(gaps).toEqual([]);
    expect(rows.size).toBe(210);
    // a device restart: counter goes back to 0 and stays consistent
    for (let i = 0; i < 20; i++) collect(asm.pushAll(i, [Float64Array.of(1000 + i)], (t += 10)), rows, gaps);
    collect(asm.flush(), rows, gaps);
    expect(asm.stats.restarts).toBe(1);
    expect(rows.size).toBe(210 + 19); // the first packet after the restart is held as suspect until confirmed
  });
});

describe('SampleClock', () => {
  it('tracks device clock drift and removes jitter', () => {
    const fs = 256;
    const clk = new SampleClock(fs);
    const rng = new Rng(9);
    const drift = 1 + 150e-6; // device runs 150 ppm slow relative to host
    let err = 0;
    for (let b = 0; b < 256 * 120 / 12; b++) {
      const n = (b + 1) * 12 - 1;
      const truth = 10_000 + (n * 1000 * drift) / fs;
      clk.observe(n, truth + rng.uniform(0, 30));
      if (b > 1500) err = Math.max(err, Math.abs(clk.timeOf(n) - truth)); // anchored to the fastest arrivals
    }
    expect(Math.abs(clk.periodMs / (1000 / fs) - drift)).toBeLessThan(30e-6);
    expect(err).toBeLessThan(6); // arrivals jitter by 0–30 ms
  });
  it('re-anchors when the device clock really jumps (pause and resume)', () => {
    const clk = new SampleClock(100);
    for (let n = 0; n < 1000; n++) clk.observe(n, n * 10);
    for (let n = 1000; n < 1300; n++) clk.observe(n, n * 10 + 60_000);
    expect(clk.reanchors).toBe(1);
    expect(clk.timeOf(1299)).toBeCloseTo(1299 * 10 + 60_000, 0);
  });
});

describe('SequenceUnwrapper', () => {
  it('uses elapsed time to count whole wraps after a long gap', () => {
    const u = new SequenceUnwrapper(100);
    expect(u.unwrap(98)).toBe(98);
    expect(u.unwrap(99)).toBe(99);
    expect(u.unwrap(3)).toBe(103);
    expect(u.unwrap(1)).toBe(101); // late packet: behind the head
    expect(u.head).toBe(103);
    expect(u.unwrap(10, 310)).toBe(310); // two whole wraps lost, clock says so
    expect(u.unwrap(20, 360)).toBe(320); // clock disagrees by less than 3/4 wrap: no extra wrap
  });
});
