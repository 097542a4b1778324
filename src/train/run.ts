// size: one experiment's whole loop (folds, teacher cache, resume, leak check); being split by concern (issue 18 item 5)
/**
 * One experiment: a method × network × protocol on a dataset, over folds and seeds. Per fold and seed:
 *   1. a validation split of whole training trials (early stopping never looks at test data);
 *   2. the frozen teacher (CE + λ_mcc·MCC), trained once per (dataset, protocol, fold, arch, seed, options) and
 *      cached in memory and on disk, or supplied as a checkpoint;
 *   3. the student (CE + λ·L_method) on features z-scored with training statistics only;
 *   4. test metrics, and optionally the student's checkpoint.
 * Interruption stops after the current epoch; the fold that was running is dropped, finished folds are kept.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from './tf.js';
import type { Checkpoint } from '../../export/checkpoint.js';
import { flatten, type EmotionDataset, type FlatDataset } from '../datasets/types.js';
import { mcc, LAMBDA_DEFAULTS, type NegativePool } from './losses/index.js';
import { forwardAll, featureDims, isDistillMethod, makeDistiller, type MethodName } from './methods/index.js';
import { foldMetrics, summarise, type FoldMetrics, type Summary } from './metrics.js';
import { ARCH_NAMES, buildNetwork, defaultSpec, type ArchName } from './nets/index.js';
import { SeededRandom } from './nets/layers.js';
import type { Network } from './nets/types.js';
import { applyNormaliser, applyStats, fitNormaliser, makeFolds, validationSplit, type Fold, type NormalisationMode, type ProtocolName, type ValidationUnit } from './protocols.js';
import { argmaxRows, fit, predictLogits, type EngineChoice, type EpochInfo, type FitOptions, type Matrix } from './trainer.js';
import { TOOLKIT_VERSION } from '../version.js';
import { encodeTrials, makeCheckpoint, parseTrials, readCheckpoint, writeCheckpoint, type TrialId, type TrialSet } from './checkpoint.js';

/** A problem with the options or the data (reported to the user as such, without a stack). */
export class ExperimentConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExperimentConfigError';
  }
}

export type Modality = 'eeg' | 'eye';
/** eye-to-eeg: eye teacher → EEG student (the paper's setting); eeg-to-eye: the "vice versa" direction. */
export type Direction = 'eye-to-eeg' | 'eeg-to-eye';
export type MccMode = 'labelled' | 'transductive' | 'off';

export interface TrainHyper {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupEpochs: number;
  /** Fraction of training trials (per class) held out for early stopping; 0 trains on all and keeps the last epoch. */
  valFraction: number;
  /** Validation unit: whole trials (default) or whole subjects (LOSO). */
  valBy?: ValidationUnit;
  patience?: number;
}

/** method.md defaults (authors' code): AdamW 1e-3, wd 1e-3, batch 32, 40 epochs, 10 warm-up epochs. */
export const DEFAULT_HYPER: TrainHyper = { epochs: 40, batchSize: 32, lr: 1e-3, weightDecay: 1e-3, warmupEpochs: 10, valFraction: 0.2 };
export const DEFAULT_SEEDS: readonly number[] = [2022, 2023, 2024];

export interface ExperimentOptions {
  dataset: EmotionDataset;
  method: MethodName;
  arch: ArchName;
  /** Teacher network (default: the student's arch). */
  teacherArch?: ArchName;
  protocol: ProtocolName;
  /** Only these fold ids (default: all folds of the protocol). */
  folds?: readonly string[];
  seeds: readonly number[];
  hyper?: Partial<TrainHyper>;
  /** Teacher training (default: the same as the student's). */
  teacherHyper?: Partial<TrainHyper>;
  /** λ of the method (β for CMCRD); default LAMBDA_DEFAULTS. */
  lambda?: number;
  lambdaMcc?: number;
  mcc?: MccMode;
  direction?: Direction;
  normalisation?: NormalisationMode;
  /** CRD/CMCRD negatives per sample (default 1000, capped by the data). */
  nNeg?: number;
  /** CRD/CMCRD negative pool: 'other-class' (method.md, default) or 'any' (instance-level ablation). */
  negativePool?: NegativePool;
  /** CMCRD's unimodal-supervision sign: on (method.md, default) or off (ablation: s_i = +1 for every sample). */
  cmcrdSign?: boolean;
  /** Use this teacher for every fold instead of training one (its own normalisation is applied). */
  teacherCheckpoint?: Checkpoint;
  /** Directory for cached teachers (null: memory only). */
  teacherCacheDir?: string | null;
  /** In-process teacher cache shared between experiments (e.g. by `cmcrd compare`). */
  teacherMemo?: Map<string, Checkpoint>;
  /** Directory for student checkpoints per fold and seed (null: none). */
  checkpointDir?: string | null;
  /** For headband models (training data restricted with selectMontage). */
  montage?: Checkpoint['montage'];
  /** Free-form label of the data for provenance, e.g. "synthetic seed-iv (runs/data)". */
  dataLabel?: string;
  /** What runs the networks' training steps (default 'auto': the MLP and DGCNN on onnxruntime-node where it loads). */
  engine?: EngineChoice;
  /**
   * An earlier, interrupted run of the same experiment (`--resume`): its finished fold × seed runs are kept
   * instead of being trained again. Its settings must match this run's (more seeds and folds may be added).
   */
  resume?: PreviousRun;
  interrupt?: { interrupted: boolean };
  onEvent?: (e: RunEvent) => void;
  /**
   * Called with the result so far after every trained fold × seed run but the last, so a caller can save it
   * as it goes (a run that is killed then keeps, and `--resume` continues from, its finished runs).
   */
  onPartial?: (r: ExperimentResult) => void;
}

