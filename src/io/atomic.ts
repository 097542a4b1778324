import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface AtomicWriteOptions {
  /**
   * Replace an existing file at `path` (default true). With false the file appears only if nothing is there
   * when it is moved into place (a hard link, which fails with EEXIST), so a file created meanwhile is kept.
   */
  overwrite?: boolean;
}

/**
 * Write through a temporary file and a rename, so a process killed while saving leaves the previous version of
 * the file (or none), never a truncated one. The rename is atomic on one filesystem, and the temporary file sits
 * beside the target for that reason. The temporary file is created exclusively (a leftover of a killed writer is
 * removed first) and synced before the rename, so a power cut cannot leave an empty file under the final name.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const tmp = `${path}.partial`;
  const fd = openTemp(tmp);
  try {
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.overwrite === false) moveIntoPlaceNoReplace(tmp, path);
    else renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw e;
  }
}

/** Create `tmp` exclusively; a regular file left there by a killed writer is removed once and the open retried. */
export function openTemp(tmp: string): number {
  try {
    return openSync(tmp, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(tmp).isFile()) throw e;
    unlinkSync(tmp);
    return openSync(tmp, 'wx');
  }
}

/** Move a finished temporary file to `path` unless something is already there (EEXIST then, `tmp` removed). */
export function moveIntoPlaceNoReplace(tmp: string, path: string): void {
  try {
    linkSync(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // File systems without hard links (FAT, some network mounts): check, then rename (a small race remains).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    if (exists(path)) throw Object.assign(new Error(`EEXIST: file already exists, '${path}'`), { code: 'EEXIST', path });
    renameSync(tmp, path);
    return;
  }
  unlinkSync(tmp);
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

export function removeQuietly(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    /* already gone, or never created */
  }
}

/**
 * `mkdir -p` without `mkdirSync(…, { recursive: true })`, which on Node 20 never returns for a path under a
 * folder that refuses new entries with ENOENT (e.g. /proc/nope/x). Missing folders are created one level at a
 * time from the deepest existing ancestor; errors carry the usual `code` (ENOTDIR when a file is in the way).
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw e;
      missing.push(p);
      const up = dirname(p);
      if (up === p) throw e;
      p = up;
      continue;
    }
    if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, '${p}'`), { code: 'ENOTDIR', path: p });
    break;
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(m).isDirectory()) throw e;
    }
  }
}
