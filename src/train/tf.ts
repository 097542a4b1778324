/**
 * The one tfjs entry point of the training code. The package depends on tfjs-core, not the tfjs union package
 * (which adds layers, converter, data and webgl that nothing here uses), so what the union package registers as
 * a side effect is registered here: every op's gradient (bundled at build time by
 * scripts/build/tfjs-gradients.mjs) and the pure-JS cpu backend, the fallback that needs no binary.
 */
// Order matters: tfjs-core first, so it creates the global engine that the bundled gradients then join.
export * from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import './vendor/tfjs-gradients.js';
