import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GapFiller } from '../../../runtime/dsp/gap-fill.js';

function runAll(x: number[], maxFill: number, blocks: number[]): number[] {
  const g = new GapFiller(1, maxFill);
  const out: number[] = [];
  let i = 0;
  for (const b of blocks) {
    out.push(...g.push([x.slice(i, i + b)])[0]!);
    i += b;
  }
  out.push(...g.push([x.slice(i)])[0]!, ...g.flush()[0]!);
  return out;
}

describe('GapFiller', () => {
  it('interpolates short runs linearly and leaves long runs lost', () => {
    const x = [0, 1, NaN, NaN, 4, 5, NaN, NaN, NaN, NaN, 10, 11];
    expect(runAll(x, 3, [12])).toEqual([0, 1, 2, 3, 4, 5, NaN, NaN, NaN, NaN, 10, 11]);
  });

  it('does not invent values before the first good sample or after the last', () => {
    expect(runAll([NaN, 1, 2, NaN], 3, [4])).toEqual([NaN, 1, 2, NaN]);
  });

  it('interpolates across block boundaries exactly as offline', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ min: -100, max: 100, noNaN: true }), fc.constant(NaN)), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 10 }),
        fc.integer({ min: 0, max: 5 }),
        (x, blocks, maxFill) => {
          const offline = runAll(x, maxFill, []);
          const streamed = runAll(x, maxFill, blocks);
          expect(streamed).toEqual(offline);
          expect(streamed).toHaveLength(x.length);
        },
      ),
    );
  });

  it('keeps channels aligned and counts filled samples', () => {
    const g = new GapFiller(2, 4);
    const a = g.push([
      [1, NaN, 3],
      [1, 2, NaN],
    ]);
    expect(a[0]).toHaveLength(a[1]!.length);
    const b = g.push([[4], [4]]);
    expect([...a[0]!, ...b[0]!]).toEqual([1, 2, 3, 4]);
    expect([...a[1]!, ...b[1]!]).toEqual([1, 2, 3, 4]);
    expect(g.filled).toBe(2);
    expect(() => g.push([[1], [1, 2]])).toThrow(/same length/);
  });
});
