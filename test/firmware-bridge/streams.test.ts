import { describe, expect, it } from 'vitest';
import { BlockAssembler, type BlockEvent } from '../../firmware-bridge/streams/blocks.js';
import { SampleClock } from '../../firmware-bridge/streams/clock.js';
import { SequenceUnwrapper } from '../../firmware-bridge/streams/sequence.js';
import { MuseEegAssembler } from '../../firmware-bridge/streams/muse-eeg.js';
import { DeviceTimeBlocks } from '../../firmware-bridge/streams/device-time.js';
import { Rng } from '../../firmware-bridge/sim/rng.js';

const NAMES = ['TP9', 'AF7', 'AF8', 'TP10'];
const BLOCK_MS = (12 / 256) * 1000;
/** Value of channel c at absolute sample n (distinct everywhere, so misplaced samples are caught). */
const val = (c: number, n: number) => c * 1e6 + n;
const block = (c: number, b: number) => Float64Array.from({ length: 12 }, (_, j) => val(c, b * 12 + j));

function collect(events: BlockEvent[], rows: Map<number, number[]>, gaps: BlockEvent[]): void {
  for (const e of events) {
    if (e.kind === 'gap') gaps.push(e);
    else if (e.kind === 'rows')
      for (let j = 0; j < e.t.length; j++)
        rows.set(
          e.firstSample + j,
          e.channels.map((ch) => ch[j]!),
        );
  }
}

describe('BlockAssembler', () => {
  it('unwraps the 16-bit index across 0xffff and accounts exactly for lost blocks, lost electrodes, duplicates and reordering', () => {
    const asm = new BlockAssembler({ stream: 'eeg', channels: NAMES, samplesPerBlock: 12, sampleRate: 256, indexModulus: 0x10000 });
    const rows = new Map<number, number[]>();
    const gaps: BlockEvent[] = [];
    const first = 65530; // wraps after 6 blocks
    const lostWhole = new Set([3, 4, 20]);
    const lostChannel = new Map([
      [8, 1],
      [15, 3],
    ]);
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
      for (let c = 0; c < 4; c++)
        for (const e of asm.push(c, b & 0xffff, new Float64Array(12), arrival)) if (e.kind === 'eeg') ts.push(...e.t);
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
    // the first packet after the restart is held until the next confirms it, then kept (it used to be lost)
    expect(rows.size).toBe(210 + 20);
  });
});

describe('BlockAssembler: counters, not host time, count lost samples', () => {
  const mk = () => new BlockAssembler({ stream: 'x', channels: ['a', 'b'], samplesPerBlock: 2, sampleRate: 200, indexModulus: 100 });
  const blk = (i: number) => [Float64Array.of(i, i + 0.5), Float64Array.of(-i, -i - 0.5)];
  function run(asm: BlockAssembler, packets: [raw: number, value: number, t: number][]) {
    const rows = new Map<number, number[]>();
    const gaps: BlockEvent[] = [];
    const clock: BlockEvent[] = [];
    const t0 = performance.now();
    for (const [raw, v, t] of packets) {
      const ev = asm.pushAll(raw, blk(v), t);
      collect(ev, rows, gaps);
      clock.push(...ev.filter((e) => e.kind === 'clock'));
    }
    const ev = asm.flush();
    collect(ev, rows, gaps);
    clock.push(...ev.filter((e) => e.kind === 'clock'));
    return { rows, gaps, clock, ms: performance.now() - t0 };
  }
  const clean = (n: number) => Array.from({ length: n }, (_, i): [number, number, number] => [i % 100, i, 1000 + 10 * i]);

  it('a wild host time on one packet (1e12, 1e14, −1e14, 1e308, NaN, Infinity) loses nothing, is reported, and costs nothing', () => {
    for (const wild of [1e12, 1e14, -1e14, 1e308, NaN, Infinity]) {
      const p = clean(400);
      p[200]![2] = wild;
      const r = run(mk(), p);
      expect(r.ms).toBeLessThan(200);
      expect(r.gaps).toEqual([]);
      expect(r.rows.size).toBe(800);
      for (let i = 0; i < 400; i++) expect(r.rows.get(2 * i)).toEqual([i, -i]);
      expect(r.clock).toHaveLength(1);
      expect(r.clock[0]).toMatchObject({
        kind: 'clock',
        change: Math.abs(wild) <= 2 ** 53 ? 'glitch' : 'invalid',
        fromSample: 401,
        notifications: 1,
      });
      if (r.clock[0]!.kind === 'clock' && r.clock[0]!.change === 'glitch') expect(r.clock[0]!.jumpMs! / (wild - 3000)).toBeCloseTo(1, 6);
    }
  });

  it('a host clock step (+1 h, −1 h) re-anchors the times and is reported; no sample is lost and rows keep their data', () => {
    for (const step of [3_600_000, -3_600_000]) {
      const p = clean(600).map(([raw, v, t], i): [number, number, number] => [raw, v, i >= 300 ? t + step : t]);
      const r = run(mk(), p);
      expect(r.gaps).toEqual([]);
      expect(r.rows.size).toBe(1200);
      expect(r.clock).toHaveLength(1);
      expect(r.clock[0]).toMatchObject({ change: 'step', fromSample: 601 });
      expect(r.clock[0]!.kind === 'clock' && r.clock[0]!.jumpMs).toBeCloseTo(step, -1);
    }
  });

  it('a counter corrupted within the restart window is not a gap (it used to become one)', () => {
    const p = clean(200);
    p[100]![0] = 130 % 100; // 30 blocks ahead
    const r = run(mk(), p);
    const lostBlock = r.gaps.filter((g) => g.kind === 'gap');
    // Only the damaged packet's own block is missing.
    expect(lostBlock).toEqual([{ kind: 'gap', stream: 'x', lostSamples: 2, fromSample: 200, filled: true }]);
    expect(r.rows.size).toBe(400);
  });

  it('a real loss beyond the reordering window is counted exactly once a second packet confirms it; the first packet after it is kept', () => {
    const p = clean(200).filter(([, v]) => v < 50 || v >= 60);
    const asm = mk();
    const r = run(asm, p);
    expect(r.gaps).toEqual([{ kind: 'gap', stream: 'x', lostSamples: 20, fromSample: 100, filled: true }]);
    expect(r.rows.get(120)).toEqual([60, -60]);
    expect(asm.stats.lostSamples).toBe(40);
    expect(asm.stats.lostByChannel).toEqual({ a: 20, b: 20 });
    expect(asm.stats.suspect).toBe(0);
  });
});

