/**
 * The model card, defined once: what a device needs to run an exported model (classes, channels, montage, feature
 * conventions, normalisation) and where the model came from. export/ builds it from a checkpoint and validates it
 * with this schema before writing; runtime/ validates it again when reading. One card, two encodings:
 *  - ONNX `metadata_props`: key `cmcrd.<field>`, every value a string (numbers as decimal text, structured values
 *    as JSON, text as is; `nfft` "" for none) — {@link cardToMetadata} / {@link cardFromMetadata};
 *  - `card.json`: one JSON object with the same field names and native JSON values — {@link cardToJson}.
 * `card_version` changes when a field is added, removed or changes meaning; a reader refuses newer cards.
 */
import * as v from 'valibot';
import { FEATURE_METHODS, SMOOTH_METHODS, type FeatureMethod } from '../dsp/extractor.js';
import {
  FieldError,
  boundedDict,
  boundedList,
  describe,
  firstIssueError,
  name,
  num,
  obj,
  oneOf,
  reportProblems,
  text,
  uniqueNames,
  type Problem,
} from './issues.js';

/** The card version this code writes and the newest it reads. */
export const CARD_VERSION = 1;

/** The one input layout: the graph takes raw features, channel c and band b at c·bands + b, and z-scores them itself. */
export const INPUT_LAYOUT = 'channel-major [channel][band], raw features; the graph applies the z-score below';

/** Feature methods a card may name: the runtime's extractors (runtime/dsp), and `eye` for eye-tracker features. */
export type CardFeatureMethod = FeatureMethod | 'eye';
export const CARD_FEATURE_METHODS: readonly CardFeatureMethod[] = [...FEATURE_METHODS, 'eye'];

/**
 * Bounds a card must keep: beyond them no headband pipeline could run it, and they bound a reader's work on hostile
 * input (lists are counted before their items are checked; JSON values nest at most 8 deep, a card needs 3).
 */
export const CARD_LIMITS = {
  maxFs: 100_000,
  maxWindowSec: 3600,
  maxNfft: 1 << 20,
  maxClasses: 1024,
  maxChannels: 4096,
  maxBands: 64,
  /** normalisation vectors: channels × bands */
  maxInputs: 16_384,
  /** provenance and metrics entries */
  maxEntries: 1024,
  maxJsonDepth: 8,
} as const;

/** Field schemas the card and the checkpoint (export/checkpoint.ts) share. */
export const band = () => obj({ name: name(), lo: num(), hi: num() });
export const montage = () =>
  obj({ device: name(), sites: uniqueNames(CARD_LIMITS.maxChannels), capChannels: boundedList(name(), CARD_LIMITS.maxChannels) });
export const nfft = () =>
  v.pipe(
    v.number('must be a number'),
    v.check(
      (n: number) => Number.isInteger(n) && n >= 4 && n <= CARD_LIMITS.maxNfft && (n & (n - 1)) === 0,
      `must be a power of two from 4 to ${CARD_LIMITS.maxNfft}`,
    ),
  );
/** Smallest standard deviation whose reciprocal fits float32 (the graph stores 1/std). */
const STD_MIN = 1 / 3.4028234663852886e38;
export const stdDev = () =>
  v.pipe(
    v.number('must be a number'),
    v.gtValue(0, 'must be > 0'),
    v.finite('must be finite'),
    v.check((s: number) => Number.isFinite(Math.fround(1 / s)), `must be ≥ ${STD_MIN.toPrecision(3)} (the graph stores 1/std as float32)`),
  );
export const provenanceValue = () => v.union([v.string(), num(), v.boolean()], 'must be a string, a finite number or a boolean');
export const rateHz = () => v.pipe(num(), v.minValue(0, 'must be ≥ 0'), v.maxValue(CARD_LIMITS.maxFs, `must be ≤ ${CARD_LIMITS.maxFs} Hz`));
export const seconds = () =>
  v.pipe(num(), v.gtValue(0, 'must be > 0'), v.maxValue(CARD_LIMITS.maxWindowSec, `must be ≤ ${CARD_LIMITS.maxWindowSec} s`));

