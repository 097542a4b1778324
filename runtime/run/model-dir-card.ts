/**
 * The card.json that `cmcrd export --out <dir>` writes (format "cmcrd-model-dir", export/model-dir.ts
 * `PackageCard`), read the way it is written: a valibot schema of exactly its fields, then the cross-references
 * (every variant's file listed in `files[]`, every runtime's `faster` / `load` / latency naming a variant, no
 * repeats) and, against the directory, the listed files present with the listed sizes. Errors name card.json and
 * the field (`runtimes[0].load`, `files[2].bytes`). Browser-safe: the caller lists the directory and checks the
 * SHA-256 of what it loads (`checkListedHash`).
 */
import * as v from 'valibot';

export const MODEL_DIR_FORMAT = 'cmcrd-model-dir';
export const MODEL_DIR_VERSION = 1;

const text = (what: string) => v.string(`${what} must be a string`);
const nonEmpty = (what: string) => v.pipe(text(what), v.nonEmpty(`${what} must not be empty`));
const count = (what: string) =>
  v.pipe(v.number(`${what} must be a number`), v.integer(`${what} must be a whole number`), v.minValue(0, `${what} must be ≥ 0`));
const micros = (what: string) =>
  v.pipe(v.number(`${what} must be a number`), v.finite(`${what} must be finite`), v.minValue(0, `${what} must be ≥ 0`));

/** A file name inside the model directory: relative, no `..`, no backslashes. */
const inside = (what: string) =>
  v.pipe(
    nonEmpty(what),
    v.check(
      (f: string) => !f.startsWith('/') && !f.includes('\\') && !f.split('/').includes('..'),
      `${what} must name a file inside the model directory`,
    ),
  );

const VariantSchema = v.object({
  name: nonEmpty('name'),
  format: v.picklist(['onnx', 'tfjs'], 'format must be "onnx" or "tfjs"'),
  file: inside('file'),
  bytes: count('bytes'),
  quantisation: v.optional(
    v.custom<object>((x) => typeof x === 'object' && x !== null && !Array.isArray(x), 'quantisation must be an object'),
  ),
});

const RuntimeSchema = v.object({
  runtime: nonEmpty('runtime'),
  setup: text('setup'),
  latency: v.array(
    v.object({ variant: nonEmpty('variant'), file: inside('file'), p50Us: micros('p50Us'), p99Us: micros('p99Us') }),
    'latency must be a list',
  ),
  faster: v.nullable(nonEmpty('faster')),
  load: nonEmpty('load'),
  note: v.optional(text('note')),
});

