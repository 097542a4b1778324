/**
 * cmcrd-edge/runtime/node: the browser-safe runtime (index.ts) plus its Node-only parts: the onnxruntime-node
 * classifier (Raspberry Pi, desktops).
 */
export * from './index.js';
export { loadOnnxClassifier } from './infer/onnx.node.js';
