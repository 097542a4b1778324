// tfjs-core's gradients and cpu backend, so the exported losses run on a user's tfjs-core without more imports.
import './train/tf.js';
export * as losses from './train/losses/index.js';
export * as datasets from './datasets/index.js';