const PackageSchema = v.object({
  format: v.literal(MODEL_DIR_FORMAT, `format must be "${MODEL_DIR_FORMAT}"`),
  version: v.literal(MODEL_DIR_VERSION, `version must be ${MODEL_DIR_VERSION}`),
  card: v.record(
    v.string(),
    text('every card entry'),
    'card must be an object of strings (the model card entries every model file embeds)',
  ),
  variants: v.pipe(v.array(VariantSchema, 'variants must be a list'), v.minLength(1, 'variants must list at least one variant')),
  runtimes: v.array(RuntimeSchema, 'runtimes must be a list'),
  files: v.array(
    v.object({
      name: inside('name'),
      bytes: count('bytes'),
      sha256: v.pipe(text('sha256'), v.regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex digits')),
    }),
    'files must be a list',
  ),
  notes: v.array(text('every note'), 'notes must be a list of strings'),
});

/** card.json as the exporter writes it (structurally the same as export/model-dir.ts `PackageCard`). */
export type ModelDirCard = v.InferOutput<typeof PackageSchema>;
export type ModelDirCardVariant = ModelDirCard['variants'][number];
export type ModelDirCardRuntime = ModelDirCard['runtimes'][number];

/** `variants.1.file` → `variants[1].file` */
function fieldPath(issue: v.BaseIssue<unknown>): string {
  const dot = v.getDotPath(issue);
  return dot ? dot.replace(/\.(\d+)(?=\.|$)/g, '[$1]').replace(/^card\.(.+)$/, 'card["$1"]') : '(top level)';
}

/** Is this parsed card.json the exporter's format (as opposed to an older or hand-written card)? */
export function isModelDirCard(json: unknown): json is { format: unknown } {
  return typeof json === 'object' && json !== null && !Array.isArray(json) && 'format' in json;
}

/**
 * Validate card.json (`source` is its path, for messages) against the files present: `bytesOf(name)` gives a file's
 * size, undefined when it is missing.
 */
export function parseModelDirCard(json: unknown, source: string, bytesOf: (name: string) => number | undefined): ModelDirCard {
  const o = json as Record<string, unknown>;
  if (o.format !== MODEL_DIR_FORMAT) throw new Error(`${source}: format must be "${MODEL_DIR_FORMAT}", got ${JSON.stringify(o.format)}`);
  if (typeof o.version === 'number' && o.version > MODEL_DIR_VERSION) {
    throw new Error(
      `${source}: written by a newer cmcrd (model directory version ${o.version}; this one reads version ${MODEL_DIR_VERSION}): upgrade cmcrd-edge`,
    );
  }
  const r = v.safeParse(PackageSchema, json, { abortEarly: true });
  if (!r.success) {
    const issue = r.issues[0];
    const msg = issue.message.startsWith('Invalid key') ? `missing field` : issue.message;
    throw new Error(`${source}: ${fieldPath(issue)}: ${msg}`);
  }
  const pkg = r.output;
  const fail = (field: string, msg: string): never => {
    throw new Error(`${source}: ${field}: ${msg}`);
  };
  const names = new Map<string, number>();
  const listed = new Map<string, number>();
  pkg.files.forEach((f, i) => {
    if (listed.has(f.name)) fail(`files[${i}].name`, `repeats files[${listed.get(f.name)}] (${f.name})`);
    listed.set(f.name, i);
    const have = bytesOf(f.name);
    if (have === undefined) fail(`files[${i}]`, `${f.name} is not in the directory`);
    if (have !== f.bytes)
      fail(`files[${i}].bytes`, `${f.name} has ${have} bytes, card.json says ${f.bytes}: the directory was changed after export`);
  });
  pkg.variants.forEach((x, i) => {
    if (names.has(x.name)) fail(`variants[${i}].name`, `repeats variants[${names.get(x.name)}] (${x.name})`);
    names.set(x.name, i);
    if (!listed.has(x.file)) fail(`variants[${i}].file`, `${x.file} is not listed in files[]`);
    if (x.format === 'onnx' && !x.file.endsWith('.onnx'))
      fail(`variants[${i}].file`, `an onnx variant's file must end in .onnx, got ${x.file}`);
    if (x.format === 'onnx' && x.bytes !== pkg.files[listed.get(x.file)!]!.bytes)
      fail(`variants[${i}].bytes`, `${x.bytes} differs from files[${listed.get(x.file)}].bytes (${pkg.files[listed.get(x.file)!]!.bytes})`);
  });
  const seen = new Map<string, number>();
  pkg.runtimes.forEach((rt, i) => {
    if (seen.has(rt.runtime)) fail(`runtimes[${i}].runtime`, `repeats runtimes[${seen.get(rt.runtime)}] (${rt.runtime})`);
    seen.set(rt.runtime, i);
    const known = (field: string, name: string) => {
      if (!names.has(name)) fail(`runtimes[${i}].${field}`, `"${name}" is not one of the variants (${[...names.keys()].join(', ')})`);
    };
    rt.latency.forEach((l, j) => {
      known(`latency[${j}].variant`, l.variant);
      if (pkg.variants[names.get(l.variant)!]!.file !== l.file)
        fail(
          `runtimes[${i}].latency[${j}].file`,
          `${l.file} is not the file of variant ${l.variant} (${pkg.variants[names.get(l.variant)!]!.file})`,
        );
    });
    if (rt.faster !== null) known('faster', rt.faster);
    known('load', rt.load);
  });
  return pkg;
}

/** The SHA-256 (hex) card.json lists for `file`, or null when it lists none. */
export function listedHash(pkg: ModelDirCard, file: string): string | null {
  return pkg.files.find((f) => f.name === file)?.sha256 ?? null;
}
