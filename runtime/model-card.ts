/**
 * The device side of the model card (defined in ./card/schema.ts): read it from an ONNX model's metadata_props
 * or from a card.json object, validate it, and return it with the runtime's field names. A card this runtime
 * cannot run — missing or ill-typed fields, a newer card version, feature settings the extractor cannot
 * reproduce — is refused with the source and the field named.
 */
import type { SmoothMethod } from './dsp/extractor.js';
import { cardFromMetadata, cardToMetadata, checkCard, type Card, type CardFeatureMethod } from './card/schema.js';
import { readMetadataEntries } from './card/onnx-metadata.js';

export {
  CARD_VERSION,
  CARD_FIELDS,
  CARD_FEATURE_METHODS,
  CARD_LIMITS,
  INPUT_LAYOUT,
  CardSchema,
  cardToJson,
  cardToMetadata,
  checkCard,
  type Card,
  type CardFeatureMethod,
} from './card/schema.js';
export { FieldError } from './card/issues.js';
export { METADATA_LIMITS } from './card/onnx-metadata.js';

export interface ModelCard {
  /** Card format version (≤ CARD_VERSION). */
  cardVersion: number;
  modality: 'eeg' | 'eye';
  arch: string;
  classes: string[];
  /** Input channels in order (cap channel names the model was trained on; eye models: feature names). */
  channels: string[];
  /** For headband models: the device electrode feeding each channel, in input order. */
  montage: { device: string; sites: string[]; capChannels: string[] } | null;
  bands: { name: string; lo: number; hi: number }[];
  /** Model sampling rate (Hz): device data is resampled to it (0 for eye-tracker features). */
  fs: number;
  windowSec: number;
  hopSec: number;
  nfft: number | null;
  featureMethod: CardFeatureMethod;
  smoothing: SmoothMethod;
  /** How a feature row is laid out (see INPUT_LAYOUT). */
  inputLayout: string;
  /** The training z-score, already inside the graph (channel-major, mean.length = the model's input size). */
  normalisation: { mean: number[]; std: number[] };
  provenance: Record<string, string | number | boolean>;
  metrics: Record<string, number>;
  /** Every metadata_props entry of the model (for a card.json: the card's own entries). */
  raw: Record<string, string>;
}

function toModelCard(c: Card, raw: Record<string, string>): ModelCard {
  return {
    cardVersion: c.card_version,
    modality: c.modality,
    arch: c.arch,
    classes: c.classes,
    channels: c.channels,
    montage: c.montage,
    bands: c.bands,
    fs: c.sampling_rate_hz,
    windowSec: c.window_s,
    hopSec: c.hop_s,
    nfft: c.nfft,
    featureMethod: c.feature_method,
    smoothing: c.smoothing,
    inputLayout: c.input_layout,
    normalisation: c.normalisation,
    provenance: c.provenance,
    metrics: c.metrics,
    raw,
  };
}

/** Every metadata_props entry of an ONNX model (bounded scan; see ./card/onnx-metadata.ts); errors name `source`. */
export function readOnnxMetadata(model: Uint8Array, source = 'model'): Record<string, string> {
  return Object.fromEntries(readMetadataEntries(model, source));
}

/** The model card of an ONNX model's bytes; `source` (the file) is named in every error. */
export function parseModelCard(model: Uint8Array, source = 'model'): ModelCard {
  const meta = readMetadataEntries(model, source);
  return toModelCard(cardFromMetadata(meta, source), Object.fromEntries(meta));
}

/** The model card of a parsed card.json (the same fields with native JSON values); `source` is named in errors. */
export function parseModelCardJson(obj: unknown, source = 'card.json'): ModelCard {
  const card = checkCard(obj, source, 'model card');
  return toModelCard(card, cardToMetadata(card));
}
