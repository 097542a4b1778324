/**
 * Dataset loading speed on a full SEED-IV-sized synthetic folder (15 subjects × 3 sessions × 24 trials,
 * ~35 four-second windows per trial, de_LDS + eye features as in the release), generated in a temp dir.
 *
 * Generating 15 subjects with the wearer model takes minutes, and the load time does not depend on the
 * values, so we synthesise subject 1 (all three sessions, full trial lengths) and copy its files to
 * subjects 2..15. When Debian's python3 + scipy are present, scipy.io.loadmat reads the same files in the
 * same run and we report the ratio.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { BenchResult, BenchSuite } from './harness.js';
import { FULL_SIZE, loadSeedIV, summarize, synthesize } from '../src/datasets/index.js';

function folderBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? folderBytes(p) : statSync(p).size;
  }
  return n;
}

const SCIPY_LOAD = `
import os, sys, time
import scipy.io as sio
root = sys.argv[1]
t = time.perf_counter()
n = 0
for folder in ("eeg_feature_smooth", "eye_feature_smooth"):
    for s in ("1", "2", "3"):
        d = os.path.join(root, folder, s)
        for f in sorted(os.listdir(d)):
            m = sio.loadmat(os.path.join(d, f), variable_names=[k for k in ["de_LDS%d" % i for i in range(1, 25)] + ["eye_%d" % i for i in range(1, 25)]])
            n += len(m)
print(time.perf_counter() - t)
`;

export const datasetsSuite: BenchSuite = {
  name: 'datasets',
  async run(ctx) {
    const results: BenchResult[] = [];
    const subjects = ctx.quick ? 3 : FULL_SIZE.subjects!;
    const windowsPerTrial = ctx.quick ? 6 : FULL_SIZE.windowsPerTrial!;
    const root = mkdtempSync(join(tmpdir(), 'cmcrd-bench-seediv-'));
    try {
      let t = performance.now();
      synthesize({ layout: 'seed-iv', out: root, subjects: 1, sessions: 3, windowsPerTrial, varyWindows: true, seed: 2022 });
      const synthMs = performance.now() - t;
      ctx.log(`datasets: synthesised subject 1 (3 sessions) in ${(synthMs / 1000).toFixed(1)} s; copying to ${subjects} subjects`);
      for (const folder of ['eeg_feature_smooth', 'eye_feature_smooth']) {
        for (const s of ['1', '2', '3']) {
          const d = join(root, folder, s);
          const [src] = readdirSync(d);
          for (let subj = 2; subj <= subjects; subj++) copyFileSync(join(d, src!), join(d, src!.replace(/^1_/, `${subj}_`)));
        }
      }
      // Mark as synthetic with the copied size (readers only use it for meta.synthetic).
      writeFileSync(
        join(root, 'SYNTHETIC.json'),
        JSON.stringify({ layout: 'seed-iv', subjects, sessions: 3, windowsPerTrial, seed: 2022, raw: false }),
      );
      const bytes = folderBytes(root);
      let windows = 0;
      const runs: number[] = [];
      for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
        t = performance.now();
        const ds = loadSeedIV(root, { feature: 'de_LDS' });
        runs.push(performance.now() - t);
        windows = summarize(ds).windows;
      }
      const ms = Math.min(...runs);
      ctx.log(`datasets: loaded ${windows} windows (${(bytes / 1e6).toFixed(0)} MB on disk) in ${ms.toFixed(0)} ms`);
      const detail: Record<string, string | number | boolean> = {
        subjects,
        sessions: 3,
        trials: subjects * 72,
        windows,
        diskMB: +(bytes / 1e6).toFixed(1),
        compressed: true,
        runs: runs.map((r) => r.toFixed(0)).join(','),
        synthSubjectSeconds: +(synthMs / 1000).toFixed(1),
      };
      results.push({ name: 'datasets.seed-iv.load', value: +ms.toFixed(1), unit: 'ms', detail });
      results.push({
        name: 'datasets.seed-iv.load-rate',
        value: +(bytes / 1e6 / (ms / 1000)).toFixed(1),
        unit: 'MB/s',
        detail: { windows },
      });
      const py = spawnSync('/usr/bin/python3', ['-c', SCIPY_LOAD, root], { encoding: 'utf8', timeout: 600_000 });
      if (py.status === 0) {
        const scipyMs = Number(py.stdout.trim()) * 1000;
        results.push({
          name: 'datasets.seed-iv.load-vs-scipy',
          value: +(ms / scipyMs).toFixed(2),
          unit: 'x',
          detail: {
            oursMs: +ms.toFixed(0),
            scipyLoadmatMs: +scipyMs.toFixed(0),
            note: 'ratio < 1: faster than scipy.io.loadmat (same files, same run)',
          },
        });
      } else {
        ctx.log('datasets: python3/scipy not available, no scipy comparison');
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    return results;
  },
};
