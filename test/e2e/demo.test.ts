/**
 * The whole walking-skeleton path on a short run, through the real CLI: synthetic data → DE features →
 * teacher / EEG-only / KD training → ONNX export with parity → virtual Muse closed loop.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');

/** Smallest k with P(X ≥ k) < alpha for X ~ Binomial(n, p). */
function binomialCritical(n: number, p: number, alpha: number): number {
  const pmf = [Math.pow(1 - p, n)];
  for (let k = 1; k <= n; k++) pmf.push((pmf[k - 1]! * (n - k + 1) * p) / (k * (1 - p)));
  let tail = 0;
  for (let k = n; k >= 0; k--) {
    if (tail + pmf[k]! >= alpha) return k + 1;
    tail += pmf[k]!;
  }
  return 0;
}

describe('cmcrd demo (short run)', () => {
  it('runs end to end, prints predictions and a summary, and beats chance in the closed loop', () => {
    const out = mkdtempSync(join(tmpdir(), 'cmcrd-demo-'));
    const r = spawnSync(
      process.execPath,
      [
        'bin/cmcrd.js',
        'demo',
        '--out',
        out,
        '--subjects',
        '6',
        '--windows-per-trial',
        '4',
        '--epochs',
        '12',
        '--segment',
        '16',
        '--cycles',
        '4',
        '--speed',
        '64',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    expect(r.stderr).toMatch(/tfjs backend: (wasm|tensorflow|cpu)/);
    expect(r.stderr).toMatch(/training steps: (MLP and DGCNN on onnxruntime-node|tfjs)/);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.at(-1) as {
      summary: boolean;
      closedLoop: { accuracy: number; correct: number; scoredWindows: number; decodeErrors: number; lostSamples: number };
      onnx: { maxProbabilityDiff: number };
      heldOutAccuracy: Record<string, number>;
    };
    expect(summary.summary).toBe(true);
    const preds = lines.slice(0, -1) as { predicted: string; truth: string | null; probabilities: Record<string, number> }[];
    // 4 cycles × 4 emotions × 16 s = 256 s of signal = 64 windows of 4 s.
    expect(preds.length).toBe(64);
    for (const p of preds) {
      expect(['neutral', 'sad', 'fear', 'happy']).toContain(p.predicted);
      expect(Object.values(p.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    }
    expect(summary.closedLoop.scoredWindows).toBe(64);
    expect(summary.closedLoop.decodeErrors).toBe(0);
    expect(summary.closedLoop.lostSamples).toBe(0);
    expect(summary.onnx.maxProbabilityDiff).toBeLessThan(1e-4);
    expect(summary.heldOutAccuracy.teacher).toBeGreaterThan(0.4);
    // Better than chance (0.25) by a one-sided binomial test at the 1 % level: guessing reaches this count of correct
    // windows less than 1 % of the time. (A fixed accuracy bar on a few windows of one unseen subject measures luck.)
    expect(summary.closedLoop.accuracy).toBeCloseTo(summary.closedLoop.correct / 64, 12);
    expect(summary.closedLoop.correct).toBeGreaterThanOrEqual(binomialCritical(summary.closedLoop.scoredWindows, 0.25, 0.01));
    for (const f of ['teacher.json', 'student-kd.json', 'student-eeg-only.json', 'student.onnx', 'demo-report.json'])
      expect(existsSync(join(out, f))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'demo-report.json'), 'utf8')).closedLoop.accuracy).toBe(summary.closedLoop.accuracy);

    // The same run with the virtual headband 1000× faster than real time: the loop must stop on the schedule's
    // last window, not on wall-clock timing, so it scores the same windows with the same predictions.
    const fast = spawnSync(
      process.execPath,
      [
        'bin/cmcrd.js',
        'demo',
        '--out',
        mkdtempSync(join(tmpdir(), 'cmcrd-demo-')),
        '--subjects',
        '6',
        '--windows-per-trial',
        '4',
        '--epochs',
        '12',
        '--segment',
        '16',
        '--cycles',
        '4',
        '--speed',
        '1000',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    expect(fast.status, fast.stderr).toBe(0);
    const fastLines = fast.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const pick = (ls: Record<string, unknown>[]) => ls.slice(0, -1).map((p) => [p.window, p.predicted, p.truth]);
    expect(pick(fastLines)).toEqual(pick(lines));
    expect((fastLines.at(-1) as typeof summary).closedLoop).toEqual(summary.closedLoop);
  });

  it('runs the same journey with EEGNet-mini and DGCNN students (export parity, closed loop above chance)', () => {
    for (const arch of ['eegnet', 'dgcnn']) {
      const out = mkdtempSync(join(tmpdir(), `cmcrd-demo-${arch}-`));
      const r = spawnSync(
        process.execPath,
        [
          'bin/cmcrd.js',
          'demo',
          '--arch',
          arch,
          '--out',
          out,
          '--subjects',
          '6',
          '--windows-per-trial',
          '4',
          '--epochs',
          '12',
          '--segment',
          '16',
          '--cycles',
          '4',
          '--speed',
          '1000',
        ],
        {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 240_000,
        },
      );
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
        arch: string;
        closedLoop: { correct: number; scoredWindows: number; decodeErrors: number };
        onnx: { maxProbabilityDiff: number };
      };
      expect(summary.arch).toBe(arch);
      expect(summary.onnx.maxProbabilityDiff, arch).toBeLessThan(1e-4);
      expect(summary.closedLoop.scoredWindows).toBe(64);
      expect(summary.closedLoop.decodeErrors).toBe(0);
      expect(summary.closedLoop.correct, arch).toBeGreaterThanOrEqual(binomialCritical(64, 0.25, 0.01));
      // The exported model is the network asked for: its card says so, and the checkpoint holds that network's weights.
      expect(readFileSync(join(out, 'student.onnx')).includes(Buffer.from(`cmcrd-eeg-${arch}`))).toBe(true);
      const ck = JSON.parse(readFileSync(join(out, 'student-kd.json'), 'utf8')) as {
        arch: { arch: string };
        weights: Record<string, unknown>;
      };
      expect(ck.arch.arch).toBe(arch);
      expect(Object.keys(ck.weights)).toContain(arch === 'dgcnn' ? 'adj' : 'sep_pw.weight');
    }
    const bad = spawnSync(process.execPath, ['bin/cmcrd.js', 'demo', '--arch', 'resnet'], { cwd: ROOT, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--arch must be one of mlp, eegnet, dgcnn, got "resnet"/);
    // Two demo runs, each allowed the 240 s its spawn is (the default 120 s per test is for one).
  }, 480_000);

  it('rejects a bad option with a clear message and exit code 2', () => {
    const r = spawnSync(process.execPath, ['bin/cmcrd.js', 'demo', '--subjects', 'many'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--subjects must be an integer ≥ 3, got "many"/);
  });

  it('rejects fractional counts (like train) and an unwritable --out before any training', () => {
    const blocker = join(mkdtempSync(join(tmpdir(), 'cmcrd-demo-bad-')), 'demo.out');
    writeFileSync(blocker, 'not a folder');
    const cases: [string[], RegExp][] = [
      [['--epochs', '2.5'], /--epochs must be an integer ≥ 1, got "2\.5"/],
      [['--subjects', '3.9'], /--subjects must be an integer ≥ 3, got "3\.9"/],
      [['--out', join(blocker, 'x')], /--out .*demo\.out.*a file is in the way/],
    ];
    for (const [args, msg] of cases) {
      const r = spawnSync(process.execPath, ['bin/cmcrd.js', 'demo', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at |backend|\[1\/5\]/); // no stack trace, nothing started
    }
    expect(readFileSync(blocker, 'utf8')).toBe('not a folder');
  });

  it('prints help for the CLI', () => {
    const r = spawnSync(process.execPath, ['bin/cmcrd.js', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: cmcrd/);
    expect(r.stdout).toMatch(/demo/);
  });
});
