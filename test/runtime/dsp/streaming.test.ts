/** Streaming == offline, bit for bit, for random block sizes (and the lost-sample policy). */
import { describe, expect, it } from 'vitest';
import {
  butterSos,
  extractFeatures,
  FeatureExtractor,
  ldsSmooth,
  OnlineLDS,
  resamplePoly,
  SosFilter,
  sosfilt,
  StreamingResampler,
  type FeatureExtractorOptions,
  type FeatureFrame,
} from '../../../runtime/dsp/index.js';
import { randn, randomBlocks, rng } from './helpers.js';

function signal(nch: number, n: number, fs: number, seed: number): Float64Array[] {
  const r = rng(seed);
  return Array.from({ length: nch }, (_, c) => {
    const x = new Float64Array(n);
    let walk = 0;
    for (let i = 0; i < n; i++) {
      walk = 0.98 * walk + randn(r);
      x[i] = 8 * walk + 15 * Math.sin((2 * Math.PI * (9 + c) * i) / fs) + 4 * randn(r) + 30;
    }
    return x;
  });
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Push in random blocks (optionally different per channel), then flush. */
function streamed(x: Float64Array[], opts: FeatureExtractorOptions, seed: number, perChannel = false): FeatureFrame[] {
  const fx = new FeatureExtractor(opts);
  const r = rng(seed);
  const frames: FeatureFrame[] = [];
  if (!perChannel) {
    let pos = 0;
    for (const b of randomBlocks(x[0]!.length, r, 700)) {
      frames.push(...fx.push(x.map((ch) => ch.subarray(pos, pos + b))));
      pos += b;
    }
  } else {
    const pos = x.map(() => 0);
    while (pos.some((p, c) => p < x[c]!.length)) {
      const blocks = x.map((ch, c) => {
        const b = Math.min(ch.length - pos[c]!, Math.floor(r() * 300));
        const s = ch.subarray(pos[c]!, pos[c]! + b);
        pos[c]! += b;
        return s;
      });
      frames.push(...fx.push(blocks));
    }
  }
  frames.push(...fx.flush());
  return frames;
}

function expectSameBits(a: ArrayLike<number>, b: ArrayLike<number>): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) expect.fail(`index ${i}: ${a[i]} vs ${b[i]}`);
}

describe('streaming primitives', () => {
  it.each([
    [256, 200],
    [250, 200],
    [1000, 200],
    [200, 256],
  ])('StreamingResampler %i → %i Hz equals resamplePoly for random blocks', (fin, fout) => {
    const x = signal(1, 3 * fin + 17, fin, fin)[0]!;
    const g = fin === 256 && fout === 200 ? 8 : fin === 250 ? 50 : fin === 1000 ? 200 : 8;
    const off = resamplePoly(x, fout / g, fin / g);
    for (const seed of [1, 2, 3]) {
      const r = new StreamingResampler(fin, fout);
      const parts: Float64Array[] = [];
      let pos = 0;
      for (const b of randomBlocks(x.length, rng(seed), 97)) {
        parts.push(r.push(x.subarray(pos, pos + b)));
        pos += b;
      }
      parts.push(r.flush());
      expectSameBits(concat(parts), off);
    }
  });

  it('StreamingResampler keeps a bounded buffer on a long stream', () => {
    const r = new StreamingResampler(256, 200);
    const block = new Float64Array(32).fill(1);
    for (let i = 0; i < 20000; i++) r.push(block);
    // 640 000 samples pushed; only the filter's support (≈ 26 input samples) plus slack is kept.
    expect((r as unknown as { buf: Float64Array }).buf.length).toBeLessThan(2048);
  });

  it('SosFilter over random blocks equals one sosfilt call', () => {
    const x = signal(1, 2000, 200, 5)[0]!;
    const sos = butterSos(4, [8, 14], 'bandpass', { fs: 200 });
    const f = new SosFilter(sos);
    const parts: Float64Array[] = [];
    let pos = 0;
    for (const b of randomBlocks(x.length, rng(9), 50)) {
      parts.push(f.process(x.subarray(pos, pos + b)));
      pos += b;
    }
    expectSameBits(concat(parts), sosfilt(sos, x));
    // step() does the same arithmetic as process().
    const g = new SosFilter(sos);
    expectSameBits(
      Float64Array.from(x, (v) => g.step(v)),
      sosfilt(sos, x),
    );
  });
});

