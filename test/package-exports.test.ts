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
  it('exposes export/, runtime/ and firmware-bridge/ as subpaths', () => {
    expect(keysOf('cmcrd-edge/export')).toEqual(expect.arrayContaining(['exportOnnx', 'parseCheckpoint', 'serialiseCheckpoint']));
    expect(keysOf('cmcrd-edge/runtime')).toEqual(expect.arrayContaining(['FeatureExtractor', 'seedDE', 'parseModelCard', 'startHeadbandSession']));
    expect(keysOf('cmcrd-edge/firmware-bridge').length).toBeGreaterThan(5);
  });
});
