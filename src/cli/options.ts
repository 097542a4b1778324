/**
 * Option builders on commander's Option objects: `.choices()` (so `--help` lists the allowed values) and
 * `.argParser()` (values are checked and converted while the command line is parsed, before any work). A bad value
 * is a CliError naming the option and quoting the value (exit 2). Defaults are given already parsed: commander
 * does not pass them through the parser.
 */
import { Option } from 'commander';
import { CliError } from './errors.js';

const flagOf = (o: Option): string => o.long ?? o.short ?? o.flags;
const quote = (v: string): string => JSON.stringify(v);

/**
 * A plain decimal number, as people and CSV writers (numpy, pandas, MATLAB, decode) write them: no hex, octal,
 * binary, "Infinity" or underscores, which `Number()` would accept (it reads "0x10" as 16 and "" as 0).
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Plain decimal digits (a count: "1e9" and "0x10" are refused). */
const DECIMAL_INTEGER = /^[+-]?\d+$/;

/** Parse a strict decimal number (surrounding spaces allowed); `undefined` when `s` is not one. */
export function parseDecimal(s: string): number | undefined {
  const t = s.trim();
  return DECIMAL.test(t) ? Number(t) : undefined;
}

/** One of `choices`. */
export function choiceOption<T extends string>(flags: string, description: string, choices: readonly T[]): Option {
  // choices() records the list for --help; the parser set after it replaces commander's check, whose message
  // ("argument 'x' is invalid. Allowed choices are …") would not name the option the way our other errors do.
  const o = new Option(flags, description).choices(choices);
  return o.argParser((v: string): T => {
    if (!(choices as readonly string[]).includes(v))
      throw new CliError(`${flagOf(o)} must be one of ${choices.join(', ')}, got ${quote(v)}`);
    return v as T;
  });
}

/**
 * An integer ≥ `min` (and ≤ `max` when given) in plain decimal digits: a fractional count is refused, not rounded,
 * and so are "1e9" and "0x10".
 */
export function intOption(flags: string, description: string, min: number, max?: number): Option {
  const o = new Option(flags, description);
  return o.argParser((v: string): number => {
    const n = DECIMAL_INTEGER.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max))
      throw new CliError(`${flagOf(o)} must be an integer ${max === undefined ? `≥ ${min}` : `${min}–${max}`}, got ${quote(v)}`);
    return n;
  });
}

/** A finite number accepted by `ok`; `what` says which, e.g. "a positive number". */
export function numberOption(flags: string, description: string, what: string, ok: (x: number) => boolean): Option {
  const o = new Option(flags, description);
  return o.argParser((v: string): number => {
    const n = parseDecimal(v);
    if (n === undefined || !Number.isFinite(n) || !ok(n)) throw new CliError(`${flagOf(o)} must be ${what}, got ${quote(v)}`);
    return n;
  });
}

/** Comma-separated entries, blanks dropped. */
export function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A comma-separated list of entries, each checked by `item` (which throws a CliError naming the option). A list
 * names each entry once: a repeated seed or fold would be trained twice and counted twice. An empty list is an error.
 */
export function listOption<T extends string | number>(
  flags: string,
  description: string,
  item: (entry: string, flag: string) => T,
): Option {
  const o = new Option(flags, description);
  return o.argParser((v: string): T[] => {
    const flag = flagOf(o);
    const list = splitList(v).map((s) => item(s, flag));
    if (!list.length) throw new CliError(`${flag} is empty`);
    const seen = new Set<T>();
    for (const x of list) {
      if (seen.has(x)) throw new CliError(`${flag} lists "${x}" more than once`);
      seen.add(x);
    }
    return list;
  });
}

/** List entries: any text, one of `choices`, or integers ≥ `min` (`what` names them in the message). */
export const anyEntry = (s: string): string => s;
export function choiceEntry<T extends string>(choices: readonly T[]): (s: string, flag: string) => T {
  return (s, flag) => {
    if (!(choices as readonly string[]).includes(s)) throw new CliError(`${flag} must be one of ${choices.join(', ')}, got ${quote(s)}`);
    return s as T;
  };
}
export function intEntry(min: number, what: string): (s: string, flag: string) => number {
  return (s, flag) => {
    const n = DECIMAL_INTEGER.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new CliError(`${flag} must be ${what}, got ${quote(s)}`);
    return n;
  };
}
