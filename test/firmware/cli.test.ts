import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCaptureFile } from '../../src/cli/commands/decode.js';
import { recordCapture } from '../../src/cli/commands/record.js';
import { CliError } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'cmcrd-fw-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function decode(path: string, format: 'jsonl' | 'csv' = 'jsonl') {
  const lines: string[] = [];
  const warnings: string[] = [];
  const sum = await decodeCaptureFile(path, format, (l) => lines.push(l), (w) => warnings.push(w));
  return { lines, warnings, sum };
}

describe('cmcrd record / decode', () => {
  it('records a virtual Muse and decodes it to per-row EEG, telemetry, motion and control records', async () => {
    const out = join(dir, 'muse.jsonl');
    const r = await recordCapture({ device: 'sim:muse?emotion=happy&seed=3', out, seconds: 3, quiet: true });
    expect(r.kind).toBe('muse');
    const text = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(text[0]!)).toMatchObject({ format: 'cmcrd-capture', version: 1, device: 'muse', preset: 'p21' });
    expect(JSON.parse(text[1]!)).toEqual({ t: expect.any(Number), char: expect.stringMatching(/^273e0001-/), hex: expect.stringMatching(/^[0-9a-f]+$/) });
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
    await expect(recordCapture({ device: 'sim:muse?bogus=1', out: join(dir, 'x.jsonl'), seconds: 1, quiet: true })).rejects.toThrow(/unknown option "bogus"/);
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
});
