import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCaptureFile } from '../../src/cli/commands/decode.js';
import { recordCapture } from '../../src/cli/commands/record.js';
import { CliError } from '../../src/cli/main.js';
import { runCli } from '../cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'cmcrd-fw-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function decode(path: string, format: 'jsonl' | 'csv' = 'jsonl') {
  const lines: string[] = [];
  const warnings: string[] = [];
  const sum = await decodeCaptureFile(
    path,
    format,
    (l) => lines.push(l),
    (w) => warnings.push(w),
  );
  return { lines, warnings, sum };
}

describe('cmcrd record / decode', () => {
  it('records a virtual Muse and decodes it to per-row EEG, telemetry, motion and control records', async () => {
    const out = join(dir, 'muse.jsonl');
    const r = await recordCapture({ device: 'sim:muse?emotion=happy&seed=3', out, seconds: 3, quiet: true });
    expect(r.kind).toBe('muse');
    const text = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(text[0]!)).toMatchObject({ format: 'cmcrd-capture', version: 1, device: 'muse', preset: 'p21' });
    expect(JSON.parse(text[1]!)).toEqual({
      t: expect.any(Number),
      char: expect.stringMatching(/^273e0001-/),
      hex: expect.stringMatching(/^[0-9a-f]+$/),
    });
    const { lines, sum } = await decode(out);
    const recs = lines.map((l) => JSON.parse(l));
    const eeg = recs.filter((x) => x.kind === 'eeg');
    expect(eeg.length).toBe(Math.floor(3050 / (12000 / 256)) * 12); // 'd' is followed by a 50 ms pause, then 3 s
    expect(Object.keys(eeg[0].channels)).toEqual(['TP9', 'AF7', 'AF8', 'TP10']);
    expect(eeg[1].t - eeg[0].t).toBeCloseTo(1000 / 256, 3);
    expect(recs.some((x) => x.kind === 'telemetry' && x.battery > 0)).toBe(true);
    expect(recs.some((x) => x.kind === 'accelerometer' && x.samples.length === 3)).toBe(true);
    expect(recs.some((x) => x.kind === 'control' && x.json.rc === 0)).toBe(true);
    expect(sum.errors).toBe(0);
    const csv = await decode(out, 'csv');
    expect(csv.lines[0]).toBe('t,sample,TP9,AF7,AF8,TP10');
    expect(csv.lines.length).toBe(eeg.length + 1);
  });

  it('records a Ganglion with firmware in the header and decodes gaps from a lossy link', async () => {
    const out = join(dir, 'g.jsonl');
    await recordCapture({ device: 'sim:ganglion?firmware=2&drop=0.05&seed=2', out, seconds: 3, quiet: true });
    expect(JSON.parse(readFileSync(out, 'utf8').split('\n')[0]!)).toMatchObject({ device: 'ganglion', firmware: '2.x' });
    const recs = (await decode(out)).lines.map((l) => JSON.parse(l));
    const gaps = recs.filter((x) => x.kind === 'gap');
    expect(gaps.length).toBeGreaterThan(0);
    const nulls = recs.filter((x) => x.kind === 'eeg' && Object.values(x.channels)[0] === null).length;
    expect(nulls).toBe(gaps.reduce((s, g) => s + g.lostSamples, 0));
  });

  it('reports bad lines by number, keeps decoding, and turns undecodable packets into error records', async () => {
    const p = join(dir, 'bad.jsonl');
    writeFileSync(
      p,
      [
        '{"format":"cmcrd-capture","version":1,"device":"muse"}',
        '{"t":0,"char":"273e0003-4c4d-454d-96be-f03bac821358","hex":"0001"}',
        'not json',
        '{"t":1,"char":"273e0003-4c4d-454d-96be-f03bac821358","hex":"zz"}',
        '{"t":2,"char":"273e0001-4c4d-454d-96be-f03bac821358","hex":"087b227263223a307d"}',
      ].join('\n'),
    );
    const { lines, warnings, sum } = await decode(p);
    const recs = lines.map((l) => JSON.parse(l));
    expect(recs[0]).toMatchObject({ kind: 'error', error: expect.stringMatching(/20 bytes/) });
    expect(recs.filter((r) => r.line).map((r) => r.line)).toEqual([3, 4]);
    expect(warnings.join('\n')).toMatch(/line 3: not valid JSON[\s\S]*line 4: "hex"/);
    expect(recs.at(-1)).toMatchObject({ kind: 'control', json: { rc: 0 } });
    expect(sum.badLines).toBe(2);
    writeFileSync(p, '{"format":"cmcrd-capture","version":1,"device":"ganglion"}\n');
    await expect(decode(p)).rejects.toThrow(/line 1: a Ganglion capture needs "firmware"/);
    await expect(decode(join(dir, 'missing.jsonl'))).rejects.toBeInstanceOf(CliError);
    await expect(recordCapture({ device: 'sim:muse?bogus=1', out: join(dir, 'x.jsonl'), seconds: 1, quiet: true })).rejects.toThrow(
      /unknown option "bogus"/,
    );
  });

  it('replay: re-records a capture', async () => {
    const src = join(dir, 'oe.jsonl');
    await recordCapture({ device: 'sim:open-eeg?format=int16&rate=250', out: src, seconds: 2, quiet: true });
    const again = join(dir, 'oe2.jsonl');
    await recordCapture({ device: `replay:${src}?clock=manual`, out: again, seconds: 5, quiet: true });
    const a = (await decode(src)).lines.filter((l) => l.includes('"eeg"'));
    const b = (await decode(again)).lines.filter((l) => l.includes('"eeg"'));
    expect(b).toEqual(a);
  });

  it('records the preset of the URI or of --preset, and the header names the preset the data has', async () => {
    const header = (p: string) => JSON.parse(readFileSync(p, 'utf8').split('\n')[0]!) as { preset?: string };
    // preset=p20 in the URI: the AUX channel streams and the header says p20.
    const p20 = join(dir, 'p20.jsonl');
    expect((await runCli('record', '--device', 'sim:muse?preset=p20&seed=4', '--out', p20, '--seconds', '1')).code).toBe(0);
    expect(header(p20).preset).toBe('p20');
    expect((await decode(p20, 'csv')).lines[0]).toBe('t,sample,TP9,AF7,AF8,TP10,AUX');
    // --preset alone: PPG streams under p50.
    const p50 = join(dir, 'p50.jsonl');
    expect((await runCli('record', '--device', 'sim:muse', '--preset', 'p50', '--out', p50, '--seconds', '1')).code).toBe(0);
    expect(header(p50).preset).toBe('p50');
    expect((await decode(p50)).lines.some((l) => l.includes('"kind":"ppg"'))).toBe(true);
    // The same preset in both places is fine.
    expect(
      (await runCli('record', '--device', 'sim:muse?preset=p20', '--preset', 'p20', '--out', join(dir, 'same.jsonl'), '--seconds', '1'))
        .code,
    ).toBe(0);
    // A replay keeps the recorded preset (AUX still decoded) and refuses another one.
    const again = join(dir, 'p20-again.jsonl');
    expect((await runCli('record', '--device', `replay:${p20}?clock=manual`, '--out', again, '--seconds', '2')).code).toBe(0);
    expect(header(again).preset).toBe('p20');
    expect((await decode(again, 'csv')).lines).toEqual((await decode(p20, 'csv')).lines);

    const refused: [string[], RegExp][] = [
      [['--device', 'sim:muse', '--preset', 'p99'], /cmcrd: sim:muse: unknown Muse preset "p99" \(known: p20, p21, p50, p51, p60, p61\)/],
      [['--device', 'sim:muse?preset=p20', '--preset', 'p50'], /--preset p50 conflicts with preset=p20 in --device sim:muse\?preset=p20/],
      [['--device', 'sim:ganglion', '--preset', 'p50'], /--preset p50: sim:ganglion has no presets/],
      [['--device', `replay:${p20}?clock=manual`, '--preset', 'p21'], /--preset p21: .* \(preset p20\); a replay cannot change the preset/],
    ];
    for (const [args, msg] of refused) {
      const out = join(dir, 'refused.jsonl');
      const r = await runCli('record', ...args, '--out', out, '--seconds', '1');
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(existsSync(out), 'nothing written').toBe(false);
    }
    // The URI form gives the same message for an unknown preset.
    expect((await runCli('record', '--device', 'sim:muse?preset=p99', '--out', join(dir, 'refused.jsonl'))).err).toMatch(
      /unknown Muse preset "p99" \(known: p20, p21, p50, p51, p60, p61\)/,
    );
  });

  it('an unwritable --out, or --out naming the replayed capture, fails with exit 2 naming the path', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'x');
    const r = await runCli('record', '--device', 'sim:muse', '--out', join(blocker, 'c.jsonl'), '--seconds', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cmcrd: --out .*a-file.*a file is in the way/);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.err).not.toMatch(/record \d+\/\d+/); // refused before recording

    const src = join(dir, 'keep.jsonl');
    await recordCapture({ device: 'sim:muse', out: src, seconds: 1, quiet: true });
    const before = readFileSync(src, 'utf8');
    const self = await runCli('record', '--device', `replay:${src}`, '--out', src, '--seconds', '1');
    expect(self.code).toBe(2);
    expect(self.err).toMatch(/--out .*keep\.jsonl is the capture being replayed/);
    expect(readFileSync(src, 'utf8')).toBe(before);
  });

  it('SIGTERM stops a long record on the (default) manual clock and keeps what was recorded', async () => {
    const out = join(dir, 'long.jsonl');
    const child = spawn(process.execPath, ['bin/cmcrd.js', 'record', '--device', 'sim:muse', '--out', out, '--seconds', '20000'], {
      cwd: resolve(__dirname, '../..'),
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += String(d);
      if (/record 1\//.test(err) && child.exitCode === null && !child.killed) child.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((r) => {
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (c) => (clearTimeout(guard), r(c)));
    });
    expect(code, err).toBe(0);
    const m = /wrote (\d+) notifications/.exec(err);
    expect(m, err).not.toBeNull();
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ device: 'muse', preset: 'p21' });
    expect(lines.length).toBe(Number(m![1]) + 1); // every notification counted reached the file
    expect(lines.length).toBeLessThan(20000 * 100); // stopped early (the full run is ~120 notifications per second)
  }, 90_000);
});
