/**
 * Library errors name option fields, the CLI maps them to flags: no string of the training and dataset code
 * spells a command-line flag, the errors it throws carry the field, and the CLI prints the flag.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliMessage, FLAGS } from '../../../../src/cli/flags.js';
import { loadDataset, synthesize } from '../../../../src/datasets/index.js';
import type { NdArray } from '../../../../src/io/ndarray.js';
import { npzBytesMember, readNpz, writeNpz } from '../../../../src/io/npy.js';
import { pickleDictOfArrays, unpickle } from '../../../../src/io/pickle.js';
import { ExperimentConfigError, OptionError, optionText, option, renderMessage, type OptionField } from '../../../../src/train/errors.js';
import { checkSuppliedTeacher, runExperiment, type ExperimentOptions } from '../../../../src/train/run.js';
import { tinyDataset, useWasm } from './helpers.js';

const ROOT = resolve(__dirname, '../../../..');
const FLAG = /(^|[^\w-])--[a-z][a-z-]*/;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : /\.[cm]?[jt]s$/.test(name) ? [p] : [];
  });
}

/**
 * The text of every string and template literal of a JS/TS source (template parts without their `${…}`),
 * comments skipped. A small lexer: quotes, template nesting, and regex literals told from division by the
 * token before them, which is enough for this code base's style.
 */
