/**
 * `cmcrd features` on hostile CSV files (issue 24, items 3, 7 and 8): strict numbers, RFC 4180 headers, unique
 * channel names, no silently empty window, --fs checked against the t column, a BOM, and outputs that never
 * replace an existing file (or the input, by any name) without --force.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli-harness.js';
import { parseSignalCsv, splitCsvLine } from '../../../src/cli/commands/features.js';

const dir = mkdtempSync(join(tmpdir(), 'cmcrd-features-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FS = 200;
const N = 3 * FS;
/** Two channels of 3 s at 200 Hz; `cell(i, c)` may override a cell's text. */
function csv(
  name: string,
  header: string,
  cell: (i: number, c: number) => string | undefined = () => undefined,
  t?: (i: number) => string,
): string {
  const rows = [header];
  for (let i = 0; i < N; i++) {
    const v = [0, 1].map((c) => cell(i, c) ?? (10 * Math.sin((2 * Math.PI * (c + 1) * 10 * i) / FS) + c).toFixed(6));
    rows.push(t ? [t(i), ...v].join(',') : v.join(','));
  }
  const p = join(dir, name);
  writeFileSync(p, rows.join('\n') + '\n');
  return p;
}
const features = (...args: string[]) => runCli('features', ...args);

describe('CSV parsing', () => {
  it('numbers follow a decimal grammar: "0x10", "1_000", "Infinity" are refused, naming line and column (Number() read 0x10 as 16)', async () => {
    for (const bad of ['0x10', '0b11', '1_000', 'Infinity', '1e']) {
      const p = csv(`num-${bad}.csv`, 'Fp1,Fp2', (i, c) => (i === 5 && c === 1 ? bad : undefined));
      const r = await features(p, '--fs', '200', '--window', '1');
      expect(r.code, bad).toBe(2);
      expect(r.err).toContain(`num-${bad}.csv:7: column 2 (Fp2) is not a number: "${bad}"`);
    }
    expect(parseSignalCsv('a\n1.5e3\n-.5\n+2.\nnan\n\n', 'x').data[0]).toEqual(Float64Array.from([1500, -0.5, 2, NaN]));
    const p = csv('ok.csv', 'Fp1,Fp2');
    const r = await features(p, '--fs', '0x100', '--window', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--fs must be a positive number, got "0x100"/);
  });

  it('a quoted header (RFC 4180) gives the names without quotes; a quote in a name is written ""', async () => {
    expect(splitCsvLine('"Fp1", "a,b" ,"say ""hi""",plain,', 'x:1')).toEqual(['Fp1', 'a,b', 'say "hi"', 'plain', '']);
    expect(() => splitCsvLine('"open,b', 'x:1')).toThrow(/x:1: a quoted field is not closed on this line/);
    expect(() => splitCsvLine('"a"b,c', 'x:1')).toThrow(/x:1: unexpected "b" after the quoted field "a"/);
    expect(() => splitCsvLine('a"b,c', 'x:1')).toThrow(/x:1: a quote inside the unquoted field "a\\"b"/);
    const p = csv('quoted.csv', '"Fp1","Fp2"');
    const r = await features(p, '--fs', '200', '--window', '1');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).channels).toEqual(['Fp1', 'Fp2']);
  });

  it('a UTF-8 byte-order mark is not part of the first channel name (regression: trim() already dropped it)', async () => {
    const p = csv('bom.csv', '\uFEFFFp1,Fp2');
    const r = await features(p, '--fs', '200', '--window', '1');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).channels).toEqual(['Fp1', 'Fp2']);
  });

  it('duplicate channel names (also differing in case, or by quoting) are refused naming both columns', async () => {
    for (const [header, msg] of [
      ['Fp1,Fp1', /dup-0\.csv:1: column 2 repeats the name "Fp1" of column 1; every column needs its own name/],
      ['Fp1,FP1', /dup-1\.csv:1: column 2 repeats the name "FP1" of column 1 \("Fp1"\)/],
      ['Fp1,"Fp1"', /dup-2\.csv:1: column 2 repeats the name "Fp1" of column 1/],
    ] as const) {
      const p = csv(`dup-${['Fp1,Fp1', 'Fp1,FP1', 'Fp1,"Fp1"'].indexOf(header)}.csv`, header);
      const r = await features(p, '--fs', '200', '--window', '1');
      expect(r.code, header).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });

  it('one 1e308 sample is refused naming line and column, instead of a window silently without features', async () => {
    const p = csv('huge.csv', 'Fp1,Fp2', (i, c) => (i === 250 && c === 0 ? '1e308' : undefined));
    const r = await features(p, '--fs', '200', '--window', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /huge\.csv:252: column 1 \(Fp1\) holds 1e308, beyond ±1e\+12 \(not an EEG sample in any unit; its window's band powers would overflow\)/,
    );
    // A lost sample (empty or NaN) still just marks its window, as documented.
    const lost = csv('lost.csv', 'Fp1,Fp2', (i, c) => (i === 250 && c === 0 ? '' : undefined));
    const ok = await features(lost, '--fs', '200', '--window', '1');
    expect(ok.code, ok.err).toBe(0);
    expect((JSON.parse(ok.out).features as (number | null)[][][])[1]![0]!.every((v) => v === null)).toBe(true);
  });
});

