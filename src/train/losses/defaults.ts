/** Loss weights and feature levels per distillation method (method.md; λ defaults from the authors' code). */

export type DistillMethod = 'kd' | 'fitnet' | 'nst' | 'sp' | 'rkd' | 'pkt' | 'crd' | 'cmcrd';

/**
 * λ in "student loss = CE + λ·L_method" (β for CMCRD), and λ_mcc for the teacher's MCC term.
 * Defaults only: callers must let users override them.
 */
export const LAMBDA_DEFAULTS: Readonly<Record<DistillMethod | 'mcc', number>> = Object.freeze({
  kd: 10,
  fitnet: 1,
  nst: 10,
  sp: 100,
  rkd: 1,
  pkt: 1000,
  crd: 0.02,
  cmcrd: 0.02,
  mcc: 1,
});

/** Which network outputs each method aligns (NetOutput fields; NST uses both feature levels). */
export const METHOD_FEATURES: Readonly<Record<DistillMethod, ReadonlyArray<'logits' | 'f1' | 'f2'>>> = Object.freeze({
  kd: ['logits'],
  fitnet: ['f2'],
  nst: ['f1', 'f2'],
  sp: ['f1'],
  rkd: ['f2'],
  pkt: ['f2'],
  crd: ['f2'],
  cmcrd: ['f2'],
});
