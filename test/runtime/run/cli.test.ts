/**
 * `cmcrd run` and `cmcrd calibrate` through the CLI: JSON Lines to a file or stdout, refusals before anything is
 * streamed (exit 2, no file left), calibration recorded and applied as the card asks, Ctrl-C mid-run in a spawned
 * CLI (exit 0, a complete file ending in the summary), and --serve (Server-Sent Events and /health).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../../runtime/run/events.js';
import { runCli } from '../../cli-harness.js';
import { modelDir, ofType, parseLines } from './helpers.js';

const ROOT = resolve(__dirname, '../../..');
let dir: string;
let model: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-run-cli-'));
  // Saved headbands are looked up in $XDG_CONFIG_HOME/cmcrd/devices.json: an empty folder here, not the user's.
  process.env['XDG_CONFIG_HOME'] = join(dir, 'config');
  model = await modelDir({ int8: true, card: { faster: { 'onnxruntime-node': 'int8' } } });
});

const savedXdg = process.env['XDG_CONFIG_HOME'];
afterAll(() => {
  if (savedXdg === undefined) delete process.env['XDG_CONFIG_HOME'];
  else process.env['XDG_CONFIG_HOME'] = savedXdg;
});

const fast = ['--speed', '100000'];

describe('cmcrd run', () => {
  it('writes JSON Lines to --out: start, connect, one line per window, a summary; refuses to replace it without --force', async () => {
    const out = join(dir, 'preds.jsonl');
    const r = await runCli('run', '--model', model, '--device', 'sim:muse?seed=2&drop=0.01', '--duration', '14.3', ...fast, '--out', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/run: \d+ predictions/);
    const ev = parseLines(readFileSync(out, 'utf8'));
    expect(ev[0]!.type).toBe('start');
    const s = ev.at(-1) as RunSummary;
    expect(s.type).toBe('summary');
    expect(s.stoppedBy).toBe('duration');
    expect(ofType(ev, 'prediction')).toHaveLength(s.windows);
    expect(s.windows).toBe(11); // windows end at 4.15 s … 14.15 s, one a second
    const p = ofType(ev, 'prediction')[0]!;
    expect(Object.keys(p.probabilities!)).toEqual(['neutral', 'sad', 'fear', 'happy']);
    expect(p.mode).toBe('performance');
    expect(p.variant).toBe('fp32');
    expect(p.quality).toBe(1);
    expect(ofType(ev, 'start')[0]!.variants).toEqual({ default: 'fp32', fast: 'int8' });
    const again = await runCli('run', '--model', model, '--device', 'sim:muse', '--duration', '5', ...fast, '--out', out);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/--out .*preds\.jsonl exists; pass --force/);
    expect(readFileSync(out, 'utf8').trim().split('\n').at(-1)).toContain('"summary"');
    const forced = await runCli('run', '--model', model, '--device', 'sim:muse', '--duration', '5', ...fast, '--out', out, '--force');
    expect(forced.code, forced.err).toBe(0);
  });

  it('prints to stdout without --out; the balanced mode runs the faster variant', async () => {
    const r = await runCli(
      'run',
      '--model',
      model,
      '--device',
      'sim:muse?seed=2',
      '--duration',
      '13',
      ...fast,
      '--policy',
      'fixed:balanced',
    );
    expect(r.code, r.err).toBe(0);
    const ev = parseLines(r.out);
    const preds = ofType(ev, 'prediction');
    expect(preds.length).toBe(3);
    expect(preds.every((p) => p.mode === 'balanced' && p.variant === 'int8')).toBe(true);
  });

  it('refuses, before streaming and without leaving a file: a model the device cannot serve, a saved name, bad options', async () => {
    const out = join(dir, 'refused.jsonl');
    const aux = await modelDir({ sites: ['TP9', 'AF7', 'AF8', 'AUX'] });
    const cases: [string[], RegExp][] = [
      [
        ['--model', aux, '--device', 'sim:muse'],
        /needs the electrode AUX, but the Muse .* \(preset p21\) streams TP9, AF7, AF8, TP10; preset p20 has them/,
      ],
      [
        ['--model', model, '--device', 'my-muse'],
        /"my-muse" is not a paired headband: .*Pair it first with `cmcrd pair --select "my-muse"`/,
      ],
      [['--model', model, '--device', 'sim:muse?bogus=1'], /unknown option "bogus" for sim:muse/],
      [
        ['--model', model, '--device', 'sim:muse', '--policy', 'fixed:turbo'],
        /--policy: policy must be auto or fixed:<performance\|balanced\|saver\|critical>, got "fixed:turbo"/,
      ],
      [
        ['--model', model, '--device', 'sim:muse', '--policy', 'fixed:saver', '--battery-target', '3'],
        /--battery-target picks the mode itself/,
      ],
      [['--model', model, '--device', 'sim:muse', '--thresholds', '10,20,30'], /--thresholds: .*must fall/],
      [['--model', join(dir, 'nothing'), '--device', 'sim:muse'], /--model .*nothing: no such file or directory/],
      [['--model', model, '--device', 'sim:muse', '--calibration', join(dir, 'none.json')], /--calibration .*none\.json: no such file/],
      [['--model', model, '--device', 'sim:muse', '--serve', 'host:port'], /--serve: expected \[host:\]port/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli('run', ...args, '--duration', '5', ...fast, '--out', out);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('calibrate records a baseline; run applies it, as the card asks (required: refused without; none: refused with)', async () => {
    const calib = join(dir, 'calib.json');
    const c = await runCli(
      'calibrate',
      '--model',
      model,
      '--device',
      'sim:muse?seed=9&subject=3',
      '--seconds',
      '30',
      '--out',
      calib,
      '--user',
      'ann',
      '--json',
    );
    expect(c.code, c.err).toBe(0);
    const doc = JSON.parse(c.out) as { windows: number; user: string };
    expect(doc.user).toBe('ann');
    expect(doc.windows).toBeGreaterThanOrEqual(25); // 4-s windows every second over ~30 s
    const file = JSON.parse(readFileSync(calib, 'utf8')) as {
      kind: string;
      dim: number;
      users: Record<string, { count: number[] }>;
      meta: { channels: string[] };
    };
    expect(file.kind).toBe('calibration');
    expect(file.dim).toBe(20);
    expect(file.users.ann!.count.every((n) => n === doc.windows)).toBe(true);
    expect(file.meta.channels).toEqual(['TP7', 'FP1', 'FP2', 'TP8']);
    expect((await runCli('calibrate', '--model', model, '--device', 'sim:muse', '--out', calib)).err).toMatch(/exists; pass --force/);

    const out = join(dir, 'calibrated.jsonl');
    const r = await runCli(
      'run',
      '--model',
      model,
      '--device',
      'sim:muse?seed=9&subject=3',
      '--duration',
      '10',
      ...fast,
      '--calibration',
      calib,
      '--out',
      out,
    );
    expect(r.code, r.err).toBe(0);
    const ev = parseLines(readFileSync(out, 'utf8'));
    expect(ofType(ev, 'start')[0]!.calibration).toBe(`user ann (${doc.windows} windows)`);
    expect(ofType(ev, 'start')[0]!.notes!.join(' ')).toMatch(/card does not say whether it expects per-user calibration/);
    expect(ofType(ev, 'prediction').length).toBeGreaterThan(0);

    const required = await modelDir({ card: { user_calibration: 'required' } });
    const req = await runCli('run', '--model', required, '--device', 'sim:muse', '--duration', '5', ...fast);
    expect(req.code).toBe(2);
    expect(req.err).toMatch(/asks for per-user calibration: record one with cmcrd calibrate/);
    const none = await modelDir({ card: { user_calibration: 'none' } });
    const no = await runCli('run', '--model', none, '--device', 'sim:muse', '--duration', '5', ...fast, '--calibration', calib);
    expect(no.code).toBe(2);
    expect(no.err).toMatch(/takes no per-user calibration .* drop --calibration/);
    writeFileSync(join(dir, 'bad.json'), '{"kind":"calibration","dim":20,"users":{}}');
    const bad = await runCli(
      'run',
      '--model',
      model,
      '--device',
      'sim:muse',
      '--duration',
      '5',
      ...fast,
      '--calibration',
      join(dir, 'bad.json'),
    );
    expect(bad.err).toMatch(/bad\.json: holds no user's statistics/);
  });
});

/** The CLI from the sources, as a child process. */
function spawnCli(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<number | null>((done) => child.on('close', done));
  return { child, exit, stderr: () => stderr };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('cmcrd run as a process', () => {
  it('Ctrl-C mid-run: exit 0 and a complete output file ending in the summary line', async () => {
    const out = join(dir, 'interrupted.jsonl');
    const p = spawnCli(['run', '--model', model, '--device', 'sim:muse?seed=1&drop=0.01', '--speed', '8', '--out', out]);
    const preds = () => (existsSync(out) ? (readFileSync(out, 'utf8').match(/"type":"prediction"/g) ?? []).length : 0);
    await until(() => preds() >= 5, 60_000);
    p.child.kill('SIGINT');
    expect(await p.exit, p.stderr()).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const ev = parseLines(text);
    const s = ev.at(-1) as RunSummary;
    expect(s.type).toBe('summary');
    expect(s.stoppedBy).toBe('stop');
    expect(ofType(ev, 'prediction')).toHaveLength(s.windows);
    expect(s.windows).toBeGreaterThanOrEqual(5);
    expect(p.stderr()).toMatch(/interrupt/);
  }, 90_000);

  it('--serve: Server-Sent Events of the same events, and /health', async () => {
    const p = spawnCli([
      'run',
      '--model',
      model,
      '--device',
      'sim:muse?seed=1',
      '--speed',
      '4',
      '--duration',
      '20',
      '--serve',
      '127.0.0.1:0',
      '--out',
      join(dir, 'served.jsonl'),
    ]);
    await until(() => /serving events on (http:\/\/[\d.:]+)\/events/.test(p.stderr()), 60_000);
    const base = /serving events on (http:\/\/[\d.:]+)\/events/.exec(p.stderr())![1]!;
    const health = await new Promise<{ status: number; body: { status: string; mode: string; device: string } }>((ok, fail) => {
      request(`${base}/health`, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => ok({ status: res.statusCode!, body: JSON.parse(b) as { status: string; mode: string; device: string } }));
      })
        .on('error', fail)
        .end();
    });
    expect(health.status).toBe(200);
    expect(health.body.mode).toBe('performance');
    expect(health.body.device).toBe('sim:muse?seed=1');
    // Read the stream until the summary ends it.
    const sse = await new Promise<string>((ok, fail) => {
      request(`${base}/events`, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => ok(b));
      })
        .on('error', fail)
        .end();
    });
    expect(await p.exit, p.stderr()).toBe(0);
    const frames = sse.split('\n\n').filter((f) => f.includes('data: '));
    const events = frames.map((f) => ({
      name: /event: (\w+)/.exec(f)![1],
      data: JSON.parse(/data: (.*)/.exec(f)![1]!) as { type: string },
    }));
    expect(events.filter((e) => e.name === 'prediction').length).toBeGreaterThan(3);
    expect(events.every((e) => e.name === e.data.type)).toBe(true);
    expect(events.at(-1)!.name).toBe('summary');
    // The same events as the file, from the moment the client connected.
    const file = readFileSync(join(dir, 'served.jsonl'), 'utf8').trim().split('\n');
    const sent = frames.map((f) => /data: (.*)/.exec(f)![1]!);
    expect(file.slice(file.length - sent.length)).toEqual(sent);
  }, 90_000);
});
