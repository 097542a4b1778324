export * as losses from './train/losses/index.js';
export * as datasets from './datasets/index.js';
