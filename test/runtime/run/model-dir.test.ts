/**
 * `cmcrd run` on a model directory written by the real exporter (`cmcrd export --out <dir> --int8 --tfjs`, a
 * Muse-montage MLP trained here on synthetic raw EEG with causal LDS): card.json read exactly as written, the battery
 * policy's variant switch (performance → model.onnx; balanced and saver → the variant card.json says to load on
 * onnxruntime-node), and inconsistent directories refused with the field named.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PackageCard } from '../../../export/model-dir.js';
import { RunSetupError } from '../../../runtime/run/device-fit.js';
import type { RunSummary } from '../../../runtime/run/events.js';
import type { ModelDirCard } from '../../../runtime/run/model-dir-card.js';
import { loadRunModel } from '../../../runtime/run/model-dir.node.js';
import { runCli } from '../../cli-harness.js';
import { ofType, parseLines } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cmcrd-run-modeldir-'));
const exported = join(dir, 'model');
/** The same directory, with card.json's onnxruntime-node figures of a machine where int8 is the faster variant. */
const int8Faster = join(dir, 'model-int8-faster');
const readJson = <T>(p: string) => JSON.parse(readFileSync(p, 'utf8')) as T;

// Everything the exporter's type can hold, the reader's type takes (checked by the compiler).
const asRead = (c: PackageCard): ModelDirCard => c;
void asRead;

