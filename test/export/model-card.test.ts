/**
 * The model card from writer to reader: checkpoints of the three networks (EEG students and eye-movement models,
 * made the way training makes them) → serialised → parsed → ONNX → parseModelCard, and the same card as card.json
 * → parseModelCardJson, carry every field; cards written before the schema existed still read; the writer refuses
 * to write a card the runtime would refuse.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpoint, serialiseCheckpoint, type Checkpoint } from '../../export/checkpoint.js';
import { cardOf, modelCard, modelCardJson, MODEL_CARD_VERSION } from '../../export/model-card.js';
import { exportOnnx } from '../../export/onnx-export.js';
import { parseModelCard, parseModelCardJson, readOnnxMetadata, CARD_FIELDS, CARD_VERSION } from '../../runtime/model-card.js';
import { useWasm } from '../src/train/experiment/helpers.js';
import { modelBytes } from '../runtime/card-helpers.js';
import { trainedCheckpoint } from './helpers.js';

/** The model card as the writer produced it before the schema (17 keys), kept to show such models still read. */
function legacyCard(ck: Checkpoint): Record<string, string> {
  return {
    'cmcrd.card_version': '1',
    'cmcrd.modality': ck.modality,
    'cmcrd.arch': ck.arch.arch,
    'cmcrd.classes': JSON.stringify(ck.classes),
    'cmcrd.channels': JSON.stringify(ck.channels),
    'cmcrd.montage': JSON.stringify(ck.montage ?? null),
    'cmcrd.bands': JSON.stringify(ck.features.bands),
    'cmcrd.sampling_rate_hz': String(ck.features.fs),
    'cmcrd.window_s': String(ck.features.windowSec),
    'cmcrd.hop_s': String(ck.features.hopSec),
    'cmcrd.nfft': String(ck.features.nfft ?? ''),
    'cmcrd.feature_method': ck.features.method,
    'cmcrd.smoothing': ck.features.smoothing,
    'cmcrd.input_layout': 'channel-major [channel][band], raw features; the graph applies the z-score below',
    'cmcrd.normalisation': JSON.stringify(ck.normalisation),
    'cmcrd.provenance': JSON.stringify(ck.provenance),
    'cmcrd.metrics': JSON.stringify(ck.metrics ?? {}),
  };
}

beforeAll(async () => {
  await useWasm();
});

describe('model card round trip, writer → reader', () => {
  for (const arch of ['mlp', 'eegnet', 'dgcnn'] as const) {
    for (const modality of ['eeg', 'eye'] as const) {
      it(`${arch} ${modality}: checkpoint → JSON → ONNX metadata and card.json → the same card, every field`, () => {
        const ck = parseCheckpoint(serialiseCheckpoint(trainedCheckpoint(arch, modality, 7)), 'ck.json');
        const bytes = exportOnnx(ck);
        const meta = readOnnxMetadata(bytes, 'm.onnx');
        expect(meta).toEqual(modelCard(ck));
        expect(Object.keys(meta)).toEqual(CARD_FIELDS.map((k) => `cmcrd.${k}`));
        const card = parseModelCard(bytes, 'm.onnx');
        expect(card).toEqual({
          cardVersion: CARD_VERSION,
          modality,
          arch,
          classes: ck.classes,
          channels: ck.channels,
          montage: ck.montage ?? null,
          bands: ck.features.bands,
          fs: ck.features.fs,
          windowSec: ck.features.windowSec,
          hopSec: ck.features.hopSec,
          nfft: ck.features.nfft ?? null,
          featureMethod: ck.features.method,
          smoothing: ck.features.smoothing,
          inputLayout: 'channel-major [channel][band], raw features; the graph applies the z-score below',
          normalisation: ck.normalisation,
          provenance: ck.provenance,
          metrics: ck.metrics,
          raw: meta,
        });
        // Normalisation survives bit for bit (float64 through JSON).
        expect(card.normalisation.std.every((s, i) => Object.is(s, ck.normalisation.std[i]))).toBe(true);
        // card.json: the same card from a plain JSON object, its raw the same metadata.
        const json = JSON.parse(JSON.stringify(modelCardJson(ck))) as unknown;
        expect(parseModelCardJson(json, 'card.json')).toEqual(card);
        // What the old writer wrote for this checkpoint reads to the same card.
        expect(parseModelCard(modelBytes(legacyCard(ck)), 'old.onnx')).toEqual(card);
      });
    }
  }

  it('writes card version 1 (the version the runtime reads)', () => {
    expect(MODEL_CARD_VERSION).toBe('1');
    expect(CARD_VERSION).toBe(1);
    expect(cardOf(trainedCheckpoint('mlp')).card_version).toBe(1);
  });

  it('refuses to write a card the runtime would refuse, naming the card field', () => {
    const ck = trainedCheckpoint('mlp');
    expect(() => exportOnnx({ ...ck, features: { ...ck.features, hopSec: 8 } })).toThrow(
      /^model card: hop_s \(8 s\) must be ≤ window_s \(4 s\)$/,
    );
    expect(() => modelCard({ ...ck, features: { ...ck.features, windowSec: -4 } })).toThrow(/^model card: window_s must be > 0, got -4$/);
    expect(() => modelCardJson({ ...ck, classes: ['a', 'b', 'a', 'c'] })).toThrow(
      /^model card: classes: \[2\] repeats \[0\] \("a"\); names must be unique$/,
    );
    expect(() => modelCard({ ...ck, channels: ck.channels.slice(1) })).toThrow(
      /^model card: normalisation\.mean has 20 values, but channels × bands = 3 × 5 = 15$/,
    );
  });
});