describe('DeviceTimeBlocks', () => {
  it('numbers blocks from device ticks: duplicates and reordered packets keep their number, a corrupted tick does not move the stream, the u32 wrap is seamless', () => {
    const tpb = 2000;
    const start = 2 ** 32 - 50 * tpb; // wraps after 50 blocks
    const tick = (b: number) => (start + b * tpb) % 2 ** 32;
    const d = new DeviceTimeBlocks(tpb);
    const seen: number[] = [];
    for (let b = 0; b < 120; b++) {
      seen.push(d.block(tick(b)));
      if (b === 10) seen.push(d.block(tick(b))); // duplicate
      if (b === 20) seen.push(d.block(tick(b) ^ (1 << 27))); // corrupted high byte: far away
      if (b === 30) seen.push(d.block(tick(b - 2))); // late
    }
    const expected: number[] = [];
    for (let b = 0; b < 120; b++) {
      expected.push(b);
      if (b === 10) expected.push(10);
      if (b === 20) expected.push(seen[expected.length]!);
      if (b === 30) expected.push(28);
    }
    expect(seen).toEqual(expected);
    expect(Math.abs(seen[22]! - 20)).toBeGreaterThan(1000);
    // A real jump (two packets agree on it) moves the stream.
    expect(d.block(tick(5000))).toBe(5000);
    expect(d.block(tick(5001))).toBe(5001);
    expect(d.block(tick(5002))).toBe(5002);
  });
});

describe('SampleClock', () => {
  it('anchors on the first two arrivals that agree: a wild first timestamp is reported, not used', () => {
    const clk = new SampleClock(100);
    clk.observe(0, 1e14);
    for (let n = 1; n < 500; n++) clk.observe(n, 5000 + n * 10);
    expect(clk.timeOf(499)).toBeCloseTo(5000 + 4990, 1);
    const ch = clk.takeChanges();
    expect(ch).toHaveLength(1);
    expect(ch[0]).toMatchObject({ change: 'glitch', atSample: 0, hostMs: 1e14, notifications: 1 });
    expect(ch[0]!.jumpMs).toBeCloseTo(1e14 - 5000, -3);
    clk.observe(500, Number.NaN);
    clk.observe(501, 1e308);
    clk.observe(502, 5000 + 5020);
    clk.observe(503, -Infinity);
    expect(clk.takeChanges().map((c) => [c.change, c.atSample])).toEqual([
      ['invalid', 500],
      ['invalid', 503],
    ]);
    expect(clk.timeOf(503)).toBeCloseTo(5000 + 5030, 1);
  });

  it('tracks device clock drift and removes jitter', () => {
    const fs = 256;
    const clk = new SampleClock(fs);
    const rng = new Rng(9);
    const drift = 1 + 150e-6; // device runs 150 ppm slow relative to host
    let err = 0;
    for (let b = 0; b < (256 * 120) / 12; b++) {
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
  it('counts from the counter only: a time hint picks between its two readings but never adds wraps', () => {
    const u = new SequenceUnwrapper(100);
    expect(u.unwrap(98)).toBe(98);
    expect(u.unwrap(99)).toBe(99);
    expect(u.unwrap(3)).toBe(103);
    expect(u.unwrap(1)).toBe(101); // late packet: behind the head
    expect(u.head).toBe(103);
    // Elapsed time says two whole wraps were lost: the counter cannot say so, so they are not inferred.
    expect(u.unwrap(10, 310)).toBe(110);
    // A step of more than half a cycle is ambiguous (ahead 60 or behind 40): time picks the reading.
    expect(u.peek(70)).toBe(70);
    expect(u.peek(70, 171)).toBe(170);
    expect(u.peek(70, 75)).toBe(70);
    // A hint no single counter step can reach (a host clock step) is ignored.
    expect(u.peek(70, 1e14)).toBe(70);
    expect(u.peek(70, Number.NaN)).toBe(70);
  });
});
