/**
 * The fold's frozen teacher: supplied, or trained once per (data, protocol, fold, arch, seed, options) and
 * cached in memory (`teacherMemo`) and on disk (`teacherCacheDir`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../tf.js';
import type { Checkpoint } from '../../../export/checkpoint.js';
import type { FlatDataset } from '../../datasets/types.js';
import { makeCheckpoint, readCheckpoint, writeCheckpoint } from '../checkpoint.js';
import { mcc } from '../losses/index.js';
import type { FoldMetrics } from '../metrics.js';
import { buildNetwork, defaultSpec, type ArchName } from '../nets/index.js';
import { SeededRandom } from '../nets/layers.js';
import type { Network } from '../nets/types.js';
import { applyNormaliser, applyStats, fitNormaliser, type Fold, type NormalisationMode } from '../protocols.js';
import { fit, type Matrix } from '../trainer.js';
import { evaluate, type ModalityData } from './data.js';
import { hashString } from './fingerprint.js';
import { networkFromCheckpoint } from './network.js';
import { provenance } from './provenance.js';
import type { ExperimentOptions, MccMode, Modality, TrainHyper } from './types.js';

export interface TeacherRequest {
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

export interface FoldTeacher {
  net: Network;
  /** Its normalised training and test matrices. */
  train: Matrix;
  test: Matrix;
  metrics: FoldMetrics;
}

/**
 * The fold's frozen teacher with its normalised training and test matrices, or null when training was
 * interrupted. Cache key: data fingerprint, protocol, fold, teacher arch and modality, seed and every training
 * option; the key is stored in the checkpoint and compared on load.
 */
export async function obtainTeacher(q: TeacherRequest): Promise<FoldTeacher | null> {
  const { o, fold, seed, flat, data } = q;
  const trainRows = fold.trainRows;
  if (o.teacherCheckpoint) {
    const ck = o.teacherCheckpoint; // checked against every fold by runExperiment before the first one trained
    const net = networkFromCheckpoint(ck);
    const train: Matrix = { x: applyStats(data.x, data.d, trainRows, ck.normalisation), n: trainRows.length, d: data.d };
    const test: Matrix = { x: applyStats(data.x, data.d, fold.testRows, ck.normalisation), n: fold.testRows.length, d: data.d };
    o.onEvent?.({ type: 'teacher', fold: fold.id, seed, source: 'supplied', checkpoint: ck });
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
        ...provenance(o, fold, seed, flat, q.hyper, {
          role: 'teacher',
          normalisation: q.normalisation,
          mcc: q.mccMode,
          lambdaMcc: q.lambdaMcc,
        }),
        arch: q.arch,
        cacheKey: key,
      },
      metrics: {
        testAccuracy: m.accuracy,
        testBca: m.bca,
        bestEpoch: r.bestEpoch,
        ...(r.bestValAccuracy !== null ? { valAccuracy: r.bestValAccuracy } : {}),
      },
    });
    if (path) writeCheckpoint(path, ck);
  }
  o.teacherMemo?.set(key, ck);
  o.onEvent?.({
    type: 'teacher',
    fold: fold.id,
    seed,
    source,
    ...(path ? { path } : {}),
    ...(damaged ? { damaged } : {}),
    checkpoint: ck as Checkpoint,
  });
  return { net, train, test, metrics: evaluate(net, test, q.yTest, q.classes) };
}