beforeAll(async () => {
  const data = join(dir, 'data');
  const steps: string[][] = [
    ['dataset', 'synth', '--layout', 'seed-iv', '--out', data, '--subjects', '2', '--sessions', '1', '--windows-per-trial', '6', '--raw'],
    [
      'train',
      '--dataset',
      'synthetic',
      '--root',
      data,
      '--feature',
      'de',
      '--smooth',
      'lds-causal',
      '--method',
      'eeg-only',
      '--arch',
      'mlp',
      '--protocol',
      'within',
      '--folds',
      's1-sess1',
      '--seeds',
      '1',
      '--epochs',
      '10',
      '--warmup',
      '2',
      '--montage',
      'muse',
      '--out',
      join(dir, 'run'),
    ],
    // Dynamic int8 (weights only) keeps the held-out arg-max of this small model, so it meets the quality bar.
    [
      'export',
      join(dir, 'run', 'checkpoints', 'eeg-only-mlp-s1-sess1-seed1.json'),
      '--out',
      exported,
      '--int8',
      'dynamic',
      '--tfjs',
      '--latency-runs',
      '20',
    ],
  ];
  for (const args of steps) {
    const r = await runCli(...args);
    expect(r.code, `${args.slice(0, 2).join(' ')}: ${r.err}`).toBe(0);
  }
  cpSync(exported, int8Faster, { recursive: true });
  const card = readJson<PackageCard>(join(int8Faster, 'card.json'));
  const node = card.runtimes.find((r) => r.runtime === 'onnxruntime-node')!;
  node.latency = node.latency.map((l) => ({ ...l, p50Us: l.variant === 'fp32' ? 40 : 12 }));
  node.faster = 'int8-dynamic';
  node.load = 'int8-dynamic';
  writeFileSync(join(int8Faster, 'card.json'), JSON.stringify(card, null, 1));
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the exporter's model directory", () => {
  it('is read as written: model.onnx by default, the faster variant the runtime entry says to load, the tfjs variant left to browsers', async () => {
    const card = readJson<PackageCard>(join(exported, 'card.json'));
    expect(card.format).toBe('cmcrd-model-dir');
    expect(card.variants.map((v) => v.name)).toEqual(['fp32', 'int8-dynamic', 'tfjs-float32']);
    const node = card.runtimes.find((r) => r.runtime === 'onnxruntime-node')!;
    const m = await loadRunModel(exported);
    try {
      expect(m.info.variants).toEqual([
        { name: 'fp32', file: 'model.onnx' },
        { name: 'int8-dynamic', file: 'model.int8.onnx' },
      ]);
      expect(m.default.name).toBe('fp32');
      // Whatever this machine measured at export: the reader follows card.json's choice for onnxruntime-node.
      expect(m.fast?.name ?? 'fp32').toBe(node.load);
      expect(m.notes!.join('\n')).toMatch(
        node.load === 'fp32'
          ? /card\.json: on onnxruntime-node .*model\.onnx runs in every mode/
          : /the modes that save run model\.int8\.onnx/,
      );
      expect(m.card.smoothing).toBe('lds-causal');
      expect(m.userCalibration).toBeNull();
    } finally {
      await m.dispose();
    }
    const f = await loadRunModel(int8Faster);
    try {
      expect(f.fast?.name).toBe('int8-dynamic');
      expect(f.info.fastReason).toBe(
        'card.json: on onnxruntime-node int8-dynamic is faster (p50 12 µs, fp32 p50 40 µs) and meets the quality bar: the modes that save run model.int8.onnx',
      );
    } finally {
      await f.dispose();
    }
  });

  it('battery policy: performance runs model.onnx, balanced and saver the faster variant, as the battery falls', async () => {
    const out = join(dir, 'falling.jsonl');
    const r = await runCli(
      'run',
      '--model',
      int8Faster,
      '--device',
      'sim:muse?seed=6&battery=54&drain=1200',
      '--duration',
      '420',
      '--speed',
      '100000',
      '--out',
      out,
    );
    expect(r.code, r.err).toBe(0);
    const ev = parseLines(readFileSync(out, 'utf8'));
    expect(ofType(ev, 'start')[0]!.variants).toEqual({ default: 'fp32', fast: 'int8-dynamic' });
    expect(
      ofType(ev, 'mode')
        .filter((m) => m.from !== null)
        .map((m) => m.to),
    ).toEqual(['balanced', 'saver', 'critical']);
    const preds = ofType(ev, 'prediction').filter((p) => p.label !== null);
    const variants = (mode: string) => [...new Set(preds.filter((p) => p.mode === mode).map((p) => p.variant))];
    expect(variants('performance')).toEqual(['fp32']);
    expect(variants('balanced')).toEqual(['int8-dynamic']);
    expect(variants('saver')).toEqual(['int8-dynamic']);
    expect((ev.at(-1) as RunSummary).stoppedBy).toBe('duration');
    // The card as exported on this machine: the modes that save run what its onnxruntime-node entry says to load.
    const node = readJson<PackageCard>(join(exported, 'card.json')).runtimes.find((x) => x.runtime === 'onnxruntime-node')!;
    const fixed = await runCli(
      'run',
      '--model',
      exported,
      '--device',
      'sim:muse?seed=6',
      '--duration',
      '140',
      '--speed',
      '100000',
      '--policy',
      'fixed:saver',
    );
    expect(fixed.code, fixed.err).toBe(0);
    const saver = ofType(parseLines(fixed.out), 'prediction').filter((p) => p.label !== null);
    expect(saver.length).toBeGreaterThan(3);
    expect(new Set(saver.map((p) => p.variant))).toEqual(new Set([node.load]));
  }, 120_000);

  /** A copy of the int8-faster directory changed by `change`; loading it must fail with `message`. */
  const broken = async (name: string, change: (d: string, card: Record<string, unknown> & PackageCard) => void, message: RegExp) => {
    const d = join(dir, name);
    cpSync(int8Faster, d, { recursive: true });
    const card = readJson<Record<string, unknown> & PackageCard>(join(d, 'card.json'));
    change(d, card);
    writeFileSync(join(d, 'card.json'), JSON.stringify(card));
    const err = await loadRunModel(d).catch((e: unknown) => e);
    expect(err, name).toBeInstanceOf(RunSetupError);
    expect((err as Error).message, name).toMatch(message);
    return d;
  };

  it('refuses inconsistent directories, naming card.json and the field', async () => {
    const at = (field: string) => new RegExp(`card\\.json: ${field.replace(/[[\]"().]/g, (c) => `\\${c}`)}: `);
    await broken(
      'no-int8',
      (d) => unlinkSync(join(d, 'model.int8.onnx')),
      /card\.json: files\[1\]: model\.int8\.onnx is not in the directory/,
    );
    await broken(
      'longer',
      (d) => writeFileSync(join(d, 'model.int8.onnx'), Buffer.concat([readFileSync(join(d, 'model.int8.onnx')), Buffer.from([0])])),
      /files\[1\]\.bytes: model\.int8\.onnx has \d+ bytes, card\.json says \d+: the directory was changed after export/,
    );
    await broken(
      'flipped',
      (d) => {
        const b = readFileSync(join(d, 'model.onnx'));
        b[b.length - 100] ^= 1;
        writeFileSync(join(d, 'model.onnx'), b);
      },
      /files\[0\]\.sha256: model\.onnx does not have the SHA-256 card\.json lists/,
    );
    await broken(
      'load',
      (_, c) => (c.runtimes[0]!.load = 'int9' as never),
      /card\.json: runtimes\[0\]\.load: "int9" is not one of the variants \(fp32, int8-dynamic, tfjs-float32\)/,
    );
    await broken(
      'load-tfjs',
      (_, c) => (c.runtimes[0]!.load = 'tfjs-float32'),
      /runtimes\[0\]\.load: "tfjs-float32" is a tfjs variant, which onnxruntime-node cannot run/,
    );
    await broken('latency', (_, c) => (c.runtimes[0]!.latency[1]!.file = 'model.onnx'), at('runtimes[0].latency[1].file'));
    await broken(
      'outside',
      (_, c) => (c.variants[1]!.file = '../model.int8.onnx'),
      /card\.json: variants\[1\]\.file: file must name a file inside the model directory/,
    );
    await broken(
      'unlisted',
      (_, c) => (c.files = c.files.filter((f) => f.name !== 'model.int8.onnx')),
      /variants\[1\]\.file: model\.int8\.onnx is not listed in files\[\]/,
    );
    await broken('no-files', (_, c) => delete (c as Partial<PackageCard>).files, /card\.json: files: missing field/);
    await broken(
      'format',
      (_, c) => (c.variants[0]!.format = 'onnx-fp16' as never),
      /card\.json: variants\[0\]\.format: format must be "onnx" or "tfjs"/,
    );
    await broken(
      'smoothing',
      (_, c) => (c.card['cmcrd.smoothing'] = 'none'),
      /card\.json: card\["cmcrd\.smoothing"\] is "none", but model\.onnx embeds "lds-causal"/,
    );
    await broken(
      'newer',
      (_, c) => ((c as { version: number }).version = 2),
      /card\.json: written by a newer cmcrd \(model directory version 2; this one reads version 1\): upgrade cmcrd-edge/,
    );
    await broken(
      'card-type',
      (_, c) => ((c.card as Record<string, unknown>)['cmcrd.window_s'] = 4),
      /card\.json: card\["cmcrd\.window_s"\]: every card entry must be a string/,
    );
    // Through the CLI: exit 2, the message, no stack trace.
    const d = await broken('cli', (_, c) => (c.runtimes[0]!.faster = 'fp64' as never), at('runtimes[0].faster'));
    const r = await runCli('run', '--model', d, '--device', 'sim:muse', '--duration', '5', '--speed', '100000');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cmcrd: .*card\.json: runtimes\[0\]\.faster: "fp64" is not one of the variants/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
