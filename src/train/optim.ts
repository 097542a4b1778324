/**
 * AdamW (decoupled weight decay, PyTorch semantics) and the warm-up + half-cosine learning-rate schedule of
 * method.md.
 *
 * The update runs on the host: the moment estimates live in Float32Arrays and one loop per variable reads the
 * gradient and the weight and writes the new weight back as one tensor. Written as tfjs ops it took ~16 tiny
 * kernels per variable (~290 per MLP step), and on tfjs-wasm each kernel costs more in dispatch than in
 * arithmetic. Gradients and weights are copied out of the backend once per step, which on wasm (and cpu) is a
 * memcpy.
 *
 * The weights are written back as new tensors (`Variable.assign`), not patched in the wasm heap: tfjs-wasm's
 * matMul caches XNNPACK operators with the right-hand operand packed, keyed by that tensor's id, so editing a
 * weight's buffer in place would leave matMul using the stale packed copy.
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  lr: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

interface Moments {
  m: Float32Array;
  v: Float32Array;
}

export class AdamW {
  private step = 0;
  private readonly state = new Map<tf.Variable, Moments>();
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

  /** Number of updates applied so far (PyTorch's `state['step']`). */
  get steps(): number {
    return this.step;
  }

  /** One update of every variable that has a gradient, at learning rate lr. */
  apply(grads: Record<string, tf.Tensor>, vars: tf.Variable[], lr: number): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps } = this;
    // The order of operations follows torch.optim.AdamW (single-tensor path), with a float32 rounding wherever
    // PyTorch stores a float32 tensor, so the two agree to float32 rounding.
    const decay = 1 - lr * this.weightDecay;
    const stepSize = lr / (1 - b1 ** this.step);
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.step);
    const f = Math.fround;
    for (const w of vars) {
      const gt = grads[w.name];
      if (!gt) continue;
      if (gt.size !== w.size) throw new Error(`AdamW: gradient of "${w.name}" has ${gt.size} values, the variable ${w.size}`);
      let st = this.state.get(w);
      if (!st) {
        st = { m: new Float32Array(w.size), v: new Float32Array(w.size) };
        this.state.set(w, st);
      }
      const { m, v } = st;
      const g = gt.dataSync() as Float32Array;
      // dataSync may return the backend's own buffer (the cpu backend does): read it, write a new array.
      const cur = w.dataSync() as Float32Array;
      const out = new Float32Array(cur.length);
      for (let i = 0; i < out.length; i++) {
        const gi = g[i]!;
        const mi = (m[i] = f(m[i]! + (1 - b1) * (gi - m[i]!))); // exp_avg.lerp_(grad, 1 − β1)
        const vi = (v[i] = f(f(v[i]! * b2) + f(gi * gi) * (1 - b2))); // exp_avg_sq.mul_(β2).addcmul_(g, g, 1 − β2)
        const denom = f(f(Math.sqrt(vi) / bc2Sqrt) + eps);
        out[i] = f(f(cur[i]! * decay) - stepSize * (mi / denom)); // param.mul_(1 − lr·wd).addcdiv_(m, denom, −step)
      }
      const next = tf.tensor(out, w.shape, 'float32');
      w.assign(next);
      next.dispose();
    }
  }

  dispose(): void {
    this.state.clear();
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