/** What `--resume` keeps from an earlier run (read from its results.json by `readRunResults`). */
export interface PreviousRun {
  /** Where it was read from, for messages. */
  source: string;
  config: ExperimentResult['config'];
  folds: FoldRecord[];
  transductiveSubjects: string[];
}

/**
 * Config entries a continued run may change: more seeds, and the data's path (its content is pinned by
 * dataFingerprint). `engines` is not compared either: it is added after the check, as the union of both runs'.
 */
const RESUME_FREE_KEYS: ReadonlySet<string> = new Set(['seeds', 'data']);
/**
 * Config entries added after results.json files already existed, with the value every earlier run had: a run that
 * does not record one is resumed as if it recorded that value.
 */
const RESUME_DEFAULTS: Readonly<Record<string, (config: ExperimentResult['config']) => unknown>> = {
  cmcrdSign: (c) => (c.method === 'cmcrd' ? true : null),
};

export type RunEvent =
  | { type: 'fold-start'; fold: string; seed: number; index: number; total: number }
  | { type: 'epoch'; model: 'teacher' | 'student'; fold: string; seed: number; info: EpochInfo }
  /** `damaged`: a cached teacher at `path` could not be read (the reason), so it was trained again and replaced. */
  | { type: 'teacher'; fold: string; seed: number; source: 'trained' | 'memory' | 'disk' | 'supplied'; path?: string; damaged?: string }
  /** `resumed`: the record was kept from an earlier run (PreviousRun), nothing was trained. */
  | { type: 'fold-done'; record: FoldRecord; index: number; total: number; resumed?: boolean };

export interface FoldRecord {
  fold: string;
  seed: number;
  testSubjects: string[];
  trainWindows: number;
  valWindows: number;
  testWindows: number;
  accuracy: number;
  bca: number;
  confusion: number[][];
  /** The teacher's test metrics on its own modality (distillation and teacher-modality-only methods). */
  teacherAccuracy?: number;
  teacherBca?: number;
  /** 1-based epoch whose weights were kept (best validation accuracy), epochs run. 0 for the teacher-only rows. */
  bestEpoch: number;
  epochsRun: number;
  bestValAccuracy: number | null;
  checkpoint?: string;
  seconds: number;
}

export interface ExperimentResult {
  config: Record<string, string | number | boolean | null | string[] | number[]>;
  summary: Summary;
  teacherSummary?: Summary;
  folds: FoldRecord[];
  /** Fold × seed runs planned / completed. */
  planned: number;
  completed: number;
  interrupted: boolean;
  /** Subjects normalised with their own unlabelled test features (per-subject normalisation only). */
  transductiveSubjects: string[];
  classes: string[];
}

interface ModalityData {
  name: Modality | 'fusion';
  x: Float32Array;
  d: number;
  input: { channels: number; bands: number };
  channels: string[];
}

