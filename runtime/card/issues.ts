/**
 * Schema building blocks and error messages shared by the model card (./schema.ts) and the checkpoint parser
 * (export/checkpoint.ts): every refusal names the source (a file, or "model card") and the field path, e.g.
 * `ck.json: normalisation.std[3] must be > 0, got 0`.
 */
import * as v from 'valibot';

/** A refused card or checkpoint. `field` is the path of the offending field (null when the input as a whole is at fault). */
export class FieldError extends Error {
  constructor(
    readonly source: string,
    readonly field: string | null,
    detail: string,
  ) {
    super(`${source}: ${detail}`);
    this.name = 'FieldError';
  }
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** `a.b[3]["fc1.bias"].shape` from path keys. */
export function fieldPath(keys: readonly unknown[]): string {
  let out = '';
  for (const k of keys) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string' && IDENT.test(k)) out += out ? `.${k}` : k;
    else out += `[${clip(JSON.stringify(String(k)), 60)}]`;
  }
  return out;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** A short, bounded description of a value for messages (never the whole of a huge input). */
export function describe(x: unknown): string {
  if (x === undefined) return 'nothing';
  if (x === null) return 'null (NaN or Infinity become null in JSON)';
  if (typeof x === 'string') return clip(JSON.stringify(x.length > 60 ? x.slice(0, 61) : x), 62);
  if (typeof x === 'number' || typeof x === 'boolean') return String(x);
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (typeof x === 'object') return 'an object';
  return typeof x;
}

/**
 * One line for a valibot issue: `<path> is missing`, `<path> <message>, got <value>`, or for checks that
 * compare fields (raw_check) their own message, which names the fields.
 */
export function issueText(issue: v.BaseIssue<unknown>): { field: string | null; text: string } {
  const keys = (issue.path ?? []).map((p) => p.key);
  const path = fieldPath(keys);
  const last = issue.path?.[issue.path.length - 1];
  if (issue.kind === 'schema' && last && 'origin' in last && last.origin === 'key') return { field: path, text: `${path} is missing` };
  if (issue.type === 'raw_check') {
    // Cross-field checks put the field they are about in `expected` (see `problem`).
    const field = issue.expected ?? (path || null);
    return { field, text: path ? `${path}: ${issue.message}` : issue.message };
  }
  const subject = path || 'the input';
  return { field: path || null, text: `${subject} ${issue.message}, got ${describe(issue.input)}` };
}

/** The first issue of a failed parse, as a FieldError; `lead(issue)` may put a sentence before it. */
export function firstIssueError(
  source: string,
  issues: readonly v.BaseIssue<unknown>[],
  lead?: (issue: v.BaseIssue<unknown>, path: readonly unknown[]) => string | null,
): FieldError {
  const issue = issues[0]!;
  const { field, text } = issueText(issue);
  const l = lead?.(
    issue,
    (issue.path ?? []).map((p) => p.key),
  );
  return new FieldError(source, field, l ? `${l}: ${text}` : text);
}

/** Report a cross-field problem from a `v.rawCheck`: `field` is the path it is about, `message` names the fields. */
export type Problem = { field: string; message: string };
export function reportProblems(problems: readonly Problem[], addIssue: (info: { message: string; expected: string }) => void): void {
  for (const p of problems) addIssue({ message: p.message, expected: p.field });
}

// Building blocks (messages read after the field path: "window_s must be > 0, got -4").
export const text = () => v.string('must be a string');
export const name = () => v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty'));
export const num = () => v.pipe(v.number('must be a number'), v.finite('must be finite'));
export const count = (max: number) =>
  v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(1, 'must be ≥ 1'), v.maxValue(max, `must be ≤ ${max}`));
export const oneOf = <const T extends readonly string[]>(options: T) =>
  v.picklist(options, `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}`);
export const list = <S extends v.GenericSchema>(item: S) => v.array(item, 'must be an array');
/** An array of at most `max` items, counted before any item is checked (bounds the work on hostile input). */
export const boundedList = <S extends v.GenericSchema>(item: S, max: number) =>
  v.pipe(v.array(v.unknown(), 'must be an array'), v.maxLength(max, `must have at most ${max} entries`), v.array(item, 'must be an array'));
export const obj = <E extends v.ObjectEntries>(entries: E) => v.object(entries, 'must be an object');
export const dict = <S extends v.GenericSchema>(value: S) => v.record(v.string(), value, 'must be an object');
/** An object of at most `max` entries, counted before any value is checked. */
export const boundedDict = <S extends v.GenericSchema>(value: S, max: number) =>
  v.pipe(
    v.record(v.string(), v.unknown(), 'must be an object'),
    v.maxEntries(max, `must have at most ${max} entries`),
    v.record(v.string(), value, 'must be an object'),
  );

/** A list of names, each non-empty and none twice (the message names both positions); at most `max` if given. */
export const uniqueNames = (max?: number) =>
  v.pipe(
    max === undefined ? list(name()) : boundedList(name(), max),
    v.rawCheck<string[]>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const seen = new Map<string, number>();
      dataset.value.forEach((n, i) => {
        const j = seen.get(n);
        if (j !== undefined) addIssue({ message: `[${i}] repeats [${j}] (${describe(n)}); names must be unique` });
        else seen.set(n, i);
      });
    }),
  );
