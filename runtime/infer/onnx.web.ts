/**
 * onnxruntime-web adapter (phone and desktop browsers; Node too, through its wasm build) of the classifier in
 * ./onnx.ts. Pass the onnxruntime-web module you bundle, or let it be imported on first use.
 */
import { createOnnxClassifier, type OnnxClassifier, type OrtModule } from './onnx.js';

export interface WebOnnxOptions {
  /** The onnxruntime-web module (e.g. `import * as ort from 'onnxruntime-web'`); default imported lazily. */
  ort?: OrtModule<{ executionProviders?: string[]; graphOptimizationLevel?: 'all' }>;
  source?: string;
  /** Default ['wasm'] (CPU; WebGPU/WebNN gain nothing on models this small). */
  executionProviders?: string[];
}

export async function loadWebOnnxClassifier(model: Uint8Array, opts: WebOnnxOptions = {}): Promise<OnnxClassifier> {
  let ort = opts.ort;
  if (!ort) {
    try {
      ort = await import('onnxruntime-web');
    } catch (e) {
      throw new Error(
        `onnxruntime-web could not be imported (${e instanceof Error ? e.message : String(e)}): install it, or pass its module as \`ort\``,
      );
    }
  }
  return createOnnxClassifier(ort, model, {
    source: opts.source ?? 'model',
    sessionOptions: { executionProviders: opts.executionProviders ?? ['wasm'], graphOptimizationLevel: 'all' },
  });
}