/** The feature fields the card and the checkpoint share, under the names each uses. */
export interface FeatureFields {
  method: CardFeatureMethod;
  fs: number;
  windowSec: number;
  hopSec: number;
  bands: readonly { name: string; lo: number; hi: number }[];
}

/**
 * What makes a feature spec one the runtime cannot satisfy: window or hop that is not a whole number of samples,
 * hop longer than the window, bands empty, out of order, with hi ≤ lo or above Nyquist, names repeated.
 * Eye-tracker features (`method` "eye") are computed off the headband: only window ≥ hop and unique names apply.
 */
export function featureProblems(f: FeatureFields, at: Record<'fs' | 'windowSec' | 'hopSec' | 'bands' | 'method', string>): Problem[] {
  const out: Problem[] = [];
  if (f.hopSec > f.windowSec)
    out.push({ field: at.hopSec, message: `${at.hopSec} (${f.hopSec} s) must be ≤ ${at.windowSec} (${f.windowSec} s)` });
  const names = new Map<string, number>();
  f.bands.forEach((b, i) => {
    const j = names.get(b.name);
    if (j !== undefined)
      out.push({ field: `${at.bands}[${i}].name`, message: `${at.bands}[${i}].name repeats ${at.bands}[${j}].name (${describe(b.name)})` });
    names.set(b.name, i);
  });
  if (f.method === 'eye') return out;
  const m = `for ${at.method} ${JSON.stringify(f.method)}`;
  if (!(f.fs > 0)) out.push({ field: at.fs, message: `${at.fs} must be > 0 ${m}, got ${f.fs}` });
  for (const [key, sec] of [
    ['windowSec', f.windowSec],
    ['hopSec', f.hopSec],
  ] as const) {
    const n = sec * f.fs;
    if (f.fs > 0 && Math.abs(n - Math.round(n)) > 1e-6 * Math.max(1, n)) {
      out.push({
        field: at[key],
        message: `${at[key]} (${sec} s) must be a whole number of samples at ${at.fs} = ${f.fs} Hz (it is ${Number(n.toPrecision(10))})`,
      });
    }
  }
  if (f.bands.length === 0) out.push({ field: at.bands, message: `${at.bands} must name at least one band ${m}` });
  f.bands.forEach((b, i) => {
    const p = `${at.bands}[${i}]`;
    if (b.lo < 0) out.push({ field: `${p}.lo`, message: `${p}.lo must be ≥ 0 Hz, got ${b.lo}` });
    if (!(b.hi > b.lo)) out.push({ field: `${p}.hi`, message: `${p}.hi (${b.hi} Hz) must be > ${p}.lo (${b.lo} Hz)` });
    if (f.fs > 0 && b.hi > f.fs / 2)
      out.push({ field: `${p}.hi`, message: `${p}.hi (${b.hi} Hz) must be ≤ the Nyquist frequency, ${at.fs} / 2 = ${f.fs / 2} Hz` });
    const prev = f.bands[i - 1];
    if (prev && !(b.lo > prev.lo && b.hi > prev.hi))
      out.push({
        field: p,
        message: `${at.bands} must be in ascending order: ${p} [${b.lo}, ${b.hi}) Hz comes after [${prev.lo}, ${prev.hi}) Hz`,
      });
  });
  return out;
}

/**
 * How many input values a model has for these channels and bands: channels × bands for EEG; eye-tracker features
 * are named per channel or per channel and band (a card lists either).
 */
export function inputSizeProblems(
  method: CardFeatureMethod,
  channels: number,
  bands: number,
  d: number,
  at: { channels: string; bands: string; d: string },
): Problem[] {
  if (method === 'eye' ? channels * Math.max(1, bands) === d || channels === d : channels * bands === d) return [];
  if (method === 'eye')
    return [
      {
        field: at.d,
        message: `${at.d} has ${d} values, but an eye model takes one per ${at.channels} entry (${channels}) or per ${at.channels} × ${at.bands} (${channels} × ${bands})`,
      },
    ];
  return [
    { field: at.d, message: `${at.d} has ${d} values, but ${at.channels} × ${at.bands} = ${channels} × ${bands} = ${channels * bands}` },
  ];
}

