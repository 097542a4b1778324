export * from './checkpoint.js';
export { exportOnnx, foldBatchNorm } from './onnx-export.js';
export { modelCard, MODEL_CARD_VERSION } from './model-card.js';
export * from './parity.js';
