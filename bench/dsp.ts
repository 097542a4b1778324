/**
 * runtime/dsp speed: µs per 4-s window (200 Hz) for 4 and 62 channels per feature method, next to the
 * same per-window computation in numpy/scipy (vectorised over channels) run by /usr/bin/python3 in the
 * same bench run; plus the real-time factor of a 4-channel Muse-like headband (256 Hz → 200 Hz,
 * SEED DE, LDS, quality) on one core.
 */
import { spawnSync } from 'node:child_process';
import { FeatureExtractor, type FeatureMethod } from '../runtime/dsp/index.js';
import { timeIt, type BenchResult, type BenchSuite } from './harness.js';

const FS = 200;
const WIN = 4;
const METHODS: FeatureMethod[] = ['seed-de', 'seed-psd', 'gauss-de', 'welch', 'welch-rel'];

function noise(nch: number, n: number, seed = 1): Float64Array[] {
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  return Array.from({ length: nch }, () => {
    const x = new Float64Array(n);
    let w = 0;
    for (let i = 0; i < n; i++) x[i] = w = 0.95 * w + 20 * r();
    return x;
  });
}

// numpy/scipy twin: the same per-window work, channels vectorised, windows in a loop.
const PY = String.raw`
import json, sys, time, math
import numpy as np
from scipy import signal
cfg = json.loads(sys.argv[1])
fs, win, nwin, min_s = cfg['fs'], cfg['win'], cfg['nwin'], cfg['minSeconds']
bands = [(1, 4), (4, 8), (8, 14), (14, 31), (31, 50)]
L = fs * win
nfft = 1024
taper = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1, L + 1) / (L + 1))
bins = [(int(math.floor(lo / fs * nfft)) - 1, int(math.floor(hi / fs * nfft)) - 1) for lo, hi in bands]
soses = [signal.butter(4, [lo, hi], 'bandpass', fs=fs, output='sos') for lo, hi in bands]
out = {}
rng = np.random.default_rng(1)
for method in cfg['methods']:
    for nch in cfg['channels']:
        x = rng.standard_normal((nch, L * nwin))
        zis = [np.zeros((s.shape[0], nch, 2)) for s in soses]
        def run():
            res = []
            for k in range(nwin):
                w = x[:, k * L:(k + 1) * L]
                if method in ('seed-de', 'seed-psd'):
                    X = np.fft.rfft(w * taper, nfft, axis=-1)
                    P = X.real ** 2 + X.imag ** 2
                    E = np.stack([P[:, a:b + 1].mean(axis=-1) for a, b in bins], axis=-1)
                    res.append(np.log2(100 * E) if method == 'seed-de' else E)
                elif method == 'gauss-de':
                    feats = []
                    for i, s in enumerate(soses):
                        y, zis[i] = signal.sosfilt(s, w, axis=-1, zi=zis[i])
                        feats.append(0.5 * np.log(2 * np.pi * np.e * y.var(axis=-1)))
                    res.append(np.stack(feats, axis=-1))
                else:
                    f, P = signal.welch(w, fs=fs, window='hann', nperseg=256, noverlap=128, detrend='constant', axis=-1)
                    bp = np.stack([np.trapz(P[:, (f >= lo) & (f <= hi)], f[(f >= lo) & (f <= hi)], axis=-1) for lo, hi in bands], axis=-1)
                    res.append(bp / bp.sum(axis=-1, keepdims=True) if method == 'welch-rel' else bp)
            return res
        run()
        t0 = time.perf_counter(); n = 0
        while True:
            run(); n += 1
            el = time.perf_counter() - t0
            if el >= min_s and n >= 2:
                break
        out[f'{method}.{nch}'] = el / n / nwin * 1e6
print(json.dumps(out))
`;

function runPython(methods: string[], channels: number[], nwin: number, minSeconds: number): { times: Record<string, number> } | { note: string } {
  const cfg = JSON.stringify({ fs: FS, win: WIN, nwin, minSeconds, methods, channels });
  const r = spawnSync('/usr/bin/python3', ['-c', PY, cfg], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' } });
  if (r.error) return { note: `python comparison skipped: ${r.error.message}` };
  if (r.status !== 0) return { note: `python comparison skipped: ${(r.stderr || '').trim().split('\n').pop() ?? 'failed'}` };
  try {
    return { times: JSON.parse(r.stdout) as Record<string, number> };
  } catch {
    return { note: 'python comparison skipped: unreadable output' };
  }
}

export const dspSuite: BenchSuite = {
  name: 'dsp',
  async run(ctx) {
    const results: BenchResult[] = [];
    const nwin = ctx.quick ? 5 : 20;
    const minMs = ctx.quick ? 150 : 600;
    const channels = [4, 62];
    const ours: Record<string, number> = {};
    for (const method of METHODS) {
      for (const nch of channels) {
        const x = noise(nch, FS * WIN * nwin, nch);
        // Streamed one window (4 s) per push, as on a device; quality checks off (features only, like the twin).
        const L = FS * WIN;
        // Steady state: one long-lived extractor, the same recording pushed again and again.
        const fx = new FeatureExtractor({ fs: FS, channels: nch, windowSec: WIN, method, quality: false });
        const { msPerCall } = await timeIt(() => {
          for (let k = 0; k < nwin; k++) fx.push(x.map((c) => c.subarray(k * L, (k + 1) * L)));
        }, minMs);
        ours[`${method}.${nch}`] = (msPerCall * 1000) / nwin;
      }
    }
    ctx.log('running the numpy/scipy twin with /usr/bin/python3 …');
    const py = runPython(METHODS, channels, nwin, minMs / 1000);
    for (const method of METHODS) {
      for (const nch of channels) {
        const key = `${method}.${nch}`;
        const us = ours[key]!;
        const detail: Record<string, string | number | boolean> = { channels: nch, windowSec: WIN, fs: FS };
        if ('times' in py && py.times[key] !== undefined) {
          detail.scipyUsPerWindow = Number(py.times[key]!.toFixed(2));
          detail.speedupVsScipy = Number((py.times[key]! / us).toFixed(2));
        } else if ('note' in py) detail.note = py.note;
        results.push({ name: `dsp.${method}.${nch}ch`, value: Number(us.toFixed(2)), unit: 'µs/window', detail });
      }
    }

    // Headband: 4 channels at 256 Hz, streamed in 12-sample packets (Muse-like), resampled to 200 Hz,
    // SEED DE + LDS + quality. Real-time factor = seconds of signal per second of compute.
    const seconds = ctx.quick ? 60 : 300;
    const muse = noise(4, 256 * seconds, 7);
    const packet = 12;
    const { msPerCall } = await timeIt(
      () => {
        const fx = new FeatureExtractor({ fs: 256, channels: 4, resampleTo: 200, method: 'seed-de', smooth: 'lds' });
        for (let s = 0; s < muse[0]!.length; s += packet) fx.push(muse.map((c) => c.subarray(s, s + packet)));
        fx.flush();
      },
      minMs,
    );
    results.push({
      name: 'dsp.headband-4ch-256Hz.realtime',
      value: Number((seconds / (msPerCall / 1000)).toFixed(0)),
      unit: 'x real time',
      detail: { target: 1000, packetSamples: packet, pipeline: 'resample 256→200, seed-de, lds, quality' },
    });
    return results;
  },
};
