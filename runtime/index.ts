/** cmcrd-edge/runtime: browser-safe device, feature and session code (Node-only adapters live in *.node.ts). */
export * from './dsp/index.js';
export * from './model-card.js';
export * from './session.js';
export type { Classifier } from './infer/types.js';
export * from './pairing/index.js';
