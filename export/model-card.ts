/**
 * Writes the model card (defined once, device side, in runtime/card/schema.ts) for a checkpoint: the card object
 * is built, validated with the runtime's own schema — so nothing is written that a device would refuse — and
 * serialised as ONNX metadata_props (`modelCard`) or as the plain object a card.json holds (`modelCardJson`).
 */
import { cardToJson, cardToMetadata, checkCard, CARD_VERSION, INPUT_LAYOUT, type Card } from '../runtime/card/schema.js';
import type { Checkpoint } from './checkpoint.js';

export type { Card } from '../runtime/card/schema.js';

/** The card version written, as the metadata string. */
export const MODEL_CARD_VERSION = String(CARD_VERSION);

/** The validated card of a checkpoint; an error names the card field (`model card: window_s must be > 0, got -4`). */
export function cardOf(ck: Checkpoint): Card {
  const f = ck.features;
  return checkCard(
    {
      card_version: CARD_VERSION,
      modality: ck.modality,
      arch: ck.arch.arch,
      classes: ck.classes,
      channels: ck.channels,
      montage: ck.montage ?? null,
      bands: f.bands,
      sampling_rate_hz: f.fs,
      window_s: f.windowSec,
      hop_s: f.hopSec,
      nfft: f.nfft ?? null,
      feature_method: f.method,
      smoothing: f.smoothing,
      input_layout: INPUT_LAYOUT,
      normalisation: ck.normalisation,
      provenance: ck.provenance,
      metrics: ck.metrics ?? {},
    },
    'model card',
  );
}

/** The card as ONNX metadata_props: `cmcrd.<field>` → string. */
export function modelCard(ck: Checkpoint): Record<string, string> {
  return cardToMetadata(cardOf(ck));
}

/** The card as a plain JSON object (the content of a card.json; read back with runtime's `parseModelCardJson`). */
export function modelCardJson(ck: Checkpoint): Record<string, unknown> {
  return cardToJson(cardOf(ck));
}
