/** cmcrd run for library users (browser-safe): the supervisor as an async iterable of events, and its parts. */
export {
  startRun,
  type RunOptions,
  type RunHandle,
  type RunStatus,
  type RunModel,
  type RunVariant,
  type DeviceLink,
  type BatteryPoller,
  type BackoffOptions,
} from './supervisor.js';
export type * from './events.js';
export { formatEventLine } from './events.js';
export { EventHub } from './hub.js';
export { RealClock, VirtualClock, isVirtualClock, yieldToHost, type RunClock, type Advanceable, type PaceOptions } from './clock.js';
export {
  MODES,
  defaultModes,
  resolveModes,
  isMode,
  modeRank,
  type Mode,
  type ModeSettings,
  type ModeTable,
  type ResolvedModes,
} from './modes.js';
export {
  ModePolicy,
  DEFAULT_THRESHOLDS,
  checkThresholds,
  parsePolicy,
  describePolicy,
  type PolicySpec,
  type Thresholds,
  type Decision,
  type PolicyOptions,
} from './policy.js';
export {
  describeModelDirectory,
  readUserCalibration,
  checkSameCard,
  type ModelDirectoryInfo,
  type ModelVariantRef,
  type OnnxRuntimeName,
  type UserCalibration,
} from './model.js';
export { cardMismatch, leanPreset, modelSites, RunSetupError } from './device-fit.js';
export { applyCalibration, calibrationMeta, type AppliedCalibration, type CalibrationFile, type CalibrationMeta } from './calibration.js';
export { recordCalibration, type CalibrationRecordOptions, type CalibrationRecording } from './calibrate.js';
export { virtualLink, replayLink, peripheralLink, linkFor, manualClock, openPairedLink } from './links.js';
export {
  isModelDirCard,
  parseModelDirCard,
  listedHash,
  type ModelDirCard,
  type ModelDirCardVariant,
  type ModelDirCardRuntime,
} from './model-dir-card.js';
