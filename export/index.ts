export * from './checkpoint.js';
export { exportOnnx, foldBatchNorm } from './onnx-export.js';
export { modelCard, modelCardJson, cardOf, MODEL_CARD_VERSION, type Card } from './model-card.js';
export * from './parity.js';
