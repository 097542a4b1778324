/**
 * The experiment loop: per fold and seed, the validation split, the frozen teacher (./teacher-cache.ts), the
 * student (CE + λ·L_method) on features z-scored with training statistics only, its test metrics and checkpoint.
 * Interruption stops after the current epoch; the fold that was running is dropped, finished folds are kept.
 */
import { join } from 'node:path';
import * as tf from '../tf.js';
import { flatten } from '../../datasets/types.js';
import { makeCheckpoint, writeCheckpoint } from '../checkpoint.js';
import { forwardAll, featureDims, isDistillMethod, makeDistiller } from '../methods/index.js';
import { summarise } from '../metrics.js';
import { buildNetwork, defaultSpec } from '../nets/index.js';
import { applyNormaliser, fitNormaliser, validationSplit } from '../protocols.js';
import { fit, type FitOptions, type Matrix } from '../trainer.js';
import { ExperimentConfigError } from '../errors.js';
import { complement, evaluate, modalityData, selectFolds } from './data.js';
import { checkpointFingerprint, datasetFingerprint } from './fingerprint.js';
import { checkTeacherOnFolds } from './leak-check.js';
import { resolveOptions, studentModality, teacherModality, usesTeacher } from './options.js';
import { provenance } from './provenance.js';
import { keptRecords, runKey } from './resume.js';
import { obtainTeacher, type FoldTeacher } from './teacher-cache.js';
import type { ExperimentOptions, ExperimentResult, FoldRecord } from './types.js';

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const ds = o.dataset;
  const { direction, normalisation, mccMode, lambdaMcc, lambda, hyper, teacherHyper: tHyper, teacherArch } = resolveOptions(o);
  const engines = new Set<string>(); // what ran the training steps (FitResult.engine), for provenance
  const transductive = new Set<string>();
  const C = ds.meta.classNames.length;
  const flat = flatten(ds);
  const folds = selectFolds(flat, ds, o.protocol, o.folds, o.subjectFolds);
  const role = usesTeacher(o.method, direction);
  const sMod = studentModality(o.method, direction);
  const tMod = teacherModality(direction);
  const student = role === 'is-teacher' ? null : modalityData(ds, flat, sMod);
  const teacherData = role === 'none' ? null : modalityData(ds, flat, tMod);
  // A supplied teacher is checked against every planned fold before any training: a leak into the last fold
  // must not surface only after the earlier folds have trained.
  if (o.teacherCheckpoint && teacherData) checkTeacherOnFolds(o.teacherCheckpoint, teacherData, C, flat, folds, o.protocol);
  const fingerprint = datasetFingerprint(ds);
  const config: ExperimentResult['config'] = {
    dataset: ds.meta.dataset,
    synthetic: ds.meta.synthetic,
    data: o.dataLabel ?? ds.meta.root,
    dataFingerprint: fingerprint,
    feature: ds.meta.feature,
    channels: ds.meta.channelNames.length,
    montage: o.montage?.device ?? null,
    method: o.method,
    arch: o.arch,
    teacherArch: role === 'none' ? null : (o.teacherCheckpoint?.arch.arch ?? teacherArch),
    protocol: o.protocol,
    direction,
    normalisation,
    mcc: role === 'none' ? null : mccMode,
    lambdaMcc: role === 'none' ? null : lambdaMcc,
    lambda,
    negativePool: o.method === 'crd' || o.method === 'cmcrd' ? (o.negativePool ?? 'other-class') : null,
    negatives: o.method === 'crd' || o.method === 'cmcrd' ? (o.nNeg ?? null) : null,
    cmcrdSign: o.method === 'cmcrd' ? (o.cmcrdSign ?? true) : null,
    seeds: [...o.seeds],
    epochs: hyper.epochs,
    batchSize: hyper.batchSize,
    lr: hyper.lr,
    weightDecay: hyper.weightDecay,
    warmupEpochs: hyper.warmupEpochs,
    valFraction: hyper.valFraction,
    valBy: hyper.valBy ?? 'trial',
    patience: hyper.patience ?? null,
    teacherEpochs: role === 'none' ? null : tHyper.epochs,
    teacherSupplied: !!o.teacherCheckpoint,
    teacherFingerprint: o.teacherCheckpoint ? checkpointFingerprint(o.teacherCheckpoint) : null,
    backend: tf.getBackend(),
  };
  const kept = o.resume ? keptRecords(o.resume, config, folds, o.seeds) : new Map<string, FoldRecord>();
  if (o.resume) {
    o.resume.transductiveSubjects.forEach((x) => transductive.add(x));
    for (const e of o.resume.config.engines as string[]) engines.add(e);
  }

  // Finished runs by fold and seed: the kept ones from the start (so a stop or a partial save never drops an
  // earlier run's records of later folds), the trained ones as they finish. Results list them in plan order.
  const done = new Map<string, FoldRecord>(kept);
  const inPlanOrder = (): FoldRecord[] => folds.flatMap((f) => o.seeds.flatMap((seed) => done.get(runKey(f.id, seed)) ?? []));
  const planned = folds.length * o.seeds.length;
  let interrupted = false;
  let index = 0;
  /** The result over the records so far; `stopped` marks it as ending (or, mid-run, so far) short of the plan. */
  const assemble = (stopped: boolean): ExperimentResult => {
    const records = inPlanOrder();
    const asSeeded = (key: 'student' | 'teacher') =>
      records
        .filter((r) => key === 'student' || r.teacherAccuracy !== undefined)
        .map((r) => ({
          fold: r.fold,
          seed: r.seed,
          metrics:
            key === 'student'
              ? { accuracy: r.accuracy, bca: r.bca, confusion: r.confusion, n: r.testWindows }
              : { accuracy: r.teacherAccuracy!, bca: r.teacherBca!, confusion: [], n: r.testWindows },
        }));
    const teacherRows = asSeeded('teacher');
    return {
      config: { ...config, engines: [...engines] },
      summary: summarise(asSeeded('student'), C),
      ...(teacherRows.length ? { teacherSummary: summarise(teacherRows, 0) } : {}),
      folds: [...records],
      planned,
      completed: records.length,
      interrupted: stopped,
      transductiveSubjects: [...transductive],
      classes: [...ds.meta.classNames],
    };
  };

  outer: for (const fold of folds) {
    for (const seed of o.seeds) {
      const before = kept.get(runKey(fold.id, seed));
      if (before) {
        index++;
        o.onEvent?.({ type: 'fold-done', record: before, index, total: planned, resumed: true });
        continue;
      }
      if (o.interrupt?.interrupted) {
        interrupted = true;
        break outer;
      }
      o.onEvent?.({ type: 'fold-start', fold: fold.id, seed, index, total: planned });
      const t0 = performance.now();
      let valPos: Int32Array;
      try {
        valPos = validationSplit(flat, fold.trainRows, hyper.valFraction, seed, hyper.valBy ?? 'trial');
      } catch (e) {
        throw new ExperimentConfigError(`fold ${fold.id}: ${(e as Error).message}`);
      }
      const yTrain = Int32Array.from(fold.trainRows, (r) => flat.labels[r]!);
      const yTest = Int32Array.from(fold.testRows, (r) => flat.labels[r]!);

      let teacher: FoldTeacher | null = null;
      if (teacherData) {
        const got = await obtainTeacher({
          o,
          fold,
          seed,
          flat,
          data: teacherData,
          valPos,
          yTrain,
          yTest,
          hyper: tHyper,
          arch: teacherArch,
          normalisation,
          mccMode,
          lambdaMcc,
          fingerprint,
          classes: C,
          transductive,
          engines,
        });
        if (!got) {
          interrupted = true;
          break outer;
        }
        teacher = got;
      }

      let record: FoldRecord;
      const base = {
        fold: fold.id,
        seed,
        testSubjects: fold.testSubjects,
        trainWindows: fold.trainRows.length - valPos.length,
        valWindows: valPos.length,
        testWindows: fold.testRows.length,
      };
      if (role === 'is-teacher') {
        const m = teacher!.metrics;
        record = {
          ...base,
          accuracy: m.accuracy,
          bca: m.bca,
          confusion: m.confusion,
          teacherAccuracy: m.accuracy,
          teacherBca: m.bca,
          bestEpoch: 0,
          epochsRun: 0,
          bestValAccuracy: null,
          seconds: 0,
        };
      } else {
        const s = student!;
        const norm = fitNormaliser(s.x, s.d, flat, fold, normalisation);
        norm.transductiveSubjects.forEach((x) => transductive.add(x));
        const train: Matrix = { x: applyNormaliser(s.x, s.d, flat, fold.trainRows, norm), n: fold.trainRows.length, d: s.d };
        const test: Matrix = { x: applyNormaliser(s.x, s.d, flat, fold.testRows, norm), n: fold.testRows.length, d: s.d };
        const net = buildNetwork(defaultSpec(o.arch, s.input, C), seed);
        const trainPos = complement(train.n, valPos);
        const distiller = isDistillMethod(o.method)
          ? makeDistiller({
              method: o.method,
              lambda: lambda!,
              teacher: forwardAll(teacher!.net, teacher!.train),
              student: featureDims(net),
              labels: yTrain,
              trainRows: trainPos,
              seed,
              ...(o.nNeg !== undefined ? { nNeg: o.nNeg } : {}),
              ...(o.negativePool !== undefined ? { negativePool: o.negativePool } : {}),
              ...(o.cmcrdSign !== undefined ? { cmcrdSign: o.cmcrdSign } : {}),
            })
          : null;
        const fitOpts: FitOptions = {
          ...hyper,
          seed,
          valRows: valPos,
          ...(distiller ? { extraLoss: distiller.extraLoss, extraTrainable: distiller.extraTrainable } : {}),
          ...(distiller?.afterStep ? { afterStep: distiller.afterStep } : {}),
          onEpoch: (info) => o.onEvent?.({ type: 'epoch', model: 'student', fold: fold.id, seed, info }),
          ...(o.interrupt ? { interrupt: o.interrupt } : {}),
          ...(o.engine ? { engine: o.engine } : {}),
        };
        const r = await fit(net, train, yTrain, fitOpts);
        engines.add(r.engine);
        distiller?.dispose();
        if (r.interrupted) {
          net.dispose();
          interrupted = true;
          break outer;
        }
        const m = evaluate(net, test, yTest, C);
        record = {
          ...base,
          accuracy: m.accuracy,
          bca: m.bca,
          confusion: m.confusion,
          ...(teacher ? { teacherAccuracy: teacher.metrics.accuracy, teacherBca: teacher.metrics.bca } : {}),
          bestEpoch: r.bestEpoch,
          epochsRun: r.epochsRun,
          bestValAccuracy: r.bestValAccuracy,
          seconds: 0,
        };
        // Fusion takes both modalities and is an upper bound, not a deployable model: no checkpoint.
        if (s.name !== 'fusion' && (o.checkpointDir || o.onEvent)) {
          const ck = makeCheckpoint(net, {
            modality: s.name,
            meta: ds.meta,
            channels: s.channels,
            normalisation: norm.global,
            ...(o.montage && s.name === 'eeg' ? { montage: o.montage } : {}),
            provenance: provenance(o, fold, seed, flat, hyper, {
              role: 'student',
              normalisation,
              direction,
              lambda: lambda ?? 0,
              teacherArch: teacher ? teacherArch : '',
            }),
            metrics: {
              testAccuracy: m.accuracy,
              testBca: m.bca,
              bestEpoch: r.bestEpoch,
              ...(r.bestValAccuracy !== null ? { valAccuracy: r.bestValAccuracy } : {}),
            },
          });
          if (o.checkpointDir) {
            const path = join(o.checkpointDir, `${o.method}-${o.arch}-${fold.id}-seed${seed}.json`);
            writeCheckpoint(path, ck);
            record.checkpoint = path;
          }
          o.onEvent?.({ type: 'student', fold: fold.id, seed, checkpoint: ck });
        }
        net.dispose();
      }
      teacher?.net.dispose();
      record.seconds = (performance.now() - t0) / 1000;
      done.set(runKey(fold.id, seed), record);
      index++;
      o.onEvent?.({ type: 'fold-done', record, index, total: planned });
      if (done.size < planned) o.onPartial?.(assemble(true));
    }
  }

  return assemble(interrupted);
}
