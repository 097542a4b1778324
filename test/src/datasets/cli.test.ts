import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli as run } from '../../cli-harness.js';

const FIX = join(import.meta.dirname, '../../fixtures/datasets');

afterEach(() => {
  process.exitCode = 0;
});

describe('cmcrd dataset', () => {
  it('info --json prints the documented summary object', async () => {
    const r = await run('dataset', 'info', '--dataset', 'seed-v', '--root', join(FIX, 'seed_v_mini'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(Object.keys(j)).toEqual(['subjects', 'sessions', 'trials', 'windows', 'eegFeatures', 'eyeFeatures', 'classCounts']);
    // 2 subjects × 45 trials, windows 1 + k % 2 → 22·2 + 23·1 = 67 per subject.
    expect(j).toMatchObject({ subjects: 2, sessions: 3, trials: 90, windows: 134, eegFeatures: 310, eyeFeatures: 33 });
    expect(Object.keys(j.classCounts)).toEqual(['disgust', 'fear', 'sad', 'neutral', 'happy']);
    expect(r.err).toMatch(/loading 4\/4/);
  });
  it('dump --json prints label, eeg [window][channel][band] and eye [window][feature]', async () => {
    const r = await run(
      'dataset',
      'dump',
      '--dataset',
      'seed-iv',
      '--root',
      join(FIX, 'seed_iv_mini'),
      '--subject',
      '7',
      '--session',
      '2',
      '--trial',
      '5',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.label).toBe(0); // session 2, trial 5: neutral
    expect(j.eeg.length).toBe(3); // 1 + 5 % 3 windows
    expect(j.eeg[0].length).toBe(62);
    expect(j.eeg[0][0].length).toBe(5);
    expect(j.eeg[2][61][4]).toBe(((2 * 3 + 5 * 5 + 61 * 7 + 2 * 11 + 4 * 13) % 23) / 4 - 2.5);
    expect(j.eye.length).toBe(3);
    expect(j.eye[1][30]).toBe(((2 + 5 * 3 + 30 * 5 + 1 * 7) % 19) / 8);
  });
  it('user errors exit 2 and name the path / key', async () => {
    let r = await run('dataset', 'info', '--dataset', 'seed-iv', '--root', join(FIX, 'nowhere'), '--json');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nowhere: missing folder/);
    r = await run('dataset', 'info', '--dataset', 'seed-iv', '--root', join(FIX, 'seed_iv_mini'), '--feature', 'psd_LDS', '--json');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/7_20150721\.mat \[psd_LDS1\]: variable not found/);
    r = await run('dataset', 'info', '--dataset', 'seed-x', '--root', FIX);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--dataset must be one of seed, seed-iv, seed-v, synthetic/);
    r = await run(
      'dataset',
      'dump',
      '--dataset',
      'seed',
      '--root',
      join(FIX, 'seed_mini'),
      '--subject',
      '3',
      '--session',
      '1',
      '--trial',
      '16',
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no trial 16 for subject 3, session 1/);
  });
  it('montage --json maps Muse sites', async () => {
    const r = await run('dataset', 'montage', '--json');
    expect(JSON.parse(r.out).matches.map((m: { channel: string }) => m.channel)).toEqual(['TP7', 'FP1', 'FP2', 'TP8']);
    const g = await run('dataset', 'montage', '--device', 'ganglion', '--sites', 'C3,C4');
    expect(g.code).toBe(2);
    expect(g.err).toMatch(/exactly 4/);
  });
  it('synth --model overrides generative-model parameters, records them, and rejects unknown ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-synth-model-'));
    try {
      const synth = (name: string, ...extra: string[]) =>
        run(
          'dataset',
          'synth',
          '--layout',
          'seed-iv',
          '--subjects',
          '1',
          '--sessions',
          '1',
          '--windows-per-trial',
          '1',
          '--out',
          join(dir, name),
          ...extra,
        );
      const eye = async (name: string) => {
        const r = await run(
          'dataset',
          'dump',
          '--dataset',
          'synthetic',
          '--root',
          join(dir, name),
          '--subject',
          '1',
          '--session',
          '1',
          '--trial',
          '2',
          '--json',
        );
        expect(r.code).toBe(0);
        return JSON.parse(r.out).eye as number[][];
      };
      expect((await synth('plain')).code).toBe(0);
      const r = await synth('blind', '--model', '{"eyeLatentGain":[0,0,0,0,0,0],"eyeNoise":0.1}');
      expect(r.code).toBe(0);
      const manifest = JSON.parse(readFileSync(join(dir, 'blind', 'SYNTHETIC.json'), 'utf8'));
      expect(manifest.modelParameters).toEqual({ eyeLatentGain: [0, 0, 0, 0, 0, 0], eyeNoise: 0.1 });
      expect(JSON.parse(readFileSync(join(dir, 'plain', 'SYNTHETIC.json'), 'utf8')).modelParameters).toBeUndefined();
      // Blind eyes see only the subject offset and less noise: different numbers from the default model.
      const [a, b] = [await eye('plain'), await eye('blind')];
      expect(a[0]).toHaveLength(31);
      expect(b[0]![0]).not.toBeCloseTo(a[0]![0]!, 6);

      let bad = await synth('x', '--model', '{"eyeNoize":0.1}');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/unknown parameter "eyeNoize"/);
      bad = await synth('x', '--model', '{"eyeNoise":"high"}');
      expect(bad.err).toMatch(/"eyeNoise" must be a number/);
      bad = await synth('x', '--model', '{eyeNoise:1}');
      expect(bad.err).toMatch(/--model is not valid JSON/);
      bad = await synth('x', '--model', '{"eegLatentGain":[1,1]}');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/eegLatentGain must hold 6 finite numbers/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('synth refuses a non-empty --out folder (exit 2) and leaves the dataset there untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-synth-reuse-'));
    /** Every file under `root` → its bytes (base64), to compare before/after. */
    const snapshot = (root: string, into = new Map<string, string>()) => {
      for (const d of readdirSync(root, { withFileTypes: true })) {
        const p = join(root, d.name);
        if (d.isDirectory()) snapshot(p, into);
        else into.set(p, readFileSync(p).toString('base64'));
      }
      return into;
    };
    try {
      const out = join(dir, 'ds');
      const synth = (...extra: string[]) => run('dataset', 'synth', '--windows-per-trial', '1', '--sessions', '1', '--out', out, ...extra);
      expect((await synth('--layout', 'seed-iv', '--subjects', '3')).code).toBe(0);
      const before = snapshot(out);
      expect(before.size).toBe(7); // 3 subjects × (EEG + eye) + SYNTHETIC.json
      for (const second of [
        ['--layout', 'seed-iv', '--subjects', '2', '--seed', '5'],
        ['--layout', 'seed-v', '--subjects', '1'],
      ]) {
        const r = await synth(...second);
        expect(r.code, second.join(' ')).toBe(2);
        expect(r.err).toContain(`--out ${out}: folder exists and is not empty (SYNTHETIC.json, eeg_feature_smooth, eye_feature_smooth)`);
        expect(r.err).toMatch(/Choose a new output folder, or delete this one yourself first/);
        expect(snapshot(out)).toEqual(before);
      }
      const info = await run('dataset', 'info', '--dataset', 'synthetic', '--root', out, '--json');
      expect(JSON.parse(info.out)).toMatchObject({ subjects: 3, sessions: 1 });

      // An existing empty folder is fine (e.g. from mkdtemp); a file in the way is not.
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      expect(
        (
          await run(
            'dataset',
            'synth',
            '--layout',
            'seed-v',
            '--subjects',
            '1',
            '--sessions',
            '1',
            '--windows-per-trial',
            '1',
            '--out',
            empty,
          )
        ).code,
      ).toBe(0);
      writeFileSync(join(dir, 'a-file'), 'keep me');
      const f = await run('dataset', 'synth', '--layout', 'seed-v', '--out', join(dir, 'a-file'));
      expect(f.code).toBe(2);
      expect(f.err).toMatch(/a-file: exists and is a file, not a folder/);
      expect(readFileSync(join(dir, 'a-file'), 'utf8')).toBe('keep me');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a synthetic folder whose files disagree with SYNTHETIC.json is an error naming the folder and both counts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmcrd-synth-mixed-'));
    try {
      const out = join(dir, 'ds');
      expect(
        (
          await run(
            'dataset',
            'synth',
            '--layout',
            'seed-iv',
            '--subjects',
            '3',
            '--sessions',
            '1',
            '--windows-per-trial',
            '1',
            '--out',
            out,
          )
        ).code,
      ).toBe(0);
      // What two runs into one folder used to leave: the newer manifest (2 subjects) over 3 subjects' files.
      const manifestPath = join(out, 'SYNTHETIC.json');
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      writeFileSync(manifestPath, JSON.stringify({ ...manifest, subjects: 2 }));
      let r = await run('dataset', 'info', '--dataset', 'synthetic', '--root', out, '--json');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${out}: SYNTHETIC.json describes 2 subjects × 1 session, but the seed-iv files hold 3 subjects × 1 session`);
      // An interrupted run records its planned size and may hold fewer files, never more.
      writeFileSync(manifestPath, JSON.stringify({ ...manifest, subjects: 4, stopped: true }));
      r = await run('dataset', 'info', '--dataset', 'synthetic', '--root', out, '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).subjects).toBe(3);
      writeFileSync(manifestPath, JSON.stringify({ ...manifest, subjects: 4 }));
      r = await run('dataset', 'info', '--dataset', 'synthetic', '--root', out, '--json');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/describes 4 subjects × 1 session, but the seed-iv files hold 3 subjects/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
