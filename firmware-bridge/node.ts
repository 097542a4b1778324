/**
 * cmcrd-edge/firmware-bridge/node: the browser-safe firmware-bridge (index.ts) plus its Node-only parts:
 * openDevice that also reads `replay:` capture files from disk (it replaces the browser one, which needs a loader).
 */
export * from './index.js';
export { openDevice } from './open.node.js';
