/**
 * Input and output paths are checked before any long work starts, so a typo fails in a second with a message
 * naming the path, not after an hour of training with a stack trace. The rules (docs/robustness.md):
 *   - an existing file is never replaced, nor a non-empty folder written into, without --force;
 *   - an output is never the input it is made from, compared by identity (device + inode), so a symbolic or
 *     hard link to the input is caught too; --force does not lift this;
 *   - outputs are written atomically (src/io/atomic.ts): a temporary file beside the target, then a rename.
 */
import { accessSync, constants, lstatSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { makeDirs, writeFileAtomic } from '../io/atomic.js';
import { CliError } from './errors.js';

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'not writable';
  if (code === 'ENOENT') return 'its parent folder does not accept new folders';
  return code ?? (e as Error).message;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function listing(dir: string, entries: string[]): string {
  const shown = entries.sort().slice(0, 4).join(', ') + (entries.length > 4 ? ', …' : '');
  return `${dir} (${shown})`;
}

export interface OutDirOptions {
  /** Write into a non-empty folder (files of the same names are replaced). */
  force?: boolean;
  /** The folder is meant to be reused (a cache, a run being resumed): non-empty is fine without --force. */
  reuse?: boolean;
  /** What to suggest instead of --force, e.g. "--resume continues the run in it". */
  hint?: string;
}

/**
 * Create `dir` (and its parents) if needed and check that it is a writable folder; unless `reuse` or `force`,
 * it must also be empty, since the command would replace what is in it.
 */
export function prepareOutDir(dir: string, flag: string, opts: OutDirOptions = {}): void {
  try {
    makeDirs(dir);
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new CliError(`${flag} ${dir}: cannot create or write this folder (${reason(e)})`);
  }
  if (opts.reuse || opts.force) return;
  const entries = readdirSync(dir);
  if (entries.length === 0) return;
  throw new CliError(
    `${flag} ${listing(dir, entries)}: the folder is not empty, and writing there would replace what is in it. ` +
      `Choose a new or empty folder${opts.hint ? `, ${opts.hint}` : ''}, or add --force to write into it anyway`,
  );
}

export interface InputRef {
  path: string;
  /** How the message names it, e.g. "the checkpoint itself". */
  what: string;
}

export interface OutFileOptions {
  /** Replace an existing file. */
  force?: boolean;
}

/**
 * Check that the file `path` can be written and returns the path to write. Its folder is created if needed;
 * `path` must not be a folder, must not exist unless `force`, and must not be any of `inputs` (which the command
 * reads) by identity. With `force` and a symbolic link at `path`, the returned path is the link's target, so the
 * atomic rename replaces the file the link points to and keeps the link.
 */
export function prepareOutFile(path: string, flag: string, input?: InputRef | readonly InputRef[], opts: OutFileOptions = {}): string {
  const inputs = input === undefined ? [] : Array.isArray(input) ? (input as readonly InputRef[]) : [input as InputRef];
  const out = statOrNull(path);
  for (const i of inputs) {
    const st = statOrNull(i.path);
    const same = out && st ? out.dev === st.dev && out.ino === st.ino : resolve(path) === resolve(i.path);
    if (same)
      throw new CliError(
        `${flag} ${path} is ${i.what}${resolve(path) === resolve(i.path) ? '' : ' (the same file under another name or link)'}; writing there would replace it (choose another file)`,
      );
  }
  const parent = dirname(path);
  try {
    makeDirs(parent);
    accessSync(parent, constants.W_OK);
  } catch (e) {
    throw new CliError(`${flag} ${parent}: cannot create or write this folder (${reason(e)})`);
  }
  if (out?.isDirectory()) throw new CliError(`${flag} ${path}: is a folder, expected a file path`);
  let dangling = false;
  if (!out) {
    try {
      dangling = lstatSync(path).isSymbolicLink();
    } catch {
      /* does not exist yet: fine */
    }
  }
  if ((out || dangling) && !opts.force) {
    throw new CliError(
      `${flag} ${path}: ${dangling ? 'a symbolic link is' : 'a file'} already exists there; choose another file, or add --force to replace it`,
    );
  }
  if (out && !out.isFile())
    throw new CliError(`${flag} ${path}: exists and is not a regular file (a device, pipe or socket); choose a file path`);
  if (out) {
    const target = realpathSync(path);
    try {
      accessSync(dirname(target), constants.W_OK);
    } catch (e) {
      throw new CliError(`${flag} ${path}: cannot replace it, its folder ${dirname(target)} is ${reason(e)}`);
    }
    return target;
  }
  return path;
}

/**
 * Write a file checked by {@link prepareOutFile} atomically: without `force` it appears only if nothing has taken
 * its name meanwhile. Failures are CliErrors naming `shown` (the path as the user gave it) under `flag`.
 */
export function writeOutput(target: string, data: string | Uint8Array, force: boolean, flag: string, shown = target): void {
  try {
    writeFileAtomic(target, data, { overwrite: force });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new CliError(`${flag} ${shown}: a file appeared there while the command ran; it was kept (add --force to replace it)`);
    throw new CliError(`${flag} ${shown}: cannot write (${code ?? (e as Error).message})`);
  }
}

/**
 * Check that `path` is a readable file before a command opens it: a missing path, a folder or an unreadable
 * file is a CliError naming the path (exit 2), instead of EISDIR or ENOENT from deep inside a reader.
 */
export function checkInputFile(path: string, what: string): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(
      `${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'ENOTDIR' ? 'no such file (a part of the path is a file, not a folder)' : `cannot read (${code ?? (e as Error).message})`}`,
    );
  }
  if (st.isDirectory()) throw new CliError(`${what} ${path}: is a folder, expected a file`);
  try {
    accessSync(path, constants.R_OK);
  } catch (e) {
    throw new CliError(`${what} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
