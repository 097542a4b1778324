/**
 * Errors of the library (training, datasets) that a front end shows to its user. Their messages name the
 * options at fault by their field names (`teacher`, `epochs`, `windowsPerTrial`), never by a command-line
 * flag: the text is kept as parts, with each option as an {@link OptionRef}, so the CLI can print its flags
 * instead (`src/cli/flags.ts`) and another front end its own names.
 */

/** The options library errors can name: fields of the experiment, training and dataset options. */
export type OptionField =
  // ExperimentOptions (`teacher` is the supplied teacher: ExperimentOptions.teacherCheckpoint, SuppliedTeacherRun.teacher)
  | 'arch'
  | 'teacherArch'
  | 'protocol'
  | 'folds'
  | 'subjectFolds'
  | 'seeds'
  | 'teacher'
  | 'resume'
  | 'lambda'
  | 'lambdaMcc'
  | 'nNeg'
  // TrainHyper (of the student; the teacher's epochs as `teacherEpochs`)
  | 'epochs'
  | 'teacherEpochs'
  | 'batchSize'
  | 'lr'
  | 'weightDecay'
  | 'warmupEpochs'
  | 'valFraction'
  | 'patience'
  // dataset loading and synthesis
  | 'subjects'
  | 'sessions'
  | 'windowsPerTrial'
  | 'seed'
  | 'feature'
  | 'raw'
  | 'checkLabels';

/** An option named inside a message. */
export interface OptionRef {
  readonly option: OptionField;
}

export type MessagePart = string | OptionRef;

export const option = (field: OptionField): OptionRef => ({ option: field });

const isRef = (v: unknown): v is OptionRef => typeof v === 'object' && v !== null && typeof (v as OptionRef).option === 'string';

/**
 * A message as parts: `optionText\`${option('teacher')}: the checkpoint has ${n} classes\`` keeps the option
 * apart from the text; every other value is written as text.
 */
export function optionText(strings: TemplateStringsArray, ...values: unknown[]): MessagePart[] {
  const out: MessagePart[] = [strings[0]!];
  values.forEach((v, i) => out.push(isRef(v) ? v : String(v), strings[i + 1]!));
  return out;
}

/** The text of a message, each option written as `name(field)` (default: the field itself). */
export function renderMessage(parts: readonly MessagePart[], name: (field: OptionField) => string = (f) => f): string {
  return parts.map((p) => (typeof p === 'string' ? p : name(p.option))).join('');
}

/** An error whose message may name options; `parts` is the message with them kept apart. */
export interface NamesOptions {
  readonly parts: readonly MessagePart[];
}

export function namesOptions(e: unknown): e is Error & NamesOptions {
  return e instanceof Error && Array.isArray((e as Partial<NamesOptions>).parts);
}

/** A problem with the options or the data of an experiment (reported to the user as such, without a stack). */
export class ExperimentConfigError extends Error implements NamesOptions {
  readonly parts: readonly MessagePart[];
  constructor(message: string | readonly MessagePart[]) {
    const parts = typeof message === 'string' ? [message] : [...message];
    super(renderMessage(parts));
    this.name = 'ExperimentConfigError';
    this.parts = parts;
  }

  /** The same error with context in front of its message (e.g. which cell of a comparison it came from). */
  prefixed(prefix: string): ExperimentConfigError {
    return new ExperimentConfigError([prefix, ...this.parts]);
  }
}

/** An option has a value the library cannot use (or that contradicts the data); `field` names it. */
export class OptionError extends ExperimentConfigError {
  constructor(
    readonly field: OptionField,
    message: string | readonly MessagePart[],
  ) {
    super(message);
    this.name = 'OptionError';
  }

  override prefixed(prefix: string): OptionError {
    return new OptionError(this.field, [prefix, ...this.parts]);
  }
}