/** Cross-field rules of a structurally valid card. */
function cardProblems(c: CardFields): Problem[] {
  const out = featureProblems(
    { method: c.feature_method, fs: c.sampling_rate_hz, windowSec: c.window_s, hopSec: c.hop_s, bands: c.bands },
    { fs: 'sampling_rate_hz', windowSec: 'window_s', hopSec: 'hop_s', bands: 'bands', method: 'feature_method' },
  );
  if ((c.modality === 'eye') !== (c.feature_method === 'eye')) {
    out.push({
      field: 'feature_method',
      message: `feature_method ${JSON.stringify(c.feature_method)} does not go with modality ${JSON.stringify(c.modality)} ("eye" features are the eye modality's)`,
    });
  }
  const { mean, std: sd } = c.normalisation;
  if (sd.length !== mean.length)
    out.push({ field: 'normalisation.std', message: `normalisation.std has ${sd.length} values, normalisation.mean ${mean.length}` });
  out.push(
    ...inputSizeProblems(c.feature_method, c.channels.length, c.bands.length, mean.length, {
      channels: 'channels',
      bands: 'bands',
      d: 'normalisation.mean',
    }),
  );
  if (c.montage) {
    for (const k of ['sites', 'capChannels'] as const) {
      if (c.montage[k].length !== c.channels.length)
        out.push({ field: `montage.${k}`, message: `montage.${k} has ${c.montage[k].length} names, channels ${c.channels.length}` });
    }
  }
  return out;
}

const cardEntries = {
  card_version: v.pipe(
    v.number('must be a number'),
    v.integer('must be an integer'),
    v.minValue(1, 'must be ≥ 1'),
    v.maxValue(CARD_VERSION, `must be ≤ ${CARD_VERSION}`),
  ),
  modality: oneOf(['eeg', 'eye'] as const),
  arch: name(),
  classes: v.pipe(uniqueNames(CARD_LIMITS.maxClasses), v.minLength(1, 'must name at least one class')),
  channels: v.pipe(uniqueNames(CARD_LIMITS.maxChannels), v.minLength(1, 'must name at least one channel')),
  montage: v.nullable(montage()),
  bands: boundedList(band(), CARD_LIMITS.maxBands),
  sampling_rate_hz: rateHz(),
  window_s: seconds(),
  hop_s: seconds(),
  nfft: v.nullable(nfft()),
  feature_method: oneOf(CARD_FEATURE_METHODS),
  smoothing: oneOf(SMOOTH_METHODS),
  input_layout: v.pipe(
    text(),
    v.check((s: string) => s === INPUT_LAYOUT, `must be ${JSON.stringify(INPUT_LAYOUT)}`),
  ),
  normalisation: obj({ mean: boundedList(num(), CARD_LIMITS.maxInputs), std: boundedList(stdDev(), CARD_LIMITS.maxInputs) }),
  provenance: boundedDict(provenanceValue(), CARD_LIMITS.maxEntries),
  metrics: boundedDict(num(), CARD_LIMITS.maxEntries),
};

type CardFields = v.InferOutput<ReturnType<typeof obj<typeof cardEntries>>>;

/** The card schema: fields, types, ranges and the rules that tie fields together. */
export const CardSchema = v.pipe(
  obj(cardEntries),
  v.rawCheck<CardFields>(({ dataset, addIssue }) => {
    if (dataset.typed) reportProblems(cardProblems(dataset.value), addIssue);
  }),
);

/** A validated model card (field names as written: snake_case, as in metadata_props and card.json). */
export type Card = v.InferOutput<typeof CardSchema>;

/** The card's fields in the order they are written. */
export const CARD_FIELDS = Object.keys(cardEntries) as (keyof Card)[];

