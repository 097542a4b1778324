/**
 * The demo's training, through the experiment code (runExperiment) like `cmcrd train`: on a headband montage's
 * channels, one leave-subjects-out fold (the held-out subjects test, everyone else trains), the eye teacher
 * (CE + MCC) once, then the EEG-only, KD and CMCRD students, the distilled ones from that same frozen teacher.
 */
import type { Checkpoint } from '../../export/checkpoint.js';
import type { Montage } from '../../firmware-bridge/montage/index.js';
import { flatten, selectMontage, type EmotionDataset } from '../datasets/types.js';
import type { ArchName } from '../train/nets/index.js';
import { runExperiment, type ExperimentOptions, type RunEvent, type TrainHyper } from '../train/run.js';

/** The students the demo trains, in training order; `cmcrd` is the one it ships unless told otherwise. */
export const DEMO_STUDENTS = ['eeg-only', 'kd', 'cmcrd'] as const;
export type DemoStudent = (typeof DEMO_STUDENTS)[number];

/**
 * The demo's training settings: method.md's optimiser, fewer warm-up epochs for a short run, and no validation
 * split (every network keeps its last epoch, where the half-cosine schedule ends). A split of whole trials is too
 * small to steer early stopping on a short run: with 6 people and 4 windows per trial it holds 8 trials, and a
 * slow learner (DGCNN) then kept its epoch-4 weights, at chance on the held-out people.
 */
export const DEMO_HYPER: Omit<TrainHyper, 'epochs'> = { batchSize: 32, lr: 1e-3, weightDecay: 1e-3, warmupEpochs: 5, valFraction: 0 };

/**
 * CMCRD negatives per sample. method.md's K = 1000 is for SEED-sized data ("fewer when the data is small"): the
 * demo trains on ~1400 windows, where 1000 negatives would be most of the other classes' windows and make the
 * CMCRD student take three times as long as the three other models together.
 */
export const DEMO_NEGATIVES = 256;

export interface DemoTrainOptions {
  /** Full-cap paired data (e.g. syntheticPairedDataset). */
  dataset: EmotionDataset;
  /** The headband: the students train on the cap channels nearest its sites. */
  montage: Montage;
  /** Subject ids tested on (never trained on). */
  heldOut: readonly string[];
  arch: ArchName;
  epochs: number;
  seed: number;
  /** CMCRD (and CRD) negatives per sample (default DEMO_NEGATIVES). */
  nNeg?: number;
  dataLabel?: string;
  interrupt?: { interrupted: boolean };
  /** Progress: `model` is 'teacher' or the student's method. */
  onEvent?: (model: 'teacher' | DemoStudent, e: RunEvent) => void;
}

export interface DemoModels {
  interrupted: false;
  teacher: Checkpoint;
  students: Record<DemoStudent, Checkpoint>;
  /** Held-out accuracy of each model (the teacher on eye features). */
  accuracy: { teacher: number } & Record<DemoStudent, number>;
  /** Windows trained on (validation split excluded), validated and tested on. */
  windows: { train: number; val: number; test: number };
  /** The fold's id, e.g. "s8+s9". */
  fold: string;
  /** The held-out windows' raw features on the montage channels (what the exported student must reproduce). */
  testRows: Float32Array[];
}

/** Stopped (`interrupt`) before every model had trained. */
export interface DemoStopped {
  interrupted: true;
}

export async function trainDemoModels(o: DemoTrainOptions): Promise<DemoModels | DemoStopped> {
  const { dataset, mapping } = selectMontage(o.dataset, o.montage);
  const montage = { device: o.montage.name, sites: mapping.matches.map((m) => m.site), capChannels: mapping.matches.map((m) => m.channel) };
  const memo = new Map<string, Checkpoint>();
  const made: { teacher?: Checkpoint; students: Partial<Record<DemoStudent, Checkpoint>> } = { students: {} };
  const common: Omit<ExperimentOptions, 'method' | 'onEvent'> = {
    dataset,
    arch: o.arch,
    protocol: 'loso',
    subjectFolds: [o.heldOut],
    seeds: [o.seed],
    hyper: { ...DEMO_HYPER, epochs: o.epochs },
    nNeg: o.nNeg ?? DEMO_NEGATIVES,
    teacherMemo: memo,
    montage,
    dataLabel: o.dataLabel ?? 'synthetic paired data (in memory)',
    createdBy: 'cmcrd demo',
    ...(o.interrupt ? { interrupt: o.interrupt } : {}),
  };
  const run = async (method: 'eye-only' | DemoStudent) => {
    const model = method === 'eye-only' ? 'teacher' : method;
    const r = await runExperiment({
      ...common,
      method,
      onEvent: (e) => {
        if (e.type === 'teacher') made.teacher = e.checkpoint;
        if (e.type === 'student') made.students[method as DemoStudent] = e.checkpoint;
        o.onEvent?.(e.type === 'epoch' && e.model === 'teacher' ? 'teacher' : model, e);
      },
    });
    return r.interrupted || r.completed === 0 ? null : r.folds[0]!;
  };
  const stopped: DemoStopped = { interrupted: true };
  // eye-only is the teacher itself: it trains the teacher (cached in `memo` for the distilled students) and tests it.
  const t = await run('eye-only');
  if (!t) return stopped;
  const accuracy = { teacher: t.accuracy } as DemoModels['accuracy'];
  for (const method of DEMO_STUDENTS) {
    const r = await run(method);
    if (!r) return stopped;
    accuracy[method] = r.accuracy;
  }
  const flat = flatten(dataset);
  const d = dataset.meta.channelNames.length * dataset.meta.bandNames.length;
  const held = new Set(o.heldOut);
  const testRows: Float32Array[] = [];
  for (let i = 0; i < flat.n; i++) if (held.has(flat.subjectIds[flat.subjects[i]!]!)) testRows.push(flat.eeg.slice(i * d, (i + 1) * d));
  return {
    interrupted: false,
    teacher: made.teacher!,
    students: made.students as Record<DemoStudent, Checkpoint>,
    accuracy,
    windows: { train: t.trainWindows, val: t.valWindows, test: t.testWindows },
    fold: t.fold,
    testRows,
  };
}
