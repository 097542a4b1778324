/**
 * Checkpoint validation (export/checkpoint.ts): the architecture's weight table matches the real networks, and every
 * malformed checkpoint — ill-typed fields, sizes that disagree, weights that do not fit the architecture, absurd
 * sizes, NaN/Infinity weights, negative variances, zero standard deviations — is refused with the file and the field
 * named, in the library and through `cmcrd export` (exit 2, no stack trace, nothing written).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedWeights, parseCheckpoint, serialiseCheckpoint, type Checkpoint } from '../../export/checkpoint.js';
import { FieldError } from '../../runtime/card/issues.js';
import { buildNetwork, type ArchSpec } from '../../src/train/nets/index.js';
import { eegnetSpec } from '../../src/train/nets/eegnet.js';
import { dgcnnSpec } from '../../src/train/nets/dgcnn.js';
import { mlpSpec } from '../../src/train/nets/mlp.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { useWasm } from '../src/train/experiment/helpers.js';
import { trainedCheckpoint } from './helpers.js';
import { runCli } from '../cli-harness.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let base: Checkpoint;
beforeAll(async () => {
  await useWasm();
  base = trainedCheckpoint('mlp');
});
/** The base checkpoint's JSON, edited by `edit`, as text. */
function edited(edit: (j: Json) => void, ck: Checkpoint = base): string {
  const j = JSON.parse(serialiseCheckpoint(ck)) as Json;
  edit(j);
  return JSON.stringify(j);
}
const b64 = (a: ArrayLike<number>) => Buffer.from(new Float32Array(a).buffer).toString('base64');
/** Replace one value of a weight, keeping its shape. */
function poke(j: Json, name: string, index: number, value: number): void {
  const data = new Float32Array(new Uint8Array(Buffer.from(j.weights[name].base64, 'base64')).buffer);
  data[index] = value;
  j.weights[name].base64 = b64(data);
}
const refused = (text: string, source = 'ck.json'): string => {
  try {
    parseCheckpoint(text, source);
  } catch (e) {
    expect(e).toBeInstanceOf(FieldError);
    return (e as Error).message;
  }
  throw new Error('the checkpoint was accepted');
};

describe('the architecture weight table', () => {
  const specs: ArchSpec[] = [
    mlpSpec({ channels: 4, bands: 5 }, 4),
    mlpSpec({ channels: 1, bands: 33 }, 3, 24),
    eegnetSpec({ channels: 8, bands: 5 }, 4),
    eegnetSpec({ channels: 3, bands: 2 }, 5, { F1: 3, D: 3, F2: 7 }),
    dgcnnSpec({ channels: 8, bands: 5 }, 4),
    dgcnnSpec({ channels: 1, bands: 33 }, 4, 9),
  ];
  for (const spec of specs) {
    it(`names every weight of ${spec.arch} ${spec.input.channels}×${spec.input.bands} ${JSON.stringify(spec.params)} with the network's shape`, () => {
      const net = buildNetwork(spec, 3);
      const actual = Object.fromEntries(Object.entries(net.getWeights()).map(([k, w]) => [k, w.shape]));
      net.dispose();
      expect(Object.fromEntries(expectedWeights(spec))).toEqual(actual);
    });
  }
});

