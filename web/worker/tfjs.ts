/**
 * Worker entry of the `tfjs` engine: the model's tfjs GraphModel (model.json + weight shards, written by
 * `cmcrd export --tfjs`) loaded by tfjs-converter and run on tfjs-core's wasm backend — a much smaller download
 * than onnxruntime-web (its SIMD binary is ~0.4 MB against ~15 MB). Nothing of onnxruntime is imported here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { cardFromMetadata, cardToJson } from '../../runtime/card/schema.js';
import { parseModelCardJson } from '../../runtime/model-card.js';
import type { Classifier } from '../../runtime/infer/types.js';
import { runWorker, type WorkerScope } from './core.js';

runWorker(self as unknown as WorkerScope, async (config, base) => {
  // Without cross-origin isolation there are no wasm threads anyway; saying so up front keeps tfjs from probing
  // for the threaded binary, which the app does not ship.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const simd = new URL(config.wasm.url, base).href;
  setWasmPaths({
    'tfjs-backend-wasm-simd.wasm': simd,
    'tfjs-backend-wasm-threaded-simd.wasm': simd,
    // Browsers without wasm SIMD (rare among those with Web Bluetooth) fetch the plain build, cached on first use.
    'tfjs-backend-wasm.wasm': new URL(config.wasm.url.replace(/-simd\.wasm$/, '.wasm'), base).href,
  });
  if (!(await tf.setBackend('wasm'))) throw new Error("tfjs's wasm backend did not start");
  const url = new URL(config.model.url, base).href;
  const model = await loadGraphModel(url);
  const meta = (model.metadata as { card?: Record<string, string> } | undefined)?.card;
  if (!meta || typeof meta !== 'object')
    throw new Error(`${config.model.url}: no model card in userDefinedMetadata.card (export it again with cmcrd export --tfjs)`);
  const card = parseModelCardJson(cardToJson(cardFromMetadata(new Map(Object.entries(meta)), config.model.url)), config.model.url);
  const input = model.inputs[0];
  const size = input?.shape?.[1] ?? -1;
  if (!input || size <= 0)
    throw new Error(`${config.model.url}: the graph's input has no fixed feature size (shape ${JSON.stringify(input?.shape)})`);
  const C = card.classes.length;
  const classifier: Classifier = {
    inputSize: size,
    classes: card.classes,
    async run(rows) {
      const flat = new Float32Array(rows.length * size);
      rows.forEach((r, i) => {
        if (r.length !== size) throw new RangeError(`feature row ${i} has ${r.length} values, the model takes ${size}`);
        flat.set(r, i * size);
      });
      const y = tf.tidy(() => model.execute(tf.tensor2d(flat, [rows.length, size]), 'probabilities') as tf.Tensor);
      const p = (await y.data()) as Float32Array;
      y.dispose();
      if (p.length !== rows.length * C)
        throw new Error(`${config.model.url}: ${p.length} probabilities for ${rows.length} rows of ${C} classes`);
      return rows.map((_, i) => p.slice(i * C, (i + 1) * C));
    },
    async dispose() {
      model.dispose();
    },
  };
  return { classifier, card, engine: `tfjs ${tf.version_core} GraphModel (wasm SIMD backend)` };
});
