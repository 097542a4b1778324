/** What a checkpoint records about how it was made. */
import type { FlatDataset } from '../../datasets/types.js';
import { TOOLKIT_VERSION } from '../../version.js';
import { encodeTrials } from '../checkpoint.js';
import type { Fold } from '../protocols.js';
import { trialsOf } from './data.js';
import type { ExperimentOptions, TrainHyper } from './types.js';

/**
 * A checkpoint's provenance: what made it (toolkit version, training hyper-parameters), on which data, fold and
 * seed, and exactly what it was trained on, so that a supplied teacher can be checked for leaks under any
 * protocol (`checkTeacherOnFolds` in ./leak-check.ts):
 *   trainTrials    every trial of the fold's training rows in encodeTrials' text ("1/1/1-16;1/2/1-16;…"): the
 *                  validation split is carved from them, so the network has seen all of them;
 *   trainSubjects  the subjects among them, comma-separated (what checkpoints recorded before trainTrials).
 * Everything here is deterministic (no timestamps), so the same run writes the same bytes.
 */
export function provenance(
  o: ExperimentOptions,
  fold: Fold,
  seed: number,
  flat: FlatDataset,
  hyper: TrainHyper,
  extra: Record<string, string | number | boolean>,
): Record<string, string | number | boolean> {
  const trained = trialsOf(flat, fold.trainRows);
  return {
    createdBy: o.createdBy ?? 'cmcrd train',
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
