/**
 * Issue 24 (items 2, 3, 7) for train, compare and export: a run never replaces an earlier one without --resume or
 * --force; export never replaces a file without --force; bad output paths fail at once (no hang on /proc); a loss
 * that becomes non-finite stops training with an error naming the method, fold and network.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../cli-harness.js';
import { synthesize } from '../../../../src/datasets/index.js';
import { freeFolder } from '../../../../src/cli/commands/demo.js';

let dir: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-outputs-'));
  data = join(dir, 'data');
  synthesize({ layout: 'seed-iv', out: data, subjects: 2, sessions: 1, windowsPerTrial: 2 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const train = (out: string, ...extra: string[]) =>
  runCli(
    'train',
    '--root',
    data,
    '--dataset',
    'synthetic',
    '--method',
    'eeg-only',
    '--folds',
    's1',
    '--seeds',
    '1',
    '--epochs',
    '1',
    '--warmup',
    '0',
    '--out',
    out,
    ...extra,
  );

describe('train and compare never replace an earlier run without --resume or --force', () => {
  it('a second train into the same --out is refused at once, naming the folder; --force starts afresh, --resume continues', async () => {
    const out = join(dir, 'run');
    const first = await train(out);
    expect(first.code, first.err).toBe(0);
    const before = readFileSync(join(out, 'results.json'), 'utf8');
    const again = await train(out);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(
      /--out .*run \(checkpoints, results\.csv, results\.json, results\.md\): the folder is not empty, and writing there would replace what is in it\. Choose a new or empty folder, or add --resume to continue the run in it, or add --force/,
    );
    expect(again.err).not.toMatch(/tfjs backend|fold s1/); // before loading the backend or training
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(before);
    const resumed = await train(out, '--resume');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/kept from the earlier run/);
    const forced = await train(out, '--force');
    expect(forced.code, forced.err).toBe(0);
    expect(forced.err).toMatch(/note: replacing the earlier .*results\.json/);
    // Any non-empty folder counts, not only an earlier run; an empty one is fine.
    const other = join(dir, 'has-notes');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    expect((await train(other)).code).toBe(2);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect((await train(empty)).code).toBe(0);
  });

  it('compare refuses a non-empty --out the same way', async () => {
    const out = join(dir, 'cmp');
    mkdirSync(out);
    writeFileSync(join(out, 'comparison.md'), 'an earlier table');
    const r = await runCli(
      'compare',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--methods',
      'eeg-only',
      '--folds',
      's1',
      '--seeds',
      '1',
      '--epochs',
      '1',
      '--out',
      out,
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*cmp \(comparison\.md\): the folder is not empty/);
    expect(readFileSync(join(out, 'comparison.md'), 'utf8')).toBe('an earlier table');
  });
});

describe('demo never writes into an earlier demo', () => {
  it('an explicit non-empty --out is refused before any training; the default folder moves on to <dir>-2, -3, …', async () => {
    const out = join(dir, 'demo-out');
    mkdirSync(out);
    writeFileSync(join(out, 'student.onnx'), 'an earlier model');
    const r = await runCli('demo', '--out', out, '--epochs', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*demo-out \(student\.onnx\): the folder is not empty, and writing there would replace what is in it/);
    expect(r.err).not.toMatch(/\[1\/5\]/);
    expect(readFileSync(join(out, 'student.onnx'), 'utf8')).toBe('an earlier model');
    const base = join(dir, 'runs-demo');
    expect(freeFolder(base)).toBe(base); // missing
    mkdirSync(base);
    expect(freeFolder(base)).toBe(base); // empty
    writeFileSync(join(base, 'demo-report.json'), '{}');
    expect(freeFolder(base)).toBe(`${base}-2`);
    mkdirSync(`${base}-2`);
    writeFileSync(join(`${base}-2`, 'x'), '');
    writeFileSync(`${base}-3`, 'a file, not a folder');
    expect(freeFolder(base)).toBe(`${base}-4`);
  });
});

describe('a loss that becomes non-finite stops training', () => {
  it('with an error naming method, network, fold, seed, model and epoch (exit 2), instead of chance accuracy and exit 0', async () => {
    const out = join(dir, 'diverge');
    const r = await train(out, '--lr', '1e30');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /cmcrd: eeg-only · mlp, fold s1 seed 1, student: the training loss became (NaN|-?Infinity) at epoch 1 \(batch \d+ of \d+\); training stopped/,
    );
    expect(existsSync(join(out, 'results.json'))).toBe(false);
  });
});

describe('export: existing files, bad paths', () => {
  let ck = '';
  beforeAll(async () => {
    const out = join(dir, 'for-export');
    const r = await train(out);
    expect(r.code, r.err).toBe(0);
    ck = join(out, 'checkpoints', readdirSync(join(out, 'checkpoints'))[0]!);
  });

  it('--out onto an existing file is refused (file kept); --force replaces it atomically', async () => {
    const target = join(dir, 'model.onnx');
    writeFileSync(target, 'precious');
    const r = await runCli('export', ck, '--out', target);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*model\.onnx: a file already exists there; choose another file, or add --force to replace it/);
    expect(readFileSync(target, 'utf8')).toBe('precious');
    const f = await runCli('export', ck, '--out', target, '--force');
    expect(f.code, f.err).toBe(0);
    expect(readFileSync(target).subarray(0, 2)).not.toEqual(Buffer.from('pr'));
    expect(readdirSync(dir).filter((x) => x.endsWith('.partial'))).toEqual([]);
    // The default output (checkpoint path with .onnx) is held to the same rule.
    expect((await runCli('export', ck)).code).toBe(0);
    const again = await runCli('export', ck);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/a file already exists there/);
  });

  it('--out through a symbolic link to the checkpoint is refused even with --force (compared by identity)', async () => {
    const link = join(dir, 'ck-link.onnx');
    symlinkSync(ck, link);
    const before = readFileSync(ck, 'utf8');
    const r = await runCli('export', ck, '--out', link, '--force');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*ck-link\.onnx is the checkpoint itself \(the same file under another name or link\)/);
    expect(readFileSync(ck, 'utf8')).toBe(before);
  });

  it('--out /proc/nope/x.onnx fails at once (it hung), and a folder as the checkpoint is named (exit 2)', async () => {
    // In a child process: mkdirSync(…, { recursive: true }) on /proc/nope never returned, in a sync loop.
    const p = spawnSync(process.execPath, ['bin/cmcrd.js', 'export', ck, '--out', '/proc/nope/x.onnx'], {
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    expect(p.signal, 'killed by the timeout: it hangs').toBeNull();
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/--out \/proc\/nope: cannot create or write this folder \(its parent folder does not accept new folders\)/);
    const d = await runCli('export', dir);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/checkpoint .*: is a folder, expected a file/);
    const missing = await runCli('export', join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/checkpoint .*nope\.json: no such file/);
  });
});