describe('FeatureExtractor: streaming equals offline', () => {
  const fs = 200;
  const x = signal(3, fs * 30 + 123, fs, 42);
  const cases: [string, Partial<FeatureExtractorOptions>][] = [
    ['seed-de', { method: 'seed-de' }],
    ['seed-psd, 2-s hop, LDS', { method: 'seed-psd', hopSec: 2, smooth: 'lds' }],
    ['gauss-de, 1-s windows, moving average', { method: 'gauss-de', windowSec: 1, smooth: 'moving-average' }],
    ['welch, notch + band-pass pre-filters', { method: 'welch', notchHz: 50, bandpass: [1, 75] }],
    ['welch-rel, 3-s window 0.5-s hop', { method: 'welch-rel', windowSec: 3, hopSec: 0.5 }],
  ];
  for (const [name, o] of cases) {
    it(name, () => {
      const opts: FeatureExtractorOptions = { fs, channels: 3, ...o };
      const off = extractFeatures(x, opts);
      expect(off.length).toBeGreaterThan(5);
      for (const seed of [11, 12]) {
        const st = streamed(x, opts, seed);
        expect(st.length).toBe(off.length);
        st.forEach((f, w) => f.features.forEach((ch, c) => expectSameBits(ch, off[w]![c]!)));
      }
      const uneven = streamed(x, opts, 13, true);
      uneven.forEach((f, w) => f.features.forEach((ch, c) => expectSameBits(ch, off[w]![c]!)));
      expect(off.every((w) => w.every((ch) => ch.every(Number.isFinite)))).toBe(true);
    });
  }

  it('Muse-like 256 Hz with resampling to 200 Hz, gauss-de + LDS, NaN gaps', () => {
    const m = signal(4, 256 * 24, 256, 7);
    m[2]!.fill(NaN, 3000, 3040);
    const opts: FeatureExtractorOptions = {
      fs: 256,
      channels: ['TP9', 'AF7', 'AF8', 'TP10'],
      method: 'gauss-de',
      resampleTo: 200,
      smooth: 'lds',
    };
    const off = extractFeatures(m, opts);
    expect(off.length).toBe(6);
    for (const seed of [21, 22]) {
      const st = streamed(m, opts, seed);
      st.forEach((f, w) => f.features.forEach((ch, c) => expectSameBits(ch, off[w]![c]!)));
    }
  });
});