export function stringLiterals(src: string): string[] {
  const out: string[] = [];
  const templates: number[] = []; // per open template: depth of `{` inside its current `${`
  let prev = ''; // last significant token (a punctuation character or a word)
  let i = 0;
  const readTemplate = () => {
    // at the character after ` or after the } closing a ${
    let s = '';
    while (i < src.length) {
      const c = src[i]!;
      if (c === '\\') {
        s += src.slice(i, i + 2);
        i += 2;
      } else if (c === '`') {
        i++;
        out.push(s);
        prev = 'lit';
        return;
      } else if (c === '$' && src[i + 1] === '{') {
        i += 2;
        out.push(s);
        templates.push(0);
        prev = '{';
        return;
      } else {
        s += c;
        i++;
      }
    }
    throw new Error('unterminated template');
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      i = src.indexOf('*/', i + 2) + 2;
    } else if (c === '"' || c === "'") {
      let s = '';
      i++;
      while (src[i] !== c) {
        if (src[i] === '\\') s += src[i++];
        s += src[i++];
        if (i >= src.length) throw new Error('unterminated string');
      }
      i++;
      out.push(s);
      prev = 'lit';
    } else if (c === '`') {
      i++;
      readTemplate();
    } else if (
      c === '/' &&
      (prev === '' || /^[(,=:[!&|?{};+\-*%<>~^]$/.test(prev) || /^(return|typeof|case|in|of|throw|else|void|delete|new)$/.test(prev))
    ) {
      // a regex literal: skip it (classes may hold '/')
      i++;
      let inClass = false;
      while (i < src.length && (src[i] !== '/' || inClass)) {
        if (src[i] === '\\') i++;
        else if (src[i] === '[') inClass = true;
        else if (src[i] === ']') inClass = false;
        i++;
      }
      i++;
      while (/[a-z]/i.test(src[i] ?? '')) i++;
      prev = 'lit';
    } else if (/[\w$]/.test(c)) {
      const m = /^[\w$]+/.exec(src.slice(i, i + 64))!;
      i += m[0].length;
      prev = m[0];
    } else {
      if (templates.length && c === '{') templates[templates.length - 1]!++;
      else if (templates.length && c === '}') {
        if (templates[templates.length - 1] === 0) {
          templates.pop();
          i++;
          readTemplate();
          continue;
        }
        templates[templates.length - 1]!--;
      }
      prev = c;
      i++;
    }
  }
  return out;
}

describe('library errors name fields, not flags', () => {
  it('the lexer finds strings, template parts and skips comments and regex literals', () => {
    const src =
      "// '--x'\nconst a = 'b' + \"c\"; /* `--y` */ const r = /['\"`]/g; const t = `p${f(`q${1}`)}r${{ k: 1 }.k}s`; x = y / 2 / 3; '--z'";
    expect(stringLiterals(src)).toEqual(['b', 'c', 'p', 'q', '', 'r', 's', '--z']);
  });

  it('no string of src/train or src/datasets spells a command-line flag (errors, notes, hints)', () => {
    // results.md's status line is written for the CLI user who ran `cmcrd train` (it is a report, not an error).
    const allowed = new Set(['src/train/report.ts: (not finished: the run was stopped, or is still going; `--resume` continues it)']);
    const found: string[] = [];
    for (const root of ['src/train', 'src/datasets']) {
      for (const file of sources(join(ROOT, root))) {
        const rel = relative(ROOT, file).split('\\').join('/');
        if (rel.includes('/vendor/')) continue;
        for (const s of stringLiterals(readFileSync(file, 'utf8'))) {
          if (FLAG.test(s) && !allowed.has(`${rel}: ${s.trim()}`)) found.push(`${rel}: ${s}`);
        }
      }
    }
    expect(found).toEqual([]);
  });

  it('the CLI has a flag for every field, and prints messages with flags', () => {
    for (const [field, flag] of Object.entries(FLAGS)) expect(flag === field || /^--[a-z][a-z-]*$/.test(flag), field).toBe(true);
    const e = new OptionError(
      'windowsPerTrial',
      optionText`${option('windowsPerTrial')} must be ≥ 1 (see ${option('checkLabels')}), got ${0}`,
    );
    expect(e.message).toBe('windowsPerTrial must be ≥ 1 (see checkLabels), got 0');
    expect(cliMessage(e)).toBe('--windows-per-trial must be ≥ 1 (see --no-check-labels), got 0');
    const p = e.prefixed('kd · mlp: ');
    expect(p).toBeInstanceOf(OptionError);
    expect([p.field, p.message, cliMessage(p)]).toEqual([
      'windowsPerTrial',
      'kd · mlp: windowsPerTrial must be ≥ 1 (see checkLabels), got 0',
      'kd · mlp: --windows-per-trial must be ≥ 1 (see --no-check-labels), got 0',
    ]);
    expect(cliMessage(new Error('plain'))).toBe('plain');
    expect(renderMessage(['a', option('lr')], (f) => f.toUpperCase())).toBe('aLR');
  });
});

describe('errors thrown by the library carry the field and read without flags', () => {
  let dir: string;
  beforeAll(async () => {
    await useWasm();
    dir = mkdtempSync(join(tmpdir(), 'cmcrd-errors-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The error `fn` throws (synchronously or as a rejection), checked to name `field` in the library's and the CLI's words. */
  async function optionError(field: OptionField, fn: () => unknown): Promise<OptionError> {
    let err: unknown = null;
    try {
      await fn();
    } catch (e) {
      err = e;
    }
    expect(err, field).toBeInstanceOf(OptionError);
    const e = err as OptionError;
    expect(e.field).toBe(field);
    expect(e.message).not.toMatch(FLAG);
    expect(e.message).toContain(field);
    expect(cliMessage(e)).toContain(FLAGS[field]);
    return e;
  }

  const base = (extra: Partial<ExperimentOptions> = {}): ExperimentOptions => ({
    dataset: tinyDataset({ subjects: 3 }),
    method: 'eeg-only',
    arch: 'mlp',
    protocol: 'loso',
    folds: ['s1'],
    seeds: [1],
    hyper: { epochs: 1, warmupEpochs: 0, batchSize: 16 },
    ...extra,
  });

  it('experiment options', async () => {
    await optionError('epochs', () => runExperiment(base({ hyper: { epochs: 0 } })));
    await optionError('teacherEpochs', () => runExperiment(base({ teacherHyper: { epochs: 2.5 } })));
    await optionError('batchSize', () => runExperiment(base({ hyper: { batchSize: 1 } })));
    await optionError('valFraction', () => runExperiment(base({ hyper: { valFraction: 1 } })));
    await optionError('nNeg', () => runExperiment(base({ nNeg: 0 })));
    await optionError('seeds', () => runExperiment(base({ seeds: [] })));
    await optionError('arch', () => runExperiment(base({ arch: 'resnet' as ExperimentOptions['arch'] })));
    const folds = await optionError('folds', () => runExperiment(base({ folds: ['s9'] })));
    expect(cliMessage(folds)).toBe('--folds: unknown fold id(s) s9 for protocol loso (known: s1, s2, s3)');
    await optionError('subjectFolds', () => runExperiment(base({ folds: undefined, subjectFolds: [['1', '7']] })));
    await optionError('subjectFolds', () => runExperiment(base({ folds: undefined, protocol: 'within', subjectFolds: [['1']] })));
  });

  it('a supplied teacher and a run to resume', async () => {
    const ds = tinyDataset({ subjects: 2, sessions: 2 });
    const cache = join(dir, 'teacher');
    await runExperiment(base({ dataset: ds, method: 'eye-only', protocol: 'within', folds: ['s1-sess1'], teacherCacheDir: cache }));
    const { readCheckpoint } = await import('../../../../src/train/checkpoint.js');
    const ck = readCheckpoint(join(cache, readdirSync(cache)[0]!));
    const leak = await optionError('teacher', () => checkSuppliedTeacher({ dataset: ds, protocol: 'loso', teacher: ck }));
    expect(leak.message).toMatch(
      /^teacher: the checkpoint was trained on test trials of the planned fold|^teacher: the checkpoint was trained on test trials of 1 of the 2 planned folds/,
    );
    expect(cliMessage(leak)).toMatch(/select with --folds the fold it was trained for\), or leave out --teacher to train one per fold$/);
    const { trainTrials: _t, ...old } = ck.provenance;
    const within = await optionError('teacher', () =>
      checkSuppliedTeacher({ dataset: ds, protocol: 'within', folds: ['s1-sess2'], teacher: { ...ck, provenance: old } }),
    );
    expect(cliMessage(within)).toMatch(/or leave out --teacher$/);
    const first = await runExperiment(base({ folds: ['s1', 's2'] }));
    const resume = { source: 'old/results.json', config: first.config, folds: first.folds, transductiveSubjects: [] };
    const notPlanned = await optionError('resume', () => runExperiment(base({ folds: ['s1'], resume })));
    expect(cliMessage(notPlanned)).toMatch(/\(add it to --folds\/--seeds, or start afresh in another folder\)$/);
    const other = await optionError('resume', () =>
      runExperiment(base({ folds: ['s1', 's2'], hyper: { epochs: 2, warmupEpochs: 0, batchSize: 16 }, resume })),
    );
    expect(other.message).toMatch(
      /^resume: old\/results\.json: cannot resume, it was made with epochs = 1 and this run has 2; use the same settings or start afresh in another folder$/,
    );
  });

  it('dataset synthesis and loading', async () => {
    await optionError('sessions', () => synthesize({ layout: 'seed-iv', out: join(dir, 'synth'), sessions: 4 }));
    await optionError('windowsPerTrial', () => synthesize({ layout: 'seed-iv', out: join(dir, 'synth'), windowsPerTrial: 0 }));
    await optionError('raw', () => synthesize({ layout: 'seed-v', out: join(dir, 'synth'), raw: true }));
    await optionError('feature', () =>
      loadDataset('seed-v', join(ROOT, 'test', 'fixtures', 'datasets', 'seed_v_mini'), { feature: 'psd_LDS' }),
    );
    expect(new OptionError('subjects', 'x')).toBeInstanceOf(ExperimentConfigError);
    // A data error whose hint names the option that turns the check off: the file and key, then the hint.
    const v = join(dir, 'v');
    synthesize({ layout: 'seed-v', out: v, subjects: 1, sessions: 1, windowsPerTrial: 1 });
    const file = join(v, 'EEG_DE_features', '1_123.npz');
    const npz = readNpz(new Uint8Array(readFileSync(file)));
    const [data, label] = (['data', 'label'] as const).map((m) => unpickle(npzBytesMember(npz, m)) as Map<number, NdArray>);
    (label!.get(3)!.data as Float64Array).fill(4);
    const member = (m: Map<number, NdArray>) => ({
      dtype: 'bytes' as const,
      itemSize: pickleDictOfArrays(m).length,
      shape: [],
      items: [pickleDictOfArrays(m)],
    });
    writeFileSync(file, writeNpz({ data: member(data!), label: member(label!) }));
    let err: unknown;
    try {
      loadDataset('seed-v', v);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(
      /1_123\.npz \[label\[3\]\]: label 4 differs from the documented label 2 for session 1, trial 4 \(checkLabels turns this check off\)$/,
    );
    expect(cliMessage(err)).toBe((err as Error).message.replace('checkLabels', '--no-check-labels'));
  });
});
