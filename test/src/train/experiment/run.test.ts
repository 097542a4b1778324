// size: runExperiment on one synthetic dataset made once: determinism, leaks, resume, teacher cache, export
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flatten } from '../../../../src/datasets/types.js';
import { encodeTrials, parseTrials, readCheckpoint, type Checkpoint } from '../../../../src/train/checkpoint.js';
import { foldMetrics } from '../../../../src/train/metrics.js';
import { makeFolds, applyStats } from '../../../../src/train/protocols.js';
import { readRunResults, writeRunReport } from '../../../../src/train/report.js';
import {
  checkSuppliedTeacher,
  networkFromCheckpoint,
  runExperiment,
  type ExperimentOptions,
  type RunEvent,
} from '../../../../src/train/run.js';
import { TOOLKIT_VERSION } from '../../../../src/version.js';
import { cliMessage } from '../../../../src/cli/flags.js';
import { argmaxRows, NonFiniteLossError, predictLogits } from '../../../../src/train/trainer.js';
import { tinyDataset, useWasm } from './helpers.js';
import { exportOnnx } from '../../../../export/onnx-export.js';
import { loadOnnxClassifier } from '../../../../runtime/infer/onnx.node.js';

let dir: string;

type W = Record<string, { shape: number[]; data: Float32Array }>;
/** Eval-mode MLP (Linear–BN–ReLU ×4, Linear) in float64 from the checkpoint weights. */
function mlpPlain(w: W, input: Float32Array): number[] {
  let h = Array.from(input);
  for (const name of ['fc1', 'fc2', 'fc3', 'fc4']) {
    const k = w[`${name}.weight`]!;
    const [nIn, nOut] = k.shape as [number, number];
    const out = new Array<number>(nOut).fill(0);
    for (let o = 0; o < nOut; o++) {
      let s = w[`${name}.bias`]!.data[o]!;
      for (let i = 0; i < nIn; i++) s += h[i]! * k.data[i * nOut + o]!;
      const bn = (p: string) => w[`${name}.bn.${p}`]!.data[o]!;
      out[o] = Math.max(0, ((s - bn('running_mean')) / Math.sqrt(bn('running_var') + 1e-5)) * bn('gamma') + bn('beta'));
    }
    h = out;
  }
  const head = w['head.weight']!;
  const [nIn, C] = head.shape as [number, number];
  return Array.from({ length: C }, (_, c) => h.reduce((s, v, i) => s + v * head.data[i * C + c]!, w['head.bias']!.data[c]!));
}
const argmax = (v: number[]) => v.indexOf(Math.max(...v));
/** What `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('nothing was thrown');
}
beforeAll(async () => {
  await useWasm();
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-run-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quick = { epochs: 3, warmupEpochs: 1, batchSize: 16 };

function opts(extra: Partial<ExperimentOptions>): ExperimentOptions {
  return {
    dataset: tinyDataset({ subjects: 3 }),
    method: 'cmcrd',
    arch: 'mlp',
    protocol: 'loso',
    folds: ['s1'],
    seeds: [5],
    hyper: quick,
    nNeg: 16,
    ...extra,
  };
}

describe('runExperiment', () => {
  it('is deterministic for a seed and changes with the seed (distillation with memory banks, wasm)', async () => {
    const a = await runExperiment(opts({ seeds: [5, 6] }));
    const b = await runExperiment(opts({ seeds: [5, 6] }));
    const strip = (r: typeof a) => r.folds.map(({ seconds: _s, ...f }) => f);
    expect(strip(b)).toEqual(strip(a));
    expect(a.summary.accuracy.mean).toBe(b.summary.accuracy.mean);
    // different seeds give different training runs (val accuracy history or predictions differ)
    const [f5, f6] = a.folds;
    expect(JSON.stringify([f5!.confusion, f5!.bestValAccuracy])).not.toBe(JSON.stringify([f6!.confusion, f6!.bestValAccuracy]));
  });

  it('never lets test windows into training, validation or normalisation (poisoned test subject)', async () => {
    const ds = tinyDataset({ subjects: 3 });
    // NaN features for the held-out subject: any use in training/normalisation would make the model NaN.
    for (const t of ds.trials)
      if (t.subject === '1') {
        t.eeg.fill(Number.NaN);
        t.eye!.fill(Number.NaN);
      }
    const ckDir = join(dir, 'poison');
    const r = await runExperiment(opts({ dataset: ds, checkpointDir: ckDir, teacherCacheDir: join(ckDir, 'teachers') }));
    expect(r.completed).toBe(1);
    expect(r.folds[0]!.bestValAccuracy).not.toBeNull();
    expect(Number.isFinite(r.folds[0]!.bestValAccuracy!)).toBe(true);
    for (const file of [r.folds[0]!.checkpoint!, ...readdirSync(join(ckDir, 'teachers')).map((f) => join(ckDir, 'teachers', f))]) {
      const ck = readCheckpoint(file);
      for (const [name, w] of Object.entries(ck.weights)) expect(w.data.every(Number.isFinite), `${file} ${name}`).toBe(true);
      expect(ck.normalisation.mean.every(Number.isFinite)).toBe(true);
      expect(ck.provenance.testSubjects).toBe('1');
    }
  });

  it('transductive MCC reads the target subject’s unlabelled features (and labelled MCC does not)', async () => {
    const poisoned = () => {
      const ds = tinyDataset({ subjects: 3 });
      for (const t of ds.trials) if (t.subject === '1') t.eye!.fill(Number.NaN);
      return ds;
    };
    const finiteTeacher = async (mcc: 'labelled' | 'transductive') => {
      const cache = join(dir, `mcc-${mcc}`);
      try {
        await runExperiment(opts({ dataset: poisoned(), method: 'eye-only', mcc, teacherCacheDir: cache }));
      } catch (e) {
        // Training stops when the loss becomes non-finite (issue 24): the teacher diverged on the NaN features.
        if (e instanceof NonFiniteLossError) return false;
        throw e;
      }
      // A diverged teacher is refused by default; read it as it is to inspect its weights.
      const ck = readCheckpoint(join(cache, readdirSync(cache)[0]!), { checkWeightValues: false });
      expect(ck.provenance.mcc).toBe(mcc);
      return Object.values(ck.weights).every((w) => w.data.every(Number.isFinite));
    };
    expect(await finiteTeacher('labelled')).toBe(true);
    expect(await finiteTeacher('transductive')).toBe(false);
  });

  it('writes a checkpoint that reloads without training code and reproduces the test accuracy', async () => {
    const ds = tinyDataset({ subjects: 3 });
    const ckDir = join(dir, 'ck');
    const r = await runExperiment(
      opts({
        dataset: ds,
        method: 'kd',
        checkpointDir: ckDir,
        montage: { device: 'test', sites: ['AF7', 'AF8', 'TP9', 'TP10'], capChannels: ['FP1', 'FP2', 'TP7', 'TP8'] },
      }),
    );
    const ck = readCheckpoint(r.folds[0]!.checkpoint!);
    expect(ck.modality).toBe('eeg');
    expect(ck.arch).toEqual({ arch: 'mlp', input: { channels: 4, bands: 5 }, classes: 4, params: { hidden: 128 } });
    expect(ck.classes).toEqual(ds.meta.classNames);
    expect(ck.channels).toEqual(ds.meta.channelNames);
    expect(ck.montage?.device).toBe('test');
    expect(ck.features).toMatchObject({ method: 'seed-de', smoothing: 'lds', windowSec: 4 });
    expect(ck.provenance).toMatchObject({ method: 'kd', protocol: 'loso', fold: 's1', seed: 5, role: 'student' });
    expect(ck.metrics?.testAccuracy).toBe(r.folds[0]!.accuracy);
    const flat = flatten(ds);
    const fold = makeFolds(flat, 'loso', 'seed-iv')[0]!;
    const net = networkFromCheckpoint(ck);
    const x = applyStats(flat.eeg, 20, fold.testRows, ck.normalisation);
    const pred = argmaxRows(predictLogits(net, { x, n: fold.testRows.length, d: 20 }), 4);
    const m = foldMetrics(
      pred,
      Array.from(fold.testRows, (i) => flat.labels[i]!),
      4,
    );
    expect(m.accuracy).toBe(r.folds[0]!.accuracy);
    expect(m.confusion).toEqual(r.folds[0]!.confusion);
    net.dispose();
    // Without tfjs: the eval-mode MLP written out in plain arithmetic from the checkpoint's named weights.
    const plain = Array.from(fold.testRows, (_, k) => argmax(mlpPlain(ck.weights, x.subarray(k * 20, (k + 1) * 20))));
    expect(plain).toEqual(Array.from(pred));
  });

  it("checkpoints of every network export to ONNX that reproduces the fold's test predictions (onnxruntime-node)", async () => {
    const ds = tinyDataset({ subjects: 3 });
    const flat = flatten(ds);
    const fold = makeFolds(flat, 'loso', 'seed-iv')[0]!;
    const rows = Array.from(fold.testRows, (i) => flat.eeg.slice(i * 20, (i + 1) * 20)); // raw: the graph z-scores
    const truth = Array.from(fold.testRows, (i) => flat.labels[i]!);
    for (const arch of ['mlp', 'eegnet', 'dgcnn'] as const) {
      const r = await runExperiment(opts({ dataset: ds, method: 'kd', arch, checkpointDir: join(dir, `onnx-${arch}`) }));
      const ck = readCheckpoint(r.folds[0]!.checkpoint!);
      expect(ck.arch.arch).toBe(arch);
      const clf = await loadOnnxClassifier(exportOnnx(ck), `${arch}.onnx`);
      const probs = await clf.run(rows);
      await clf.dispose();
      const m = foldMetrics(
        Int32Array.from(probs, (p) => argmax(Array.from(p))),
        truth,
        4,
      );
      expect(m.confusion, arch).toEqual(r.folds[0]!.confusion);
      expect(m.accuracy, arch).toBe(r.folds[0]!.accuracy);
    }
  });

  it('trains the teacher once per fold and seed and reuses it from memory and disk', async () => {
    const cache = join(dir, 'teachers');
    const memo = new Map();
    const events: RunEvent[] = [];
    const onEvent = (e: RunEvent) => events.push(e);
    const kd = await runExperiment(opts({ method: 'kd', teacherCacheDir: cache, teacherMemo: memo, onEvent }));
    const crd = await runExperiment(opts({ method: 'crd', teacherCacheDir: cache, teacherMemo: memo, onEvent }));
    const eye = await runExperiment(opts({ method: 'eye-only', teacherCacheDir: cache, onEvent }));
    const sources = events.filter((e) => e.type === 'teacher').map((e) => (e as { source: string }).source);
    expect(sources).toEqual(['trained', 'memory', 'disk']);
    // eye-only is the teacher itself: its accuracy is the teacher accuracy of the distillation runs
    expect(eye.folds[0]!.accuracy).toBe(kd.folds[0]!.teacherAccuracy);
    expect(crd.folds[0]!.teacherAccuracy).toBe(kd.folds[0]!.teacherAccuracy);
    expect(readdirSync(cache)).toHaveLength(1);
    // another option (λ_mcc) is another teacher
    await runExperiment(opts({ method: 'kd', teacherCacheDir: cache, lambdaMcc: 0.5, onEvent }));
    expect(readdirSync(cache)).toHaveLength(2);
  });

  it('runs fusion, the vice-versa direction and rejects a supplied teacher that saw the test subject', async () => {
    const fusion = await runExperiment(opts({ method: 'fusion', arch: 'dgcnn' }));
    expect(fusion.folds[0]!.accuracy).toBeGreaterThanOrEqual(0);
    const ve = await runExperiment(opts({ method: 'kd', direction: 'eeg-to-eye', teacherCacheDir: join(dir, 'vv') }));
    const t = readCheckpoint(join(dir, 'vv', readdirSync(join(dir, 'vv'))[0]!));
    expect(t.modality).toBe('eeg');
    expect(ve.config.direction).toBe('eeg-to-eye');
    // A teacher trained on fold s1 (subjects 2, 3) may be reused for s1 but not for s2.
    await expect(runExperiment(opts({ method: 'kd', direction: 'eeg-to-eye', teacherCheckpoint: t, folds: ['s2'] }))).rejects.toThrow(
      /fold s2, 24 trials of subject 2 \(2\/1\/1-24\)/,
    );
    const ok = await runExperiment(opts({ method: 'kd', direction: 'eeg-to-eye', teacherCheckpoint: t }));
    expect(ok.folds[0]!.teacherAccuracy).toBe(ve.folds[0]!.teacherAccuracy);
    // An EEG teacher cannot teach an EEG student (the default direction needs an eye-movement teacher).
    await expect(runExperiment(opts({ method: 'kd', teacherCheckpoint: t }))).rejects.toThrow(
      /the checkpoint is an EEG network but this run needs an eye-movement teacher/,
    );
    // --resume with another supplied teacher (one weight nudged) is refused.
    const w0 = Object.keys(t.weights)[0]!;
    const data = Float32Array.from(t.weights[w0]!.data);
    data[0] = data[0]! + 1e-3;
    const t2 = { ...t, weights: { ...t.weights, [w0]: { ...t.weights[w0]!, data } } };
    const resume = { source: 'kd/results.json', config: ok.config, folds: ok.folds, transductiveSubjects: [] };
    await expect(runExperiment(opts({ method: 'kd', direction: 'eeg-to-eye', teacherCheckpoint: t2, resume }))).rejects.toThrow(
      /made with teacherFingerprint = "[0-9a-f]{16}"/,
    );
    expect((await runExperiment(opts({ method: 'kd', direction: 'eeg-to-eye', teacherCheckpoint: t, resume }))).folds).toEqual(ok.folds);
    await expect(runExperiment(opts({ folds: ['s9'] }))).rejects.toThrow(/unknown fold id\(s\) s9/);
  });

  it('stops after the current epoch when interrupted and keeps finished folds', async () => {
    const interrupt = { interrupted: false };
    let epochs = 0;
    const r = await runExperiment(
      opts({
        method: 'eeg-only',
        folds: ['s1', 's2'],
        interrupt,
        onEvent: (e) => {
          if (e.type === 'epoch' && e.fold === 's2' && ++epochs === 1) interrupt.interrupted = true;
        },
      }),
    );
    expect(r.interrupted).toBe(true);
    expect(r.completed).toBe(1);
    expect(r.planned).toBe(2);
    expect(r.folds.map((f) => f.fold)).toEqual(['s1']);
    expect(epochs).toBe(1);
  });

  it('resumes an earlier run: keeps its records, trains only the rest, and equals an uninterrupted run', async () => {
    const plan = { folds: ['s1', 's2'], seeds: [5, 6] };
    const full = await runExperiment(opts(plan));
    const partial = await runExperiment(opts({ ...plan, seeds: [5] }));
    const path = join(dir, 'partial');
    writeRunReport(path, partial);
    const prev = readRunResults(join(path, 'results.json'))!;
    expect(prev.folds).toEqual(partial.folds);
    const started: string[] = [];
    let kept = 0;
    const resumed = await runExperiment(
      opts({
        ...plan,
        resume: prev,
        onEvent: (e) => {
          if (e.type === 'fold-start') started.push(`${e.fold}/${e.seed}`);
          if (e.type === 'fold-done' && e.resumed) kept++;
        },
      }),
    );
    expect(started).toEqual(['s1/6', 's2/6']);
    expect(kept).toBe(2);
    const strip = (r: typeof full) => r.folds.map(({ seconds: _s, ...f }) => f);
    expect(strip(resumed)).toEqual(strip(full));
    expect(resumed.folds.filter((f) => f.seed === 5)).toEqual(partial.folds);
    expect(resumed.summary).toEqual(full.summary);
    expect(resumed.completed).toBe(4);
    expect(resumed.config.engines).toEqual(full.config.engines);
    // Saving is atomic: a write that fails half-way (here: its temporary file cannot be created) leaves the
    // previous results.json whole.
    const before = readFileSync(join(path, 'results.json'), 'utf8');
    mkdirSync(join(path, 'results.json.partial'));
    expect(() => writeRunReport(path, resumed)).toThrow();
    expect(readFileSync(join(path, 'results.json'), 'utf8')).toBe(before);
    expect(readRunResults(join(path, 'results.json'))!.folds).toEqual(partial.folds);

    // Stopped after the first new run (s1 seed 6): the earlier run's record of the later fold (s2 seed 5) is
    // still in the result and in every partial save, so stopping a continued run never drops finished work.
    const stop = { interrupted: false };
    const saves: number[][] = [];
    const stopped = await runExperiment(
      opts({
        ...plan,
        resume: prev,
        interrupt: stop,
        onEvent: (e) => {
          if (e.type === 'fold-done' && !e.resumed) stop.interrupted = true;
        },
        onPartial: (r) => saves.push(r.folds.map((f) => f.seed)),
      }),
    );
    expect(stopped.interrupted).toBe(true);
    expect(stopped.folds.map((f) => `${f.fold}/${f.seed}`)).toEqual(['s1/5', 's1/6', 's2/5']);
    expect(saves).toEqual([[5, 6, 5]]);
  });

  it('refuses to resume a different experiment, naming the setting, or to drop finished records', async () => {
    const partial = await runExperiment(opts({ method: 'eeg-only', folds: ['s1', 's2'] }));
    const resume = { source: 'old/results.json', config: partial.config, folds: partial.folds, transductiveSubjects: [] };
    await expect(runExperiment(opts({ method: 'eeg-only', folds: ['s1', 's2'], hyper: { ...quick, epochs: 4 }, resume }))).rejects.toThrow(
      /old\/results\.json: cannot resume, it was made with epochs = 3 and this run has 4/,
    );
    await expect(
      runExperiment(opts({ method: 'eeg-only', folds: ['s1', 's2'], dataset: tinyDataset({ subjects: 3, seed: 8 }), resume })),
    ).rejects.toThrow(/made with dataFingerprint = "[0-9a-f]{16}"/);
    await expect(runExperiment(opts({ method: 'eeg-only', folds: ['s1'], resume }))).rejects.toThrow(
      /holds fold s2 seed 5, which this run does not plan/,
    );
    // A results.json from before dataFingerprint was recorded cannot be checked, so it is not resumed.
    const { dataFingerprint: _d, ...older } = partial.config;
    await expect(runExperiment(opts({ method: 'eeg-only', folds: ['s1', 's2'], resume: { ...resume, config: older } }))).rejects.toThrow(
      /cannot resume, it does not record dataFingerprint \(written by an older cmcrd\)/,
    );
  });

  it('hands the result so far to onPartial after every trained run but the last', async () => {
    const partials: { completed: number; interrupted: boolean; folds: string[] }[] = [];
    const r = await runExperiment(
      opts({
        method: 'eeg-only',
        folds: ['s1', 's2'],
        seeds: [5, 6],
        onPartial: (p) =>
          partials.push({ completed: p.completed, interrupted: p.interrupted, folds: p.folds.map((f) => `${f.fold}/${f.seed}`) }),
      }),
    );
    expect(partials.map((p) => p.completed)).toEqual([1, 2, 3]);
    expect(partials.every((p) => p.interrupted)).toBe(true);
    expect(partials[2]!.folds).toEqual(['s1/5', 's1/6', 's2/5']);
    expect(r.interrupted).toBe(false);
    expect(r.completed).toBe(4);
  });
});

describe('a supplied teacher (--teacher) is checked against every planned fold, under every protocol', () => {
  const one = { epochs: 1, warmupEpochs: 0, batchSize: 16 };
  const twoSessions = tinyDataset({ subjects: 2, sessions: 2 });
  /** The teacher trained for one fold of a protocol (eye-only is the teacher itself: nothing else trains). */
  async function teacherFor(
    ds: ReturnType<typeof tinyDataset>,
    protocol: ExperimentOptions['protocol'],
    fold: string,
    name: string,
  ): Promise<{ ck: Checkpoint; accuracy: number }> {
    const cache = join(dir, name);
    const r = await runExperiment(opts({ dataset: ds, method: 'eye-only', protocol, folds: [fold], hyper: one, teacherCacheDir: cache }));
    return { ck: readCheckpoint(join(cache, readdirSync(cache)[0]!)), accuracy: r.folds[0]!.accuracy };
  }

  it('refuses a teacher that leaks into fold 2 of 3 before any fold trains', async () => {
    const ds = tinyDataset({ subjects: 3 });
    // Trained for the within-subject fold s2-sess1: trials 1–16 of subject 2, which LOSO fold s2 tests on.
    const { ck } = await teacherFor(ds, 'within', 's2-sess1', 'leak-fold2');
    expect(ck.provenance.trainTrials).toBe('2/1/1-16');
    const events: RunEvent[] = [];
    let partials = 0;
    const ckDir = join(dir, 'leak-fold2-students');
    const t0 = performance.now();
    await expect(
      runExperiment(
        opts({
          dataset: ds,
          method: 'kd',
          folds: ['s1', 's2', 's3'],
          hyper: one,
          teacherCheckpoint: ck,
          checkpointDir: ckDir,
          onEvent: (e) => events.push(e),
          onPartial: () => partials++,
        }),
      ),
    ).rejects.toThrow(/trained on test trials of 1 of the 3 planned folds, .*: fold s2, 16 trials of subject 2 \(2\/1\/1-16\)\. /);
    const ms = performance.now() - t0;
    expect(events).toEqual([]); // no fold started, no epoch ran (fold s1 used to train first)
    expect(partials).toBe(0);
    expect(existsSync(ckDir)).toBe(false);
    expect(ms).toBeLessThan(5000);
    // The same check on its own, as the CLI makes it before starting the backend or --jobs children.
    expect(() => checkSuppliedTeacher({ dataset: ds, protocol: 'loso', teacher: ck })).toThrow(
      /1 of the 3 planned folds, .*fold s2, 16 trials/,
    );
    expect(checkSuppliedTeacher({ dataset: ds, protocol: 'loso', folds: ['s1', 's3'], teacher: ck })).toEqual([]);
  });

  it('refuses under within a teacher that was trained on the test trials of a fold (a cross-session teacher)', async () => {
    // Cross-session fold s1-sess2 trains on all of subject 1's session 1, whose trials 17–24 within fold s1-sess1 tests on.
    const { ck } = await teacherFor(twoSessions, 'cross-session', 's1-sess2', 'leak-within');
    expect(ck.provenance.trainTrials).toBe('1/1/1-24');
    const events: RunEvent[] = [];
    await expect(
      runExperiment(
        opts({
          dataset: twoSessions,
          method: 'kd',
          protocol: 'within',
          folds: ['s1-sess2', 's1-sess1', 's2-sess1'],
          hyper: one,
          teacherCheckpoint: ck,
          onEvent: (e) => events.push(e),
        }),
      ),
    ).rejects.toThrow(/trained on test trials of 1 of the 3 planned folds, .*: fold s1-sess1, 8 trials of subject 1 \(1\/1\/17-24\)\. /);
    expect(events).toEqual([]);
  });

  it('accepts a clean teacher under within, and records trials, hyper-parameters and version in provenance', async () => {
    const { ck, accuracy } = await teacherFor(twoSessions, 'within', 's1-sess1', 'clean-within');
    expect(ck.provenance).toMatchObject({
      role: 'teacher',
      cmcrdVersion: TOOLKIT_VERSION,
      epochs: 1,
      warmupEpochs: 0,
      batchSize: 16,
      lr: 1e-3,
      weightDecay: 1e-3,
      valFraction: 0.2,
      valBy: 'trial',
      trainSubjects: '1',
      trainTrials: '1/1/1-16',
    });
    expect(ck.provenance.patience).toBeUndefined();
    expect(TOOLKIT_VERSION).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
    const ckDir = join(dir, 'clean-within-students');
    const r = await runExperiment(
      opts({
        dataset: twoSessions,
        method: 'kd',
        protocol: 'within',
        folds: ['s1-sess1', 's1-sess2', 's2-sess1'],
        hyper: { ...one, patience: 3 },
        teacherCheckpoint: ck,
        checkpointDir: ckDir,
      }),
    );
    expect(r.completed).toBe(3);
    expect(r.folds[0]!.teacherAccuracy).toBe(accuracy); // its own fold: the very teacher that was trained for it
    const student = readCheckpoint(r.folds[1]!.checkpoint!);
    expect(student.provenance).toMatchObject({
      role: 'student',
      fold: 's1-sess2',
      trainTrials: '1/2/1-16',
      trainSubjects: '1',
      patience: 3,
      cmcrdVersion: TOOLKIT_VERSION,
    });
  });

  it('checks a checkpoint from before trial-level provenance by subject, and refuses it outside LOSO when it saw a test subject', async () => {
    const { ck } = await teacherFor(twoSessions, 'within', 's1-sess1', 'old-format');
    const { trainTrials: _t, ...old } = ck.provenance;
    const oldCk: Checkpoint = { ...ck, provenance: old };
    expect(() =>
      checkSuppliedTeacher({ dataset: twoSessions, protocol: 'within', folds: ['s1-sess2', 's2-sess2'], teacher: oldCk }),
    ).toThrow(
      /trained on subject\(s\) 1, which fold s1-sess2 tests on, and it records only its training subjects \(it predates trial-level provenance\), so under protocol within it cannot be checked for leaked test trials\. Retrain the teacher/,
    );
    expect(() => checkSuppliedTeacher({ dataset: twoSessions, protocol: 'cross-session', teacher: oldCk })).toThrow(
      /folds s1-sess1, s1-sess2 test on, .*under protocol cross-session/,
    );
    expect(checkSuppliedTeacher({ dataset: twoSessions, protocol: 'within', folds: ['s2-sess1', 's2-sess2'], teacher: oldCk })).toEqual([]);
    // The library names the option field (teacher); the CLI prints it as its flag, with the message otherwise unchanged.
    expect(() => checkSuppliedTeacher({ dataset: twoSessions, protocol: 'loso', teacher: oldCk })).toThrow(
      /^teacher: the checkpoint was trained on subject\(s\) 1, which fold s1 tests on$/,
    );
    expect(cliMessage(thrown(() => checkSuppliedTeacher({ dataset: twoSessions, protocol: 'loso', teacher: oldCk })))).toMatch(
      /^--teacher: the checkpoint was trained on subject\(s\) 1, which fold s1 tests on$/,
    );
    // Nothing recorded (not made by cmcrd train): accepted, with a note.
    const { trainSubjects: _s, ...bare } = old;
    expect(checkSuppliedTeacher({ dataset: twoSessions, protocol: 'within', teacher: { ...ck, provenance: bare } })).toEqual([
      expect.stringMatching(/could not be checked for leaks/),
    ]);
    expect(() =>
      checkSuppliedTeacher({
        dataset: twoSessions,
        protocol: 'within',
        teacher: { ...ck, provenance: { ...ck.provenance, trainTrials: '1/x/3' } },
      }),
    ).toThrow(/provenance\.trainTrials cannot be read: "1\/x\/3" is not/);
    // The other up-front checks: modality, feature count, classes.
    expect(() => checkSuppliedTeacher({ dataset: twoSessions, protocol: 'within', direction: 'eeg-to-eye', teacher: ck })).toThrow(
      /an eye-movement network but this run needs an EEG teacher/,
    );
    expect(() =>
      checkSuppliedTeacher({ dataset: tinyDataset({ subjects: 2, sessions: 2, eye: 4 }), protocol: 'within', teacher: ck }),
    ).toThrow(/reads 3 features, the data has 4/);
    expect(() =>
      checkSuppliedTeacher({ dataset: tinyDataset({ layout: 'seed-v', subjects: 2 }), protocol: 'within', teacher: ck }),
    ).toThrow(/the checkpoint has 4 classes, the data 5/);
  });

  it('encodes a set of trials compactly and reads it back', () => {
    const ids = [
      { subject: '10', session: 1, trial: 3 },
      { subject: '2', session: 1, trial: 5 },
      { subject: '2', session: 1, trial: 1 },
      { subject: '2', session: 1, trial: 2 },
      { subject: '2', session: 1, trial: 2 },
      { subject: '2', session: 3, trial: 4 },
      { subject: 'a/b;c,d', session: 1, trial: 1 },
    ];
    const text = encodeTrials(ids);
    expect(text).toBe('2/1/1-2,5;2/3/4;10/1/3;a%2Fb%3Bc%2Cd/1/1');
    const set = parseTrials(text);
    expect(set.count).toBe(6);
    for (const t of ids) expect(set.has(t), JSON.stringify(t)).toBe(true);
    for (const t of [
      { subject: '2', session: 1, trial: 3 },
      { subject: '2', session: 2, trial: 1 },
      { subject: '1', session: 1, trial: 3 },
      { subject: 'a', session: 1, trial: 1 },
    ])
      expect(set.has(t), JSON.stringify(t)).toBe(false);
    expect(parseTrials('').count).toBe(0);
    expect(encodeTrials([])).toBe('');
    expect(() => parseTrials('2/1/5-3')).toThrow(/runs backwards/);
    expect(() => parseTrials('2/1/1;;3/1/1')).toThrow(/"" is not <subject>/);
  });
});
