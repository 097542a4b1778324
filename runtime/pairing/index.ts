/** Pairing (browser-safe part): the allow-list and how `--device` specs resolve against it. The per-user file is in store.node.ts. */
export * from './allow-list.js';
export * from './resolve.js';
