/**
 * The walking skeleton's training path: eye-movement MLP teacher (CE), EEG-only MLP student and a KD student
 * on a headband montage's cap channels, evaluated on held-out subjects; returns framework-neutral checkpoints.
 */
import * as tf from '../train/tf.js';
import type { Checkpoint } from '../../export/checkpoint.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';
import { ZScoreNormalizer } from '../../runtime/dsp/normalize.js';
import { mapToCap, MUSE_MONTAGE as MUSE_SITES, type MapOptions, type Montage } from '../../firmware-bridge/montage/index.js';
import type { PairedDataset, PairedWindow } from '../synthetic/paired.js';
import { buildNetwork, defaultSpec, type ArchName } from '../train/nets/index.js';
import { kd, LAMBDA_DEFAULTS } from '../train/losses/index.js';
import type { Network } from '../train/nets/types.js';
import { accuracy, argmaxRows, fit, predictLogits, type EpochInfo, type Matrix } from '../train/trainer.js';

export interface HeadbandMontage {
  device: string;
  /** device electrode sites, in the device's channel order */
  sites: string[];
  /** the cap channel each site is trained on */
  capChannels: string[];
}

/** A device montage with each site mapped to its nearest cap channel on the 10-05 template. */
export function headbandMontage(montage: Montage, opts: MapOptions = {}): HeadbandMontage {
  const m = mapToCap(montage, opts);
  return { device: montage.name, sites: m.matches.map((x) => x.site), capChannels: m.matches.map((x) => x.channel) };
}

/** Muse TP9/AF7/AF8/TP10 → TP7, FP1, FP2, TP8 (datasets.md). */
export const MUSE_MONTAGE: HeadbandMontage = headbandMontage(MUSE_SITES);

/** Fit a z-score on a training matrix (the runtime's normaliser, so training and device agree). */
export function fitZScore(m: Matrix): ZScoreNormalizer {
  return ZScoreNormalizer.fit(rowsOf(m));
}

export function applyZScore(m: Matrix, z: ZScoreNormalizer): Matrix {
  const x = new Float32Array(m.x.length);
  const buf = new Float64Array(m.d);
  for (let i = 0; i < m.n; i++) x.set(z.transform(m.x.subarray(i * m.d, (i + 1) * m.d), buf), i * m.d);
  return { x, n: m.n, d: m.d };
}

function* rowsOf(m: Matrix): Generator<Float32Array> {
  for (let i = 0; i < m.n; i++) yield m.x.subarray(i * m.d, (i + 1) * m.d);
}

function matrix(rows: PairedWindow[], pick: (w: PairedWindow) => Float32Array): Matrix {
  const d = pick(rows[0]!).length;
  const x = new Float32Array(rows.length * d);
  rows.forEach((r, i) => x.set(pick(r), i * d));
  return { x, n: rows.length, d };
}

/** Select the given cap channels' features (channel-major) from a full-cap window. */
export function selectChannels(ds: PairedDataset, channels: readonly string[]): (w: PairedWindow) => Float32Array {
  const B = ds.bands.length;
  const idx = channels.map((c) => {
    const i = ds.channels.indexOf(c);
    if (i < 0) throw new Error(`channel ${c} is not in the dataset (${ds.channels.length} channels)`);
    return i;
  });
  return (w) => {
    const out = new Float32Array(idx.length * B);
    idx.forEach((c, k) => out.set(w.eeg.subarray(c * B, (c + 1) * B), k * B));
    return out;
  };
}

export interface SkeletonTrainOptions {
  dataset: PairedDataset;
  testSubjects: readonly number[];
  montage: HeadbandMontage;
  epochs: number;
  seed: number;
  /** Network for the teacher and both students (default 'mlp'). */
  arch?: ArchName;
  kdWeight?: number;
  kdTemperature?: number;
  onEpoch?: (model: string, info: EpochInfo) => void;
  interrupt?: { interrupted: boolean };
}

export interface SkeletonResult {
  teacher: Checkpoint;
  eegOnly: Checkpoint;
  kd: Checkpoint;
  /** held-out-subject accuracy of each model */
  accuracy: { teacher: number; eegOnly: number; kd: number };
  trainWindows: number;
  testWindows: number;
  /** normalised test features of the KD student and its tfjs logits, for export parity checks */
  parity: { rawFeatures: Float32Array; logits: Float32Array; n: number; d: number };
  interrupted: boolean;
}

const TRAIN = { batchSize: 32, lr: 1e-3, weightDecay: 1e-3, warmupEpochs: 5, valFraction: 0.1 };

function checkpoint(net: Network, modality: 'eeg' | 'eye', ds: PairedDataset, channels: string[], z: ZScoreNormalizer, extra: Partial<Checkpoint>): Checkpoint {
  return {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality,
    arch: net.spec,
    weights: net.getWeights(),
    classes: [...ds.classes],
    channels,
    features:
      modality === 'eeg'
        ? { method: 'seed-de', fs: ds.fs, windowSec: ds.windowSec, hopSec: ds.windowSec, nfft: ds.nfft, bands: SEED_BANDS.map((b) => ({ ...b })), smoothing: 'none' }
        : { method: 'eye', fs: 0, windowSec: ds.windowSec, hopSec: ds.windowSec, bands: [], smoothing: 'none' },
    normalisation: { mean: Array.from(z.mean), std: Array.from(z.std, (v) => Math.max(v, z.eps)) },
    provenance: { dataset: 'synthetic-paired', createdBy: 'cmcrd demo' },
    ...extra,
  };
}

