/** What an experiment takes (options, an earlier run to resume), tells as it goes (events) and returns. */
import type { Checkpoint } from '../../../export/checkpoint.js';
import type { EmotionDataset } from '../../datasets/types.js';
import type { NegativePool } from '../losses/index.js';
import type { MethodName } from '../methods/index.js';
import type { Summary } from '../metrics.js';
import type { ArchName } from '../nets/index.js';
import type { NormalisationMode, ProtocolName, ValidationUnit } from '../protocols.js';
import type { EngineChoice, EpochInfo } from '../trainer.js';

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
  /**
   * Leave-subjects-out folds instead of the protocol's (protocol 'loso', without `folds`): each entry lists the
   * subjects one fold tests on, all other subjects train. Fold ids join the subjects' LOSO ids: ["9", "10"] → "s9+s10".
   */
  subjectFolds?: readonly (readonly string[])[];
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
  /** What made the checkpoints' training run, for their provenance (default "cmcrd train"). */
  createdBy?: string;
  /** What runs the networks' training steps (default 'auto': the MLP and DGCNN on onnxruntime-node where it loads). */
  engine?: EngineChoice;
  /**
   * An earlier, interrupted run of the same experiment (`resume`): its finished fold × seed runs are kept
   * instead of being trained again. Its settings must match this run's (more seeds and folds may be added).
   */
  resume?: PreviousRun;
  interrupt?: { interrupted: boolean };
  onEvent?: (e: RunEvent) => void;
  /**
   * Called with the result so far after every trained fold × seed run but the last, so a caller can save it
   * as it goes (a run that is killed then keeps, and `resume` continues from, its finished runs).
   */
  onPartial?: (r: ExperimentResult) => void;
}

/** What `resume` keeps from an earlier run (read from its results.json by `readRunResults`). */
export interface PreviousRun {
  /** Where it was read from, for messages. */
  source: string;
  config: ExperimentResult['config'];
  folds: FoldRecord[];
  transductiveSubjects: string[];
}

export type RunEvent =
  | { type: 'fold-start'; fold: string; seed: number; index: number; total: number }
  | { type: 'epoch'; model: 'teacher' | 'student'; fold: string; seed: number; info: EpochInfo }
  /**
   * The fold's frozen teacher is ready (`checkpoint`). `damaged`: a cached teacher at `path` could not be read
   * (the reason), so it was trained again and replaced.
   */
  | {
      type: 'teacher';
      fold: string;
      seed: number;
      source: 'trained' | 'memory' | 'disk' | 'supplied';
      path?: string;
      damaged?: string;
      checkpoint: Checkpoint;
    }
  /** A trained student (every method but fusion, which is not a deployable model), before its fold-done. */
  | { type: 'student'; fold: string; seed: number; checkpoint: Checkpoint }
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
