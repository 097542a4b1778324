/**
 * onnxruntime-node adapter (Node only: Raspberry Pi, desktops) of the classifier in ./onnx.ts. Tiny models run
 * best on one thread with spinning disabled (../shared/docs/edge.md).
 */
import * as ort from 'onnxruntime-node';
import { createOnnxClassifier, type OnnxClassifier } from './onnx.js';

export function loadOnnxClassifier(model: Uint8Array, source = 'model'): Promise<OnnxClassifier> {
  return createOnnxClassifier(ort, model, {
    source,
    sessionOptions: {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    },
  });
}
