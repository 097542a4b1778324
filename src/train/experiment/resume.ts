/** Continuing an interrupted run (`resume`): which of its records are kept, after checking it is this experiment. */
import type { Fold } from '../protocols.js';
import { option, optionText, OptionError } from '../errors.js';
import type { ExperimentResult, FoldRecord, PreviousRun } from './types.js';

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

/** The key of a fold × seed run. */
export const runKey = (fold: string, seed: number): string => `${fold}#${seed}`;

const ELSEWHERE = 'start afresh in another folder';

/**
 * The earlier run's records by fold and seed, after checking that it ran the same experiment: every config
 * entry but RESUME_FREE_KEYS must be equal, and each kept record must be one this run plans (so continuing a
 * run can add seeds or folds but never silently drops finished results). Throws OptionError (field `resume`).
 */
export function keptRecords(
  prev: PreviousRun,
  config: ExperimentResult['config'],
  folds: readonly Fold[],
  seeds: readonly number[],
): Map<string, FoldRecord> {
  for (const [key, value] of Object.entries(config)) {
    if (RESUME_FREE_KEYS.has(key)) continue;
    const old = prev.config[key] !== undefined ? prev.config[key] : RESUME_DEFAULTS[key]?.(prev.config);
    if (old === undefined)
      throw new OptionError(
        'resume',
        optionText`${option('resume')}: ${prev.source}: cannot resume, it does not record ${key} (written by an older cmcrd); ${ELSEWHERE}`,
      );
    if (JSON.stringify(old) !== JSON.stringify(value)) {
      throw new OptionError(
        'resume',
        optionText`${option('resume')}: ${prev.source}: cannot resume, it was made with ${key} = ${JSON.stringify(old)} and this run has ${JSON.stringify(value)}; use the same settings or ${ELSEWHERE}`,
      );
    }
  }
  const planned = new Set(folds.flatMap((f) => seeds.map((s) => runKey(f.id, s))));
  const out = new Map<string, FoldRecord>();
  for (const r of prev.folds) {
    const k = runKey(r.fold, r.seed);
    if (!planned.has(k)) {
      throw new OptionError(
        'resume',
        optionText`${option('resume')}: ${prev.source}: cannot resume, it holds fold ${r.fold} seed ${r.seed}, which this run does not plan (add it to ${option('folds')}/${option('seeds')}, or ${ELSEWHERE})`,
      );
    }
    if (out.has(k))
      throw new OptionError('resume', optionText`${option('resume')}: ${prev.source}: fold ${r.fold} seed ${r.seed} appears twice`);
    out.set(k, r);
  }
  return out;
}
