/**
 * The package's public entry points: `cmcrd-edge`, `cmcrd-edge/export`, `cmcrd-edge/runtime` and
 * `cmcrd-edge/firmware-bridge` resolve (through package.json "exports" to the compiled dist/) in plain Node.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');

function keysOf(specifier: string): string[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

describe('package exports', () => {
  beforeAll(() => {
    // Build dist/ fresh (what `npm install` does through the prepare script).
    execFileSync(process.execPath, [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  }, 120_000);

  it('exposes the training API at the package root', () => {
    expect(keysOf('cmcrd-edge')).toEqual(expect.arrayContaining(['losses', 'datasets']));
  });
  it('root losses take plain tfjs tensors (features [B, D], logits [B, C], int32 labels [B]) and return a scalar', () => {
    // Each loss on the same random inputs, from the built package as a user imports it.
    const script = `
      import * as tf from '@tensorflow/tfjs-core';
      import { losses } from 'cmcrd-edge';
      await tf.setBackend('cpu');
      const r = (b, d, s) => tf.randomNormal([b, d], 0, 1, 'float32', s);
      const [fs, ft, ps, pt] = [r(8, 16, 1), r(8, 16, 2), r(8, 4, 3), r(8, 4, 4)];
      const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
      const out = {
        crossEntropy: losses.crossEntropy(ps, y), mcc: losses.mcc(ps), kd: losses.kd(ps, pt), fitnet: losses.fitnet(fs, ft),
        nst: losses.nst(fs, ft), nstLevels: losses.nst([fs], [ft]), sp: losses.sp(fs, ft), rkd: losses.rkd(fs, ft), pkt: losses.pkt(fs, ft),
      };
      console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { rank: v.rank, value: v.dataSync()[0] }]))));`;
    const got = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })) as Record<string, { rank: number; value: number }>;
    for (const name of ['crossEntropy', 'mcc', 'kd', 'fitnet', 'nst', 'sp', 'rkd', 'pkt']) {
      expect(got[name]!.rank, name).toBe(0);
      expect(Number.isFinite(got[name]!.value) && got[name]!.value > 0, `${name} = ${got[name]!.value}`).toBe(true);
    }
    expect(got.nst!.value).toBe(got.nstLevels!.value); // one tensor is one level
  }, 60_000);
  it('exposes export/, runtime/ and firmware-bridge/ as subpaths', () => {
    expect(keysOf('cmcrd-edge/export')).toEqual(expect.arrayContaining(['exportOnnx', 'parseCheckpoint', 'serialiseCheckpoint']));
    expect(keysOf('cmcrd-edge/runtime')).toEqual(expect.arrayContaining(['FeatureExtractor', 'seedDE', 'parseModelCard', 'startHeadbandSession']));
    expect(keysOf('cmcrd-edge/firmware-bridge').length).toBeGreaterThan(5);
  });
});
