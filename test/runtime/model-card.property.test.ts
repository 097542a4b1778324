/**
 * Property tests of the model card reader on hostile input (fast-check): random byte strings, random metadata_props
 * entries (any bytes as keys and values), mutations of a valid card's metadata (dropped, duplicated, retyped,
 * corrupted, truncated entries) and of its card.json object. Every case must finish in under 250 ms (a bound against hangs, generous for loaded CI machines; typical parses take well under 1 ms) and either return
 * a card that holds together (re-encoding it reads back the same card) or throw an Error that names the source.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseModelCard, parseModelCardJson, CARD_FIELDS, type ModelCard } from '../../runtime/model-card.js';
import { cardToJson } from '../../runtime/card/schema.js';
import { concat, modelBytes, museCard, museMetadata } from './card-helpers.js';

const LIMIT_MS = 250;
const SOURCE = 'fuzz.onnx';

/**
 * Run one case under the time bound. A case over it is timed again, up to three times in all: the bound is on the
 * work, not on a shared machine's scheduler (typical cases take well under 1 ms).
 */
function runCase(parse: () => ModelCard, source = SOURCE): ModelCard | null {
  let outcome: { card: ModelCard } | { error: unknown } | undefined;
  let best = Infinity;
  for (let attempt = 0; attempt < 3 && best >= LIMIT_MS; attempt++) {
    const t0 = performance.now();
    try {
      outcome = { card: parse() };
    } catch (error) {
      outcome = { error };
    }
    best = Math.min(best, performance.now() - t0);
  }
  expect(best).toBeLessThan(LIMIT_MS);
  if ('error' in outcome!) {
    const e = outcome.error;
    expect(e).toBeInstanceOf(Error);
    const m = (e as Error).message;
    expect(m.startsWith(`${source}: `), m).toBe(true);
    expect(m.length, m).toBeLessThan(400);
    return null;
  }
  const card = outcome!.card;
  // A card that was accepted holds together, and reads back the same from its own entries.
  expect(card.classes.length).toBeGreaterThan(0);
  expect(card.normalisation.std.length).toBe(card.normalisation.mean.length);
  if (card.featureMethod !== 'eye') expect(card.channels.length * card.bands.length).toBe(card.normalisation.mean.length);
  expect(card.hopSec).toBeLessThanOrEqual(card.windowSec);
  expect(parseModelCard(modelBytes(Object.entries(card.raw)), 'again')).toEqual(card);
  return card;
}

// Warm the code paths once, so the first timed case does not pay for compilation.
parseModelCard(modelBytes(museMetadata()), 'warm-up');

const cardKey = fc.constantFrom(...CARD_FIELDS.map((k) => `cmcrd.${k}`));
/** Values a hostile writer might put anywhere. */
const hostileText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.json({ maxDepth: 4 }),
  fc.double().map(String),
  fc.integer().map(String),
  fc.constantFrom(
    '',
    'NaN',
    'Infinity',
    '-0',
    '0x10',
    '1e999',
    ' 4',
    '[]',
    '{}',
    'null',
    'true',
    '"abc"',
    '[1,2',
    '["a","a"]',
    '['.repeat(40),
    '{"mean":[1],"std":[0]}',
  ),
);
const bytesOrText = fc.oneof(hostileText, fc.uint8Array({ maxLength: 80 }));

type Entries = Array<[string | Uint8Array, string | Uint8Array]>;

