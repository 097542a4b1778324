/**
 * The leak check of a supplied teacher: it must read this run's teacher modality (features, classes) and must
 * not have been trained on any trial that one of the planned folds tests on, under every protocol.
 */
import type { Checkpoint } from '../../../export/checkpoint.js';
import { flatten, type FlatDataset } from '../../datasets/types.js';
import { encodeTrials, parseTrials, type TrialSet } from '../checkpoint.js';
import type { Fold, ProtocolName } from '../protocols.js';
import { option, optionText, OptionError, type MessagePart } from '../errors.js';
import { modalityData, selectFolds, trialsOf, type ModalityData } from './data.js';
import { teacherModality } from './options.js';
import type { ExperimentOptions } from './types.js';

/** How many leaking folds an error lists in full (the rest by count). */
const LEAKS_LISTED = 6;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const teacherError = (parts: readonly MessagePart[]) => new OptionError('teacher', parts);

/**
 * Throws OptionError (field `teacher`) naming the folds and trials; returns notes on what could not be checked,
 * for the caller to print (about the teacher, without naming the option).
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
export function checkTeacherOnFolds(
  ck: Checkpoint,
  data: ModalityData,
  classes: number,
  flat: FlatDataset,
  folds: readonly Fold[],
  protocol: ProtocolName,
): string[] {
  const d = ck.arch.input.channels * ck.arch.input.bands;
  const teacher = option('teacher');
  if (ck.modality !== data.name)
    throw teacherError(
      optionText`${teacher}: the checkpoint is an ${ck.modality === 'eeg' ? 'EEG' : 'eye-movement'} network but this run needs an ${data.name === 'eeg' ? 'EEG' : 'eye-movement'} teacher`,
    );
  if (d !== data.d) throw teacherError(optionText`${teacher}: the checkpoint reads ${d} features, the data has ${data.d}`);
  if (ck.arch.classes !== classes)
    throw teacherError(optionText`${teacher}: the checkpoint has ${ck.arch.classes} classes, the data ${classes}`);
  const recorded = ck.provenance.trainTrials;
  if (recorded !== undefined) {
    let seen: TrialSet;
    try {
      if (typeof recorded !== 'string') throw new Error(`a string was expected, it is ${JSON.stringify(recorded)}`);
      seen = parseTrials(recorded);
    } catch (e) {
      throw teacherError(optionText`${teacher}: the checkpoint's provenance.trainTrials cannot be read: ${(e as Error).message}`);
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
    const more =
      leaks.length > LEAKS_LISTED
        ? `; and ${plural(leaks.length - LEAKS_LISTED, 'fold')} more (${leaks
            .slice(LEAKS_LISTED)
            .map((l) => l.fold.id)
            .join(', ')})`
        : '';
    const which =
      folds.length === 1
        ? 'the planned fold'
        : leaks.length === folds.length
          ? `all ${folds.length} planned folds`
          : `${leaks.length} of the ${folds.length} planned folds`;
    throw teacherError([
      ...optionText`${teacher}: the checkpoint was trained on test trials of ${which}, so it would leak them into the student's test scores `,
      `(subject/session/trials): ${listed.join('; ')}${more}. `,
      ...optionText`Use a teacher that never saw these folds' test trials (e.g. select with ${option('folds')} the fold it was trained for), or leave out ${teacher} to train one per fold`,
    ]);
  }
  if (typeof ck.provenance.trainSubjects === 'string') {
    const seen = new Set(ck.provenance.trainSubjects.split(','));
    const hits = folds.filter((f) => f.testSubjects.some((s) => seen.has(s)));
    if (!hits.length) return [];
    const subjects = [...new Set(hits.flatMap((f) => f.testSubjects.filter((s) => seen.has(s))))].join(', ');
    const ids = hits.map((f) => f.id).join(', ');
    const tests = `fold${hits.length === 1 ? ` ${ids} tests` : `s ${ids} test`} on`;
    if (protocol === 'loso')
      throw teacherError(optionText`${teacher}: the checkpoint was trained on subject(s) ${subjects}, which ${tests}`);
    throw teacherError([
      ...optionText`${teacher}: the checkpoint was trained on subject(s) ${subjects}, which ${tests}, and it records only its training subjects `,
      `(it predates trial-level provenance), so under protocol ${protocol} it cannot be checked for leaked test trials. `,
      ...optionText`Retrain the teacher with this version of cmcrd (its checkpoint then records its training trials), or leave out ${teacher}`,
    ]);
  }
  return [
    `note: the checkpoint does not record what it was trained on (no provenance.trainTrials), so it could not be checked for leaks of the test folds`,
  ];
}

/** What {@link checkSuppliedTeacher} needs of a run: its data, protocol and folds, direction and the teacher. */
export type SuppliedTeacherRun = Pick<ExperimentOptions, 'dataset' | 'protocol' | 'folds' | 'subjectFolds' | 'direction'> & {
  teacher: Checkpoint;
};

/**
 * The check runExperiment makes of a supplied teacher before it trains anything (modality, features, classes, and
 * no leak into any planned fold's test trials; see `checkTeacherOnFolds`), for callers that want it before other
 * work (the CLI, before it starts the backend or `--jobs` children). Throws OptionError; returns notes.
 */
export function checkSuppliedTeacher(o: SuppliedTeacherRun): string[] {
  const flat = flatten(o.dataset);
  const folds = selectFolds(flat, o.dataset, o.protocol, o.folds, o.subjectFolds);
  const data = modalityData(o.dataset, flat, teacherModality(o.direction ?? 'eye-to-eeg'));
  return checkTeacherOnFolds(o.teacher, data, o.dataset.meta.classNames.length, flat, folds, o.protocol);
}
