/**
 * `cmcrd record` / `cmcrd decode` and device URIs on hostile input (issue 24, items 3, 7 and 8): a capture is never
 * replaced without --force nor destroyed through a link to it, a folder given as a capture is named (exit 2), a
 * repeated `sim:` option is refused, and a capture starting with a UTF-8 BOM decodes.
 */
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli-harness.js';
import { recordCapture } from '../../../src/cli/commands/record.js';
import { parseCapture } from '../../../firmware-bridge/capture.js';
import { DeviceUriError, parseReplayUri, parseSimUri } from '../../../firmware-bridge/sim/uri.js';

const dir = mkdtempSync(join(tmpdir(), 'cmcrd-capture-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let capture = '';
beforeAll(async () => {
  capture = join(dir, 'cap.jsonl');
  await recordCapture({ device: 'sim:muse?seed=3', out: capture, seconds: 2, quiet: true });
});

describe('record never replaces a file, nor the capture it replays', () => {
  it('--out onto an existing file is refused before streaming (file kept); --force replaces it; no temporary file is left', async () => {
    const out = join(dir, 'existing.jsonl');
    writeFileSync(out, 'precious');
    const r = await runCli('record', '--device', 'sim:muse', '--out', out, '--seconds', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*existing\.jsonl: a file already exists there; choose another file, or add --force to replace it/);
    expect(r.err).not.toMatch(/record \d+\//);
    expect(readFileSync(out, 'utf8')).toBe('precious');
    const f = await runCli('record', '--device', 'sim:muse', '--out', out, '--seconds', '1', '--force');
    expect(f.code, f.err).toBe(0);
    expect(parseCapture(readFileSync(out, 'utf8')).header.device).toBe('muse');
    expect(readdirSync(dir).filter((x) => x.endsWith('.partial'))).toEqual([]);
  });

  it('--out through a symbolic or hard link to the replayed capture is refused even with --force; the capture is intact', async () => {
    const before = readFileSync(capture, 'utf8');
    const soft = join(dir, 'soft.jsonl');
    symlinkSync(capture, soft);
    const hard = join(dir, 'hard.jsonl');
    linkSync(capture, hard);
    for (const out of [soft, hard]) {
      for (const extra of [[], ['--force']]) {
        const r = await runCli('record', '--device', `replay:${capture}`, '--out', out, '--seconds', '1', ...extra);
        expect(r.code, `${out} ${extra}`).toBe(2);
        expect(r.err).toMatch(/is the capture being replayed \(the same file under another name or link\); writing there would replace it/);
      }
      // …and replaying through the link onto the capture's own name is the same file too.
      const back = await runCli('record', '--device', `replay:${out}`, '--out', capture, '--seconds', '1', '--force');
      expect(back.code).toBe(2);
    }
    expect(readFileSync(capture, 'utf8')).toBe(before);
  });

  it('a folder, or a missing file, as the replayed capture is named (exit 2)', async () => {
    const r = await runCli('record', '--device', `replay:${dir}`, '--out', join(dir, 'x.jsonl'), '--seconds', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--device replay:.*: capture .*: is a folder, expected a file/);
    expect(existsSync(join(dir, 'x.jsonl'))).toBe(false);
  });
});

describe('decode: paths and byte-order marks', () => {
  it('a folder as the capture is exit 2 naming the path (was a raw EISDIR, exit 1); a missing file too', async () => {
    const sub = join(dir, 'a-folder');
    mkdirSync(sub);
    const r = await runCli('decode', sub);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cmcrd: capture file .*a-folder: is a folder, expected a file/);
    expect(r.err).not.toMatch(/EISDIR|\n\s+at /);
    const m = await runCli('decode', join(dir, 'nope.jsonl'));
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/capture file .*nope\.jsonl: no such file/);
  });

  it('a capture starting with a UTF-8 BOM decodes like the same capture without it', async () => {
    const bom = join(dir, 'bom.jsonl');
    writeFileSync(bom, '\uFEFF' + readFileSync(capture, 'utf8'));
    const [a, b] = [await runCli('decode', capture, '--format', 'csv'), await runCli('decode', bom, '--format', 'csv')];
    expect(b.code, b.err).toBe(0);
    expect(b.out).toBe(a.out);
    expect(parseCapture(readFileSync(bom, 'utf8')).header.device).toBe('muse');
  });
});

describe('device URIs', () => {
  it('a repeated sim: option is refused naming it (the last one was kept silently)', async () => {
    expect(() => parseSimUri('sim:muse?drop=0.1&drop=0.9')).toThrow(
      /option "drop" is given twice \(drop=0\.1 and drop=0\.9\); give it once/,
    );
    expect(() => parseReplayUri('replay:x.jsonl?speed=2&speed=4')).toThrow(DeviceUriError);
    const r = await runCli('record', '--device', 'sim:muse?drop=0.1&drop=0.9', '--out', join(dir, 'twice.jsonl'), '--seconds', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/option "drop" is given twice/);
    expect(existsSync(join(dir, 'twice.jsonl'))).toBe(false);
  });

  it('numeric options are plain decimals: seed=0x10 and drop= are refused', async () => {
    for (const [uri, msg] of [
      ['sim:muse?seed=0x10', /option seed="0x10": expected an integer/],
      ['sim:muse?drop=', /option drop="": expected a probability 0–1/],
      ['sim:muse?speed=1e1000', /option speed="1e1000": expected a number > 0/],
    ] as const) {
      const r = await runCli('record', '--device', uri, '--out', join(dir, 'u.jsonl'), '--seconds', '1');
      expect(r.code, uri).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });
});