describe('lost samples (NaN) policy', () => {
  const fs = 200;
  const clean = signal(2, fs * 24, fs, 3);

  it('seed-de without IIR stages: only windows containing the gap are invalid; others are unchanged', () => {
    const gappy = clean.map((c) => Float64Array.from(c));
    gappy[1]!.fill(NaN, 1700, 1750); // inside window 2 (samples 1600..2399)
    const opts = { fs, channels: 2, method: 'seed-de' as const };
    const ref = extractFeatures(clean, opts);
    const fx = new FeatureExtractor(opts);
    const frames = [...fx.push(gappy), ...fx.flush()];
    expect(frames.map((f) => f.valid[1])).toEqual([true, true, false, true, true, true]);
    expect(frames.every((f) => f.valid[0])).toBe(true);
    expect(frames[2]!.features[1]!.every(Number.isNaN)).toBe(true);
    expect(frames[2]!.quality![1]!.gapFraction).toBeCloseTo(50 / 800, 12);
    expect(frames[2]!.quality![1]!.good).toBe(false);
    frames.forEach((f, w) => {
      expectSameBits(f.features[0]!, ref[w]![0]!);
      if (w !== 2) expectSameBits(f.features[1]!, ref[w]![1]!);
    });
  });

  it('with a band-pass pre-filter, the settle time after a gap also invalidates the next window', () => {
    const gappy = clean.map((c) => Float64Array.from(c));
    gappy[0]!.fill(NaN, 2390, 2395); // end of window 2; settle (2 s for a 1 Hz edge) reaches into window 3
    const frames = extractFeatures(gappy, { fs, channels: 2, bandpass: [1, 45], quality: false });
    expect(frames.map((w) => Number.isNaN(w[0]![0]!))).toEqual([false, false, true, true, false, false]);
  });

  it('resampling spreads a gap over the FIR support only', () => {
    const fin = 256;
    const m = signal(1, fin * 16, fin, 8);
    const g = Float64Array.from(m[0]!);
    g[1100] = NaN; // 1100/256 s = 4.30 s → window 1 (4–8 s) at 200 Hz
    const opts = { fs: fin, channels: 1, resampleTo: 200, quality: false as const };
    const a = extractFeatures(m, opts);
    const b = extractFeatures([g], opts);
    expect(b.map((w) => Number.isNaN(w[0]![0]!))).toEqual([false, true, false, false]);
    [0, 2, 3].forEach((w) => expectSameBits(b[w]![0]!, a[w]![0]!));
  });

  it('smoothers skip invalid windows', () => {
    const gappy = clean.map((c) => Float64Array.from(c));
    gappy[0]!.fill(NaN, 900, 910); // window 1
    const raw = extractFeatures(clean, { fs, channels: 2, quality: false });
    const sm = extractFeatures(gappy, {
      fs,
      channels: 2,
      smooth: 'lds',
      lds: { initialMean: new Float64Array(10).fill(20) },
      quality: false,
    });
    const series = raw.map((w) => w[0]![2]!);
    const expected = ldsSmooth([series[0]!, NaN, ...series.slice(2)], { initialMean: 20 });
    expectSameBits(
      sm.map((w) => w[0]![2]!),
      expected,
    );
  });
});

describe('online LDS', () => {
  const r = rng(77);
  const v = Array.from({ length: 80 }, (_, i) => 10 + 0.05 * i + randn(r));
  it('with a fixed initial mean it equals ldsSmooth bit for bit', () => {
    const o = new OnlineLDS(1, { initialMean: [9] });
    expectSameBits(
      v.map((x) => o.update([x])[0]!),
      ldsSmooth(v, { initialMean: 9 }),
    );
  });
  it('with the running mean, output t equals the offline LDS of the trial so far', () => {
    const o = new OnlineLDS(1);
    v.forEach((x, t) => {
      const got = o.update([x])[0]!;
      const ref = ldsSmooth(v.slice(0, t + 1));
      expect(Math.abs(got - ref[t]!)).toBeLessThan(1e-12 * Math.abs(ref[t]!));
    });
  });
});

describe('FeatureExtractor option errors', () => {
  it('names the bad option', () => {
    expect(() => new FeatureExtractor({ fs: 0, channels: 2 })).toThrow(/fs/);
    expect(() => new FeatureExtractor({ fs: 200, channels: 2, windowSec: 0.0031 })).toThrow(/window of 0.0031 s/);
    expect(() => new FeatureExtractor({ fs: 200, channels: 2, method: 'fft' as never })).toThrow(/unknown feature method "fft"/);
    expect(() => new FeatureExtractor({ fs: 200, channels: 2, nfft: 1000 })).toThrow(/power of two/);
    expect(() => new FeatureExtractor({ fs: 90, channels: 2 })).toThrow(/band gamma/);
    const fx = new FeatureExtractor({ fs: 200, channels: 2 });
    expect(() => fx.push([new Float64Array(3)])).toThrow(/expected 2 channel blocks/);
  });
});
