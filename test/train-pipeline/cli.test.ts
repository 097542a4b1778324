import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { synthesize } from '../../src/datasets/index.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';

let dir: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-cli-'));
  data = join(dir, 'data');
  synthesize({ layout: 'seed-iv', out: data, subjects: 3, sessions: 1, windowsPerTrial: 2 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cmcrd(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/cmcrd.js', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function inProcess(args: string[]): Promise<{ code: number; stderr: string }> {
  const { main } = await import('../../src/cli/main.js');
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const before = process.exitCode;
  try {
    await main(['node', 'cmcrd', ...args]);
    return { code: Number(process.exitCode ?? 0), stderr };
  } finally {
    spy.mockRestore();
    process.exitCode = before;
  }
}

const common = ['--dataset', 'synthetic', '--protocol', 'loso', '--folds', 's1,s2', '--seeds', '1', '--epochs', '2', '--warmup', '1', '--negatives', '16'];

describe('cmcrd train / compare', () => {
  it('train writes results.json/csv/md, a student checkpoint and the cached teacher', () => {
    const out = join(dir, 'run');
    const r = cmcrd(['train', '--root', data, '--method', 'cmcrd', '--arch', 'mlp', '--montage', 'muse', ...common, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    for (const k of ['accuracy', 'bca']) {
      expect(res.summary[k].mean).toBeGreaterThanOrEqual(0);
      expect(res.summary[k].mean).toBeLessThanOrEqual(1);
      expect(typeof res.summary[k].std).toBe('number');
    }
    expect(res.folds.map((f: { fold: string }) => f.fold)).toEqual(['s1', 's2']);
    expect(res.folds[0].confusion).toHaveLength(4);
    const mean = (res.folds[0].accuracy + res.folds[1].accuracy) / 2;
    expect(res.summary.accuracy.mean).toBeCloseTo(mean, 12);
    expect(res.config).toMatchObject({ method: 'cmcrd', arch: 'mlp', protocol: 'loso', montage: 'muse', channels: 4 });
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv[0]).toMatch(/^fold,seed,/);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(/\| accuracy \| \d+\.\d\d ± \d+\.\d\d \|/);
    const ck = readCheckpoint(join(out, 'checkpoints', 'cmcrd-mlp-s1-seed1.json'));
    expect(ck.montage).toEqual({ device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'], capChannels: expect.any(Array) });
    expect(ck.arch.input).toEqual({ channels: 4, bands: 5 });
    expect(r.stderr).toMatch(/tfjs backend: /);
    // The MLP trains on onnxruntime-node by default (wasm backend here), and the results say so.
    expect(r.stderr).toMatch(/training steps: MLP on onnxruntime-node \d+\.\d+\.\d+ \(cpu, 1 thread\), other networks on tfjs wasm/);
    expect(res.config.engines).toEqual([expect.stringMatching(/^onnxruntime-node /)]);
    expect(r.stderr).toMatch(/student 2\/2 loss=[\d.]+ acc=[\d.]+ val=[\d.]+/);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).completed).toBe(2);
  });

  it('compare writes the methods × networks table and an SVG chart with error bars', () => {
    const out = join(dir, 'cmp');
    const r = cmcrd(['compare', '--root', data, '--methods', 'eeg-only,eye-only,kd', '--archs', 'mlp,eegnet', '--reference', 'kd', ...common, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const t = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8'));
    expect(t.methods).toEqual(['eeg-only', 'eye-only', 'kd']);
    expect(t.archs).toEqual(['mlp', 'eegnet']);
    expect(t.cells).toHaveLength(6);
    expect(t.paired.map((p: { method: string; arch: string }) => `${p.method}-${p.arch}`)).toEqual(['eeg-only-mlp', 'eye-only-mlp', 'eeg-only-eegnet', 'eye-only-eegnet']);
    const md = readFileSync(join(out, 'comparison.md'), 'utf8');
    expect(md).toMatch(/\| method \| mlp \| eegnet \| mean \|/);
    expect(md.split('\n').filter((l) => l.startsWith('| kd |'))).toHaveLength(1);
    expect(md).toMatch(/## Paired differences: kd − method/);
    const svg = readFileSync(join(out, 'comparison.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect((svg.match(/<rect x="\d/g) ?? []).length).toBe(6 + 2); // 6 bars + 2 legend swatches
    expect((svg.match(/<path d="M/g) ?? []).length).toBe(6); // error bars
    for (const cell of ['kd-mlp', 'eeg-only-eegnet']) expect(existsSync(join(out, 'runs', cell, 'results.json'))).toBe(true);
    // one teacher per fold, seed and network, shared by eye-only and kd
    expect(r.stderr.match(/teacher: memory/g)?.length).toBe(4);
  });

  it('names the option and value of bad input', async () => {
    const bad = [
      [['--method', 'foo'], /--method must be one of .*got "foo"/],
      [['--arch', 'resnet'], /--arch must be one of .*got "resnet"/],
      [['--protocol', 'nope'], /--protocol must be one of .*got "nope"/],
      [['--epochs', '0'], /--epochs must be an integer ≥ 1, got "0"/],
      [['--montage', 'helmet'], /--montage must be muse or custom:/],
      [['--folds', 's9'], /unknown fold id\(s\) s9/],
      [['--engine', 'torch'], /--engine must be one of auto, tfjs.*got "torch"/],
    ] as const;
    // In-process (main() as bin/cmcrd.js calls it) to keep this fast; the two tests above spawn the real CLI.
    for (const [args, msg] of bad) {
      const r = await inProcess(['train', '--root', data, '--dataset', 'synthetic', '--seeds', '1', '--epochs', '1', '--out', join(dir, 'bad'), ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    const ref = await inProcess(['compare', '--root', data, '--dataset', 'synthetic', '--methods', 'eeg-only,kd', '--reference', 'crd', '--out', join(dir, 'bad')]);
    expect(ref.code).toBe(2);
    expect(ref.stderr).toMatch(/--reference crd is not one of --methods \(eeg-only, kd\)/);
    const r = await inProcess(['train', '--root', join(dir, 'missing'), '--dataset', 'synthetic', '--out', join(dir, 'bad')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--root .*missing/);
  });
});
