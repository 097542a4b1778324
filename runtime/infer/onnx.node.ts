/**
 * onnxruntime-node classifier (Node only: Raspberry Pi, desktops). Tiny models run best on one thread with
 * spinning disabled (../shared/docs/edge.md).
 */
import * as ort from 'onnxruntime-node';
import type { Classifier } from './types.js';
import { parseModelCard, type ModelCard } from '../model-card.js';

export async function loadOnnxClassifier(model: Uint8Array, source = 'model'): Promise<Classifier & { card: ModelCard }> {
  const card = parseModelCard(model, source);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  } catch (e) {
    throw new Error(`${source}: onnxruntime could not load the model (${(e as Error).message})`);
  }
  const inputSize = card.channels.length * card.bands.length;
  return {
    card,
    inputSize,
    classes: card.classes,
    async run(rows) {
      if (rows.length === 0) return [];
      const flat = new Float32Array(rows.length * inputSize);
      rows.forEach((r, i) => {
        if (r.length !== inputSize) throw new RangeError(`feature row ${i} has ${r.length} values, the model takes ${inputSize}`);
        flat.set(r, i * inputSize);
      });
      const out = await session.run({ features: new ort.Tensor('float32', flat, [rows.length, inputSize]) }, ['probabilities']);
      const p = out.probabilities!.data as Float32Array;
      const c = card.classes.length;
      return rows.map((_, i) => p.slice(i * c, (i + 1) * c));
    },
    async dispose() {
      await session.release();
    },
  };
}
