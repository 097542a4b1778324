/**
 * The ONNX classifier seam (runtime/infer/onnx.ts) and its adapters: onnxruntime-node, onnxruntime-web (its
 * wasm build, in Node), and any module with onnxruntime-common's API. The graph, not the card, decides the
 * input's name and size, the batch dimension and the output.
 */
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { museMlpModel } from './muse-model.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { mlpSpec } from '../../src/train/nets/mlp.js';
import { modelCard } from '../../export/model-card.js';
import { GraphBuilder } from '../../export/onnx-graph.js';
import type { Checkpoint } from '../../export/checkpoint.js';
import { createOnnxClassifier, type OrtModule, type OrtSession, type OrtTensor, type OrtValueMetadata } from '../../runtime/infer/onnx.js';
import { loadOnnxClassifier } from '../../runtime/infer/onnx.node.js';
import { loadWebOnnxClassifier } from '../../runtime/infer/onnx.web.js';

/** A checkpoint's card fields for `channels` × `bands` features and `classes` (weights are not needed for a card). */
function cardFor(channels: string[], bands: number, classes: string[]): Record<string, string> {
  // No bands: an eye-tracker model's card (its features are computed off the headband).
  const eye = bands === 0;
  const ck: Checkpoint = {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: eye ? 'eye' : 'eeg',
    arch: mlpSpec({ channels: channels.length, bands }, classes.length),
    weights: {},
    classes,
    channels,
    features: eye
      ? { method: 'eye', fs: 0, windowSec: 4, hopSec: 4, bands: [], smoothing: 'none' }
      : {
          method: 'seed-de',
          fs: 200,
          windowSec: 4,
          hopSec: 4,
          nfft: 1024,
          bands: Array.from({ length: bands }, (_, i) => ({ name: `b${i}`, lo: 1 + i, hi: 2 + i })),
          smoothing: 'none',
        },
    normalisation: {
      mean: new Array(channels.length * Math.max(1, bands)).fill(0),
      std: new Array(channels.length * Math.max(1, bands)).fill(1),
    },
    provenance: {},
  };
  return modelCard(ck);
}

/** A hand-built graph: softmax over one input of `d` values (rank 1 when `batch` is false), under any names. */
function softmaxModel(opts: { input: string; output: string; d: number; batch: boolean; card: Record<string, string> }): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input(opts.input, [opts.d], opts.batch);
  g.node('Softmax', [x], { axis: -1 }, opts.output);
  g.output(opts.output, [opts.d], opts.batch);
  return g.build('softmax', opts.card);
}

