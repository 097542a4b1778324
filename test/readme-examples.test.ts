/**
 * The README's library example for Node runs as written against the built package (self-referenced by its name),
 * with only the model path and the run time changed: a model exported here stands in for runs/demo/student.onnx.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '../src/train/tf.js';
import { exportOnnx } from '../export/onnx-export.js';
import { trainedCheckpoint } from './export/helpers.js';

const ROOT = resolve(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'cmcrd-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first ```js block after the line that starts with `heading`. */
function codeBlockAfter(readme: string, heading: string): string {
  const at = readme.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const m = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(m, `a js block after "${heading}"`).not.toBeNull();
  return m![1]!;
}

describe('README examples', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('the Node example (model card → session → classifier on a virtual Muse) prints predictions', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const code = codeBlockAfter(readme, 'In Node');
    const model = join(dir, 'student.onnx');
    writeFileSync(model, exportOnnx(trainedCheckpoint('mlp')));
    expect(code).toContain("'runs/demo/student.onnx'");
    expect(code).toMatch(/setTimeout\(\(\) => session\.stop\(\), 60_000\)/);
    const script = code.replace("'runs/demo/student.onnx'", JSON.stringify(model)).replace('60_000', '2_500');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script + '\nsetTimeout(() => process.exit(0), 4_000);'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    // speed=8: 2.5 s of wall time is 20 s of signal, four whole 4-s windows at least.
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatch(/^(neutral|sad|fear|happy|skipped \((gap|quality)\)) /);
  });
});