/** Features of one modality as a row-major matrix over the flattened dataset. */
export function modalityData(ds: EmotionDataset, flat: FlatDataset, name: Modality | 'fusion'): ModalityData {
  const C = ds.meta.channelNames.length;
  const B = ds.meta.bandNames.length;
  const E = ds.meta.eyeFeatures;
  const eyeNames = Array.from({ length: E }, (_, i) => `eye${i + 1}`);
  if (name === 'eeg') return { name, x: flat.eeg, d: C * B, input: { channels: C, bands: B }, channels: [...ds.meta.channelNames] };
  if (!flat.eye || E === 0) {
    throw new ExperimentConfigError(`the ${ds.meta.dataset} dataset as loaded has no eye-movement features, which ${name === 'eye' ? 'the eye network' : 'fusion'} needs`);
  }
  if (name === 'eye') return { name, x: flat.eye, d: E, input: { channels: 1, bands: E }, channels: eyeNames };
  // Fusion: EEG channels followed by ⌈E/B⌉ pseudo-channels carrying the eye features (zero-padded), so every
  // network (MLP, EEGNet-mini, DGCNN) reads it as channels × bands; for the MLP this is plain concatenation.
  const P = Math.ceil(E / B);
  const d = (C + P) * B;
  const x = new Float32Array(flat.n * d);
  for (let i = 0; i < flat.n; i++) {
    x.set(flat.eeg.subarray(i * C * B, (i + 1) * C * B), i * d);
    x.set(flat.eye.subarray(i * E, (i + 1) * E), i * d + C * B);
  }
  return { name, x, d, input: { channels: C + P, bands: B }, channels: [...ds.meta.channelNames, ...Array.from({ length: P }, (_, i) => `eye-pack${i + 1}`)] };
}

/**
 * FNV-1a over the dataset's labels, ids and feature bytes: the data part of the teacher cache key and of the
 * check that `--resume` continues a run on the same data. Not memoised: a caller may edit a dataset in place.
 */
export function datasetFingerprint(ds: EmotionDataset): string {
  const enc = new TextEncoder();
  return fingerprint((feed) => {
    feed(enc.encode(JSON.stringify([ds.meta.dataset, ds.meta.channelNames, ds.meta.bandNames, ds.meta.eyeFeatures, ds.meta.feature])));
    for (const t of ds.trials) {
      feed(enc.encode(`${t.subject}/${t.session}/${t.trial}/${t.label}/${t.windows}`));
      feed(new Uint8Array(t.eeg.buffer, t.eeg.byteOffset, t.eeg.byteLength));
      if (t.eye) feed(new Uint8Array(t.eye.buffer, t.eye.byteOffset, t.eye.byteLength));
    }
  });
}

