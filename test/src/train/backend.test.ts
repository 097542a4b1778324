/**
 * Backend selection (src/train/backend.ts): tfjs-node when it loads, else wasm, else cpu, and the choice is
 * logged. tfjs-node is an optional dependency that cannot install offline, so where it is absent the first
 * step of the order is exercised by its failure; the wasm → cpu step by making the wasm package fail to load.
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';

const tfjsNodeInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();

async function freshInit(prefer?: 'tensorflow' | 'wasm' | 'cpu') {
  vi.resetModules(); // the module remembers its choice; each case starts from none
  const { initBackend } = await import('../../../src/train/backend.js');
  const tf = await import('@tensorflow/tfjs-core');
  const lines: string[] = [];
  const name = await initBackend(prefer, (l) => lines.push(l));
  return { name, lines, active: tf.getBackend() };
}

afterEach(() => {
  vi.doUnmock('@tensorflow/tfjs-backend-wasm');
});

describe('initBackend', () => {
  it('takes tfjs-node when it loads, else wasm, and says which', async () => {
    const r = await freshInit();
    const expected = tfjsNodeInstalled ? 'tensorflow' : 'wasm';
    expect(r.name).toBe(expected);
    expect(r.active).toBe(expected);
    expect(r.lines).toEqual([`tfjs backend: ${expected}`]);
  });

  it.skipIf(tfjsNodeInstalled)('falls back to cpu when neither tfjs-node nor wasm loads', async () => {
    vi.doMock('@tensorflow/tfjs-backend-wasm', () => {
      throw new Error('wasm binary missing');
    });
    const r = await freshInit();
    expect(r.name).toBe('cpu');
    expect(r.active).toBe('cpu');
    expect(r.lines).toEqual(['tfjs backend: cpu']);
  });

  it.skipIf(tfjsNodeInstalled)('a requested backend that does not load is an error naming it', async () => {
    await expect(freshInit('tensorflow')).rejects.toThrow(/no tfjs backend could be initialised \(tried tensorflow\)/);
  });
});
