import { renameSync, writeFileSync } from 'node:fs';

/**
 * Write through a temporary file and a rename, so a process killed while saving leaves the previous version of
 * the file (or none), never a truncated one. The rename is atomic on one filesystem, and the temporary file sits
 * beside the target for that reason.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.partial`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