describe('--fs against the t column', () => {
  it('--fs 256 on a CSV whose t column (ms) steps at 200 Hz is refused; --fs 200 is accepted; t in seconds is understood', async () => {
    const ms = csv('t-ms.csv', 't,Fp1,Fp2', undefined, (i) => (1_700_000_000_000 + i * 5 + (i % 3 === 0 ? 0.4 : 0)).toFixed(3));
    const r = await features(ms, '--fs', '256', '--window', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /t-ms\.csv: --fs 256 disagrees with the t column, whose median step of 5 means 200 Hz if t is in ms \(0\.2 Hz if in seconds\); give the rate of the recording \(tolerance 3 %\)/,
    );
    expect((await features(ms, '--fs', '200', '--window', '1')).code).toBe(0);
    expect((await features(ms, '--fs', '201', '--window', '1')).code).toBe(0); // within the tolerance
    const s = csv('t-s.csv', 't,Fp1,Fp2', undefined, (i) => (i / 200).toFixed(4));
    expect((await features(s, '--fs', '200', '--window', '1')).code).toBe(0);
    const bad = await features(s, '--fs', '128', '--window', '1');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--fs 128 disagrees with the t column/);
  });
});

describe('--out never replaces what the user has without --force', () => {
  it('an existing file is refused and kept; --force replaces it; no temporary file is left', async () => {
    const p = csv('rec.csv', 'Fp1,Fp2');
    const out = join(dir, 'f.json');
    writeFileSync(out, 'precious');
    const r = await features(p, '--fs', '200', '--window', '1', '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*f\.json: a file already exists there; choose another file, or add --force to replace it/);
    expect(readFileSync(out, 'utf8')).toBe('precious');
    const f = await features(p, '--fs', '200', '--window', '1', '--out', out, '--force');
    expect(f.code, f.err).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).channels).toEqual(['Fp1', 'Fp2']);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('a hard or symbolic link to the input is the input (device + inode), refused even with --force', async () => {
    const p = csv('linked.csv', 'Fp1,Fp2');
    const before = readFileSync(p, 'utf8');
    const hard = join(dir, 'hard.json');
    linkSync(p, hard);
    const soft = join(dir, 'soft.json');
    symlinkSync(p, soft);
    for (const out of [hard, soft]) {
      const r = await features(p, '--fs', '200', '--window', '1', '--out', out, '--force');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/is the input recording itself \(the same file under another name or link\); writing there would replace it/);
    }
    expect(readFileSync(p, 'utf8')).toBe(before);
  });

  it('a symbolic link to another file is followed with --force: the target is replaced, the link kept', async () => {
    const p = csv('rec2.csv', 'Fp1,Fp2');
    const target = join(dir, 'target.json');
    writeFileSync(target, 'old');
    const link = join(dir, 'link.json');
    symlinkSync(target, link);
    expect((await features(p, '--fs', '200', '--window', '1', '--out', link)).code).toBe(2);
    const r = await features(p, '--fs', '200', '--window', '1', '--out', link, '--force');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(readFileSync(target, 'utf8')).channels).toEqual(['Fp1', 'Fp2']);
    expect(readFileSync(link, 'utf8')).toBe(readFileSync(target, 'utf8'));
  });

  it('a folder as input, or an --out under /proc, fails with exit 2 naming the path', async () => {
    const r = await features(dir, '--fs', '200');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/input .*: is a folder, expected a file/);
    const p = csv('rec3.csv', 'Fp1,Fp2');
    // A child process: the recursive mkdir this replaced never returned on /proc/nope, in a sync loop.
    const proc = spawnSync(
      process.execPath,
      ['bin/cmcrd.js', 'features', p, '--fs', '200', '--window', '1', '--out', '/proc/nope/f.json'],
      { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' },
    );
    expect(proc.signal, 'killed by the timeout: it hangs').toBeNull();
    expect(proc.status).toBe(2);
    expect(proc.stderr).toMatch(/--out \/proc\/nope: cannot create or write this folder/);
  });
});
