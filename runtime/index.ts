/** cmcrd-edge/runtime: browser-safe device, feature and session code (Node-only adapters live in *.node.ts). */
export * from './dsp/bands.js';
export * from './dsp/seed-de.js';
export * from './dsp/resample.js';
export * from './model-card.js';
export * from './online-features.js';
export * from './session.js';
export * from './devices/muse.js';
export type { Classifier } from './infer/types.js';
