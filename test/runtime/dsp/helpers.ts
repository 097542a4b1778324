import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../fixtures/dsp/${name}`, import.meta.url)), 'utf8')) as T;
}

/** Largest |a − b| divided by max |b| over the array (error relative to the reference's scale). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return scale === 0 ? err : err / scale;
}

export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  const e = relErr(a, b);
  if (!(e <= tol)) expect.fail(`relative error ${e.toExponential(3)} > ${tol}`);
}

/** Deterministic PRNG (mulberry32) for test signals and block sizes. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Split [0, n) into random block lengths in [1, maxBlock] (some zero-length blocks too). */
export function randomBlocks(n: number, r: () => number, maxBlock: number): number[] {
  const out: number[] = [];
  let done = 0;
  while (done < n) {
    const b = r() < 0.05 ? 0 : Math.min(n - done, 1 + Math.floor(r() * maxBlock));
    out.push(b);
    done += b;
  }
  return out;
}
