/**
 * `--json` on train, compare, export and record: stdout holds exactly one JSON document (progress and notes go to
 * stderr) naming the files written and the key figures, which must agree with those files.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../../src/datasets/index.js';
import { parseModelCard } from '../../../runtime/model-card.js';
import { runCli } from '../../cli-harness.js';

let dir: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-json-'));
  data = join(dir, 'data');
  synthesize({ layout: 'seed-iv', out: data, subjects: 3, sessions: 1, windowsPerTrial: 2 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The one JSON document on stdout (and nothing else there). */
function document(out: string): Record<string, unknown> {
  const lines = out.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

const quick = ['--dataset', 'synthetic', '--seeds', '1', '--epochs', '1', '--warmup', '0', '--negatives', '8'];

describe('--json', () => {
  it('train: the reports, the student checkpoints, the teacher cache and the summary of results.json', async () => {
    const out = join(dir, 'train');
    const r = await runCli('train', '--root', data, ...quick, '--method', 'kd', '--folds', 's1,s2', '--out', out, '--json');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/kd · mlp: accuracy/); // the human summary stays on stderr
    const doc = document(r.out) as {
      command: string;
      out: string;
      files: string[];
      checkpoints: string[];
      teacherCache: string;
      method: string;
      arch: string;
      protocol: string;
      summary: unknown;
      teacherSummary: unknown;
      completed: number;
      planned: number;
      interrupted: boolean;
      folds: { fold: string; seed: number; accuracy: number }[];
    };
    expect(doc).toMatchObject({
      command: 'train',
      out,
      method: 'kd',
      arch: 'mlp',
      protocol: 'loso',
      completed: 2,
      planned: 2,
      interrupted: false,
    });
    expect(doc.files).toEqual(['results.json', 'results.csv', 'results.md'].map((f) => join(out, f)));
    for (const f of [...doc.files, ...doc.checkpoints]) expect(existsSync(f), f).toBe(true);
    expect(doc.checkpoints.sort()).toEqual(
      readdirSync(join(out, 'checkpoints'))
        .map((f) => join(out, 'checkpoints', f))
        .sort(),
    );
    expect(doc.checkpoints).toHaveLength(2);
    expect(doc.teacherCache).toBe(join(out, 'teachers'));
    expect(readdirSync(doc.teacherCache)).toHaveLength(2);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(doc.summary).toEqual({ accuracy: results.summary.accuracy, bca: results.summary.bca });
    expect(doc.teacherSummary).toEqual({ accuracy: results.teacherSummary.accuracy, bca: results.teacherSummary.bca });
    expect(doc.folds.map((f) => [f.fold, f.seed, f.accuracy])).toEqual(
      results.folds.map((f: { fold: string; seed: number; accuracy: number }) => [f.fold, f.seed, f.accuracy]),
    );

    // A method without a teacher and --no-checkpoints: nothing of either is claimed.
    const plain = await runCli(
      'train',
      '--root',
      data,
      ...quick,
      '--method',
      'eeg-only',
      '--folds',
      's1',
      '--no-checkpoints',
      '--out',
      join(dir, 'plain'),
      '--json',
    );
    expect(plain.code, plain.err).toBe(0);
    expect(document(plain.out)).toMatchObject({ checkpoints: [], teacherCache: null, completed: 1 });

    // export of one of those checkpoints.
    const ck = doc.checkpoints[0]!;
    const onnx = join(dir, 'student.onnx');
    const e = await runCli('export', ck, '--out', onnx, '--json');
    expect(e.code, e.err).toBe(0);
    const ex = document(e.out) as {
      command: string;
      out: string;
      checkpoint: string;
      bytes: number;
      arch: string;
      modality: string;
      classes: string[];
      input: unknown;
      maxProbabilityDiff: number;
    };
    expect(ex).toMatchObject({
      command: 'export',
      out: onnx,
      checkpoint: ck,
      arch: 'mlp',
      modality: 'eeg',
      input: { channels: 62, bands: 5 },
    });
    expect(ex.bytes).toBe(statSync(onnx).size);
    expect(ex.maxProbabilityDiff).toBeLessThan(1e-4);
    expect(ex.classes).toEqual(parseModelCard(new Uint8Array(readFileSync(onnx)), onnx).classes);
    expect(e.err).toMatch(/max \|Δp\| = /);
  });

  it('compare: the table files, each cell with its run folder, and the paired differences of comparison.json', async () => {
    const out = join(dir, 'compare');
    const r = await runCli(
      'compare',
      '--root',
      data,
      ...quick,
      '--methods',
      'eeg-only,kd',
      '--reference',
      'kd',
      '--folds',
      's1,s2',
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const doc = document(r.out) as {
      command: string;
      out: string;
      title: string;
      files: string[];
      reference: string;
      interrupted: boolean;
      cells: {
        method: string;
        arch: string;
        accuracy: number;
        std: number;
        bca: number;
        completed: number;
        planned: number;
        dir: string;
      }[];
      methodMeans: unknown;
      paired: unknown;
    };
    expect(doc).toMatchObject({ command: 'compare', out, reference: 'kd', interrupted: false });
    expect(doc.files).toEqual(['json', 'csv', 'md', 'svg'].map((x) => join(out, `comparison.${x}`)));
    for (const f of doc.files) expect(existsSync(f), f).toBe(true);
    const table = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8'));
    expect(doc.title).toBe(table.title);
    expect(doc.cells.map((c) => [c.method, c.arch, c.completed, c.planned])).toEqual([
      ['eeg-only', 'mlp', 2, 2],
      ['kd', 'mlp', 2, 2],
    ]);
    for (const c of doc.cells) {
      const cell = table.cells.find((t: { method: string; arch: string }) => t.method === c.method && t.arch === c.arch);
      expect([c.accuracy, c.std, c.bca]).toEqual([cell.accuracy.mean, cell.accuracy.std, cell.bca.mean]);
      expect(JSON.parse(readFileSync(join(c.dir, 'results.json'), 'utf8')).summary.accuracy.mean).toBe(c.accuracy);
    }
    expect(doc.methodMeans).toEqual(table.methodMeans);
    expect(doc.paired).toEqual(table.paired);
    expect(table.paired).toHaveLength(1);
  });

  it('record: the capture written, its header and the notification count (stdout empty without --json)', async () => {
    const out = join(dir, 'cap.jsonl');
    const r = await runCli('record', '--device', 'sim:muse?emotion=happy', '--out', out, '--seconds', '2', '--json');
    expect(r.code, r.err).toBe(0);
    const doc = document(r.out) as {
      command: string;
      out: string;
      bytes: number;
      device: string;
      kind: string;
      seconds: number;
      notifications: number;
      header: Record<string, unknown>;
    };
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(doc).toMatchObject({ command: 'record', out, device: 'sim:muse?emotion=happy', kind: 'muse', seconds: 2 });
    expect(doc.notifications).toBe(lines.length - 1);
    expect(doc.notifications).toBeGreaterThan(0);
    expect(doc.bytes).toBe(statSync(out).size);
    expect(doc.header).toEqual(JSON.parse(lines[0]!));
    expect(doc.header).toMatchObject({ device: 'muse', preset: 'p21' });
    expect(r.err).toMatch(/wrote \d+ notifications from a muse/);
    const quiet = await runCli('record', '--device', 'sim:muse', '--out', join(dir, 'cap2.jsonl'), '--seconds', '1');
    expect(quiet.code).toBe(0);
    expect(quiet.out).toBe('');
  });
});
