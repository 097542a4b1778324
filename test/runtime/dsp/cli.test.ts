/** `cmcrd features` end to end: spawn `node bin/cmcrd.js features …` on small CSV files. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCaptureFile } from '../../../src/cli/commands/decode.js';
import { recordCapture } from '../../../src/cli/commands/record.js';
import { fixture } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'cmcrd-features-'));

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', ['bin/cmcrd.js', 'features', ...args], { cwd: root, maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function writeCsv(name: string, header: string[], cols: number[][]): string {
  const rows = [header.join(',')];
  for (let i = 0; i < cols[0]!.length; i++) rows.push(cols.map((c) => String(c[i])).join(','));
  const p = join(dir, name);
  writeFileSync(p, rows.join('\n') + '\n');
  return p;
}

interface FeaturesFx {
  x: number[][];
  cases: { name: string; features: number[][][] }[];
}

describe('cmcrd features', () => {
  const fx = fixture<FeaturesFx>('features.json');
  let csv = '';
  beforeAll(() => {
    csv = writeCsv('rec.csv', ['Fp1', 'Fp2'], fx.x);
  });

  it('--format json gives [window][channel][band] equal to the scipy reference', async () => {
    const r = await cli(csv, '--fs', '200', '--window', '4', '--method', 'seed-de');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { channels: string[]; bands: string[]; features: number[][][] };
    expect(out.channels).toEqual(['Fp1', 'Fp2']);
    expect(out.bands).toEqual(['delta', 'theta', 'alpha', 'beta', 'gamma']);
    const ref = fx.cases.find((c) => c.name === 'seed-de 4s')!.features;
    expect(out.features.length).toBe(ref.length);
    out.features.forEach((w, i) =>
      w.forEach((ch, c) => ch.forEach((v, b) => expect(Math.abs(v - ref[i]![c]![b]!)).toBeLessThan(1e-10 * Math.abs(ref[i]![c]![b]!)))),
    );
  });

  it('--format csv --out file, welch-rel with 2-s hop and LDS', async () => {
    const out = join(dir, 'f.csv');
    const r = await cli(csv, '--fs', '200', '--hop', '2', '--method', 'welch-rel', '--smooth', 'lds', '--format', 'csv', '--out', out);
    expect(r.code).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('window,t_start,channel,delta,theta,alpha,beta,gamma');
    expect(lines.length).toBe(1 + 9 * 2); // 20 s, 4-s windows every 2 s → 9 windows × 2 channels
    expect(lines[3]!.startsWith('1,2,Fp1,')).toBe(true);
  });

  it('--resample with gauss-de and moving average; a band above Nyquist is refused', async () => {
    const r = await cli(csv, '--fs', '200', '--resample', '128', '--window', '2', '--method', 'gauss-de', '--smooth', 'moving-average');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { fs: number; features: number[][][] };
    expect(out.fs).toBe(128);
    expect(out.features.length).toBe(10);
    expect(out.features.flat(2).every(Number.isFinite)).toBe(true);
    // At 100 Hz the gamma band (31–50 Hz) reaches Nyquist: the band-pass design must refuse it.
    const bad = await cli(csv, '--fs', '200', '--resample', '100', '--method', 'gauss-de');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid options: .*Nyquist \(50 Hz\)/);
  });

  it('bad input names the line or option (exit 2)', async () => {
    const ragged = join(dir, 'ragged.csv');
    writeFileSync(ragged, 'a,b\n1,2\n3\n');
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'a,b\n1,2\n3,x4\n');
    const cases: [string[], RegExp][] = [
      [[ragged, '--fs', '200'], /ragged\.csv:3: expected 2 values/],
      [[bad, '--fs', '200'], /bad\.csv:3: column 2 \(b\) is not a number: "x4"/],
      [[csv], /--fs <Hz> is required/],
      [[csv, '--fs', '200', '--window', '30'], /shorter than --window 30 s/],
      [[csv, '--fs', '200', '--method', 'fft'], /--method must be one of/],
      [[csv, '--fs', '200', '--nfft', '1000'], /invalid options: nfft must be a power of two/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((r, i) => {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    });
  });

  it('reads the CSV of `cmcrd decode --format csv` as is: t and sample are not channels, an empty cell is a lost sample like NaN', async () => {
    // A lossy virtual Muse → capture → decode's CSV, exactly as a user would produce it.
    const cap = join(dir, 'cap.jsonl');
    await recordCapture({ device: 'sim:muse?emotion=happy&drop=0.01&seed=5', out: cap, seconds: 13, quiet: true });
    const rows: string[] = [];
    await decodeCaptureFile(cap, 'csv', (l) => rows.push(l));
    expect(rows[0]).toBe('t,sample,TP9,AF7,AF8,TP10');
    expect(rows.some((r) => r.split(',').slice(2).includes(''))).toBe(true); // the link did lose samples
    const decoded = join(dir, 'decoded.csv');
    writeFileSync(decoded, rows.join('\n') + '\n');
    // The same samples in the plain format (channels only, "NaN" where lost): both must give the same features.
    const plain = join(dir, 'plain.csv');
    writeFileSync(
      plain,
      rows
        .map((r) =>
          r
            .split(',')
            .slice(2)
            .map((c) => (c === '' ? 'NaN' : c))
            .join(','),
        )
        .join('\n') + '\n',
    );
    const [a, b] = await Promise.all([cli(decoded, '--fs', '256', '--window', '2'), cli(plain, '--fs', '256', '--window', '2')]);
    expect(a.stderr).not.toMatch(/cmcrd:/);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const out = JSON.parse(a.stdout) as { channels: string[]; features: (number | null)[][][] };
    expect(out.channels).toEqual(['TP9', 'AF7', 'AF8', 'TP10']);
    expect(out.features.length).toBe(Math.floor((rows.length - 1) / 512));
    // Gap policy of runtime/dsp kept: a window with a lost sample has no features for that channel, the rest do.
    const perChannel = out.features.flat();
    expect(perChannel.some((ch) => ch.every((v) => v === null))).toBe(true);
    expect(perChannel.some((ch) => ch.every((v) => typeof v === 'number' && Number.isFinite(v)))).toBe(true);

    const only = join(dir, 'only-index.csv');
    writeFileSync(only, 't,sample\n0,0\n');
    const none = await cli(only, '--fs', '256');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/only-index\.csv:1: no channel columns/);
  });

  it('an unwritable --out, or --out naming the input, fails at once with exit 2 naming the path (input kept)', async () => {
    const blocker = join(dir, 'not-a-folder');
    writeFileSync(blocker, 'x');
    const bad = await cli(csv, '--fs', '200', '--out', join(blocker, 'f.json'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cmcrd: --out .*not-a-folder.*a file is in the way/);
    expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(bad.stderr).not.toMatch(/features \d+\/\d+/); // no work was done first

    const before = readFileSync(csv, 'utf8');
    const self = await cli(csv, '--fs', '200', '--out', csv);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/--out .*rec\.csv is the input recording itself/);
    expect(readFileSync(csv, 'utf8')).toBe(before);

    const nested = join(dir, 'new-folder', 'f.json');
    const ok = await cli(csv, '--fs', '200', '--out', nested);
    expect(ok.code).toBe(0);
    expect(existsSync(nested)).toBe(true);
  });
});
