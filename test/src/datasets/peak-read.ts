/**
 * Child process for the decompression-bomb tests: `node --import tsx peak-read.ts mat|npz <file>` reads the file
 * with the reader and prints {error, ms, maxRssMiB}: the peak resident memory of a whole process is exact,
 * where sampling process.memoryUsage() in the test process would miss a peak the GC already released.
 */
import { readFileSync } from 'node:fs';
import { readMat } from '../../../src/io/mat.js';
import { readNpz } from '../../../src/io/npy.js';

const [kind, file] = process.argv.slice(2) as [string, string];
const bytes = new Uint8Array(readFileSync(file));
const t0 = performance.now();
let error: string | null = null;
try {
  if (kind === 'mat') readMat(bytes, { file });
  else readNpz(bytes, file);
} catch (e) {
  error = `${(e as Error).name}: ${(e as Error).message}`;
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ error, ms, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
