/**
 * The model card reader (runtime/model-card.ts): a card the runtime cannot run is refused with the source and the
 * field named, from ONNX metadata_props and from a card.json object alike; hostile metadata_props (huge values,
 * thousands of entries, invalid UTF-8, truncated protobuf, deep JSON) give a clear error within a time bound.
 */
import { describe, expect, it } from 'vitest';
import { CARD_FIELDS, CARD_VERSION, parseModelCard, parseModelCardJson, readOnnxMetadata, type Card } from '../../runtime/index.js';
import { cardToJson } from '../../runtime/card/schema.js';
import { concat, lenField, modelBytes, museCard, museMetadata } from './card-helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TEXT = new Set(['modality', 'arch', 'feature_method', 'smoothing', 'input_layout']);
const NUMBER = new Set(['card_version', 'sampling_rate_hz', 'window_s', 'hop_s', 'nfft']);
/** A card object (possibly invalid) as metadata_props strings, the way the writer encodes each field. */
function asMetadata(card: Json): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(card))
    out[`cmcrd.${k}`] = TEXT.has(k) ? String(v) : NUMBER.has(k) ? (v === null ? '' : String(v)) : JSON.stringify(v);
  return out;
}

/** Edit the Muse card, then read it both ways; both must refuse with `detail` after their source. */
function refusedBothWays(edit: (c: Json) => void): string {
  const card = JSON.parse(JSON.stringify(cardToJson(museCard()))) as Json;
  edit(card);
  const fromJson = (() => {
    try {
      parseModelCardJson(card, 'card.json');
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('card.json was accepted');
  })();
  const fromOnnx = (() => {
    try {
      parseModelCard(modelBytes(asMetadata(card)), 'm.onnx');
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('m.onnx was accepted');
  })();
  expect(fromJson.startsWith('card.json: ')).toBe(true);
  expect(fromOnnx.replace(/^m\.onnx: /, '')).toBe(fromJson.replace(/^card\.json: /, ''));
  return fromJson.replace(/^card\.json: /, '');
}

const refusedOnnx = (meta: Record<string, string> | Iterable<[string | Uint8Array, string | Uint8Array]>) => {
  try {
    parseModelCard(modelBytes(meta), 'm.onnx');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('parseModelCard / parseModelCardJson', () => {
  it('read the same card from metadata_props and from card.json, with every field the writer writes', () => {
    const card = museCard();
    const a = parseModelCard(modelBytes(museMetadata()), 'm.onnx');
    const b = parseModelCardJson(JSON.parse(JSON.stringify(cardToJson(card))), 'card.json');
    expect(a).toEqual(b);
    expect(Object.keys(a.raw)).toEqual(CARD_FIELDS.map((k) => `cmcrd.${k}`));
    expect(CARD_FIELDS).toHaveLength(17);
    expect(a).toMatchObject({
      cardVersion: CARD_VERSION,
      channels: card.channels,
      fs: 200,
      windowSec: 4,
      hopSec: 4,
      nfft: 1024,
      featureMethod: 'seed-de',
      smoothing: 'none',
      inputLayout: card.input_layout,
      normalisation: card.normalisation,
      provenance: { createdBy: 'test', seed: 1, synthetic: true },
      metrics: { testAccuracy: 0.75 },
    });
    // Other tools' metadata is ignored for the card and kept in raw.
    const other = parseModelCard(
      modelBytes({ 'onnx.producer': 'x', ...museMetadata(), __proto__: 'p' } as Record<string, string>),
      'm.onnx',
    );
    expect(other.raw['onnx.producer']).toBe('x');
    expect(other.classes).toEqual(card.classes);
  });

  it('refuse the probe values (classes: "abc", window_s: -4) with the field named', () => {
    expect(refusedBothWays((c) => (c.classes = 'abc'))).toBe('model card: classes must be an array, got "abc"');
    expect(refusedBothWays((c) => (c.window_s = -4))).toBe('model card: window_s must be > 0, got -4');
  });

  it('refuse a card from a newer version, whatever else it holds', () => {
    expect(refusedBothWays((c) => (c.card_version = CARD_VERSION + 1))).toBe(
      `model card version ${CARD_VERSION + 1} is newer than this runtime (${CARD_VERSION}); update cmcrd-edge`,
    );
    expect(refusedBothWays((c) => ((c.card_version = 9), (c.classes = 5), delete c.bands))).toBe(
      `model card version 9 is newer than this runtime (${CARD_VERSION}); update cmcrd-edge`,
    );
    expect(refusedBothWays((c) => (c.card_version = 0))).toBe('model card: card_version must be ≥ 1, got 0');
    expect(refusedBothWays((c) => (c.card_version = 1.5))).toBe('model card: card_version must be an integer, got 1.5');
    const { 'cmcrd.card_version': _v, ...noVersion } = museMetadata();
    expect(refusedOnnx(noVersion)).toBe('m.onnx: model card has no "cmcrd.card_version" (not a cmcrd-edge model?)');
    expect(() => parseModelCardJson({ classes: [] }, 'c.json')).toThrow(/^c\.json: model card has no "card_version"/);
  });

  it('refuse missing and ill-typed fields, naming them', () => {
    for (const key of CARD_FIELDS.filter((k) => k !== 'card_version')) {
      expect(refusedBothWays((c) => delete c[key])).toBe(`model card: ${key} is missing`);
    }
    expect(refusedBothWays((c) => (c.classes = ['sad', 3]))).toBe('model card: classes[1] must be a string, got 3');
    expect(refusedBothWays((c) => (c.classes = []))).toBe('model card: classes must name at least one class, got an array of 0');
    expect(refusedBothWays((c) => (c.bands[1].lo = 'x'))).toBe('model card: bands[1].lo must be a number, got "x"');
    expect(refusedBothWays((c) => (c.montage = 42))).toBe('model card: montage must be an object, got 42');
    expect(refusedBothWays((c) => (c.normalisation.mean[5] = null))).toBe(
      'model card: normalisation.mean[5] must be a number, got null (NaN or Infinity become null in JSON)',
    );
    expect(refusedBothWays((c) => (c.provenance.x = [1]))).toBe(
      'model card: provenance.x must be a string, a finite number or a boolean, got an array of 1',
    );
    expect(refusedBothWays((c) => (c.metrics.acc = 'high'))).toBe('model card: metrics.acc must be a number, got "high"');
    expect(refusedBothWays((c) => (c.input_layout = 'band-major'))).toMatch(
      /^model card: input_layout must be "channel-major .*", got "band-major"$/,
    );
    expect(refusedBothWays((c) => (c.modality = 'ecg'))).toBe('model card: modality must be one of "eeg", "eye", got "ecg"');
  });

  it('refuse a card the runtime cannot satisfy', () => {
    expect(refusedBothWays((c) => (c.feature_method = 'wavelet'))).toBe(
      'model card: feature_method must be one of "seed-de", "seed-psd", "gauss-de", "welch", "welch-rel", "eye", got "wavelet"',
    );
    expect(refusedBothWays((c) => (c.smoothing = 'kalman'))).toBe(
      'model card: smoothing must be one of "none", "lds", "lds-causal", "moving-average", "moving-average-causal", got "kalman"',
    );
    expect(refusedBothWays((c) => ([c.bands[0], c.bands[1]] = [c.bands[1], c.bands[0]]))).toBe(
      'model card: bands must be in ascending order: bands[1] [1, 4) Hz comes after [4, 8) Hz',
    );
    expect(refusedBothWays((c) => (c.bands[2].hi = 8))).toBe('model card: bands[2].hi (8 Hz) must be > bands[2].lo (8 Hz)');
    expect(refusedBothWays((c) => (c.bands[3].hi = 2))).toBe('model card: bands[3].hi (2 Hz) must be > bands[3].lo (14 Hz)');
    expect(refusedBothWays((c) => (c.bands[4].hi = 150))).toBe(
      'model card: bands[4].hi (150 Hz) must be ≤ the Nyquist frequency, sampling_rate_hz / 2 = 100 Hz',
    );
    expect(refusedBothWays((c) => (c.bands[4].name = 'delta'))).toBe('model card: bands[4].name repeats bands[0].name ("delta")');
    expect(refusedBothWays((c) => (c.bands[0].lo = -1))).toBe('model card: bands[0].lo must be ≥ 0 Hz, got -1');
    expect(refusedBothWays((c) => (c.sampling_rate_hz = 0))).toBe(
      'model card: sampling_rate_hz must be > 0 for feature_method "seed-de", got 0',
    );
    expect(refusedBothWays((c) => (c.sampling_rate_hz = -200))).toBe('model card: sampling_rate_hz must be ≥ 0, got -200');
    expect(refusedBothWays((c) => (c.sampling_rate_hz = 1e9))).toBe('model card: sampling_rate_hz must be ≤ 100000 Hz, got 1000000000');
    expect(refusedBothWays((c) => (c.hop_s = 0))).toBe('model card: hop_s must be > 0, got 0');
    expect(refusedBothWays((c) => (c.hop_s = 8))).toBe('model card: hop_s (8 s) must be ≤ window_s (4 s)');
    expect(refusedBothWays((c) => (c.window_s = 1e9))).toBe('model card: window_s must be ≤ 3600 s, got 1000000000');
    expect(refusedBothWays((c) => ((c.window_s = 4.0025), (c.hop_s = 2)))).toBe(
      'model card: window_s (4.0025 s) must be a whole number of samples at sampling_rate_hz = 200 Hz (it is 800.5)',
    );
    expect(refusedBothWays((c) => (c.nfft = 1000))).toBe('model card: nfft must be a power of two from 4 to 1048576, got 1000');
    expect(refusedBothWays((c) => (c.normalisation.mean.pop(), c.normalisation.std.pop()))).toBe(
      'model card: normalisation.mean has 19 values, but channels × bands = 4 × 5 = 20',
    );
    expect(refusedBothWays((c) => c.normalisation.std.pop())).toBe('model card: normalisation.std has 19 values, normalisation.mean 20');
    expect(refusedBothWays((c) => (c.normalisation.std[3] = 0))).toBe('model card: normalisation.std[3] must be > 0, got 0');
    expect(refusedBothWays((c) => (c.channels[2] = 'FP1'))).toBe('model card: channels: [2] repeats [1] ("FP1"); names must be unique');
    expect(refusedBothWays((c) => (c.classes[3] = 'sad'))).toBe('model card: classes: [3] repeats [1] ("sad"); names must be unique');
    expect(refusedBothWays((c) => c.montage.sites.pop())).toBe('model card: montage.sites has 3 names, channels 4');
    expect(refusedBothWays((c) => (c.modality = 'eye'))).toBe(
      'model card: feature_method "seed-de" does not go with modality "eye" ("eye" features are the eye modality\'s)',
    );
    expect(refusedBothWays((c) => (c.channels = Array.from({ length: 5000 }, (_, i) => `c${i}`)))).toBe(
      'model card: channels must have at most 4096 entries, got an array of 5000',
    );
  });

  it('read numbers in metadata strictly, and name a JSON value that does not parse', () => {
    expect(refusedOnnx({ ...museMetadata(), 'cmcrd.window_s': '0x10' })).toBe('m.onnx: model card: window_s must be a number, got "0x10"');
    expect(refusedOnnx({ ...museMetadata(), 'cmcrd.window_s': ' 4' })).toBe('m.onnx: model card: window_s must be a number, got " 4"');
    expect(refusedOnnx({ ...museMetadata(), 'cmcrd.hop_s': '' })).toBe('m.onnx: model card: hop_s must be a number, got ""');
    expect(refusedOnnx({ ...museMetadata(), 'cmcrd.sampling_rate_hz': 'Infinity' })).toBe(
      'm.onnx: model card: sampling_rate_hz must be a number, got "Infinity"',
    );
    expect(refusedOnnx({ ...museMetadata(), 'cmcrd.classes': 'abc' })).toMatch(
      /^m\.onnx: model card field "cmcrd\.classes" is not valid JSON \(/,
    );
    expect(refusedOnnx({ ...museMetadata(), 'cmcrd.normalisation': '{"mean":[[[[[[[[[[1]]]]]]]]]]}' })).toBe(
      'm.onnx: model card field "cmcrd.normalisation" nests deeper than 8 levels',
    );
    // nfft "" is "none" (eye-tracker models have no FFT).
    expect(parseModelCard(modelBytes({ ...museMetadata(), 'cmcrd.nfft': '' }), 'm.onnx').nfft).toBeNull();
  });

  it('refuse something that is not a card object', () => {
    for (const x of [42, null, 'card', [1, 2]])
      expect(() => parseModelCardJson(x, 'c.json')).toThrow(/^c\.json: a model card must be a JSON object, got /);
  });
});

/**
 * Parse with a time bound; returns the error message. A parse over the bound is timed again, up to three times in
 * all: the bound is on the work, not on a shared machine's scheduler.
 */
function timedRefusal(bytes: Uint8Array, limitMs = 250): string {
  let message: string | null = null;
  let best = Infinity;
  for (let attempt = 0; attempt < 3 && best >= limitMs; attempt++) {
    const t0 = performance.now();
    message = null;
    try {
      parseModelCard(bytes, 'hostile.onnx');
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      message = (e as Error).message;
    }
    best = Math.min(best, performance.now() - t0);
  }
  expect(best, message ?? 'accepted').toBeLessThan(limitMs);
  expect(message).not.toBeNull();
  expect(message!.startsWith('hostile.onnx: ')).toBe(true);
  expect(message!.length).toBeLessThan(400);
  return message!;
}

describe('hostile metadata_props (each parse < 250 ms, a clear error naming the source)', () => {
  const base = Object.entries(museMetadata());

  it('a huge value, too many entries, too much text', () => {
    expect(timedRefusal(modelBytes([...base, ['cmcrd.extra', 'x'.repeat(2 << 20)]]))).toBe(
      'hostile.onnx: metadata_props entry 18: the value is 2097152 bytes, more than the 1048576 allowed (key "cmcrd.extra")',
    );
    expect(timedRefusal(modelBytes([['k'.repeat(300), 'v']]))).toBe(
      'hostile.onnx: metadata_props entry 1: the key is 300 bytes, more than the 256 allowed',
    );
    expect(timedRefusal(modelBytes(Array.from({ length: 5000 }, (_, i): [string, string] => [`k${i}`, 'v'])))).toBe(
      'hostile.onnx: metadata_props has more than 1024 entries (a model card has 17)',
    );
    expect(timedRefusal(modelBytes(Array.from({ length: 8 }, (_, i): [string, string] => [`k${i}`, 'v'.repeat(1 << 20)])))).toBe(
      'hostile.onnx: metadata_props holds more than 4194304 bytes of text',
    );
    // A legal-size value that is one deep JSON nest, or a list far longer than a card holds.
    expect(timedRefusal(modelBytes({ ...museMetadata(), 'cmcrd.classes': '['.repeat(1 << 19) + ']'.repeat(1 << 19) }))).toBe(
      'hostile.onnx: model card field "cmcrd.classes" nests deeper than 8 levels',
    );
    expect(
      timedRefusal(modelBytes({ ...museMetadata(), 'cmcrd.normalisation': JSON.stringify({ mean: new Array(200_000).fill(1), std: [] }) })),
    ).toBe('hostile.onnx: model card: normalisation.mean must have at most 16384 entries, got an array of 200000');
  });

  it('invalid UTF-8, a key twice, an entry without a key', () => {
    expect(timedRefusal(modelBytes([...base, ['cmcrd.note', Uint8Array.from([0x61, 0xff, 0xfe])]]))).toBe(
      'hostile.onnx: metadata_props entry 18: the value is not valid UTF-8',
    );
    expect(timedRefusal(modelBytes([[Uint8Array.from([0xc3, 0x28]), 'v']]))).toBe(
      'hostile.onnx: metadata_props entry 1: the key is not valid UTF-8',
    );
    expect(timedRefusal(modelBytes([...base, ['cmcrd.arch', 'dgcnn']]))).toBe(
      'hostile.onnx: metadata_props has the key "cmcrd.arch" twice',
    );
    expect(timedRefusal(concat([modelBytes(base), lenField(14, lenField(2, new TextEncoder().encode('v')))]))).toBe(
      'hostile.onnx: metadata_props entry 18 has no key',
    );
  });

  it('broken protobuf: every truncation of a model, bad lengths, wire types and varints', () => {
    const bytes = modelBytes(base);
    let refusedCount = 0;
    for (let n = 1; n < bytes.length; n++) {
      try {
        parseModelCard(bytes.subarray(0, n), 'hostile.onnx');
      } catch (e) {
        expect((e as Error).message.startsWith('hostile.onnx: ')).toBe(true);
        refusedCount++;
      }
    }
    // Every strict prefix lacks at least the last entry (a card field), so every one is refused.
    expect(refusedCount).toBe(bytes.length - 1);
    expect(timedRefusal(Uint8Array.from([0x0a, 0xff, 0xff, 0xff]))).toMatch(/^hostile\.onnx: not a readable ONNX model \(truncated varint/);
    expect(timedRefusal(Uint8Array.from([0x72, 0x80, 0x80, 0x80, 0x80, 0x10]))).toMatch(
      /^hostile\.onnx: not a readable ONNX model \(field at byte 6 claims 4294967296 bytes, 0 remain\)$/,
    );
    expect(timedRefusal(Uint8Array.from([0x08, ...new Array(11).fill(0xff), 0x01]))).toMatch(/longer than 10 bytes/);
    expect(timedRefusal(Uint8Array.from([0x0b, 0x00]))).toMatch(/unsupported protobuf wire type 3/);
    expect(timedRefusal(Uint8Array.from([0x00]))).toMatch(/field number 0/);
    expect(timedRefusal(new Uint8Array(0))).toBe('hostile.onnx: model card has no "cmcrd.card_version" (not a cmcrd-edge model?)');
    // Many tiny top-level fields: bounded, not scanned without end.
    expect(timedRefusal(Uint8Array.from({ length: 2 * 150_000 }, (_, i) => (i % 2 ? 1 : 0x08)))).toBe(
      'hostile.onnx: not a readable ONNX model (more than 100000 top-level protobuf fields)',
    );
    expect(() => readOnnxMetadata(Uint8Array.from([0x0a, 0xff]), 'x.onnx')).toThrow(/^x\.onnx: not a readable ONNX model/);
  });
});

// Type-level: the card type has the 17 fields.
const _fields: (keyof Card)[] = CARD_FIELDS;
void _fields;
