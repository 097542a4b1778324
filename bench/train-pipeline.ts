/**
 * Issue 6's quality bar on synthetic data: LOSO, MLP, every method, mean accuracy over folds and seeds, on a
 * synthetic SEED-IV-layout dataset written by the datasets synth API. Reports each method's accuracy (%), and
 * CMCRD − EEG-only and CMCRD − best baseline in percentage points. Also time per trained network.
 *
 * Sizes (2-core box): full = 8 subjects × 1 session × 24 trials × 4 windows, 3 seeds, 20 epochs (≈ 20–30 min);
 * quick = 4 subjects, 1 seed, 8 epochs. The full-size equivalent (15 subjects × 3 sessions, 40 epochs) is
 *   cmcrd dataset synth --layout seed-iv --full --out data/synth-iv
 *   cmcrd compare --dataset synthetic --root data/synth-iv --protocol loso --archs mlp --out reports/loso-mlp
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, synthesize } from '../src/datasets/index.js';
import { initBackend } from '../src/train/backend.js';
import type { Checkpoint } from '../src/train/checkpoint.js';
import { METHOD_NAMES } from '../src/train/methods/index.js';
import { runExperiment } from '../src/train/run.js';
import type { BenchResult, BenchSuite } from './harness.js';

export const trainPipelineSuite: BenchSuite = {
  name: 'train-pipeline',
  async run(ctx) {
    await initBackend(undefined, ctx.log);
    const size = ctx.quick
      ? { subjects: 4, windowsPerTrial: 3, seeds: [2022], epochs: 8, warmup: 2 }
      : { subjects: 8, windowsPerTrial: 4, seeds: [2022, 2023, 2024], epochs: 20, warmup: 5 };
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-bench-tp-'));
    try {
      synthesize({ layout: 'seed-iv', out: dir, subjects: size.subjects, sessions: 1, windowsPerTrial: size.windowsPerTrial });
      const dataset = loadDataset('synthetic', dir);
      const memo = new Map<string, Checkpoint>();
      const acc: Record<string, number> = {};
      const out: BenchResult[] = [];
      for (const method of METHOD_NAMES) {
        const t0 = performance.now();
        const r = await runExperiment({
          dataset,
          method,
          arch: 'mlp',
          protocol: 'loso',
          seeds: size.seeds,
          hyper: { epochs: size.epochs, warmupEpochs: size.warmup },
          teacherMemo: memo,
        });
        const secs = (performance.now() - t0) / 1000;
        acc[method] = r.summary.accuracy.mean;
        ctx.log(
          `  ${method}: ${(100 * r.summary.accuracy.mean).toFixed(2)} ± ${(100 * r.summary.accuracy.std).toFixed(2)} % (${secs.toFixed(0)} s)`,
        );
        out.push({
          name: `train-pipeline.loso-mlp.${method}`,
          value: 100 * r.summary.accuracy.mean,
          unit: '%',
          detail: {
            std: 100 * r.summary.accuracy.std,
            seedStd: 100 * r.summary.accuracy.seedStd,
            bca: 100 * r.summary.bca.mean,
            folds: r.summary.folds,
            seeds: r.summary.seeds,
            seconds: Math.round(secs),
            subjects: size.subjects,
            windowsPerTrial: size.windowsPerTrial,
            epochs: size.epochs,
          },
        });
      }
      const baselines = METHOD_NAMES.filter((m) => m !== 'cmcrd' && m !== 'eye-only' && m !== 'fusion');
      const best = baselines.reduce((a, b) => (acc[b]! > acc[a]! ? b : a));
      out.push({
        name: 'train-pipeline.loso-mlp.cmcrd-minus-eeg-only',
        value: 100 * (acc.cmcrd! - acc['eeg-only']!),
        unit: 'pp',
        detail: { target: '≥ 3' },
      });
      out.push({
        name: 'train-pipeline.loso-mlp.cmcrd-minus-best-baseline',
        value: 100 * (acc.cmcrd! - acc[best]!),
        unit: 'pp',
        detail: { bestBaseline: best, target: '≥ 0' },
      });
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