export async function trainSkeleton(o: SkeletonTrainOptions): Promise<SkeletonResult> {
  const ds = o.dataset;
  const test = new Set(o.testSubjects);
  const trainRows = ds.windows.filter((w) => !test.has(w.subject));
  const testRows = ds.windows.filter((w) => test.has(w.subject));
  if (!trainRows.length || !testRows.length) throw new Error('need at least one training and one test subject');
  const ytr = Int32Array.from(trainRows, (w) => w.label);
  const yte = Int32Array.from(testRows, (w) => w.label);
  const C = ds.classes.length;
  const pickEeg = selectChannels(ds, o.montage.capChannels);

  // Eye teacher.
  const eyeTr = matrix(trainRows, (w) => w.eye);
  const eyeZ = fitZScore(eyeTr);
  const eyeTrN = applyZScore(eyeTr, eyeZ);
  const arch = o.arch ?? 'mlp';
  const teacher = buildNetwork(defaultSpec(arch, { channels: 1, bands: ds.eyeDims }, C), o.seed);
  const rT = await fit(teacher, eyeTrN, ytr, { ...TRAIN, epochs: o.epochs, seed: o.seed, onEpoch: (i) => o.onEpoch?.('teacher', i), interrupt: o.interrupt });
  const teacherAcc = accuracy(argmaxRows(predictLogits(teacher, applyZScore(matrix(testRows, (w) => w.eye), eyeZ)), C), yte);
  const teacherLogits = predictLogits(teacher, eyeTrN); // frozen teacher: its logits on the training rows are constants

  // EEG features on the montage's cap channels.
  const eegTr = matrix(trainRows, pickEeg);
  const eegZ = fitZScore(eegTr);
  const eegTrN = applyZScore(eegTr, eegZ);
  const eegTeRaw = matrix(testRows, pickEeg);
  const eegTeN = applyZScore(eegTeRaw, eegZ);
  const input = { channels: o.montage.capChannels.length, bands: ds.bands.length };

  const eegOnly = buildNetwork(defaultSpec(arch, input, C), o.seed + 1);
  const rE = await fit(eegOnly, eegTrN, ytr, { ...TRAIN, epochs: o.epochs, seed: o.seed + 1, onEpoch: (i) => o.onEpoch?.('eeg-only', i), interrupt: o.interrupt });
  const eegAcc = accuracy(argmaxRows(predictLogits(eegOnly, eegTeN), C), yte);

  // KD (Hinton): λ·T²·KL(softmax(p_t/T) ‖ softmax(p_s/T)) with the method.md defaults λ = 10, T = 4.
  const T = o.kdTemperature ?? 4;
  const lambda = o.kdWeight ?? LAMBDA_DEFAULTS.kd;
  const kdNet = buildNetwork(defaultSpec(arch, input, C), o.seed + 1);
  const rK = await fit(kdNet, eegTrN, ytr, {
    ...TRAIN,
    epochs: o.epochs,
    seed: o.seed + 1,
    onEpoch: (i) => o.onEpoch?.('kd', i),
    interrupt: o.interrupt,
    extraLoss: (out, rows) => {
      const tl = new Float32Array(rows.length * C);
      rows.forEach((r, i) => tl.set(teacherLogits.subarray(r * C, (r + 1) * C), i * C));
      return tf.mul(kd(out.logits, tf.tensor2d(tl, [rows.length, C]), { T }), lambda) as tf.Scalar;
    },
  });
  const kdLogits = predictLogits(kdNet, eegTeN);
  const kdAcc = accuracy(argmaxRows(kdLogits, C), yte);

  const provenanceTest = { testSubjects: o.testSubjects.join(','), seed: o.seed, epochs: o.epochs };
  const montageInfo = { device: o.montage.device, sites: [...o.montage.sites], capChannels: [...o.montage.capChannels] };
  const result: SkeletonResult = {
    teacher: checkpoint(teacher, 'eye', ds, Array.from({ length: ds.eyeDims }, (_, i) => `eye${i + 1}`), eyeZ, { metrics: { heldOutAccuracy: teacherAcc }, provenance: { dataset: 'synthetic-paired', method: 'teacher-ce', ...provenanceTest } }),
    eegOnly: checkpoint(eegOnly, 'eeg', ds, [...o.montage.capChannels], eegZ, { montage: montageInfo, metrics: { heldOutAccuracy: eegAcc }, provenance: { dataset: 'synthetic-paired', method: 'eeg-only', ...provenanceTest } }),
    kd: checkpoint(kdNet, 'eeg', ds, [...o.montage.capChannels], eegZ, { montage: montageInfo, metrics: { heldOutAccuracy: kdAcc }, provenance: { dataset: 'synthetic-paired', method: 'kd', kdWeight: lambda, kdTemperature: T, ...provenanceTest } }),
    accuracy: { teacher: teacherAcc, eegOnly: eegAcc, kd: kdAcc },
    trainWindows: trainRows.length,
    testWindows: testRows.length,
    parity: { rawFeatures: eegTeRaw.x, logits: kdLogits, n: eegTeRaw.n, d: eegTeRaw.d },
    interrupted: rT.interrupted || rE.interrupted || rK.interrupted,
  };
  for (const n of [teacher, eegOnly, kdNet]) n.dispose();
  return result;
}
