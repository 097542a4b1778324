/**
 * The command line's names for the library's option fields: library errors name fields (`teacher`,
 * `windowsPerTrial`, see src/train/errors.ts), and the commands print them as the flags a user types.
 */
import { namesOptions, renderMessage, type OptionField } from '../train/errors.js';

export const FLAGS: Readonly<Record<OptionField, string>> = {
  arch: '--arch',
  teacherArch: '--teacher-arch',
  protocol: '--protocol',
  folds: '--folds',
  // No flag sets custom folds (the demo makes its own); printed as the field.
  subjectFolds: 'subjectFolds',
  seeds: '--seeds',
  teacher: '--teacher',
  resume: '--resume',
  lambda: '--lambda',
  lambdaMcc: '--lambda-mcc',
  nNeg: '--negatives',
  epochs: '--epochs',
  teacherEpochs: '--teacher-epochs',
  batchSize: '--batch-size',
  lr: '--lr',
  weightDecay: '--weight-decay',
  warmupEpochs: '--warmup',
  valFraction: '--val-fraction',
  patience: '--patience',
  subjects: '--subjects',
  sessions: '--sessions',
  windowsPerTrial: '--windows-per-trial',
  seed: '--seed',
  feature: '--feature',
  raw: '--raw',
  checkLabels: '--no-check-labels',
};

export const flagOf = (field: OptionField): string => FLAGS[field];

/** An error's message for the terminal: the options it names written as flags. */
export function cliMessage(e: unknown): string {
  if (namesOptions(e)) return renderMessage(e.parts, flagOf);
  return e instanceof Error ? e.message : String(e);
}
