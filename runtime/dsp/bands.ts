/** Frequency bands. The SEED family uses δ 1–4, θ 4–8, α 8–14, β 14–31, γ 31–50 Hz (half-open [lo, hi)). */
export interface Band {
  readonly name: string;
  readonly lo: number;
  readonly hi: number;
}

export const SEED_BANDS: readonly Band[] = Object.freeze([
  { name: 'delta', lo: 1, hi: 4 },
  { name: 'theta', lo: 4, hi: 8 },
  { name: 'alpha', lo: 8, hi: 14 },
  { name: 'beta', lo: 14, hi: 31 },
  { name: 'gamma', lo: 31, hi: 50 },
]);