/** How each field is written as a metadata_props string. */
const ENCODING: Record<keyof Card, 'text' | 'number' | 'json'> = {
  card_version: 'number',
  modality: 'text',
  arch: 'text',
  classes: 'json',
  channels: 'json',
  montage: 'json',
  bands: 'json',
  sampling_rate_hz: 'number',
  window_s: 'number',
  hop_s: 'number',
  nfft: 'number',
  feature_method: 'text',
  smoothing: 'text',
  input_layout: 'text',
  normalisation: 'json',
  provenance: 'json',
  metrics: 'json',
};

export const METADATA_PREFIX = 'cmcrd.';

/**
 * Validate a card object; errors are `<source>: [<lead>: ]<field path> …`. A card version newer than
 * {@link CARD_VERSION} is refused first, whatever else the card holds.
 */
export function checkCard(input: unknown, source: string, lead?: string): Card {
  if (!input || typeof input !== 'object' || Array.isArray(input))
    throw new FieldError(source, null, `a model card must be a JSON object, got ${describe(input)}`);
  const version = (input as Record<string, unknown>).card_version;
  if (version === undefined)
    throw new FieldError(source, 'card_version', 'model card has no "card_version" (not a cmcrd-edge model card?)');
  if (typeof version === 'number' && Number.isInteger(version) && version > CARD_VERSION) {
    throw new FieldError(
      source,
      'card_version',
      `model card version ${version} is newer than this runtime (${CARD_VERSION}); update cmcrd-edge`,
    );
  }
  const r = v.safeParse(CardSchema, input, { abortEarly: true });
  if (!r.success) throw firstIssueError(source, r.issues, lead ? () => lead : undefined);
  return r.output;
}

/** The card as metadata_props entries (`cmcrd.<field>` → string), in field order. */
export function cardToMetadata(card: Card): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of CARD_FIELDS) {
    const value = card[key];
    const enc = ENCODING[key];
    out[METADATA_PREFIX + key] = enc === 'json' ? JSON.stringify(value) : value === null ? '' : String(value);
  }
  return out;
}

/** The card as a plain JSON-ready object (what card.json holds), fields in order. */
export function cardToJson(card: Card): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of CARD_FIELDS) out[key] = card[key];
  return out;
}

// JSON's number grammar: no hex, no "Infinity", no blanks (Number() would take "0x10", " 4" and "" as numbers).
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Decode metadata_props strings into a card object and validate it; errors are `<source>: model card…` and name
 * the field (a JSON value that does not parse names its `cmcrd.` key). Keys outside the card are ignored.
 */
export function cardFromMetadata(meta: ReadonlyMap<string, string>, source: string): Card {
  if (!meta.has(METADATA_PREFIX + 'card_version')) {
    throw new FieldError(source, 'card_version', `model card has no "${METADATA_PREFIX}card_version" (not a cmcrd-edge model?)`);
  }
  const obj: Record<string, unknown> = {};
  for (const key of CARD_FIELDS) {
    const s = meta.get(METADATA_PREFIX + key);
    if (s === undefined) continue;
    const enc = ENCODING[key];
    if (enc === 'text') obj[key] = s;
    else if (enc === 'number') obj[key] = key === 'nfft' && s === '' ? null : NUMBER.test(s) ? Number(s) : s;
    else {
      if (jsonDepth(s) > CARD_LIMITS.maxJsonDepth) {
        throw new FieldError(
          source,
          key,
          `model card field "${METADATA_PREFIX}${key}" nests deeper than ${CARD_LIMITS.maxJsonDepth} levels`,
        );
      }
      try {
        obj[key] = JSON.parse(s);
      } catch (e) {
        throw new FieldError(
          source,
          key,
          `model card field "${METADATA_PREFIX}${key}" is not valid JSON (${(e as Error).message.slice(0, 120)})`,
        );
      }
    }
  }
  return checkCard(obj, source, 'model card');
}

/** Deepest nesting of arrays and objects in JSON text (brackets inside strings do not count); stops past the limit. */
function jsonDepth(s: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > CARD_LIMITS.maxJsonDepth) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}
