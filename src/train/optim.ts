/**
 * AdamW (decoupled weight decay, PyTorch semantics) and the warm-up + half-cosine learning-rate schedule of
 * method.md. Written with tfjs ops so it runs on every backend and its state is explicit.
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  lr: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class AdamW {
  private step = 0;
  private readonly m = new Map<tf.Variable, tf.Variable>();
  private readonly v = new Map<tf.Variable, tf.Variable>();
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;

  constructor(opts: AdamWOptions) {
    this.weightDecay = opts.weightDecay ?? 1e-2;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
  }

  /** One update of every variable that has a gradient, at learning rate lr. */
  apply(grads: Record<string, tf.Tensor>, vars: tf.Variable[], lr: number): void {
    this.step++;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = 1 - this.beta2 ** this.step;
    tf.tidy(() => {
      for (const w of vars) {
        const g = grads[w.name];
        if (!g) continue;
        let m = this.m.get(w);
        let v = this.v.get(w);
        if (!m || !v) {
          m = tf.variable(tf.zerosLike(w), false);
          v = tf.variable(tf.zerosLike(w), false);
          this.m.set(w, m);
          this.v.set(w, v);
        }
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), this.eps));
        // Decoupled decay: w ← w − lr·wd·w, then the Adam step.
        w.assign(tf.sub(tf.mul(w, 1 - lr * this.weightDecay), tf.mul(update, lr)));
      }
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Linear warm-up over `warmupEpochs`, then half-cosine to 0 at `epochs` (per-step resolution). */
export function warmupCosine(baseLr: number, epochs: number, warmupEpochs: number, stepsPerEpoch: number): (step: number) => number {
  const total = epochs * stepsPerEpoch;
  const warm = Math.min(warmupEpochs, epochs) * stepsPerEpoch;
  return (step) => {
    if (warm > 0 && step < warm) return (baseLr * (step + 1)) / warm;
    const p = total > warm ? (step - warm) / (total - warm) : 1;
    return baseLr * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, p)));
  };
}
