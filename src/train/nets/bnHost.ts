/**
 * The element-wise parts of the fused Linear–BatchNorm–ReLU block (layers.ts `denseBnRelu`) on the host, for
 * backends where reading and writing tensor data is a memory copy: one tfjs kernel costs ~20 µs in dispatch,
 * these loops a few µs at batch 32. Every step rounds to float32 in the order the tfjs ops did (sub, mul by rstd,
 * mul by γ, add β, ReLU; backward da·k − x̂·c1 − c2), so the block's results do not depend on which path ran.
 * The passes run as WebAssembly SIMD kernels (../simd.ts) when available and the width is a multiple of 4: the
 * loops below take ~13 ns per element in V8 (≈0.8 ms per 256×128 layer and step), the kernels a small fraction.
 * Both give the same bits.
 */
import { bnDzSimd, bnReluForwardSimd, bnReluMaskSimd, columnSquaredDeviations, columnSumAndDot, columnSums } from '../simd.js';

export interface BnReluForward {
  /** relu(γ·x̂ + β), row-major [n, h] */
  y: Float32Array;
  /** (z − mean)·rstd */
  xhat: Float32Array;
  /** batch mean and biased batch variance [h] */
  mean: Float32Array;
  variance: Float32Array;
  /** 1/√(variance + eps) [h] */
  rstd: Float32Array;
}

/** Forward of BatchNorm (training mode, batch statistics) + ReLU on z = x·W + b, [n, h] row-major. */
export function bnReluForward(z: Float32Array, n: number, h: number, gamma: Float32Array, beta: Float32Array, eps: number): BnReluForward {
  const f = Math.fround;
  const mean = columnSums(z, n, h).map((s) => f(s / n));
  const variance = columnSquaredDeviations(z, n, h, mean).map((s) => f(s / n));
  const rstd = variance.map((v) => 1 / Math.sqrt(v + eps));
  const fast = bnReluForwardSimd(z, n, h, mean, rstd, gamma, beta);
  if (fast) return { ...fast, mean, variance, rstd };
  const y = new Float32Array(n * h);
  const xhat = new Float32Array(n * h);
  for (let i = 0, o = 0; i < n; i++, o += h) {
    for (let j = 0; j < h; j++) {
      const xh = f(f(z[o + j]! - mean[j]!) * rstd[j]!);
      xhat[o + j] = xh;
      const a = f(f(xh * gamma[j]!) + beta[j]!);
      y[o + j] = a > 0 ? a : 0;
    }
  }
  return { y, xhat, mean, variance, rstd };
}

export interface BnReluBackward {
  /** dL/dz [n, h] */
  dz: Float32Array;
  /** Σ_rows dz (the Linear bias gradient), dγ = Σ da·x̂, dβ = Σ da [h] */
  dbias: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/**
 * Backward of {@link bnReluForward} given dL/dy: da = dy·[y > 0] (y > 0 exactly where the ReLU input is),
 * dβ = Σ da, dγ = Σ da·x̂, and dz = k·(da − mean(da) − x̂·mean(da·x̂)) with k = γ·rstd, computed as
 * da·k − x̂·(k·dγ/n) − k·dβ/n.
 */
export function bnReluBackward(
  dy: Float32Array,
  y: Float32Array,
  xhat: Float32Array,
  gamma: Float32Array,
  rstd: Float32Array,
  n: number,
  h: number,
): BnReluBackward {
  const f = Math.fround;
  const size = n * h;
  let da: Float32Array;
  let dbeta: Float32Array;
  let dgamma: Float32Array;
  const masked = bnReluMaskSimd(dy, y, xhat, n, h);
  if (masked) ({ da, sumDa: dbeta, sumDaXhat: dgamma } = masked);
  else {
    da = new Float32Array(size);
    for (let i = 0; i < size; i++) da[i] = y[i]! > 0 ? dy[i]! : 0;
    [dbeta, dgamma] = columnSumAndDot(da, xhat, n, h);
  }
  const k = gamma.map((g, j) => g * rstd[j]!);
  const c1 = k.map((kj, j) => (kj * dgamma[j]!) / n);
  const c2 = k.map((kj, j) => (kj * dbeta[j]!) / n);
  const fast = bnDzSimd(da, xhat, n, h, k, c1, c2);
  if (fast) return { dz: fast.dz, dbias: fast.sumDz, dgamma, dbeta };
  const dz = new Float32Array(size);
  for (let i = 0, o = 0; i < n; i++, o += h) {
    for (let j = 0; j < h; j++) dz[o + j] = f(f(f(da[o + j]! * k[j]!) - f(xhat[o + j]! * c1[j]!)) - c2[j]!);
  }
  return { dz, dbias: columnSums(dz, n, h), dgamma, dbeta };
}
