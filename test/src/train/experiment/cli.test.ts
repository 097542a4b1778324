// size: the train/compare CLI end to end on one synthetic dataset made once (cheaper than a file per command)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { synthesize } from '../../../../src/datasets/index.js';
import { readCheckpoint } from '../../../../src/train/checkpoint.js';
import { parseModelCard } from '../../../../runtime/model-card.js';

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
  const { main } = await import('../../../../src/cli/main.js');
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

/** Run `node <args>`, send SIGTERM once stderr first matches every pattern of `when`, and wait for the exit. */
async function terminateWhen(args: string[], ...when: RegExp[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const ready = () => when.every((w) => w.test(stderr));
  child.stderr.on('data', (b: Buffer) => {
    const first = !ready();
    stderr += b.toString();
    if (first && ready()) child.kill('SIGTERM');
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  return { code, stderr };
}

const common = [
  '--dataset',
  'synthetic',
  '--protocol',
  'loso',
  '--folds',
  's1,s2',
  '--seeds',
  '1',
  '--epochs',
  '2',
  '--warmup',
  '1',
  '--negatives',
  '16',
];

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
    expect(r.stderr).toMatch(/training steps: MLP and DGCNN on onnxruntime-node \d+\.\d+\.\d+ \(cpu, 1 thread\), EEGNet-mini on tfjs wasm/);
    expect(res.config.engines).toEqual([expect.stringMatching(/^onnxruntime-node /)]);
    expect(r.stderr).toMatch(/student 2\/2 loss=[\d.]+ acc=[\d.]+ val=[\d.]+/);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).completed).toBe(2);
  });

  it('compare writes the methods × networks table and an SVG chart with error bars', () => {
    const out = join(dir, 'cmp');
    const r = cmcrd([
      'compare',
      '--root',
      data,
      '--methods',
      'eeg-only,eye-only,kd',
      '--archs',
      'mlp,eegnet',
      '--reference',
      'kd',
      ...common,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const t = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8'));
    expect(t.methods).toEqual(['eeg-only', 'eye-only', 'kd']);
    expect(t.archs).toEqual(['mlp', 'eegnet']);
    expect(t.cells).toHaveLength(6);
    expect(t.paired.map((p: { method: string; arch: string }) => `${p.method}-${p.arch}`)).toEqual([
      'eeg-only-mlp',
      'eye-only-mlp',
      'eeg-only-eegnet',
      'eye-only-eegnet',
    ]);
    const md = readFileSync(join(out, 'comparison.md'), 'utf8');
    expect(md.split('\n')[0]).toBe('# seed-iv (synthetic) · loso · seeds 1'); // the layout, as train's report names it
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
      [['--cmcrd-sign', 'maybe'], /--cmcrd-sign must be one of on, off.*got "maybe"/],
      // A repeated seed or fold would be trained twice and counted twice in the statistics.
      [['--seeds', '1,01'], /--seeds lists "1" more than once/],
      [['--folds', 's1,s1'], /--folds lists "s1" more than once/],
      [['--montage', 'custom:,'], /--montage custom:,: montage custom lists no electrode sites/],
      [['--epoch', '2'], /unknown option '--epoch'/],
    ] as const;
    // In-process (main() as bin/cmcrd.js calls it) to keep this fast; the two tests above spawn the real CLI.
    for (const [args, msg] of bad) {
      const r = await inProcess([
        'train',
        '--root',
        data,
        '--dataset',
        'synthetic',
        '--seeds',
        '1',
        '--epochs',
        '1',
        '--out',
        join(dir, 'bad'),
        ...args,
      ]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    const ref = await inProcess([
      'compare',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--methods',
      'eeg-only,kd',
      '--reference',
      'crd',
      '--out',
      join(dir, 'bad'),
    ]);
    expect(ref.code).toBe(2);
    expect(ref.stderr).toMatch(/--reference crd is not one of --methods \(eeg-only, kd\)/);
    const dup = await inProcess(['compare', '--root', data, '--dataset', 'synthetic', '--methods', 'kd,kd', '--out', join(dir, 'bad')]);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/--methods lists "kd" more than once/);
    const r = await inProcess(['train', '--root', join(dir, 'missing'), '--dataset', 'synthetic', '--out', join(dir, 'bad')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--root .*missing/);
    // An --out that cannot be a folder fails before any training, naming the path.
    writeFileSync(join(dir, 'a-file'), 'x');
    const blocked = await inProcess([
      'train',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--seeds',
      '1',
      '--epochs',
      '1',
      '--out',
      join(dir, 'a-file', 'run'),
    ]);
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toMatch(/--out .*a-file\/run: cannot create or write this folder \(a file is in the way\)/);
    expect(blocked.stderr).not.toMatch(/teacher|fold s1/);
  });

  it('--teacher that leaks into later folds is refused at once: exit 2 naming folds and trials, nothing trained, no results.json (--jobs too)', async () => {
    const made = join(dir, 'teacher-src');
    const t = await inProcess([
      'train',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--method',
      'eye-only',
      '--folds',
      's1',
      '--seeds',
      '1',
      '--epochs',
      '1',
      '--warmup',
      '0',
      '--out',
      made,
    ]);
    expect(t.code, t.stderr).toBe(0);
    const teacher = join(made, 'teachers', readdirSync(join(made, 'teachers'))[0]!); // LOSO fold s1's: trained on subjects 2 and 3
    const leak =
      /cmcrd: --teacher: the checkpoint was trained on test trials of 2 of the 3 planned folds, .*: fold s2, 24 trials of subject 2 \(2\/1\/1-24\); fold s3, 24 trials of subject 3 \(3\/1\/1-24\)\./;
    for (const jobs of ['1', '2']) {
      const out = join(dir, `teacher-leak-jobs${jobs}`);
      const t0 = performance.now();
      const r = cmcrd([
        'train',
        '--root',
        data,
        '--dataset',
        'synthetic',
        '--method',
        'kd',
        '--seeds',
        '1',
        '--epochs',
        '1',
        '--warmup',
        '0',
        '--teacher',
        teacher,
        '--jobs',
        jobs,
        '--out',
        out,
      ]);
      const seconds = (performance.now() - t0) / 1000;
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(leak);
      // Refused before the backend starts, before fold s1 trains and before any --jobs child is spawned.
      expect(r.stderr).not.toMatch(/tfjs backend|fold s1 seed|(teacher|student) +\d+\/\d+|--jobs 2:|\[job/);
      expect(existsSync(join(out, 'results.json'))).toBe(false);
      expect(seconds, `--jobs ${jobs}`).toBeLessThan(30);
    }
    // compare: before its first cell (eeg-only, which uses no teacher) trains.
    const cmp = await inProcess([
      'compare',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--methods',
      'eeg-only,kd',
      '--seeds',
      '1',
      '--epochs',
      '1',
      '--warmup',
      '0',
      '--teacher',
      teacher,
      '--out',
      join(dir, 'teacher-leak-cmp'),
    ]);
    expect(cmp.code).toBe(2);
    expect(cmp.stderr).toMatch(leak);
    expect(cmp.stderr).not.toMatch(/eeg-only · mlp/);
    expect(existsSync(join(dir, 'teacher-leak-cmp', 'comparison.json'))).toBe(false);
  });

  it('a cached teacher that cannot be read is trained again and replaced, not a crash', () => {
    const out = join(dir, 'damaged');
    const args = ['train', '--root', data, '--method', 'kd', ...common, '--folds', 's1', '--out', out];
    expect(cmcrd(args).code).toBe(0);
    const file = join(out, 'teachers', readdirSync(join(out, 'teachers'))[0]!);
    const good = readFileSync(file, 'utf8');
    const first = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).folds[0].accuracy;
    writeFileSync(file, good.slice(0, 1000)); // as a process killed mid-write would have left it before atomic writes
    const r = cmcrd([...args, '--force']); // --out holds the first run: starting afresh there needs --force
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/teacher: retrained, the cached file could not be read and was replaced \(.*not valid JSON/);
    expect(readFileSync(file, 'utf8')).toBe(good); // training is deterministic: the same teacher again
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).folds[0].accuracy).toBe(first);
    expect(readdirSync(join(out, 'teachers')).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('--resume keeps the finished runs in --out, trains the added seeds, and refuses other settings without touching the file', async () => {
    const out = join(dir, 'resume');
    const args = [
      'train',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--method',
      'eeg-only',
      '--folds',
      's1,s2',
      '--epochs',
      '2',
      '--warmup',
      '1',
      '--no-checkpoints',
      '--out',
      out,
    ];
    const first = cmcrd([...args, '--seeds', '1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/replacing/);
    const before = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const second = cmcrd([...args, '--seeds', '1,2', '--resume']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/--resume: keeping 2 finished fold × seed runs from .*results\.json/);
    expect(second.stderr.match(/kept from the earlier run/g)).toHaveLength(2);
    expect(second.stderr.match(/student 2\/2/g)).toHaveLength(2); // only seed 2 trained, on both folds
    const after = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(after.folds.map((f: { fold: string; seed: number }) => `${f.fold}/${f.seed}`)).toEqual(['s1/1', 's1/2', 's2/1', 's2/2']);
    expect(after.folds.filter((f: { seed: number }) => f.seed === 1)).toEqual(before.folds);
    expect(after.config.seeds).toEqual([1, 2]);

    expect(second.stderr).not.toMatch(/replacing/);
    const text = readFileSync(join(out, 'results.json'), 'utf8');
    const other = await inProcess([...args, '--seeds', '1,2', '--epochs', '3', '--resume']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/resume[/\\]results\.json: cannot resume, it was made with epochs = 2 and this run has 3/);
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(text);
    const bad = JSON.parse(text);
    bad.folds[1].accuracy = 'high';
    writeFileSync(join(out, 'results.json'), JSON.stringify(bad));
    const broken = await inProcess([...args, '--seeds', '1,2', '--resume']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/--resume: .*results\.json: folds\[1\]\.accuracy must be a fraction in \[0, 1\], got "high"/);
    writeFileSync(join(out, 'results.json'), '{"config": {}, "folds": [');
    expect((await inProcess([...args, '--resume'])).stderr).toMatch(/--resume: .*results\.json: not valid JSON/);
    // Without --resume the run starts afresh (with --force), and says what it replaces.
    expect((await inProcess([...args, '--seeds', '1', '--folds', 's1', '--force'])).stderr).toMatch(
      /note: replacing the earlier .*results\.json \(--resume would keep its finished runs\)/,
    );
  });

  it('--cmcrd-sign off (ablation) is recorded; a results.json from before the option resumes as sign on', async () => {
    const out = join(dir, 'sign');
    const args = [
      'train',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--method',
      'cmcrd',
      '--folds',
      's1',
      '--seeds',
      '1',
      '--epochs',
      '1',
      '--warmup',
      '1',
      '--no-checkpoints',
      '--out',
      out,
    ];
    const first = await inProcess(args);
    expect(first.code, first.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(res.config.cmcrdSign).toBe(true);
    // As written before the option existed: no cmcrdSign entry.
    delete res.config.cmcrdSign;
    writeFileSync(join(out, 'results.json'), JSON.stringify(res));
    const kept = await inProcess([...args, '--resume']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toMatch(/kept from the earlier run/);
    const off = await inProcess([...args, '--cmcrd-sign', 'off', '--resume']);
    expect(off.code).toBe(2);
    expect(off.stderr).toMatch(/cannot resume, it was made with cmcrdSign = true and this run has false/);
    const fresh = await inProcess([...args, '--cmcrd-sign', 'off', '--out', join(dir, 'sign-off')]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'sign-off', 'results.json'), 'utf8')).config.cmcrdSign).toBe(false);
  });

  it('compare --resume keeps finished cells and runs the added methods', () => {
    const out = join(dir, 'cmp-resume');
    const args = [
      'compare',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--folds',
      's1,s2',
      '--seeds',
      '1',
      '--epochs',
      '1',
      '--warmup',
      '0',
      '--out',
      out,
    ];
    expect(cmcrd([...args, '--methods', 'eeg-only']).code).toBe(0);
    const before = readFileSync(join(out, 'runs', 'eeg-only-mlp', 'results.json'), 'utf8');
    const r = cmcrd([...args, '--methods', 'eeg-only,eye-only', '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[1\/2\] eeg-only · mlp\n {2}--resume: keeping 2 finished fold × seed runs/);
    expect(r.stderr).toMatch(/\[2\/2\] eye-only · mlp\n {2}--resume: no .*eye-only-mlp.results\.json yet, starting afresh/);
    expect(r.stderr.match(/kept from the earlier run/g)).toHaveLength(2);
    const after = JSON.parse(readFileSync(join(out, 'runs', 'eeg-only-mlp', 'results.json'), 'utf8'));
    expect(after.folds).toEqual(JSON.parse(before).folds);
    expect(JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')).cells).toHaveLength(2);
  });

  it('SIGTERM stops tfjs-only training (EEGNet-mini) after the current epoch too', async () => {
    const args = [
      'bin/cmcrd.js',
      'train',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--method',
      'eeg-only',
      '--arch',
      'eegnet',
      '--folds',
      's1,s2,s3',
      '--seeds',
      '1',
      '--epochs',
      '60',
      '--warmup',
      '1',
      '--no-checkpoints',
      '--out',
      join(dir, 'term-eegnet'),
    ];
    const { code, stderr } = await terminateWhen(args, /student 1\/60/);
    expect(code, stderr).toBe(143);
    expect(stderr).toMatch(/terminate: finishing the current step/);
    expect(stderr).not.toMatch(/fold s2 seed 1/);
  });

  it('SIGTERM stops after the current epoch with exit code 143, keeping the finished runs for --resume', async () => {
    const out = join(dir, 'term');
    const args = [
      'bin/cmcrd.js',
      'train',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--method',
      'eeg-only',
      '--folds',
      's1,s2,s3',
      '--seeds',
      '1',
      '--epochs',
      '40',
      '--warmup',
      '1',
      '--no-checkpoints',
      '--out',
      out,
    ];
    const { code, stderr } = await terminateWhen(args, /→ test accuracy/);
    expect(code, stderr).toBe(143);
    expect(stderr).toMatch(/terminate: finishing the current step/);
    const stopped = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(stopped.interrupted).toBe(true);
    expect(stopped.completed).toBeGreaterThanOrEqual(1);
    expect(stopped.completed).toBeLessThan(3);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(/Completed [12]\/3 fold × seed runs \(not finished: .*--resume/);
    const r = cmcrd([...args.slice(1), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    const done = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(done.folds.map((f: { fold: string }) => f.fold)).toEqual(['s1', 's2', 's3']);
    expect(done.folds.slice(0, stopped.completed)).toEqual(stopped.folds);
    expect(done.interrupted).toBe(false);
    expect(readdirSync(out).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('--jobs 2 runs the folds in two processes with the same results, checkpoints and teachers as one process', () => {
    const args = ['train', '--root', data, '--dataset', 'synthetic', '--method', 'kd', '--seeds', '1,2', '--epochs', '2', '--warmup', '1'];
    const seq = cmcrd([...args, '--out', join(dir, 'jobs-seq')]);
    expect(seq.code, seq.stderr).toBe(0);
    const out = join(dir, 'jobs-par');
    const par = cmcrd([...args, '--jobs', '2', '--out', out]);
    expect(par.code, par.stderr).toBe(0);
    expect(par.stderr).toMatch(/--jobs 2: job 1 runs s1,s3; job 2 runs s2/);
    expect(par.stderr).toMatch(/^\[job 2\/2\] fold s2 seed 1 \(1\/2\)$/m);
    const a = JSON.parse(readFileSync(join(dir, 'jobs-seq', 'results.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const strip = (r: { folds: Array<Record<string, unknown>> }) => r.folds.map(({ seconds: _s, checkpoint: _c, ...f }) => f);
    expect(strip(b)).toEqual(strip(a));
    expect(b.summary).toEqual(a.summary);
    expect(b.completed).toBe(6);
    // The students' checkpoints land in <out>/checkpoints as in a sequential run, the teachers in <out>/teachers,
    // and the jobs' working folders are gone.
    expect(readdirSync(join(out, 'checkpoints')).sort()).toEqual(readdirSync(join(dir, 'jobs-seq', 'checkpoints')).sort());
    for (const f of b.folds as Array<{ checkpoint: string }>)
      expect(existsSync(f.checkpoint) && f.checkpoint.startsWith(join(out, 'checkpoints'))).toBe(true);
    expect(readdirSync(join(out, 'teachers'))).toHaveLength(6);
    expect(existsSync(join(out, '.jobs'))).toBe(false);
    expect(cmcrd([...args, '--jobs', '0', '--out', out]).stderr).toMatch(/--jobs must be an integer ≥ 1, got "0"/);
    const badFold = cmcrd([...args, '--jobs', '2', '--folds', 's1,s9', '--force', '--out', out]);
    expect(badFold.code).toBe(2);
    expect(badFold.stderr).toMatch(/unknown fold id\(s\) s9 for protocol loso/);
    const badResume = cmcrd([...args.map((a) => (a === '2' ? '3' : a)), '--jobs', '2', '--resume', '--out', out]);
    expect(badResume.code).toBe(2);
    expect(badResume.stderr).toMatch(/kd · mlp: .*results\.json: cannot resume, it was made with epochs = 2 and this run has 3/);

    // A --jobs run whose parent was killed leaves its jobs' finished runs unmerged in <out>/.jobs: --resume
    // takes them up (here: job 1 finished fold s1) instead of training them again.
    const out2 = join(dir, 'jobs-killed');
    const job1 = cmcrd([...args, '--folds', 's1', '--out', join(out2, '.jobs', 'job1'), '--teacher-cache', join(out2, 'teachers')]);
    expect(job1.code, job1.stderr).toBe(0);
    const resumed = cmcrd([...args, '--jobs', '2', '--resume', '--out', out2]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/kd · mlp: --resume: 2 finished run\(s\) found in .*jobs-killed.\.jobs from an earlier --jobs run/);
    expect(resumed.stderr.match(/kept from the earlier run/g)).toHaveLength(2);
    const c = JSON.parse(readFileSync(join(out2, 'results.json'), 'utf8'));
    expect(strip(c)).toEqual(strip(a));
    expect(readdirSync(join(out2, 'checkpoints'))).toHaveLength(6);
  });

  it('compare --jobs 2: SIGTERM reaches every job, the merged results keep their finished runs, --resume --jobs 2 completes them', async () => {
    const opts = ['--root', data, '--dataset', 'synthetic', '--methods', 'eeg-only,kd', '--seeds', '1', '--epochs', '30', '--warmup', '1'];
    const seq = cmcrd(['compare', ...opts, '--out', join(dir, 'cjobs-seq')]);
    expect(seq.code, seq.stderr).toBe(0);
    const out = join(dir, 'cjobs');
    // Once both jobs are training (each has its signal handler), and one run has finished.
    const { code, stderr } = await terminateWhen(
      ['bin/cmcrd.js', 'compare', ...opts, '--jobs', '2', '--out', out],
      /→ test accuracy/,
      /^\[job 1\/2\] +student/m,
      /^\[job 2\/2\] +student/m,
    );
    expect(code, stderr).toBe(143);
    expect(stderr.match(/^\[job [12]\/2\] terminate: finishing the current step/gm)).toHaveLength(2);
    const stopped = JSON.parse(readFileSync(join(out, 'runs', 'eeg-only-mlp', 'results.json'), 'utf8'));
    expect(stopped.completed).toBeGreaterThanOrEqual(1);
    const r = cmcrd(['compare', ...opts, '--jobs', '2', '--resume', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/kept from the earlier run/g)?.length).toBeGreaterThanOrEqual(stopped.completed);
    for (const cell of ['eeg-only-mlp', 'kd-mlp']) {
      const a = JSON.parse(readFileSync(join(dir, 'cjobs-seq', 'runs', cell, 'results.json'), 'utf8'));
      const b = JSON.parse(readFileSync(join(out, 'runs', cell, 'results.json'), 'utf8'));
      expect(b.folds.map(({ seconds: _s, ...f }: Record<string, unknown>) => f)).toEqual(
        a.folds.map(({ seconds: _s, ...f }: Record<string, unknown>) => f),
      );
    }
    expect(readFileSync(join(out, 'comparison.md'), 'utf8').split('\n').slice(1)).toEqual(
      readFileSync(join(dir, 'cjobs-seq', 'comparison.md'), 'utf8')
        .split('\n')
        .slice(1),
    );
  });

  it('export writes a trained checkpoint (student or eye teacher, any network) as ONNX after a parity check', () => {
    const out = join(dir, 'export');
    const t = cmcrd([
      'train',
      '--root',
      data,
      '--dataset',
      'synthetic',
      '--method',
      'kd',
      '--arch',
      'dgcnn',
      '--folds',
      's1',
      '--seeds',
      '1',
      '--epochs',
      '2',
      '--warmup',
      '1',
      '--out',
      out,
    ]);
    expect(t.code, t.stderr).toBe(0);
    const student = join(out, 'checkpoints', 'kd-dgcnn-s1-seed1.json');
    const teacher = join(out, 'teachers', readdirSync(join(out, 'teachers'))[0]!);
    for (const [ck, modality] of [
      [student, 'eeg'],
      [teacher, 'eye'],
    ] as const) {
      const r = cmcrd(['export', ck, '--out', join(out, `${modality}.onnx`)]);
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.trim()) as { out: string; bytes: number; arch: string; modality: string; maxProbabilityDiff: number };
      expect(res).toMatchObject({ arch: 'dgcnn', modality });
      expect(res.maxProbabilityDiff).toBeLessThan(1e-5);
      const bytes = readFileSync(res.out);
      expect(bytes.length).toBe(res.bytes);
      expect(parseModelCard(new Uint8Array(bytes), res.out).classes).toEqual(['neutral', 'sad', 'fear', 'happy']);
    }
    // Default output name: the checkpoint's, with .onnx.
    expect(cmcrd(['export', student]).code).toBe(0);
    expect(existsSync(student.replace(/\.json$/, '.onnx'))).toBe(true);
    // A checkpoint whose weights do not fit its network: the weight is named, exit 2, nothing written.
    const bad = JSON.parse(readFileSync(student, 'utf8'));
    bad.weights.adj.shape = [5, 4];
    bad.weights.adj.base64 = Buffer.from(new Float32Array(20).buffer).toString('base64');
    writeFileSync(join(out, 'bad.json'), JSON.stringify(bad));
    const r = cmcrd(['export', join(out, 'bad.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.json: checkpoint weight "adj" has shape \[5,4\], arch dgcnn needs \[62,62\]/);
    expect(existsSync(join(out, 'bad.onnx'))).toBe(false);
    // --out the checkpoint itself would replace it: refused, the checkpoint untouched.
    const before = readFileSync(student, 'utf8');
    const self = cmcrd(['export', student, '--out', student]);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/--out .*kd-dgcnn-s1-seed1\.json is the checkpoint itself/);
    expect(readFileSync(student, 'utf8')).toBe(before);
    // An --out whose folder cannot be made: named, before any work.
    const blocked = cmcrd(['export', student, '--out', join(out, 'bad.json', 'x.onnx')]);
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toMatch(/--out .*bad\.json: cannot create or write this folder \(a file is in the way\)/);
  });
});
