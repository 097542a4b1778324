/**
 * One experiment: a method × network × protocol on a dataset, over folds and seeds. Per fold and seed:
 *   1. a validation split of whole training trials (early stopping never looks at test data);
 *   2. the frozen teacher (CE + λ_mcc·MCC), trained once per (dataset, protocol, fold, arch, seed, options) and
 *      cached in memory and on disk, or supplied as a checkpoint;
 *   3. the student (CE + λ·L_method) on features z-scored with training statistics only;
 *   4. test metrics, and optionally the student's checkpoint.
 * Interruption stops after the current epoch; the fold that was running is dropped, finished folds are kept.
 *
 * The code lives in ./experiment/, one module per concern: options.ts (defaults and checks), data.ts (matrices
 * and folds), loop.ts (the loop), teacher-cache.ts, leak-check.ts (a supplied teacher), resume.ts, provenance.ts.
 * This module is the entry point the CLI, the demo, benchmarks and tests import.
 */
export * from './experiment/index.js';
export { readCheckpoint } from './checkpoint.js';
