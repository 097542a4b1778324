/**
 * The `cmcrd` program itself: unknown commands are user errors even with --help, option values are checked while the
 * command line is parsed (option named, value quoted, exit 2), and --help lists the allowed values of every choice.
 */
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/main.js';
import { argsForParse } from '../../../src/cli/program.js';
import { runCli } from '../../cli-harness.js';

describe('cmcrd commands', () => {
  it('an unknown command exits 2 naming it, with or without --help, at any level', async () => {
    for (const args of [
      ['nosuch'],
      ['nosuchcmd', '--help'],
      ['nosuchcmd', '-h'],
      ['help', 'nosuch'],
      ['dataset', 'nosuch'],
      ['dataset', 'nosuch', '--help'],
      ['--help', 'nosuch'],
    ]) {
      const r = await runCli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(
        new RegExp(`error: unknown command '${args.find((a) => a !== 'help' && a !== 'dataset' && !a.startsWith('-'))}'`),
      );
      expect(r.out, args.join(' ')).toBe('');
    }
    expect((await runCli('trian')).err).toMatch(/unknown command 'trian'\n\(Did you mean train\?\)/);
  });

  it('known commands keep their help (exit 0), and the bare program still asks for a command', async () => {
    for (const args of [['--help'], ['train', '--help'], ['help', 'train'], ['dataset', 'info', '--help'], ['dataset', 'help', 'info']]) {
      const r = await runCli(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.out, args.join(' ')).toMatch(/^Usage: cmcrd/);
    }
    expect((await runCli('help', 'train')).out).toMatch(/^Usage: cmcrd train /);
    expect((await runCli('dataset', 'help', 'info')).out).toMatch(/^Usage: cmcrd dataset info /);
    const bare = await runCli();
    expect(bare.code).toBe(2);
    expect(bare.err).toMatch(/Usage: cmcrd/);
  });

  it('argsForParse leaves known command lines alone and cuts an unknown one after the unknown word', () => {
    const program = buildProgram();
    const argv = (...a: string[]) => ['node', 'cmcrd', ...a];
    for (const a of [argv('train', '--help'), argv('dataset', 'info', '--dataset', 'seed', '--root', 'nosuch'), argv('--version'), argv()])
      expect(argsForParse(program, a)).toEqual(a);
    expect(argsForParse(program, argv('nosuchcmd', '--help'))).toEqual(argv('nosuchcmd'));
    expect(argsForParse(program, argv('help', 'nosuch', '-h'))).toEqual(argv('nosuch'));
    expect(argsForParse(program, argv('dataset', '--help', 'nosuch'))).toEqual(argv('dataset', 'nosuch'));
  });

  it('bench is not a cmcrd command (npm run bench runs bench/main.ts)', async () => {
    const r = await runCli('bench', '--quick');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command 'bench'/);
  });
});

