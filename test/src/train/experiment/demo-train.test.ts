/**
 * The demo's data and training (src/synthetic/paired.ts, src/demo/train.ts): the synthetic people as an
 * EmotionDataset, and the teacher and three students trained through runExperiment on a held-out-subjects fold.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultWorld, synthesizeTrial } from '../../../../firmware-bridge/sim/wearer-model.js';
import { MUSE_MONTAGE, SEED_62_CHANNELS } from '../../../../firmware-bridge/montage/index.js';
import { seedDE } from '../../../../runtime/dsp/seed-de.js';
import { SEED_IV_LABELS } from '../../../../src/datasets/layouts.js';
import { syntheticPairedDataset } from '../../../../src/synthetic/paired.js';
import { DEMO_STUDENTS, trainDemoModels, type DemoModels } from '../../../../src/demo/train.js';
import { checkpointProbabilities, type RunEvent } from '../../../../src/train/run.js';
import { useWasm } from './helpers.js';

const world = defaultWorld();

describe('syntheticPairedDataset', () => {
  it('lays the wearer model out as SEED-IV trials, DE computed channel-major per window', () => {
    const ds = syntheticPairedDataset({ world, subjects: [3, 5], windowsPerTrial: 2, trialsPerSession: 3 });
    expect(ds.meta).toMatchObject({
      dataset: 'seed-iv',
      synthetic: true,
      feature: 'de',
      windowSec: 4,
      eyeFeatures: 31,
      classNames: ['neutral', 'sad', 'fear', 'happy'],
    });
    expect(ds.meta.channelNames).toEqual(SEED_62_CHANNELS);
    expect(ds.trials.map((t) => `${t.subject}/${t.session}/${t.trial}:${t.label}`)).toEqual(
      ['3', '5'].flatMap((s) => [1, 2, 3].map((t) => `${s}/1/${t}:${SEED_IV_LABELS[0]![t - 1]}`)),
    );
    // Window 1, channel 40, of subject 5's second trial: recomputed from the wearer model's raw signal.
    const raw = synthesizeTrial({
      world,
      subject: 5,
      session: 0,
      trial: 1,
      label: SEED_IV_LABELS[0]![1]!,
      windows: 2,
      windowSec: 4,
      fs: 200,
      sites: SEED_62_CHANNELS,
      eyeDims: 31,
    });
    const t = ds.trials[4]!;
    const c = 40;
    expect(Array.from(t.eeg.subarray((62 + c) * 5, (62 + c + 1) * 5))).toEqual(
      Array.from(Float32Array.from(seedDE(raw.eeg[c]!.subarray(800, 1600), 200, { nfft: 1024 }))),
    );
    expect(Array.from(t.eye!.subarray(31, 62))).toEqual(Array.from(Float32Array.from(raw.eye[1]!)));
  });
});

describe('trainDemoModels', () => {
  let models: DemoModels;
  const events: { model: string; e: RunEvent }[] = [];
  beforeAll(async () => {
    await useWasm();
    const dataset = syntheticPairedDataset({ world, subjects: [0, 1, 2, 3], windowsPerTrial: 2 });
    const r = await trainDemoModels({
      dataset,
      montage: MUSE_MONTAGE,
      heldOut: ['2', '3'],
      arch: 'mlp',
      epochs: 2,
      seed: 7,
      nNeg: 32,
      onEvent: (model, e) => events.push({ model, e }),
    });
    if (r.interrupted) throw new Error('interrupted');
    models = r;
  }, 120_000);

  it('trains the teacher once and distils both students from it, on a held-out-subjects fold of the montage', () => {
    const teacherEvents = events.filter((x) => x.e.type === 'teacher').map((x) => `${x.model}:${(x.e as { source: string }).source}`);
    expect(teacherEvents).toEqual(['teacher:trained', 'kd:memory', 'cmcrd:memory']);
    expect(events.filter((x) => x.e.type === 'fold-start').map((x) => x.model)).toEqual(['teacher', ...DEMO_STUDENTS]);
    expect(models.fold).toBe('s2+s3');
    expect(models.windows).toEqual({ train: 2 * 24 * 2, val: 0, test: 2 * 24 * 2 });
    expect(models.testRows).toHaveLength(2 * 24 * 2);
    expect(models.teacher.modality).toBe('eye');
    expect(models.teacher.provenance).toMatchObject({
      role: 'teacher',
      createdBy: 'cmcrd demo',
      fold: 's2+s3',
      testSubjects: '2,3',
      trainSubjects: '0,1',
    });
    for (const m of DEMO_STUDENTS) {
      const ck = models.students[m];
      expect(ck.provenance).toMatchObject({ role: 'student', method: m, fold: 's2+s3', createdBy: 'cmcrd demo' });
      expect(ck.channels).toEqual(['TP9', 'AF7', 'AF8', 'TP10']);
      expect(ck.montage).toEqual({ device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'], capChannels: ['TP7', 'FP1', 'FP2', 'TP8'] });
      expect(ck.metrics?.testAccuracy).toBe(models.accuracy[m]);
    }
    expect(models.students.kd.provenance.lambda).toBe(10);
    expect(models.students.cmcrd.provenance.lambda).toBe(0.02);
    expect(models.teacher.metrics?.testAccuracy).toBe(models.accuracy.teacher);
  });

  it('hands out the held-out rows the students were tested on, raw (the exported graph z-scores them)', () => {
    const ck = models.students.cmcrd;
    expect(models.testRows[0]).toHaveLength(20);
    const p = checkpointProbabilities(ck, models.testRows);
    const classes = p.map((q) => q.indexOf(Math.max(...q)));
    // The same held-out windows in the same order as the fold's test rows: the accuracy recomputes.
    const labels = models.testRows.map((_, i) => SEED_IV_LABELS[0]![Math.floor(i / 2) % 24]!);
    expect(classes.filter((c, i) => c === labels[i]).length / classes.length).toBeCloseTo(models.accuracy.cmcrd, 12);
  });
});