describe('parseCheckpoint', () => {
  it('reads back what serialiseCheckpoint wrote, for every network and modality', () => {
    for (const arch of ['mlp', 'eegnet', 'dgcnn'] as const) {
      for (const modality of ['eeg', 'eye'] as const) {
        const ck = trainedCheckpoint(arch, modality);
        const back = parseCheckpoint(serialiseCheckpoint(ck), 'ck.json');
        expect(back.weights).toEqual(ck.weights);
        const { weights: _a, ...rest } = back;
        const { weights: _b, ...want } = ck;
        expect(rest).toEqual(want);
      }
    }
  });

  it('refuses the probe values with the field named (channels: 42, fs: "fast", std: ["x"])', () => {
    expect(refused(edited((j) => (j.channels = 42)))).toBe('ck.json: channels must be an array, got 42');
    expect(refused(edited((j) => (j.features.fs = 'fast')))).toBe('ck.json: features.fs must be a number, got "fast"');
    expect(refused(edited((j) => (j.normalisation.std = ['x'])))).toBe('ck.json: normalisation.std[0] must be a number, got "x"');
    expect(refused(edited((j) => (j.classes = 'abc')))).toBe('ck.json: classes must be an array, got "abc"');
    expect(refused(edited((j) => (j.features.windowSec = -4)))).toBe('ck.json: features.windowSec must be > 0, got -4');
  });

  it('names the field and index of non-finite or impossible statistics', () => {
    expect(refused(edited((j) => (j.normalisation.std[3] = 0)))).toBe('ck.json: normalisation.std[3] must be > 0, got 0');
    expect(refused(edited((j) => (j.normalisation.std[7] = -1)))).toBe('ck.json: normalisation.std[7] must be > 0, got -1');
    // NaN and Infinity are written to JSON as null.
    expect(refused(edited((j) => (j.normalisation.mean[2] = null)))).toMatch(
      /^ck\.json: normalisation\.mean\[2\] must be a number, got null \(NaN or Infinity become null in JSON\)$/,
    );
    expect(refused(edited((j) => (j.normalisation.std[4] = 1e-40)))).toMatch(
      /^ck\.json: normalisation\.std\[4\] must be ≥ .* \(the graph stores 1\/std as float32\), got 1e-40$/,
    );
    expect(refused(edited((j) => poke(j, 'fc1.weight', 5, NaN)))).toBe('ck.json: weights["fc1.weight"][5] must be finite, got NaN');
    expect(refused(edited((j) => poke(j, 'head.bias', 1, -Infinity)))).toBe(
      'ck.json: weights["head.bias"][1] must be finite, got -Infinity',
    );
    expect(refused(edited((j) => poke(j, 'fc2.bn.running_var', 9, -0.5)))).toBe(
      'ck.json: weights["fc2.bn.running_var"][9] must be ≥ 0 (a variance), got -0.5',
    );
    expect(refused(edited((j) => (j.metrics.testAccuracy = null)))).toMatch(/^ck\.json: metrics\.testAccuracy must be a number, got null/);
    // Inspecting a diverged checkpoint: the values check can be turned off, and nothing else is.
    const nan = edited((j) => poke(j, 'fc1.weight', 5, NaN));
    expect(Number.isNaN(parseCheckpoint(nan, 'ck.json', { checkWeightValues: false }).weights['fc1.weight']!.data[5])).toBe(true);
    expect(() =>
      parseCheckpoint(
        edited((j) => (j.normalisation.std[3] = 0)),
        'ck.json',
        { checkWeightValues: false },
      ),
    ).toThrow(/normalisation\.std\[3\] must be > 0/);
  });

  it('refuses weights that disagree with the architecture, before allocating anything from it', () => {
    // Right byte count for the stated shape, wrong shape for the network.
    expect(
      refused(edited((j) => (j.weights['fc2.weight'] = { shape: [128, 8], dtype: 'float32', base64: b64(new Float32Array(128 * 8)) }))),
    ).toBe('ck.json: checkpoint weight "fc2.weight" has shape [128,8], arch mlp needs [128,128]');
    expect(refused(edited((j) => delete j.weights['fc3.bn.gamma'])).toString()).toBe(
      'ck.json: checkpoint has no weight "fc3.bn.gamma" (arch mlp)',
    );
    expect(refused(edited((j) => (j.weights.extra = { shape: [1], dtype: 'float32', base64: b64([1]) })))).toBe(
      'ck.json: checkpoint weight "extra" is not part of arch mlp',
    );
    const t0 = performance.now();
    expect(refused(edited((j) => (j.arch.params.hidden = 1e9)))).toBe(
      'ck.json: arch.params.hidden must be an integer from 1 to 65536, got 1000000000',
    );
    expect(performance.now() - t0).toBeLessThan(1000);
    const dg = trainedCheckpoint('dgcnn');
    expect(refused(edited((j) => (j.arch.params.hidden = 1e9), dg))).toBe(
      'ck.json: arch.params.hidden must be an integer from 1 to 65536, got 1000000000',
    );
    expect(refused(edited((j) => (j.arch.params.nodes = 5), dg))).toBe(
      'ck.json: arch.params: nodes (5) × nodeFeatures (5) must equal the input size 4×5',
    );
    // A weight claiming an enormous shape: compared with the architecture's, nothing decoded.
    expect(refused(edited((j) => (j.weights['adj'] = { shape: [4, 4e9], dtype: 'float32', base64: b64([1, 2]) }), dg))).toBe(
      'ck.json: checkpoint weight "adj" has shape [4,4000000000], arch dgcnn needs [4,4]',
    );
    expect(refused(edited((j) => (j.weights['adj'].base64 = b64([1, 2])), dg))).toBe(
      'ck.json: weight "adj" has 8 bytes, shape [4,4] needs 64',
    );
    expect(refused(edited((j) => (j.arch.params.dropout = 1), trainedCheckpoint('eegnet')))).toBe(
      'ck.json: arch.params.dropout must be in [0, 1), got 1',
    );
    expect(refused(edited((j) => (j.arch.input.channels = 1e9)))).toBe('ck.json: arch.input.channels must be ≤ 65536, got 1000000000');
  });

  it('refuses sizes that disagree and feature settings the runtime cannot reproduce', () => {
    expect(refused(edited((j) => j.channels.push('CZ')))).toBe('ck.json: channels has 5 names, arch.input.channels is 4');
    expect(refused(edited((j) => (j.classes[2] = 'neutral')))).toBe('ck.json: classes: [2] repeats [0] ("neutral"); names must be unique');
    expect(refused(edited((j) => (j.channels[3] = 'FP1')))).toBe('ck.json: channels: [3] repeats [0] ("FP1"); names must be unique');
    expect(refused(edited((j) => j.classes.pop()))).toBe('ck.json: 3 class names but the network has 4 outputs (arch.classes)');
    expect(refused(edited((j) => j.normalisation.mean.pop()))).toMatch(
      /^ck\.json: normalisation has 19 means \/ 20 stds, input has 20 features/,
    );
    expect(refused(edited((j) => (j.features.method = 'wavelet')))).toBe(
      'ck.json: features.method must be one of "seed-de", "seed-psd", "gauss-de", "welch", "welch-rel", "eye", got "wavelet"',
    );
    expect(refused(edited((j) => (j.features.smoothing = 'kalman')))).toBe(
      'ck.json: features.smoothing must be one of "none", "lds", "lds-causal", "moving-average", "moving-average-causal", got "kalman"',
    );
    expect(refused(edited((j) => (j.features.hopSec = 5)))).toBe('ck.json: features.hopSec (5 s) must be ≤ features.windowSec (4 s)');
    expect(refused(edited((j) => (j.features.bands[2].hi = 8)))).toBe(
      'ck.json: features.bands[2].hi (8 Hz) must be > features.bands[2].lo (8 Hz)',
    );
    expect(refused(edited((j) => ([j.features.bands[0], j.features.bands[1]] = [j.features.bands[1], j.features.bands[0]])))).toBe(
      'ck.json: features.bands must be in ascending order: features.bands[1] [1, 4) Hz comes after [4, 8) Hz',
    );
    expect(refused(edited((j) => (j.features.bands[4].hi = 120)))).toBe(
      'ck.json: features.bands[4].hi (120 Hz) must be ≤ the Nyquist frequency, features.fs / 2 = 100 Hz',
    );
    expect(refused(edited((j) => (j.features.fs = 0)))).toBe('ck.json: features.fs must be > 0 for features.method "seed-de", got 0');
    expect(refused(edited((j) => (j.features.windowSec = 4.001)))).toMatch(
      /^ck\.json: features\.windowSec \(4\.001 s\) must be a whole number of samples at features\.fs = 200 Hz/,
    );
    expect(refused(edited((j) => (j.features.nfft = 1000)))).toBe(
      'ck.json: features.nfft must be a power of two from 4 to 1048576, got 1000',
    );
    expect(refused(edited((j) => (j.features.method = 'eye')))).toMatch(
      /^ck\.json: features\.method "eye" does not go with modality "eeg"/,
    );
    expect(refused(edited((j) => j.montage.sites.pop()))).toBe('ck.json: montage.sites has 3 names, channels 4');
    expect(refused(edited((j) => (j.provenance.bad = { a: 1 })))).toBe(
      'ck.json: provenance.bad must be a string, a finite number or a boolean, got an object',
    );
  });

  it('keeps the earlier messages for malformed parts, now with the field path', () => {
    expect(refused('{', 'x.json')).toMatch(/^x\.json: not valid JSON/);
    expect(refused('[1]', 'x.json')).toBe('x.json: field "format" must be "cmcrd-checkpoint"');
    expect(refused(edited((j) => delete j.arch.input))).toBe(
      'ck.json: field "arch" must have "arch" (mlp, eegnet or dgcnn), "classes" and "input.channels" / "input.bands" (positive integers): arch.input is missing',
    );
    expect(refused(edited((j) => (j.arch.arch = 'resnet')))).toMatch(
      /^ck\.json: field "arch" must have .*: arch\.arch must be one of "mlp", "eegnet", "dgcnn", got "resnet"$/,
    );
    expect(refused(edited((j) => (j.weights['fc1.bias'].shape = ['x'])))).toMatch(
      /^ck\.json: weight "fc1\.bias" must have shape .*: weights\["fc1\.bias"\]\.shape\[0\] must be a number, got "x"$/,
    );
    expect(refused(edited((j) => (j.normalisation = { mean: 0 })))).toMatch(
      /^ck\.json: field "normalisation" must have arrays "mean" and "std": normalisation\.mean must be an array, got 0$/,
    );
  });
});

