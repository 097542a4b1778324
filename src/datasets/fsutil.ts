/** Node file-system helpers for the readers: every failure names the path. */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError } from '../io/errors.js';

export function requireDir(path: string, what: string): void {
  if (!existsSync(path)) throw new DataFormatError(`missing folder (${what})`, path);
  if (!statSync(path).isDirectory()) throw new DataFormatError(`expected a folder (${what}), found a file`, path);
}

export function readBytes(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataFormatError(code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(err)})`, path);
  }
}

/** Regular files in a folder with the given extension, sorted naturally ("2" before "10"); hidden files ignored. */
export function listFiles(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && !d.name.startsWith('.') && d.name.toLowerCase().endsWith(ext))
    .map((d) => d.name)
    .sort(naturalCompare);
}

export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export function exists(path: string): boolean {
  return existsSync(path);
}

export { join };