/** A supplied teacher's architecture and weights, so `--resume` notices a different `--teacher`. */
function checkpointFingerprint(ck: Checkpoint): string {
  const enc = new TextEncoder();
  return fingerprint((feed) => {
    feed(enc.encode(JSON.stringify(ck.arch)));
    for (const name of Object.keys(ck.weights).sort()) {
      const w = ck.weights[name]!.data;
      feed(enc.encode(name));
      feed(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
    }
  });
}

/** Two FNV-1a streams over the bytes `body` feeds: 64 bits, as 16 hex digits. */
function fingerprint(body: (feed: (u: Uint8Array) => void) => void): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  body((u) => {
    for (let i = 0; i < u.length; i++) {
      h1 = Math.imul(h1 ^ u[i]!, 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ u[i]!, 0x01000193 ^ 0x2f) >>> 0;
    }
  });
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

function hashString(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function subMatrix(x: Float32Array, d: number, rows: Int32Array): Matrix {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(x.subarray(r * d, (r + 1) * d), i * d));
  return { x: out, n: rows.length, d };
}

function evaluate(net: Network, m: Matrix, truth: Int32Array, classes: number): FoldMetrics {
  return foldMetrics(argmaxRows(predictLogits(net, m), classes), truth, classes);
}

export function teacherModality(direction: Direction): Modality {
  return direction === 'eye-to-eeg' ? 'eye' : 'eeg';
}

export function studentModality(method: MethodName, direction: Direction): Modality | 'fusion' {
  if (method === 'fusion') return 'fusion';
  if (method === 'eeg-only') return 'eeg';
  if (method === 'eye-only') return 'eye';
  return direction === 'eye-to-eeg' ? 'eeg' : 'eye';
}

/** Does this method use the teacher (distillation), or is it the teacher itself (its modality's "-only" row)? */
export function usesTeacher(method: MethodName, direction: Direction): 'distill' | 'is-teacher' | 'none' {
  if (isDistillMethod(method)) return 'distill';
  if ((method === 'eye-only' || method === 'eeg-only') && studentModality(method, direction) === teacherModality(direction)) return 'is-teacher';
  return 'none';
}

/** The protocol's folds on this dataset, restricted to `only` (fold ids) when given; unknown ids are an error. */
export function selectFolds(flat: FlatDataset, ds: EmotionDataset, protocol: ProtocolName, only?: readonly string[]): Fold[] {
  let folds: Fold[];
  try {
    folds = makeFolds(flat, protocol, ds.meta.dataset);
  } catch (e) {
    throw new ExperimentConfigError((e as Error).message);
  }
  if (!only?.length) return folds;
  const known = new Set(folds.map((f) => f.id));
  const bad = only.filter((f) => !known.has(f));
  if (bad.length) throw new ExperimentConfigError(`unknown fold id(s) ${bad.join(', ')} for protocol ${protocol} (known: ${[...known].join(', ')})`);
  return folds.filter((f) => only.includes(f.id));
}

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const ds = o.dataset;
  const direction = o.direction ?? 'eye-to-eeg';
  const normalisation = o.normalisation ?? 'global';
  const mccMode = o.mcc ?? 'labelled';
  const lambdaMcc = o.lambdaMcc ?? LAMBDA_DEFAULTS.mcc;
  const hyper: TrainHyper = { ...DEFAULT_HYPER, ...o.hyper };
  const tHyper: TrainHyper = { ...hyper, ...o.teacherHyper };
  const teacherArch = o.teacherArch ?? o.arch;
  const engines = new Set<string>(); // what ran the training steps (FitResult.engine), for provenance
  const transductive = new Set<string>();
  if (!ARCH_NAMES.includes(o.arch)) throw new ExperimentConfigError(`unknown architecture "${o.arch}"`);
  if (!o.seeds.length) throw new ExperimentConfigError('no seeds given');
  const C = ds.meta.classNames.length;
  const flat = flatten(ds);
  const folds = selectFolds(flat, ds, o.protocol, o.folds);
  const role = usesTeacher(o.method, direction);
  const sMod = studentModality(o.method, direction);
  const tMod = teacherModality(direction);
  const student = role === 'is-teacher' ? null : modalityData(ds, flat, sMod);
  const teacherData = role === 'none' ? null : modalityData(ds, flat, tMod);
  // A supplied teacher is checked against every planned fold before any training: a leak into the last fold
  // must not surface only after the earlier folds have trained.
  if (o.teacherCheckpoint && teacherData) checkTeacherOnFolds(o.teacherCheckpoint, teacherData, C, flat, folds, o.protocol);
  const fingerprint = datasetFingerprint(ds);
  const lambda = isDistillMethod(o.method) ? (o.lambda ?? LAMBDA_DEFAULTS[o.method]) : null;
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
          metrics: key === 'student' ? { accuracy: r.accuracy, bca: r.bca, confusion: r.confusion, n: r.testWindows } : { accuracy: r.teacherAccuracy!, bca: r.teacherBca!, confusion: [], n: r.testWindows },
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

      let teacher: { net: Network; train: Matrix; test: Matrix; metrics: FoldMetrics } | null = null;
      if (teacherData) {
        const got = await obtainTeacher({ o, fold, seed, flat, data: teacherData, valPos, yTrain, yTest, hyper: tHyper, arch: teacherArch, normalisation, mccMode, lambdaMcc, fingerprint, classes: C, transductive, engines });
        if (!got) {
          interrupted = true;
          break outer;
        }
        teacher = got;
      }

      let record: FoldRecord;
      const base = { fold: fold.id, seed, testSubjects: fold.testSubjects, trainWindows: fold.trainRows.length - valPos.length, valWindows: valPos.length, testWindows: fold.testRows.length };
      if (role === 'is-teacher') {
        const m = teacher!.metrics;
        record = { ...base, accuracy: m.accuracy, bca: m.bca, confusion: m.confusion, teacherAccuracy: m.accuracy, teacherBca: m.bca, bestEpoch: 0, epochsRun: 0, bestValAccuracy: null, seconds: 0 };
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
        if (o.checkpointDir && s.name !== 'fusion') {
          // Fusion takes both modalities and is an upper bound, not a deployable model: no checkpoint.
          const path = join(o.checkpointDir, `${o.method}-${o.arch}-${fold.id}-seed${seed}.json`);
          writeCheckpoint(
            path,
            makeCheckpoint(net, {
              modality: s.name,
              meta: ds.meta,
              channels: s.channels,
              normalisation: norm.global,
              ...(o.montage && s.name === 'eeg' ? { montage: o.montage } : {}),
              provenance: provenance(o, fold, seed, flat, hyper, { role: 'student', normalisation, direction, lambda: lambda ?? 0, teacherArch: teacher ? teacherArch : '' }),
              metrics: { testAccuracy: m.accuracy, testBca: m.bca, bestEpoch: r.bestEpoch, ...(r.bestValAccuracy !== null ? { valAccuracy: r.bestValAccuracy } : {}) },
            }),
          );
          record.checkpoint = path;
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

const runKey = (fold: string, seed: number) => `${fold}#${seed}`;

/**
 * The earlier run's records by fold and seed, after checking that it ran the same experiment: every config
 * entry but RESUME_FREE_KEYS must be equal, and each kept record must be one this run plans (so continuing a
 * run can add seeds or folds but never silently drops finished results).
 */
function keptRecords(prev: PreviousRun, config: ExperimentResult['config'], folds: readonly Fold[], seeds: readonly number[]): Map<string, FoldRecord> {
  for (const [key, value] of Object.entries(config)) {
    if (RESUME_FREE_KEYS.has(key)) continue;
    const old = prev.config[key] !== undefined ? prev.config[key] : RESUME_DEFAULTS[key]?.(prev.config);
    if (old === undefined) throw new ExperimentConfigError(`${prev.source}: cannot resume, it does not record ${key} (written by an older cmcrd); use another --out`);
    if (JSON.stringify(old) !== JSON.stringify(value)) {
      throw new ExperimentConfigError(
        `${prev.source}: cannot resume, it was made with ${key} = ${JSON.stringify(old)} and this run has ${JSON.stringify(value)}; use the same settings or another --out`,
      );
    }
  }
  const planned = new Set(folds.flatMap((f) => seeds.map((s) => runKey(f.id, s))));
  const out = new Map<string, FoldRecord>();
  for (const r of prev.folds) {
    const k = runKey(r.fold, r.seed);
    if (!planned.has(k)) throw new ExperimentConfigError(`${prev.source}: cannot resume, it holds fold ${r.fold} seed ${r.seed}, which this run does not plan (add it to --folds/--seeds, or use another --out)`);
    if (out.has(k)) throw new ExperimentConfigError(`${prev.source}: fold ${r.fold} seed ${r.seed} appears twice`);
    out.set(k, r);
  }
  return out;
}

function complement(n: number, val: Int32Array): Int32Array {
  const isVal = new Uint8Array(n);
  for (const v of val) isVal[v] = 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (!isVal[i]) out.push(i);
  return Int32Array.from(out);
}

/** The distinct trials of these rows of the flat dataset, in row order. */
function trialsOf(flat: FlatDataset, rows: Int32Array): TrialId[] {
  const seen = new Set<string>();
  const out: TrialId[] = [];
  for (const r of rows) {
    const subject = flat.subjectIds[flat.subjects[r]!]!;
    const session = flat.sessions[r]!;
    const trial = flat.trials[r]!;
    const k = `${flat.subjects[r]}/${session}/${trial}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ subject, session, trial });
  }
  return out;
}

/**
 * A checkpoint's provenance: what made it (toolkit version, training hyper-parameters), on which data, fold and
 * seed, and exactly what it was trained on, so that a supplied `--teacher` can be checked for leaks under any
 * protocol (`checkTeacherOnFolds`):
 *   trainTrials    every trial of the fold's training rows in encodeTrials' text ("1/1/1-16;1/2/1-16;…"): the
 *                  validation split is carved from them, so the network has seen all of them;
 *   trainSubjects  the subjects among them, comma-separated (what checkpoints recorded before trainTrials).
 * Everything here is deterministic (no timestamps), so the same run writes the same bytes.
 */
function provenance(o: ExperimentOptions, fold: Fold, seed: number, flat: FlatDataset, hyper: TrainHyper, extra: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  const trained = trialsOf(flat, fold.trainRows);
  return {
    createdBy: 'cmcrd train',
    cmcrdVersion: TOOLKIT_VERSION,
    dataset: o.dataset.meta.dataset,
    synthetic: o.dataset.meta.synthetic,
    data: o.dataLabel ?? o.dataset.meta.root,
    feature: o.dataset.meta.feature,
    method: o.method,
    arch: o.arch,
    protocol: o.protocol,
    fold: fold.id,
    testSubjects: fold.testSubjects.join(','),
    seed,
    epochs: hyper.epochs,
    warmupEpochs: hyper.warmupEpochs,
    batchSize: hyper.batchSize,
    lr: hyper.lr,
    weightDecay: hyper.weightDecay,
    valFraction: hyper.valFraction,
    valBy: hyper.valBy ?? 'trial',
    ...(hyper.patience !== undefined ? { patience: hyper.patience } : {}),
    trainSubjects: [...new Set(trained.map((t) => t.subject))].join(','),
    trainTrials: encodeTrials(trained),
    ...extra,
  };
}

interface TeacherRequest {
  o: ExperimentOptions;
  fold: Fold;
  seed: number;
  flat: FlatDataset;
  data: ModalityData;
  valPos: Int32Array;
  yTrain: Int32Array;
  yTest: Int32Array;
  hyper: TrainHyper;
  arch: ArchName;
  normalisation: NormalisationMode;
  mccMode: MccMode;
  lambdaMcc: number;
  fingerprint: string;
  classes: number;
  transductive: Set<string>;
  engines: Set<string>;
}

/**
 * The fold's frozen teacher with its normalised training and test matrices, or null when training was
 * interrupted. Cache key: data fingerprint, protocol, fold, teacher arch and modality, seed and every training
 * option; the key is stored in the checkpoint and compared on load.
 */
async function obtainTeacher(q: TeacherRequest): Promise<{ net: Network; train: Matrix; test: Matrix; metrics: FoldMetrics } | null> {
  const { o, fold, seed, flat, data } = q;
  const trainRows = fold.trainRows;
  if (o.teacherCheckpoint) {
    const ck = o.teacherCheckpoint; // checked against every fold by runExperiment before the first one trained
    const net = networkFromCheckpoint(ck);
    const train: Matrix = { x: applyStats(data.x, data.d, trainRows, ck.normalisation), n: trainRows.length, d: data.d };
    const test: Matrix = { x: applyStats(data.x, data.d, fold.testRows, ck.normalisation), n: fold.testRows.length, d: data.d };
    o.onEvent?.({ type: 'teacher', fold: fold.id, seed, source: 'supplied' });
    return { net, train, test, metrics: evaluate(net, test, q.yTest, q.classes) };
  }
  const norm = fitNormaliser(data.x, data.d, flat, fold, q.normalisation);
  norm.transductiveSubjects.forEach((x) => q.transductive.add(x));
  const train: Matrix = { x: applyNormaliser(data.x, data.d, flat, trainRows, norm), n: trainRows.length, d: data.d };
  const test: Matrix = { x: applyNormaliser(data.x, data.d, flat, fold.testRows, norm), n: fold.testRows.length, d: data.d };
  const key = JSON.stringify({
    v: 2, // 2: Linear layers start from PyTorch's default init (teachers cached before were trained from Glorot's)
    data: q.fingerprint,
    protocol: o.protocol,
    fold: fold.id,
    arch: q.arch,
    modality: data.name,
    seed,
    hyper: q.hyper,
    mcc: q.mccMode,
    lambdaMcc: q.lambdaMcc,
    normalisation: q.normalisation,
    engine: o.engine ?? 'auto', // the engines round differently, so their teachers differ
  });
  const file = `teacher-${data.name}-${q.arch}-${o.protocol}-${fold.id}-seed${seed}-${hashString(key)}.json`;
  const path = o.teacherCacheDir ? join(o.teacherCacheDir, file) : null;
  let ck = o.teacherMemo?.get(key) ?? null;
  let source: 'memory' | 'disk' | 'trained' = 'memory';
  let damaged: string | undefined;
  if (!ck && path && existsSync(path)) {
    // The cache holds derived data only: a file that does not parse (e.g. left by a process killed before
    // atomic writes) is retrained and replaced rather than stopping every later run.
    try {
      const disk = readCheckpoint(path);
      if (disk.provenance.cacheKey === key) {
        ck = disk;
        source = 'disk';
      }
    } catch (e) {
      damaged = (e as Error).message;
    }
  }
  let net: Network;
  if (ck) {
    net = networkFromCheckpoint(ck);
  } else {
    source = 'trained';
    net = buildNetwork(defaultSpec(q.arch, data.input, q.classes), seed + 1000);
    const targetRows = q.mccMode === 'transductive' ? test : null;
    const rng = new SeededRandom((seed ^ 0x68e31da4) >>> 0);
    const extraLoss =
      q.mccMode === 'off' || q.lambdaMcc === 0
        ? undefined
        : (out: { logits: tf.Tensor2D }, rows: Int32Array) => {
            if (!targetRows) return tf.mul(mcc(out.logits), q.lambdaMcc) as tf.Scalar;
            // Transductive MCC: the confusion term on an unlabelled batch of the target (test) features.
            const b = Math.min(rows.length, targetRows.n);
            const pick = new Float32Array(b * targetRows.d);
            for (let i = 0; i < b; i++) {
              const r = rng.int(targetRows.n);
              pick.set(targetRows.x.subarray(r * targetRows.d, (r + 1) * targetRows.d), i * targetRows.d);
            }
            const logits = net.forward(tf.tensor2d(pick, [b, targetRows.d]), true).logits;
            return tf.mul(mcc(logits), q.lambdaMcc) as tf.Scalar;
          };
    const r = await fit(net, train, q.yTrain, {
      ...q.hyper,
      seed,
      valRows: q.valPos,
      ...(extraLoss ? { extraLoss } : {}),
      onEpoch: (info) => o.onEvent?.({ type: 'epoch', model: 'teacher', fold: fold.id, seed, info }),
      ...(o.interrupt ? { interrupt: o.interrupt } : {}),
      ...(o.engine ? { engine: o.engine } : {}),
    });
    q.engines.add(r.engine);
    if (r.interrupted) {
      net.dispose();
      return null;
    }
    const m = evaluate(net, test, q.yTest, q.classes);
    ck = makeCheckpoint(net, {
      modality: data.name as Modality,
      meta: o.dataset.meta,
      channels: data.channels,
      normalisation: norm.global,
      ...(o.montage && data.name === 'eeg' ? { montage: o.montage } : {}),
      provenance: {
        ...provenance(o, fold, seed, flat, q.hyper, { role: 'teacher', normalisation: q.normalisation, mcc: q.mccMode, lambdaMcc: q.lambdaMcc }),
        arch: q.arch,
        cacheKey: key,
      },
      metrics: { testAccuracy: m.accuracy, testBca: m.bca, bestEpoch: r.bestEpoch, ...(r.bestValAccuracy !== null ? { valAccuracy: r.bestValAccuracy } : {}) },
    });
    if (path) writeCheckpoint(path, ck);
  }
  o.teacherMemo?.set(key, ck);
  o.onEvent?.({ type: 'teacher', fold: fold.id, seed, source, ...(path ? { path } : {}), ...(damaged ? { damaged } : {}) });
  return { net, train, test, metrics: evaluate(net, test, q.yTest, q.classes) };
}

/** How many leaking folds an error lists in full (the rest by count). */
const LEAKS_LISTED = 6;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * A supplied teacher must read this run's teacher modality (features, classes) and must not have been trained
 * on any trial that one of the planned folds tests on, under every protocol. Throws ExperimentConfigError naming
 * the folds and trials; returns notes on what could not be checked, for the caller to print.
 *
 * The leak check reads the checkpoint's provenance (see `provenance`):
 *   - trainTrials (this version on): refused when a fold's test trial (subject/session/trial of its test rows)
 *     is among the teacher's training trials, whatever the protocol;
 *   - trainSubjects only (checkpoints written before trainTrials): refused when a fold's test subject is among
 *     the training subjects. Under LOSO that is exactly a leak (the fold tests on all of the subject's trials);
 *     under within and cross-session it may or may not be one, and the checkpoint cannot tell which trials it
 *     saw, so it is refused too, asking for a retrained teacher, rather than run a possibly leaking experiment.
 *     An old checkpoint that saw none of the test subjects is accepted under any protocol;
 *   - neither (e.g. a checkpoint not made by `cmcrd train`): accepted, with a note that it was not checked.
 */
function checkTeacherOnFolds(ck: Checkpoint, data: ModalityData, classes: number, flat: FlatDataset, folds: readonly Fold[], protocol: ProtocolName): string[] {
  const d = ck.arch.input.channels * ck.arch.input.bands;
  if (ck.modality !== data.name) throw new ExperimentConfigError(`--teacher: the checkpoint is an ${ck.modality === 'eeg' ? 'EEG' : 'eye-movement'} network but this run needs an ${data.name === 'eeg' ? 'EEG' : 'eye-movement'} teacher`);
  if (d !== data.d) throw new ExperimentConfigError(`--teacher: the checkpoint reads ${d} features, the data has ${data.d}`);
  if (ck.arch.classes !== classes) throw new ExperimentConfigError(`--teacher: the checkpoint has ${ck.arch.classes} classes, the data ${classes}`);
  const recorded = ck.provenance.trainTrials;
  if (recorded !== undefined) {
    let seen: TrialSet;
    try {
      if (typeof recorded !== 'string') throw new Error(`a string was expected, it is ${JSON.stringify(recorded)}`);
      seen = parseTrials(recorded);
    } catch (e) {
      throw new ExperimentConfigError(`--teacher: the checkpoint's provenance.trainTrials cannot be read: ${(e as Error).message}`);
    }
    const leaks = folds.flatMap((fold) => {
      const hit = trialsOf(flat, fold.testRows).filter((t) => seen.has(t));
      return hit.length ? [{ fold, hit }] : [];
    });
    if (!leaks.length) return [];
    const listed = leaks.slice(0, LEAKS_LISTED).map(({ fold, hit }) => {
      const subjects = [...new Set(hit.map((t) => t.subject))];
      return `fold ${fold.id}, ${plural(hit.length, 'trial')} of subject${subjects.length === 1 ? '' : 's'} ${subjects.join(', ')} (${encodeTrials(hit)})`;
    });
    const more = leaks.length > LEAKS_LISTED ? `; and ${plural(leaks.length - LEAKS_LISTED, 'fold')} more (${leaks.slice(LEAKS_LISTED).map((l) => l.fold.id).join(', ')})` : '';
    throw new ExperimentConfigError(
      `--teacher: the checkpoint was trained on test trials of ${folds.length === 1 ? 'the planned fold' : leaks.length === folds.length ? `all ${folds.length} planned folds` : `${leaks.length} of the ${folds.length} planned folds`}, so it would leak them into the student's test scores ` +
        `(subject/session/trials): ${listed.join('; ')}${more}. Use a teacher that never saw these folds' test trials (e.g. --folds with the fold it was trained for), or leave out --teacher to train one per fold`,
    );
  }
  if (typeof ck.provenance.trainSubjects === 'string') {
    const seen = new Set(ck.provenance.trainSubjects.split(','));
    const hits = folds.filter((f) => f.testSubjects.some((s) => seen.has(s)));
    if (!hits.length) return [];
    const subjects = [...new Set(hits.flatMap((f) => f.testSubjects.filter((s) => seen.has(s))))].join(', ');
    const ids = hits.map((f) => f.id).join(', ');
    if (protocol === 'loso') throw new ExperimentConfigError(`--teacher: the checkpoint was trained on subject(s) ${subjects}, which fold${hits.length === 1 ? ` ${ids} tests` : `s ${ids} test`} on`);
    throw new ExperimentConfigError(
      `--teacher: the checkpoint was trained on subject(s) ${subjects}, which fold${hits.length === 1 ? ` ${ids} tests` : `s ${ids} test`} on, and it records only its training subjects ` +
        `(it predates trial-level provenance), so under protocol ${protocol} it cannot be checked for leaked test trials. Retrain the teacher with this version of cmcrd (its checkpoint then records its training trials), or leave out --teacher`,
    );
  }
  return [`--teacher: note: the checkpoint does not record what it was trained on (no provenance.trainTrials), so it could not be checked for leaks of the test folds`];
}

/** What {@link checkSuppliedTeacher} needs of a run: its data, protocol and folds, direction and the teacher. */
export type SuppliedTeacherRun = Pick<ExperimentOptions, 'dataset' | 'protocol' | 'folds' | 'direction'> & { teacher: Checkpoint };

/**
 * The check runExperiment makes of a supplied teacher before it trains anything (modality, features, classes, and
 * no leak into any planned fold's test trials; see `checkTeacherOnFolds`), for callers that want it before other
 * work (the CLI, before it starts the backend or `--jobs` children). Throws ExperimentConfigError; returns notes.
 */
export function checkSuppliedTeacher(o: SuppliedTeacherRun): string[] {
  const flat = flatten(o.dataset);
  const folds = selectFolds(flat, o.dataset, o.protocol, o.folds);
  const data = modalityData(o.dataset, flat, teacherModality(o.direction ?? 'eye-to-eeg'));
  return checkTeacherOnFolds(o.teacher, data, o.dataset.meta.classNames.length, flat, folds, o.protocol);
}

export { readCheckpoint };

/** Rebuild the tfjs network of a checkpoint with its weights. */
export function networkFromCheckpoint(ck: Checkpoint): Network {
  const net = buildNetwork({ ...ck.arch, input: { ...ck.arch.input }, params: { ...ck.arch.params } }, 0);
  try {
    net.setWeights(ck.weights);
  } catch (e) {
    net.dispose();
    throw new ExperimentConfigError(`checkpoint weights do not fit a ${ck.arch.arch} network: ${(e as Error).message}`);
  }
  return net;
}
