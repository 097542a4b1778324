/**
 * `cmcrd inspect`: an exported model's card, inputs/outputs, operators, opset/IR, initializers and quantisation;
 * a model directory with its files checked against card.json; and every kind of bad input (corrupt, truncated,
 * foreign, hostile or oversized metadata_props, a card pointing outside its folder) named with exit 2, no stack.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli-harness.js';
import { exportOnnx } from '../../export/onnx-export.js';
import { withMetadata } from '../../export/quantize.js';
import { inspectOnnx, METADATA_LIMITS, type OnnxInspection } from '../../export/inspect.js';
import { serialiseCheckpoint, type Checkpoint } from '../../export/checkpoint.js';
import { initBackend } from '../../src/train/backend.js';
import { buildNetwork, defaultSpec } from '../../src/train/nets/index.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';

let dir: string;
let ck: Checkpoint;
let ckPath: string;

beforeAll(async () => {
  await initBackend('wasm', () => undefined);
  dir = mkdtempSync(join(tmpdir(), 'cmcrd-inspect-'));
  const net = buildNetwork(defaultSpec('mlp', { channels: 4, bands: 5 }, 4), 3);
  ck = {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: 'eeg',
    arch: net.spec,
    weights: net.getWeights(),
    classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: ['TP7', 'FP1', 'FP2', 'TP8'],
    montage: { device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'], capChannels: ['TP7', 'FP1', 'FP2', 'TP8'] },
    features: {
      method: 'seed-de',
      fs: 200,
      windowSec: 4,
      hopSec: 4,
      nfft: 1024,
      bands: SEED_BANDS.map((b) => ({ ...b })),
      smoothing: 'none',
    },
    normalisation: { mean: Array.from({ length: 20 }, (_, i) => 10 + i / 7), std: Array.from({ length: 20 }, (_, i) => 1 + i / 13) },
    provenance: { createdBy: 'test' },
  };
  net.dispose();
  ckPath = join(dir, 'ck.json');
  writeFileSync(ckPath, serialiseCheckpoint(ck));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noStack = (err: string) => expect(err).not.toMatch(/\n\s+at /);

describe('cmcrd inspect', () => {
  it('shows an ONNX model: inputs and outputs, operators with counts, opset and IR, initializers, card (--json and text)', async () => {
    const file = join(dir, 'model.onnx');
    const bytes = exportOnnx(ck);
    writeFileSync(file, bytes);
    const r = await runCli('inspect', file, '--json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as OnnxInspection;
    expect(j).toMatchObject({
      irVersion: 8,
      opsets: [{ domain: 'ai.onnx', version: 17 }],
      producer: 'cmcrd-edge 0.1.0',
      graph: 'cmcrd-eeg-mlp',
      bytes: bytes.length,
      quantisation: null,
    });
    expect(j.inputs).toEqual([{ name: 'features', dtype: 'float32', shape: ['N', 20] }]);
    expect(j.outputs).toEqual([
      { name: 'logits', dtype: 'float32', shape: ['N', 4] },
      { name: 'probabilities', dtype: 'float32', shape: ['N', 4] },
    ]);
    expect(Object.fromEntries(j.operators)).toEqual({ Gemm: 5, Relu: 4, Sub: 1, Mul: 1, Softmax: 1 });
    expect(j.initializers[0]).toEqual({ name: 'fc2.W', dtype: 'float32', dims: [128, 128], bytes: 65536 });
    expect(j.initializerBytes).toBe(4 * (20 * 128 + 3 * 128 * 128 + 128 * 4 + 4 * 128 + 4 + 2 * 20));
    expect(Object.fromEntries(j.metadata)['cmcrd.classes']).toBe('["neutral","sad","fear","happy"]');
    const t = await runCli('inspect', file);
    expect(t.out).toMatch(/ONNX IR 8, opset ai\.onnx 17/);
    expect(t.out).toMatch(/inputs: +features float32 \[N, 20\]/);
    expect(t.out).toMatch(/operators \(12 nodes\): Gemm ×5, Relu ×4/);
    expect(t.out).toMatch(/quantisation: none/);
    expect(t.out).toMatch(/cmcrd\.classes: neutral, sad, fear, happy/);
  });

  it('shows a model directory: variants, files checked against card.json, each model and the GraphModel', async () => {
    const out = join(dir, 'pkg');
    const e = await runCli('export', ckPath, '--out', out, '--int8', 'dynamic', '--tfjs', 'uint8', '--latency-runs', '5');
    expect(e.code, e.err).toBe(0);
    const r = await runCli('inspect', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/model directory \(cmcrd-model-dir v1\)/);
    expect(r.out).toMatch(/int8-dynamic onnx model\.int8\.onnx .*"scheme":"QDQ int8 weights"/);
    expect(r.out).toMatch(/model\.onnx [\d.]+ kB ok/);
    expect(r.out).toMatch(/quantisation: 0 QuantizeLinear, 5 DequantizeLinear \(5 per-channel\), 7 int8 and 0 int32 initializers/);
    expect(r.out).toMatch(/tfjs\/model\.json: tfjs GraphModel, \d+ nodes \(.*MatMul ×5.*\), 12 weights, .* \(5 uint8\)/);
    expect(r.out).toMatch(/onnxruntime-node: fp32 p50 \d+ µs/);
    const j = JSON.parse((await runCli('inspect', out, '--json')).out) as {
      models: OnnxInspection[];
      files: { name: string; hashOk: boolean }[];
    };
    expect(j.models.map((m) => m.source)).toEqual([`${out}/model.onnx`, `${out}/model.int8.onnx`]);
    expect(j.files.every((f) => f.hashOk)).toBe(true);
    // A changed and a missing file are reported, not hidden.
    const p = readFileSync(join(out, 'parity.json'), 'utf8');
    writeFileSync(join(out, 'parity.json'), p.replace('"held-out"', '"HELD-OUT"').replace('synthetic-rows', 'synthetic-ROWS'));
    unlinkSync(join(out, 'tfjs', 'group1-shard1of1.bin'));
    const t = await runCli('inspect', out);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/parity\.json [\d.]+ kB — DIFFERS from card\.json/);
    expect(t.out).toMatch(/tfjs\/group1-shard1of1\.bin MISSING/);
  });

  it('names a corrupt, truncated, empty or foreign file (exit 2, no stack)', async () => {
    const good = exportOnnx(ck);
    const cases: Array<[string, Uint8Array | string, RegExp]> = [
      ['truncated.onnx', good.subarray(0, 1000), /truncated\.onnx: not a readable ONNX model \(index out of range/],
      [
        'garbage.onnx',
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256),
        /garbage\.onnx: not (a readable )?(an )?ONNX model/,
      ],
      ['empty.onnx', new Uint8Array(0), /empty\.onnx: empty file, not an ONNX model/],
      ['card.json', JSON.stringify({ hello: 'world' }), /card\.json: not (a readable )?(an )?ONNX model/],
      [
        'image.onnx',
        Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13),
        /image\.onnx: not (a readable )?(an )?ONNX model/,
      ],
    ];
    for (const [name, data, msg] of cases) {
      const f = join(dir, name);
      writeFileSync(f, data);
      const r = await runCli('inspect', f);
      expect(r.code, name).toBe(2);
      expect(r.err, name).toMatch(msg);
      noStack(r.err);
    }
    const missing = await runCli('inspect', join(dir, 'nope.onnx'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.onnx: cannot read \(ENOENT\)/);
    const plain = mkdtempSync(join(dir, 'plain-'));
    const notDir = await runCli('inspect', plain);
    expect(notDir.code).toBe(2);
    expect(notDir.err).toMatch(/no card\.json \(not a model directory/);
  });

  it('refuses hostile or oversized metadata_props, and prints odd keys and escape sequences harmlessly', async () => {
    const base = exportOnnx(ck);
    const many = withMetadata(base, Object.fromEntries(Array.from({ length: METADATA_LIMITS.entries + 1 }, (_, i) => [`k${i}`, 'v'])));
    const huge = withMetadata(base, { 'cmcrd.notes': 'x'.repeat(METADATA_LIMITS.valueBytes + 1) });
    const longKey = withMetadata(base, { ['k'.repeat(METADATA_LIMITS.keyBytes + 1)]: 'v' });
    for (const [name, bytes, msg] of [
      ['many.onnx', many, /many\.onnx: metadata_props has \d+ entries \(more than 256\): refused as hostile or broken/],
      ['huge.onnx', huge, /huge\.onnx: metadata_props "cmcrd\.notes" has a value of 1048577 bytes \(more than 1048576\)/],
      ['longkey.onnx', longKey, /longkey\.onnx: metadata_props entry \d+ has a key of 257 bytes/],
    ] as const) {
      const f = join(dir, name);
      writeFileSync(f, bytes);
      const r = await runCli('inspect', f);
      expect(r.code, name).toBe(2);
      expect(r.err, name).toMatch(msg);
      noStack(r.err);
    }
    const odd = withMetadata(
      base,
      Object.fromEntries([
        ['__proto__', 'polluted?'],
        ['cmcrd.title', 'clear\u001b[2J\u001b]0;pwned\u0007 screen'],
      ]),
    );
    const f = join(dir, 'odd.onnx');
    writeFileSync(f, odd);
    const r = await runCli('inspect', f);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/\u001b|\u0007/);
    expect(r.out).toMatch(/cmcrd\.title: clear\\u001b\[2J\\u001b\]0;pwned\\u0007 screen/);
    const j = inspectOnnx(odd, 'odd');
    expect(j.metadata.find(([k]) => k === '__proto__')?.[1]).toBe('polluted?');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a card.json that points outside its folder', async () => {
    const out = join(dir, 'evil');
    const e = await runCli('export', ckPath, '--out', out, '--latency-runs', '0');
    expect(e.code, e.err).toBe(0);
    const card = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8'));
    card.files.push({ name: '../ck.json', bytes: 1, sha256: '0' });
    writeFileSync(join(out, 'card.json'), JSON.stringify(card));
    const r = await runCli('inspect', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/evil\/card\.json: file name "\.\.\/ck\.json" is not a relative path inside the directory/);
    writeFileSync(join(out, 'card.json'), '{"format":');
    const bad = await runCli('inspect', out);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/evil\/card\.json: not valid JSON/);
  });
});
