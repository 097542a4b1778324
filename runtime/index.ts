/**
 * cmcrd-edge/runtime: browser-safe device, feature, session and inference code. Node-only adapters live in
 * *.node.ts and reach users through node.ts (`cmcrd-edge/runtime/node`).
 */
export * from './dsp/index.js';
export * from './model-card.js';
export * from './session.js';
export {
  checkLiveSmoothing,
  retrainCommand,
  OfflineSmoothingError,
  type LiveSmoothingCheck,
  type LiveSmoothingOptions,
  type SmoothingCardFields,
} from './smoothing-guard.js';
export type { Classifier } from './infer/types.js';
export {
  createOnnxClassifier,
  type OnnxClassifier,
  type OnnxClassifierOptions,
  type OrtModule,
  type OrtSession,
  type OrtTensor,
  type OrtValueMetadata,
} from './infer/onnx.js';
export { loadWebOnnxClassifier, type WebOnnxOptions } from './infer/onnx.web.js';
export * from './pairing/index.js';
export * from './run/index.js';
export * from './battery/index.js';
