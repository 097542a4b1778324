/** Test helpers for the training code: run on tfjs-backend-wasm, load fixtures, compare arrays. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'vitest';

export async function useWasm(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  if (tf.getBackend() !== 'wasm') throw new Error(`expected the wasm backend, got ${tf.getBackend()}`);
}

const here = dirname(fileURLToPath(import.meta.url));

export function loadFixture<T>(name: string): T {
  return JSON.parse(readFileSync(join(here, '../..', 'fixtures', 'train', name), 'utf8')) as T;
}

export type Nested = number | Nested[];

export function flat(x: Nested): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x];
}

export function shapeOf(x: Nested): number[] {
  return Array.isArray(x) ? [x.length, ...shapeOf(x[0]!)] : [];
}

export function tensor2d(x: Nested): tf.Tensor2D {
  const s = shapeOf(x);
  return tf.tensor2d(flat(x), [s[0]!, s[1]!]);
}

/** |a − e| ≤ atol + rtol·|e| element-wise, with a message naming the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: Nested, rtol: number, atol: number, what = ''): void {
  const e = flat(expected);
  expect(actual.length, `${what}: length`).toBe(e.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < e.length; i++) {
    const a = actual[i]!;
    const excess = Math.abs(a - e[i]!) - (atol + rtol * Math.abs(e[i]!));
    if (!(excess <= worstExcess) || Number.isNaN(a)) {
      worstExcess = Number.isNaN(a) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    throw new Error(`${what}: element ${worst} is ${actual[worst]}, expected ${e[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Largest absolute value, to scale gradient tolerances. */
export function maxAbs(x: Nested): number {
  return flat(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}
