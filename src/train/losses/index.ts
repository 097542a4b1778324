/**
 * Training losses: cross-entropy, MCC (teacher), the six pure distillation baselines, and the stateful CRD / CMCRD
 * losses. All run forward and backward on tfjs-backend-wasm.
 */
export { crossEntropy, mcc, type MccOptions } from './classification.js';
export { kd, fitnet, nst, sp, rkd, pkt, LinearRegressor, type KdOptions, type RkdOptions, type PktOptions } from './distill.js';
export { CRD, CMCRD, ContrastiveDistiller, type ContrastiveOptions, type ContrastNormalisers, type NegativePool } from './contrastive.js';
export { LAMBDA_DEFAULTS, METHOD_FEATURES, type DistillMethod } from './defaults.js';
export { stopGradient, l2Normalize, entropyWeights, type Labels } from './util.js';
