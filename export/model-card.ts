/**
 * The model card stored in ONNX metadata_props: string key → string value (JSON for structured values).
 * `runtime/model-card.ts` reads it back on the device.
 */
import type { Checkpoint } from './checkpoint.js';

export const MODEL_CARD_VERSION = '1';

export function modelCard(ck: Checkpoint): Record<string, string> {
  return {
    'cmcrd.card_version': MODEL_CARD_VERSION,
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