const softmax = (r: ArrayLike<number>) => {
  const m = Math.max(...Array.from(r));
  const e = Array.from(r, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** Wraps a real onnxruntime module to record every run's input dims (and releases). */
function spying<O>(m: OrtModule<O>) {
  const runs: { name: string; dims: readonly number[]; data: Float32Array }[] = [];
  let releases = 0;
  const mod: OrtModule<O> = {
    Tensor: m.Tensor,
    InferenceSession: {
      async create(model, options) {
        const s = await m.InferenceSession.create(model, options);
        const wrapped: OrtSession = {
          inputNames: s.inputNames,
          outputNames: s.outputNames,
          inputMetadata: s.inputMetadata,
          outputMetadata: s.outputMetadata,
          run(feeds) {
            for (const [name, t] of Object.entries(feeds))
              runs.push({ name, dims: [...t.dims], data: Float32Array.from(t.data as Float32Array) });
            return s.run(feeds);
          },
          release: () => (releases++, s.release()),
        };
        return wrapped;
      },
    },
  };
  return { mod, runs, releases: () => releases };
}

let mlpModel: Uint8Array;
const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;

beforeAll(async () => {
  mlpModel = await museMlpModel({ seed: 3, mean: 10, std: 3 });
});

describe('ONNX classifier on onnxruntime-node and onnxruntime-web', () => {
  it('the node and web adapters give the probabilities of a direct onnxruntime session, from one implementation', async () => {
    const r = rng(5);
    const rows = Array.from({ length: 9 }, () => Float32Array.from({ length: 20 }, () => 10 + 5 * r()));
    const direct = await ort.InferenceSession.create(mlpModel);
    const flat = new Float32Array(9 * 20);
    rows.forEach((x, i) => flat.set(x, i * 20));
    const ref = (await direct.run({ features: new ort.Tensor('float32', flat, [9, 20]) })).probabilities!.data as Float32Array;
    await direct.release();

    const node = await loadOnnxClassifier(mlpModel, 'mlp.onnx');
    const web = await loadWebOnnxClassifier(mlpModel, { ort: ortWeb, source: 'mlp.onnx' });
    const lazy = await loadWebOnnxClassifier(mlpModel); // imports onnxruntime-web itself (its wasm build in Node)
    for (const c of [node, web, lazy]) {
      expect(c.inputName).toBe('features');
      expect(c.outputName).toBe('probabilities');
      expect(c.inputSize).toBe(20);
      expect(c.fixedBatch).toBeNull();
      expect(c.classes).toEqual(['neutral', 'sad', 'fear', 'happy']);
      const got = await c.run(rows);
      expect(got).toHaveLength(9);
      expect(
        maxDiff(
          got.flatMap((p) => Array.from(p)),
          ref,
        ),
      ).toBeLessThan(1e-6);
      expect(await c.run([])).toEqual([]);
      await expect(c.run([new Float32Array(19)])).rejects.toThrow(/feature row 0 has 19 values, the model takes 20/);
      await c.dispose();
    }
  });

  it('reads the input name, row size and a rank-1 (batch-less) input from the graph, and runs such a model row by row', async () => {
    const model = softmaxModel({
      input: 'eeg_in',
      output: 'p',
      d: 6,
      batch: false,
      card: cardFor(['C3', 'C4'], 3, ['x', 'y', 'z', 'u', 'v', 'w']),
    });
    for (const m of [ort, ortWeb] as OrtModule[]) {
      const spy = spying(m);
      const c = await createOnnxClassifier(spy.mod, model, { source: 'tiny.onnx' });
      expect([c.inputName, c.outputName, c.inputSize, c.fixedBatch]).toEqual(['eeg_in', 'p', 6, 1]);
      const r = rng(9);
      const rows = Array.from({ length: 5 }, () => Float32Array.from({ length: 6 }, () => 3 * r()));
      const got = await c.run(rows);
      expect(spy.runs.map((x) => [x.name, x.dims])).toEqual(new Array(5).fill(['eeg_in', [6]]));
      rows.forEach((x, i) => expect(maxDiff(got[i]!, softmax(x))).toBeLessThan(1e-6));
      await c.dispose();
      expect(spy.releases()).toBe(1);
    }
  });

  it('sizes its input from the graph even where the card describes other features (e.g. an eye model)', async () => {
    const model = softmaxModel({
      input: 'features',
      output: 'probabilities',
      d: 4,
      batch: true,
      card: cardFor(['eye'], 0, ['a', 'b', 'c', 'd']),
    });
    const c = await loadOnnxClassifier(model);
    expect(c.inputSize).toBe(4);
    const [p] = await c.run([Float32Array.of(1, 2, 3, 4)]);
    expect(maxDiff(p!, softmax([1, 2, 3, 4]))).toBeLessThan(1e-6);
    await c.dispose();
  });

  it('splits rows into runs of at most maxBatch on a symbolic batch dimension, in order', async () => {
    const spy = spying(ort as OrtModule);
    const c = await createOnnxClassifier(spy.mod, mlpModel, { maxBatch: 4 });
    const r = rng(11);
    const rows = Array.from({ length: 10 }, () => Float32Array.from({ length: 20 }, () => 10 + 5 * r()));
    const got = await c.run(rows);
    expect(spy.runs.map((x) => x.dims)).toEqual([
      [4, 20],
      [4, 20],
      [2, 20],
    ]);
    const whole = await loadOnnxClassifier(mlpModel);
    expect(
      maxDiff(
        got.flatMap((p) => Array.from(p)),
        (await whole.run(rows)).flatMap((p) => Array.from(p)),
      ),
    ).toBeLessThan(1e-7);
    await whole.dispose();
    await c.dispose();
  });
});

/** An onnxruntime-shaped module in plain TS: input "x" of `shape`, output rows = input row + row index. */
function fakeOrt(inputs: OrtValueMetadata[], outputs: OrtValueMetadata[]) {
  const calls: { dims: readonly number[]; data: Float32Array }[] = [];
  let released = 0;
  class Tensor implements OrtTensor {
    constructor(
      readonly type: 'float32',
      readonly data: Float32Array,
      readonly dims: readonly number[],
    ) {}
  }
  const session: OrtSession = {
    inputNames: inputs.map((m) => m.name),
    outputNames: outputs.map((m) => m.name),
    inputMetadata: inputs,
    outputMetadata: outputs,
    async run(feeds) {
      const t = feeds[inputs[0]!.name]!;
      const data = t.data as Float32Array;
      calls.push({ dims: t.dims, data: Float32Array.from(data) });
      const d = t.dims[t.dims.length - 1]!;
      return {
        [outputs[0]!.name]: new Tensor(
          'float32',
          data.map((v, i) => v + Math.floor(i / d)),
          t.dims,
        ),
      };
    },
    async release() {
      released++;
    },
  };
  const mod: OrtModule = { Tensor, InferenceSession: { create: async () => session } };
  return { mod, calls, released: () => released };
}

const tensor = (name: string, shape: (number | string)[]): OrtValueMetadata => ({ name, isTensor: true, type: 'float32', shape });

describe('ONNX classifier over any onnxruntime-shaped module', () => {
  const card3 = () => softmaxModel({ input: 'x', output: 'probabilities', d: 3, batch: true, card: cardFor(['C1'], 3, ['a', 'b', 'c']) });

  it('feeds a fixed batch dimension exactly: the last run is padded with zeros and its padding dropped', async () => {
    const f = fakeOrt([tensor('x', [4, 3])], [tensor('probabilities', [4, 3])]);
    const c = await createOnnxClassifier(f.mod, card3());
    expect(c.fixedBatch).toBe(4);
    const rows = Array.from({ length: 6 }, (_, i) => Float32Array.of(i, 10 * i, 100 * i));
    const got = await c.run(rows);
    expect(f.calls.map((x) => x.dims)).toEqual([
      [4, 3],
      [4, 3],
    ]);
    expect(Array.from(f.calls[1]!.data.subarray(6))).toEqual([0, 0, 0, 0, 0, 0]);
    // the fake adds the row's position within its run
    expect(got.map((p) => Array.from(p))).toEqual(rows.map((r, i) => Array.from(r, (v) => v + (i % 4))));
  });

  it('refuses graphs it cannot feed, naming the input, output or mismatch, and releases the session', async () => {
    const cases: [OrtValueMetadata[], OrtValueMetadata[], RegExp][] = [
      [[tensor('a', ['N', 3]), tensor('b', ['N', 3])], [tensor('probabilities', ['N', 3])], /one input; the model has 2 \(a, b\)/],
      [
        [tensor('x', ['N', 3])],
        [tensor('l1', ['N', 3]), tensor('l2', ['N', 3])],
        /no output "probabilities" among the model's outputs \(l1, l2\)/,
      ],
      [
        [tensor('x', ['N', 3])],
        [tensor('probabilities', ['N', 4])],
        /output "probabilities" has 4 values per row, but the card names 3 classes \(a, b, c\)/,
      ],
      [
        [tensor('x', ['N', 'D'])],
        [tensor('probabilities', ['N', 3])],
        /model input "x" has shape \["N", "D"\]: every dimension after the batch must be fixed/,
      ],
      [[{ name: 'x', isTensor: true, type: 'int64', shape: ['N', 3] }], [tensor('probabilities', ['N', 3])], /model input "x" is int64/],
    ];
    for (const [inputs, outputs, err] of cases) {
      const f = fakeOrt(inputs, outputs);
      await expect(createOnnxClassifier(f.mod, card3(), { source: 'm.onnx' })).rejects.toThrow(err);
      expect(f.released()).toBe(1);
    }
    const noMeta = fakeOrt([tensor('x', ['N', 3])], [tensor('probabilities', ['N', 3])]);
    const create = noMeta.mod.InferenceSession.create;
    const old: OrtModule = {
      Tensor: noMeta.mod.Tensor,
      InferenceSession: { create: async (m, o) => ({ ...(await create(m, o)), inputMetadata: undefined }) },
    };
    await expect(createOnnxClassifier(old, card3())).rejects.toThrow(/inputMetadata needs onnxruntime ≥ 1\.22/);
    // Load failures name the model.
    const broken: OrtModule = {
      Tensor: noMeta.mod.Tensor,
      InferenceSession: { create: async () => Promise.reject(new Error('bad graph')) },
    };
    await expect(createOnnxClassifier(broken, card3(), { source: 'b.onnx' })).rejects.toThrow(
      /b\.onnx: onnxruntime could not load the model \(bad graph\)/,
    );
  });
});
