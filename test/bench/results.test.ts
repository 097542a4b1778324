/** bench/results.json bookkeeping: `npm run bench -- --only …` refreshes some suites and keeps the others' figures. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mergeResults, parseResultsFile, type ResultsFile } from '../../bench/harness.js';
import { main as benchMain } from '../../bench/main.js';
import { runEntry } from '../cli-harness.js';

/** bench/main.ts in-process, as `npm run bench -- …args` runs it. */
const run = (...args: string[]) => runEntry(benchMain, 'bench/main.ts', ...args);

const meta = { started: '2026-02-02T00:00:00.000Z', node: 'v20', cpus: 2, quick: false };

describe('mergeResults', () => {
  const previous: ResultsFile = {
    started: '2026-01-01T00:00:00.000Z',
    node: 'v20',
    cpus: 2,
    quick: false,
    results: [
      { name: 'dsp.a', value: 1, unit: 'µs', suite: 'dsp', measured: '2025-12-31T00:00:00.000Z' },
      { name: 'train.x', value: 2, unit: 'samples/s', suite: 'train' },
      { name: 'train.legacy', value: 3, unit: 'samples/s' }, // written before results named their suite
      { name: 'features.y', value: 4, unit: 'µs' },
    ],
  };

  it('replaces the results of the suites that ran and keeps the rest with the time they were measured', () => {
    const m = mergeResults(
      previous,
      ['train'],
      [{ name: 'train.x', value: 20, unit: 'samples/s', suite: 'train', measured: meta.started }],
      meta,
    );
    expect(m.started).toBe(meta.started);
    expect(m.results.map((r) => [r.name, r.value, r.measured])).toEqual([
      ['dsp.a', 1, '2025-12-31T00:00:00.000Z'],
      ['train.legacy', 3, previous.started],
      ['features.y', 4, previous.started],
      ['train.x', 20, meta.started],
    ]);
  });

  it('replaces a result without a suite only when a fresh result has its name', () => {
    const m = mergeResults(previous, ['skeleton'], [{ name: 'features.y', value: 40, unit: 'µs', suite: 'skeleton' }], meta);
    expect(m.results.filter((r) => r.name === 'features.y').map((r) => r.value)).toEqual([40]);
    expect(m.results).toHaveLength(4);
  });

  it('with no previous file, is just the fresh results', () => {
    expect(mergeResults(null, ['dsp'], [{ name: 'dsp.a', value: 5, unit: 'µs' }], meta).results).toEqual([
      { name: 'dsp.a', value: 5, unit: 'µs' },
    ]);
  });
});

describe('parseResultsFile', () => {
  it('names the file and what is wrong', () => {
    expect(() => parseResultsFile('{', 'r.json')).toThrow(/r\.json: not JSON/);
    expect(() => parseResultsFile('{"results":3}', 'r.json')).toThrow(/r\.json: no "results" array/);
    expect(() => parseResultsFile('{"results":[{"name":"a","value":"1","unit":"x"}]}', 'r.json')).toThrow(/r\.json: results\[0\] needs/);
  });
});

describe('npm run bench -- --only', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refreshes the chosen suite and keeps the figures of the others', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-bench-'));
    const out = join(dir, 'results.json');
    const old: ResultsFile = {
      ...meta,
      results: [
        { name: 'dsp.seed-de.4ch', value: 7, unit: 'µs/window' },
        { name: 'firmware.open-eeg.decode', value: 1, unit: 'notifications/s' },
      ],
    };
    writeFileSync(out, JSON.stringify(old));
    const r = await run('--only', 'firmware', '--quick', '--out', out);
    expect(r.code).toBe(0);
    const now = parseResultsFile(readFileSync(out, 'utf8'), out);
    expect(now.results.find((x) => x.name === 'dsp.seed-de.4ch')).toMatchObject({ value: 7, measured: meta.started });
    const fw = now.results.filter((x) => x.name === 'firmware.open-eeg.decode');
    expect(fw).toHaveLength(1);
    expect(fw[0]).toMatchObject({ suite: 'firmware', quick: true });
    expect(fw[0]!.value).toBeGreaterThan(1);
    expect(r.err).toMatch(/1 earlier result of other suites kept/);
  });

  it('refuses to overwrite an unreadable results file, before running anything', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-bench-'));
    const out = join(dir, 'results.json');
    writeFileSync(out, 'not json');
    const r = await run('--only', 'firmware', '--quick', '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/results\.json: not JSON/);
    expect(r.err).not.toMatch(/bench: firmware/);
    expect(readFileSync(out, 'utf8')).toBe('not json');
  });

  it('names the unknown suite; a repeated one runs once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-bench-'));
    const out = join(dir, 'results.json');
    const bad = await run('--only', 'firmware,nope,firmware', '--quick', '--out', out);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown suite in --only: nope \(have: /);
    const twice = await run('--only', 'firmware,firmware', '--quick', '--out', out);
    expect(twice.code).toBe(0);
    expect(twice.err.match(/bench: firmware/g)).toHaveLength(1);
  });
});
