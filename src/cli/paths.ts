/**
 * Output paths are checked before any long work starts, so a typo in --out fails in a second with a message
 * naming the path, not after an hour of training with a stack trace.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError } from './errors.js';

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOTDIR' || code === 'EEXIST' ? 'a file is in the way' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not writable' : code ?? (e as Error).message;
}

/** Create `dir` (and its parents) if needed and check that it is a writable folder. */
export function prepareOutDir(dir: string, flag: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new CliError(`${flag} ${dir}: cannot create or write this folder (${reason(e)})`);
  }
}

/**
 * Check that the file `path` can be written: its folder is created if needed, and `path` is not a folder. With
 * `input`, `path` must not be that file, which the command reads (`what` names it in the message).
 */
export function prepareOutFile(path: string, flag: string, input?: { path: string; what: string }): void {
  if (input && resolve(path) === resolve(input.path)) throw new CliError(`${flag} ${path} is ${input.what}; writing there would replace it (choose another file)`);
  prepareOutDir(dirname(path), flag);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    /* does not exist yet: fine */
  }
  if (isDir) throw new CliError(`${flag} ${path}: is a folder, expected a file path`);
}