/** One edit of a valid card's entries. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), key: cardKey, value: bytesOrText }),
  fc.record({
    kind: fc.constant('add' as const),
    key: fc.oneof(cardKey, fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 })),
    value: bytesOrText,
  }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('json' as const),
    key: fc.constantFrom('classes', 'channels', 'montage', 'bands', 'normalisation', 'provenance', 'metrics'),
    path: fc.array(fc.oneof(fc.nat({ max: 25 }), fc.constantFrom('mean', 'std', 'lo', 'hi', 'name', 'sites', 'x')), {
      minLength: 1,
      maxLength: 3,
    }),
    value: fc.jsonValue({ maxDepth: 3 }),
  }),
  fc.record({
    kind: fc.constant('number' as const),
    key: fc.constantFrom('sampling_rate_hz', 'window_s', 'hop_s', 'nfft', 'card_version'),
    value: fc.oneof(fc.double(), fc.integer({ min: -5, max: 5000 })),
  }),
  fc.record({
    kind: fc.constant('provenance' as const),
    value: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean())),
  }),
);

function setPath(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const node = root && typeof root === 'object' ? (root as Record<string | number, unknown>) : {};
  const copy = (Array.isArray(node) ? [...node] : { ...node }) as Record<string | number, unknown>;
  copy[head!] = setPath(node[head!], rest, value);
  return copy;
}

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function applyMutations(mutations: Mutation[]): Entries {
  const entries: Entries = Object.entries(museMetadata());
  for (const m of mutations) {
    const i = 'at' in m && entries.length ? m.at % entries.length : 0;
    switch (m.kind) {
      case 'drop':
        if (entries.length) entries.splice(i, 1);
        break;
      case 'duplicate':
        if (entries.length) entries.push(entries[i]!);
        break;
      case 'set': {
        const j = entries.findIndex(([k]) => k === m.key);
        if (j >= 0) entries[j] = [m.key, m.value];
        else entries.push([m.key, m.value]);
        break;
      }
      case 'add':
        entries.push([m.key, m.value]);
        break;
      case 'json':
      case 'number':
      case 'provenance': {
        const key = m.kind === 'provenance' ? 'cmcrd.provenance' : `cmcrd.${m.key}`;
        const j = entries.findIndex(([k]) => k === key);
        if (j < 0) break;
        let next: string;
        if (m.kind === 'json') {
          let current: unknown = null;
          try {
            current = JSON.parse(String(entries[j]![1]));
          } catch {
            /* replaced below */
          }
          next = JSON.stringify(setPath(current, m.path, m.value)) ?? 'null';
        } else next = m.kind === 'number' ? String(m.value) : JSON.stringify(m.value);
        entries[j] = [key, next];
        break;
      }
    }
  }
  return entries;
}

describe('parseModelCard on hostile bytes (fast-check)', () => {
  it('3000 random byte strings: a card or an Error naming the source, each < 250 ms', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        runCase(() => parseModelCard(bytes, SOURCE));
      }),
      { numRuns: 3000 },
    );
  });

  it('1000 models of random metadata_props entries (any bytes as keys and values): a card or an Error naming the source, each < 250 ms', () => {
    const entries = fc.array(fc.tuple(fc.oneof(cardKey, fc.uint8Array({ maxLength: 40 })), bytesOrText), { maxLength: 60 });
    fc.assert(
      fc.property(entries, fc.uint8Array({ maxLength: 64 }), (list, tail) => {
        runCase(() => parseModelCard(concat([modelBytes(list), tail]), SOURCE));
      }),
      { numRuns: 1000 },
    );
  });

  it('3000 mutations of a valid card (dropped, duplicated, retyped, corrupted, truncated entries): a card or an Error naming the source, each < 250 ms', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        // Truncation and a flipped byte in one case of four each, so intact entries reach the card checks too.
        fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: fc.nat(), weight: 1 }),
        fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 3 },
          { arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), weight: 1 },
        ),
        (mutations, cut, flip) => {
          let bytes = modelBytes(applyMutations(mutations));
          if (flip) bytes[flip[0] % bytes.length] = flip[1];
          if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1));
          if (runCase(() => parseModelCard(bytes, SOURCE))) accepted++;
          else refused++;
        },
      ),
      { numRuns: 3000 },
    );
    // Both outcomes occur: the mutations reach valid cards as well as every kind of refusal.
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('1000 mutated card.json objects: a card or an Error naming the source, each < 250 ms', () => {
    const fields = fc.constantFrom(...CARD_FIELDS);
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fields,
            fc.array(fc.oneof(fc.nat({ max: 25 }), fc.constantFrom('mean', 'std', 'lo', 'hi', 'name', 'sites')), { maxLength: 2 }),
            fc.jsonValue({ maxDepth: 3 }),
          ),
          { minLength: 1, maxLength: 3 },
        ),
        (edits) => {
          let obj: unknown = JSON.parse(JSON.stringify(cardToJson(museCard())));
          for (const [field, path, value] of edits) obj = setPath(obj, [field, ...path], value);
          runCase(() => parseModelCardJson(obj, 'fuzz.json'), 'fuzz.json');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('non-card JSON of every shape (500 cases) is refused naming the source, each < 250 ms', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (x) => {
        runCase(() => parseModelCardJson(x, 'fuzz.json'), 'fuzz.json');
      }),
      { numRuns: 500 },
    );
  });
});
