/**
 * AdamW (decoupled weight decay, PyTorch semantics) and the warm-up + half-cosine learning-rate schedule of
 * method.md.
 *
 * The update runs on the host: the moment estimates live in the memory of a small WebAssembly SIMD kernel (or
 * Float32Arrays), and one loop per variable reads the gradient and the weight and writes the new weight back
 * as one tensor. Written as tfjs ops it took ~16 tiny
 * kernels per variable (~290 per MLP step), and on tfjs-wasm each kernel costs more in dispatch than in
 * arithmetic. Gradients and weights are copied out of the backend once per step, which on wasm (and cpu) is a
 * memcpy.
 *
 * The weights are written back as new tensors (`Variable.assign`), not patched in the wasm heap: tfjs-wasm's
 * matMul caches XNNPACK operators with the right-hand operand packed, keyed by that tensor's id, so editing a
 * weight's buffer in place would leave matMul using the stale packed copy.
 */
import * as tf from './tf.js';
import { assemble, compile, countUp, f32x4, i32, local, typed, v128, type Code } from '../../runtime/wasm/assembler.js';
import { hostValues, tensorFrom } from './simd.js';

export interface AdamWOptions {
  lr: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/**
 * The AdamW element update, in float32 exactly as PyTorch's single-tensor CPU path does it (each operation
 * rounded to float32, same order):
 *   m ← m + (1−β1)·(g − m)                       exp_avg.lerp_(grad, 1−β1)
 *   v ← v·β2 + ((1−β2)·g)·g                      exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1−β2)
 *   w ← w·(1 − lr·wd) + (−step·m) / (√v / √bc2 + eps)   param.mul_(…).addcdiv_(exp_avg, denom, −step)
 * with step = lr / bc1. It runs as a WebAssembly SIMD kernel (f32x4, assembled below at first use) and, where
 * that is unavailable, as the same float32 operations in TypeScript (Math.fround after each one), so both give
 * the same bits.
 */
interface UpdateScalars {
  c1: number;
  b2: number;
  c2: number;
  bc2Sqrt: number;
  eps: number;
  decay: number;
  negStep: number;
}

function updateTs(g: Float32Array, w: Float32Array, m: Float32Array, v: Float32Array, n: number, k: UpdateScalars): void {
  const f = Math.fround;
  const c1 = f(k.c1),
    b2 = f(k.b2),
    c2 = f(k.c2),
    bc = f(k.bc2Sqrt),
    eps = f(k.eps),
    decay = f(k.decay),
    neg = f(k.negStep);
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = f(m[i]! + f(c1 * f(gi - m[i]!)));
    const vi = f(f(v[i]! * b2) + f(f(c2 * gi) * gi));
    m[i] = mi;
    v[i] = vi;
    w[i] = f(f(w[i]! * decay) + f(f(neg * mi) / f(f(f(Math.sqrt(vi)) / bc) + eps)));
  }
}

// The SIMD kernel: one exported function `update(g, w, m, v, bytes, c1, b2, c2, bc2Sqrt, eps, decay, negStep)`
// over byte offsets into its own memory; `bytes` is a multiple of 16 (arrays are padded to 4 floats).
const SCALARS = ['c1', 'b2', 'c2', 'bc2Sqrt', 'eps', 'decay', 'negStep'];

/** The AdamW kernel module's bytes (exported for the tests, which validate every module). */
export function adamwModule(): Uint8Array<ArrayBuffer> {
  const { get, set, tee } = local;
  const x4 = (s: string) => `${s}_x4`; // a scalar in all four lanes, or a loaded f32x4
  const at = (base: string): Code => [get(base), get('i'), i32.add]; // base + i
  const load = (base: string): Code => [at(base), v128.load()];
  return assemble([
    {
      name: 'update',
      params: { ...typed('i32', 'g', 'w', 'm', 'v', 'bytes'), ...typed('f32', ...SCALARS) },
      locals: { i: 'i32', ...typed('v128', ...[...SCALARS, 'g', 'm', 'v'].map(x4)) },
      body: [
        SCALARS.map((s) => [get(s), f32x4.splat, set(x4(s))]),
        countUp('i', 'bytes', 16, [
          load('g'),
          set('g_x4'),
          // m = m + c1·(g − m)
          at('m'),
          load('m'),
          get('c1_x4'),
          get('g_x4'),
          load('m'),
          f32x4.sub,
          f32x4.mul,
          f32x4.add,
          tee('m_x4'),
          v128.store(),
          // v = v·β2 + (c2·g)·g
          at('v'),
          load('v'),
          get('b2_x4'),
          f32x4.mul,
          get('c2_x4'),
          get('g_x4'),
          f32x4.mul,
          get('g_x4'),
          f32x4.mul,
          f32x4.add,
          tee('v_x4'),
          v128.store(),
          // w = w·decay + (negStep·m) / (√v / bc + eps)
          at('w'),
          load('w'),
          get('decay_x4'),
          f32x4.mul,
          get('negStep_x4'),
          get('m_x4'),
          f32x4.mul,
          get('v_x4'),
          f32x4.sqrt,
          get('bc2Sqrt_x4'),
          f32x4.div,
          get('eps_x4'),
          f32x4.add,
          f32x4.div,
          f32x4.add,
          v128.store(),
        ]),
      ],
    },
  ]);
}

