/**
 * Worker entry of the `ort` engine: the ONNX model on onnxruntime-web's wasm build (the SIMD binary only, one
 * thread: a page without cross-origin isolation has no SharedArrayBuffer, and a model this small gains nothing
 * from threads). `onnxruntime-web/wasm` is the build without WebGPU/WebGL and with its glue code inlined, so the
 * only file fetched besides this script is the .wasm binary. Nothing of tfjs is imported here.
 */
import * as ort from 'onnxruntime-web/wasm';
import { createOnnxClassifier, type OrtModule } from '../../runtime/infer/onnx.js';
import { runWorker, type WorkerScope } from './core.js';

type SessionOptions = { executionProviders?: string[]; graphOptimizationLevel?: 'all' };

runWorker(self as unknown as WorkerScope, async (config, base) => {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = { wasm: new URL(config.wasm.url, base).href };
  const url = new URL(config.model.url, base);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${config.model.url}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const classifier = await createOnnxClassifier(ort as unknown as OrtModule<SessionOptions>, bytes, {
    source: config.model.url,
    sessionOptions: { executionProviders: ['wasm'], graphOptimizationLevel: 'all' },
  });
  return {
    classifier,
    card: classifier.card,
    engine: `onnxruntime-web ${ort.env.versions.web ?? ''} (wasm SIMD, 1 thread)`.replace('  ', ' '),
  };
});