describe('readCheckpoint and cmcrd export on hostile checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cmcrd-ck-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a directory or a device instead of reading it', () => {
    expect(() => readCheckpoint(dir)).toThrow(
      new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read checkpoint \\(it is a directory\\)$`),
    );
    expect(() => readCheckpoint('/dev/zero')).toThrow(/^\/dev\/zero: cannot read checkpoint \(not a regular file\)$/);
  });

  const cases: Array<[string, (j: Json) => void, RegExp]> = [
    [
      'hidden = 1e9',
      (j) => (j.arch.params.hidden = 1e9),
      /h\.json: arch\.params\.hidden must be an integer from 1 to 65536, got 1000000000/,
    ],
    [
      'an MLP weight of the wrong shape',
      (j) => (j.weights['fc4.weight'] = { shape: [64, 128], dtype: 'float32', base64: b64(new Float32Array(64 * 128)) }),
      /h\.json: checkpoint weight "fc4\.weight" has shape \[64,128\], arch mlp needs \[128,128\]/,
    ],
    ['a NaN weight', (j) => poke(j, 'fc3.weight', 17, NaN), /h\.json: weights\["fc3\.weight"\]\[17\] must be finite, got NaN/],
    ['std = 0', (j) => (j.normalisation.std[3] = 0), /h\.json: normalisation\.std\[3\] must be > 0, got 0/],
  ];
  for (const [what, edit, message] of cases) {
    it(`cmcrd export refuses a checkpoint with ${what}: exit 2, the field named, no stack trace, nothing written`, async () => {
      const file = join(dir, 'h.json');
      writeFileSync(file, edited(edit));
      const r = await runCli('export', file);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(existsSync(join(dir, 'h.onnx'))).toBe(false);
    });
  }
});