type KernelFn = (g: number, w: number, m: number, v: number, bytes: number, ...s: number[]) => void;
let compiled: WebAssembly.Module | null | undefined;

/** A fresh instance of the SIMD kernel (own memory), or null where WebAssembly SIMD is unavailable. */
function simdKernel(): { memory: WebAssembly.Memory; update: KernelFn } | null {
  if (compiled === undefined) compiled = compile(adamwModule()); // null: no SIMD, or code generation disallowed
  if (!compiled) return null;
  const e = new WebAssembly.Instance(compiled, {}).exports as { memory: WebAssembly.Memory; update: KernelFn };
  return { memory: e.memory, update: e.update };
}

/** Where one variable's moments live: byte offsets into the kernel's memory, or arrays for the TS path. */
interface Slot {
  n: number;
  m: number;
  v: number;
  mArr?: Float32Array;
  vArr?: Float32Array;
}

/** Disable the SIMD kernel for optimisers created afterwards (tests compare both paths). */
export function setAdamWSimd(enabled: boolean): void {
  simdEnabled = enabled;
}
let simdEnabled = true;

export class AdamW {
  private step = 0;
  private readonly slots = new Map<tf.Variable, Slot>();
  private readonly kernel = simdEnabled ? simdKernel() : null;
  private top = 0; // bump allocator over the kernel's memory
  private scratch = { g: 0, w: 0, n: 0 };
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

  /** Whether the update runs as the WebAssembly SIMD kernel (else the TypeScript loop; same results). */
  get simd(): boolean {
    return this.kernel !== null;
  }

  private alloc(floats: number): number {
    const mem = this.kernel!.memory;
    const at = this.top;
    this.top += floats * 4;
    if (this.top > mem.buffer.byteLength) mem.grow(Math.ceil((this.top - mem.buffer.byteLength) / 65536));
    new Float32Array(mem.buffer, at, floats).fill(0);
    return at;
  }

  private slot(w: tf.Variable): Slot {
    let s = this.slots.get(w);
    if (!s) {
      const n = (w.size + 3) & ~3; // padded to whole f32x4 lanes
      s = this.kernel
        ? { n, m: this.alloc(n), v: this.alloc(n) }
        : { n, m: 0, v: 0, mArr: new Float32Array(w.size), vArr: new Float32Array(w.size) };
      if (this.kernel && n > this.scratch.n) this.scratch = { g: this.alloc(n), w: this.alloc(n), n };
      this.slots.set(w, s);
    }
    return s;
  }

  /** One update of every variable that has a gradient (a tensor, or host values), at learning rate lr. */
  apply(grads: Record<string, tf.Tensor | Float32Array>, vars: tf.Variable[], lr: number): void {
    this.step++;
    const k: UpdateScalars = {
      c1: 1 - this.beta1,
      b2: this.beta2,
      c2: 1 - this.beta2,
      bc2Sqrt: Math.sqrt(1 - this.beta2 ** this.step),
      eps: this.eps,
      decay: 1 - lr * this.weightDecay,
      negStep: -lr / (1 - this.beta1 ** this.step),
    };
    for (const w of vars) {
      const gt = grads[w.name];
      if (!gt) continue;
      const gSize = gt instanceof Float32Array ? gt.length : gt.size;
      if (gSize !== w.size) throw new Error(`AdamW: gradient of "${w.name}" has ${gSize} values, the variable ${w.size}`);
      const s = this.slot(w);
      let next: Float32Array;
      if (this.kernel) {
        const buf = this.kernel.memory.buffer; // views made after any grow
        new Float32Array(buf, this.scratch.g, w.size).set(gt instanceof Float32Array ? gt : hostValues(gt));
        new Float32Array(buf, this.scratch.w, w.size).set(hostValues(w));
        this.kernel.update(this.scratch.g, this.scratch.w, s.m, s.v, s.n * 4, k.c1, k.b2, k.c2, k.bc2Sqrt, k.eps, k.decay, k.negStep);
        next = new Float32Array(buf, this.scratch.w, w.size); // tensorFrom copies it (or hands over a copy)
      } else {
        // dataSync may return the backend's own buffer (the cpu backend does): update a copy.
        next = Float32Array.from(w.dataSync() as Float32Array);
        updateTs(gt instanceof Float32Array ? gt : (gt.dataSync() as Float32Array), next, s.mArr!, s.vArr!, w.size, k);
      }
      const t = tensorFrom(next, w.shape);
      w.assign(t);
      t.dispose();
    }
  }

  dispose(): void {
    this.slots.clear();
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
