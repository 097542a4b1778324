/**
 * An experiment's options with their defaults filled in and checked, and what the method makes of the
 * modalities (which network is the student, whether a teacher is used). Values a front end already checks
 * are checked again here, for library callers: errors name the option field (OptionError).
 */
import { LAMBDA_DEFAULTS } from '../losses/index.js';
import { isDistillMethod, type MethodName } from '../methods/index.js';
import { ARCH_NAMES, type ArchName } from '../nets/index.js';
import type { NormalisationMode } from '../protocols.js';
import { option, optionText, OptionError, type OptionField } from '../errors.js';
import { DEFAULT_HYPER, type Direction, type ExperimentOptions, type MccMode, type Modality, type TrainHyper } from './types.js';

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
  if ((method === 'eye-only' || method === 'eeg-only') && studentModality(method, direction) === teacherModality(direction))
    return 'is-teacher';
  return 'none';
}

/** The settings of a run, defaults applied. */
export interface ResolvedOptions {
  direction: Direction;
  normalisation: NormalisationMode;
  mccMode: MccMode;
  lambdaMcc: number;
  /** λ of a distillation method, null for the others. */
  lambda: number | null;
  hyper: TrainHyper;
  teacherHyper: TrainHyper;
  teacherArch: ArchName;
}

const isInt = (min: number) => (x: number) => Number.isInteger(x) && x >= min;

function check(field: OptionField, value: number, ok: (x: number) => boolean, what: string, label = field as string): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && ok(value)))
    throw new OptionError(
      field,
      optionText`${option(field)}${label === field ? '' : ` (${label})`} must be ${what}, got ${JSON.stringify(value)}`,
    );
}

/** The training hyper-parameters a network can train with; `teacher`: the teacher's (its epochs are `teacherEpochs`). */
function checkHyper(h: TrainHyper, teacher: boolean): void {
  const of = (f: OptionField) => (teacher ? `the teacher's` : f);
  check(teacher ? 'teacherEpochs' : 'epochs', h.epochs, isInt(1), 'an integer ≥ 1');
  check('batchSize', h.batchSize, isInt(2), 'an integer ≥ 2', of('batchSize'));
  check('lr', h.lr, (x) => x > 0, 'a positive number', of('lr'));
  check('weightDecay', h.weightDecay, (x) => x >= 0, 'a number ≥ 0', of('weightDecay'));
  check('warmupEpochs', h.warmupEpochs, isInt(0), 'an integer ≥ 0', of('warmupEpochs'));
  check('valFraction', h.valFraction, (x) => x >= 0 && x < 1, 'a fraction in [0, 1)', of('valFraction'));
  if (h.patience !== undefined) check('patience', h.patience, isInt(1), 'an integer ≥ 1', of('patience'));
}

/** Defaults applied and every value checked; throws OptionError naming the field. */
export function resolveOptions(o: ExperimentOptions): ResolvedOptions {
  for (const [field, arch] of [
    ['arch', o.arch],
    ['teacherArch', o.teacherArch ?? o.arch],
  ] as const) {
    if (!ARCH_NAMES.includes(arch))
      throw new OptionError(field, optionText`${option(field)}: unknown architecture "${arch}" (known: ${ARCH_NAMES.join(', ')})`);
  }
  if (!o.seeds.length) throw new OptionError('seeds', optionText`${option('seeds')}: no seeds given`);
  for (const s of o.seeds) check('seeds', s, isInt(0), 'non-negative integers');
  const hyper: TrainHyper = { ...DEFAULT_HYPER, ...o.hyper };
  const teacherHyper: TrainHyper = { ...hyper, ...o.teacherHyper };
  checkHyper(hyper, false);
  checkHyper(teacherHyper, true);
  const lambdaMcc = o.lambdaMcc ?? LAMBDA_DEFAULTS.mcc;
  check('lambdaMcc', lambdaMcc, (x) => x >= 0, 'a number ≥ 0');
  if (o.lambda !== undefined) check('lambda', o.lambda, (x) => x >= 0, 'a number ≥ 0');
  if (o.nNeg !== undefined) check('nNeg', o.nNeg, isInt(1), 'an integer ≥ 1');
  return {
    direction: o.direction ?? 'eye-to-eeg',
    normalisation: o.normalisation ?? 'global',
    mccMode: o.mcc ?? 'labelled',
    lambdaMcc,
    lambda: isDistillMethod(o.method) ? (o.lambda ?? LAMBDA_DEFAULTS[o.method]) : null,
    hyper,
    teacherHyper,
    teacherArch: o.teacherArch ?? o.arch,
  };
}