describe('cmcrd options', () => {
  it('--help lists the choices of choice options, and the defaults', async () => {
    const train = (await runCli('train', '--help')).out.replace(/\s+/g, ' ');
    expect(train).toMatch(/--method <m> .*\(choices: "eeg-only", "eye-only", "fusion", "kd", .*"cmcrd", default: "cmcrd"\)/);
    expect(train).toMatch(/--arch <a> .*\(choices: "mlp", "eegnet", "dgcnn", default: "mlp"\)/);
    expect(train).toMatch(/--protocol <p> .*\(choices: "within", "cross-session", "loso", default: "loso"\)/);
    expect(train).toMatch(/--engine <e> .*\(choices: "auto", "tfjs", default: "auto"\)/);
    expect(train).toMatch(/--seeds <list> seeds, comma-separated \(default: 2022,2023,2024\)/);
    expect(train).toMatch(/--epochs <n> epochs per network \(default: 40\)/);
    const compare = (await runCli('compare', '--help')).out.replace(/\s+/g, ' ');
    expect(compare).toMatch(/--reference <method> .*\(choices: "eeg-only", /);
    expect((await runCli('features', '--help')).out.replace(/\s+/g, ' ')).toMatch(
      /--format <f> output format \(choices: "json", "csv", default: "json"\)/,
    );
    expect((await runCli('decode', '--help')).out.replace(/\s+/g, ' ')).toMatch(/\(choices: "jsonl", "csv", default: "jsonl"\)/);
    expect((await runCli('dataset', 'synth', '--help')).out.replace(/\s+/g, ' ')).toMatch(
      /--layout <layout> file layout to write \(choices: "seed-iv", "seed-v"\)/,
    );
    expect((await runCli('demo', '--help')).out.replace(/\s+/g, ' ')).toMatch(
      /--arch <a> .*\(choices: "mlp", "eegnet", "dgcnn", default: "mlp"\)/,
    );
  });

  it('bad values are refused while parsing: exit 2, option named, value quoted, no stack trace, nothing run', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--lr', '0'], /^cmcrd: --lr must be a positive number, got "0"\n$/],
      [['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--lr', ''], /^cmcrd: --lr must be a positive number, got ""\n$/],
      [
        ['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--val-fraction', '1'],
        /^cmcrd: --val-fraction must be a fraction in \[0, 1\), got "1"\n$/,
      ],
      [
        ['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--batch-size', '1.5'],
        /^cmcrd: --batch-size must be an integer ≥ 2, got "1\.5"\n$/,
      ],
      [
        ['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--seeds', '1,x'],
        /^cmcrd: --seeds must be non-negative integers, got "x"\n$/,
      ],
      [['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--seeds', ','], /^cmcrd: --seeds is empty\n$/],
      [
        ['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--sessions', '0'],
        /^cmcrd: --sessions must be positive integers, got "0"\n$/,
      ],
      [
        ['train', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--backend', 'gpu'],
        /^cmcrd: --backend must be one of tensorflow, wasm, cpu, got "gpu"\n$/,
      ],
      [
        ['compare', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--archs', 'mlp,resnet'],
        /^cmcrd: --archs must be one of mlp, eegnet, dgcnn, got "resnet"\n$/,
      ],
      [
        ['compare', '--dataset', 'synthetic', '--root', 'x', '--out', 'y', '--reference', 'best'],
        /^cmcrd: --reference must be one of .*, got "best"\n$/,
      ],
      [['dataset', 'synth', '--layout', 'seed-x', '--out', 'y'], /^cmcrd: --layout must be one of seed-iv, seed-v, got "seed-x"\n$/],
      [
        ['dataset', 'dump', '--dataset', 'seed', '--root', 'x', '--subject', '1', '--session', '0', '--trial', '1'],
        /^cmcrd: --session must be an integer ≥ 1, got "0"\n$/,
      ],
      [
        ['dataset', 'info', '--dataset', 'seed', '--root', 'x', '--source', 'both'],
        /^cmcrd: --source must be one of features, raw, got "both"\n$/,
      ],
      [['features', 'x.csv', '--fs', '-1'], /^cmcrd: --fs must be a positive number, got "-1"\n$/],
      [['features', 'x.csv', '--fs', '200', '--nfft', '2.5'], /^cmcrd: --nfft must be a positive integer, got "2\.5"\n$/],
      [
        ['features', 'x.csv', '--fs', '200', '--bandpass', '40,1'],
        /^cmcrd: --bandpass must be lo,hi in Hz with 0 < lo < hi, got "40,1"\n$/,
      ],
      [['features', 'x.csv', '--fs', '200', '--smooth', 'kalman'], /^cmcrd: --smooth must be one of .*, got "kalman"\n$/],
      [
        ['record', '--device', 'sim:muse', '--out', 'y', '--seconds', 'ten'],
        /^cmcrd: --seconds must be a number in \(0, 86400\], got "ten"\n$/,
      ],
      [['demo', '--drop', '1'], /^cmcrd: --drop must be a probability in \[0, 1\), got "1"\n$/],
      [['demo', '--speed', '0'], /^cmcrd: --speed must be a number ≥ 0\.1, got "0"\n$/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(msg);
      expect(r.out).toBe('');
    }
  });
});
