/** One experiment (a method × network × protocol on a dataset, over folds and seeds), by concern. */
export { runExperiment } from './loop.js';
export * from './types.js';
export { resolveOptions, studentModality, teacherModality, usesTeacher, type ResolvedOptions } from './options.js';
export { modalityData, selectFolds, type ModalityData } from './data.js';
export { datasetFingerprint } from './fingerprint.js';
export { checkpointProbabilities, networkFromCheckpoint } from './network.js';
export { checkSuppliedTeacher, type SuppliedTeacherRun } from './leak-check.js';
export { ExperimentConfigError, OptionError } from '../errors.js';
