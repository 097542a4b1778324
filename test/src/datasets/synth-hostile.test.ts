/**
 * `cmcrd dataset synth` can be stopped and is bounded (issue 24, item 4): counts have ranges, the size is stated
 * before anything is written and needs --force above 1 GiB, SIGINT / SIGTERM stop it between trials, and a folder
 * left by a run that did not finish says so (SYNTHETIC.json "partial") and is refused by the loaders.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli-harness.js';
import { estimateSynth, loadDataset, synthesize } from '../../../src/datasets/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cmcrd-synth-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Start a long synth run; resolves once it has reported its first trial. */
function startLong(out: string): Promise<{ child: ChildProcess; err: () => string }> {
  const child = spawn(
    process.execPath,
    [
      'bin/cmcrd.js',
      'dataset',
      'synth',
      '--layout',
      'seed-iv',
      '--subjects',
      '50',
      '--sessions',
      '3',
      '--windows-per-trial',
      '20',
      '--out',
      out,
    ],
    { cwd: root },
  );
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += String(d);
      if (/synthesising 1\//.test(err)) resolve({ child, err: () => err });
    });
    child.on('exit', () => reject(new Error(`exited before the first trial: ${err}`)));
  });
}

function exitOf(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    });
  });
}

describe('counts are bounded and the size is stated first', () => {
  it('--subjects 1e9 is refused at once (it was accepted and wrote for hours)', () => {
    const out = join(dir, 'huge');
    const r = spawnSync(process.execPath, ['bin/cmcrd.js', 'dataset', 'synth', '--layout', 'seed-iv', '--subjects', '1e9', '--out', out], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
    expect(r.signal, 'killed by the timeout: it ran on').toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--subjects must be an integer 1–1000, got "1e9"/);
    expect(existsSync(out)).toBe(false);
  });

  it('other counts: out of range, or not plain decimal digits', async () => {
    for (const [args, msg] of [
      [['--subjects', '1001'], /--subjects must be an integer 1–1000, got "1001"/],
      [['--windows-per-trial', '0x10'], /--windows-per-trial must be an integer 1–1000, got "0x10"/],
      [['--sessions', '4'], /--sessions must be an integer 1–3, got "4"/],
      [['--seed', '-1'], /--seed must be an integer 0–4294967295, got "-1"/],
    ] as const) {
      const r = await runCli('dataset', 'synth', '--layout', 'seed-v', '--out', join(dir, 'bad'), ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
    expect(() => synthesize({ layout: 'seed-v', out: join(dir, 'bad'), subjects: 5000 })).toThrow(
      /^subjects must be an integer 1–1000, got 5000$/,
    ); // a library error names the field; the CLI prints the flag
    // Output paths: a file in the way, a file system that refuses new folders (exit 2, not a stack trace).
    writeFileSync(join(dir, 'a-file'), 'x');
    for (const [out, msg] of [
      [join(dir, 'a-file', 'ds'), /--out .*a-file[\\/]ds: a file is in the way/],
      ['/proc/nope/ds', /--out \/proc\/nope\/ds: cannot create this folder \(its parent folder does not accept new folders\)/],
    ] as const) {
      const r = await runCli('dataset', 'synth', '--layout', 'seed-v', '--out', out);
      expect(r.code, out).toBe(2);
      expect(r.err).toMatch(msg);
    }
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  });

  it('the estimate is printed before writing; above 1 GiB --force is needed, and nothing is written without it', async () => {
    const out = join(dir, 'big');
    const r = await runCli('dataset', 'synth', '--layout', 'seed-iv', '--full', '--raw', '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/dataset synth: 1080 trials, \d+ windows, 135 files, at most about 1\d\.\d GiB/);
    expect(r.err).toMatch(
      /the dataset would take about 1\d\.\d GiB \(more than 1\.0 GiB\); add --force to write it, or lower --subjects \/ --windows-per-trial or drop --raw; nothing written/,
    );
    expect(existsSync(out)).toBe(false);
    // The estimate is an upper bound of what is written, and not far above it.
    const small = join(dir, 'small');
    const est = estimateSynth({ layout: 'seed-v', subjects: 2, sessions: 1, windowsPerTrial: 4, raw: false });
    const res = synthesize({ layout: 'seed-v', out: small, subjects: 2, sessions: 1, windowsPerTrial: 4 });
    const written = res.files.reduce((s, f) => s + readFileSync(f).length, 0);
    expect(est.files).toBe(res.files.length);
    expect(est.bytes).toBeGreaterThanOrEqual(written);
    expect(est.bytes).toBeLessThan(1.5 * written);
  });
});

describe('interruption and partial folders', () => {
  it('SIGINT stops a long run between trials (exit 130); the folder says it is partial and stopped, and still loads', async () => {
    const out = join(dir, 'sigint');
    const { child, err } = await startLong(out);
    // Once the first session file is written (a stop discards the session in progress, as it is one file).
    const first = join(out, 'eye_feature_smooth', '1', '1_20180311.mat');
    for (let t0 = Date.now(); !existsSync(first) && Date.now() - t0 < 60_000;) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const { code } = await exitOf(child, 60_000);
    expect(code, err()).toBe(130);
    expect(err()).toMatch(/interrupt: finishing the current step/);
    expect(err()).toMatch(
      /interrupted: .*sigint holds a partial dataset \(\d+ of 3600 trials; its SYNTHETIC\.json says "partial": true, "stopped": true\)/,
    );
    const m = JSON.parse(readFileSync(join(out, 'SYNTHETIC.json'), 'utf8'));
    expect(m).toMatchObject({ partial: true, stopped: true, subjects: 50 });
    // What a clean stop leaves is complete files for fewer subjects: loadable (sessions finished so far).
    expect(loadDataset('synthetic', out, { sessions: [1] }).trials.length).toBeGreaterThan(0);
  });

  it('SIGTERM stops it too (exit 143)', async () => {
    const { child, err } = await startLong(join(dir, 'sigterm'));
    child.kill('SIGTERM');
    const { code } = await exitOf(child, 60_000);
    expect(code, err()).toBe(143);
  });

  it('a run killed outright leaves SYNTHETIC.json "partial": true, and the loaders refuse the folder with a clear message', async () => {
    const out = join(dir, 'killed');
    const { child } = await startLong(out);
    child.kill('SIGKILL');
    await exitOf(child, 60_000);
    expect(JSON.parse(readFileSync(join(out, 'SYNTHETIC.json'), 'utf8')).partial).toBe(true);
    expect(() => loadDataset('synthetic', out)).toThrow(
      /killed[\\/]SYNTHETIC\.json \[partial\]: the synthetic dataset is partial: the run writing it was killed, or is still running/,
    );
    const r = await runCli('dataset', 'info', '--dataset', 'synthetic', '--root', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/the synthetic dataset is partial/);
  });
});
