/**
 * The model directory `cmcrd export --out <dir>` writes, and the pieces of it that are not a model format:
 *   model.onnx            fp32 ONNX
 *   model.int8.onnx       int8 QDQ ONNX (--int8 static | dynamic)
 *   tfjs/model.json       tfjs GraphModel topology + weights manifest, tfjs/*.bin weight shards (--tfjs)
 *   card.json             the model card (the same entries every model file embeds) and the package additions
 *                         below: variants, quantisation summary, measured latency and the faster variant per
 *                         runtime, files with sizes and SHA-256
 *   parity.json           per format and variant: max |Δp| against the checkpoint's own forward pass, arg-max
 *                         agreement and held-out accuracy beside fp32's (measured by checkParity, ./parity.ts)
 * Pure (no Node built-ins): the CLI measures, hashes and writes.
 */
import type { Checkpoint } from './checkpoint.js';
import { modelCard } from './model-card.js';
import type { CalibrationMethod, QuantMode, QuantSummary } from './quantize.js';

export const MODEL_DIR_FORMAT = 'cmcrd-model-dir';
export const MODEL_DIR_VERSION = 1;

export const FILES = {
  fp32: 'model.onnx',
  int8: 'model.int8.onnx',
  tfjs: 'tfjs/model.json',
  card: 'card.json',
  parity: 'parity.json',
} as const;

/** A deployable variant: ONNX fp32, ONNX int8 (static QDQ or weights only), tfjs GraphModel (float32 or uint8 weights). */
export type VariantName = 'fp32' | 'int8-static' | 'int8-dynamic' | 'tfjs-float32' | 'tfjs-uint8';
export type RuntimeName = 'onnxruntime-node' | 'onnxruntime-web' | 'tfjs-wasm';

/** Quality bar an int8 or uint8 variant must meet to be preferred (issue 20): arg-max agreement and accuracy drop. */
export const QUALITY_BAR = { fp32MaxAbsDp: 1e-5, argmaxAgreement: 0.99, accuracyDropPoints: 0.5 } as const;

export interface VariantInfo {
  name: VariantName;
  format: 'onnx' | 'tfjs';
  file: string;
  bytes: number;
  /** int8: what the quantiser did (compact); tfjs-uint8: which weights are uint8 in the manifest. */
  quantisation?: CompactQuantisation;
}

export interface CompactQuantisation {
  scheme: string;
  mode?: QuantMode;
  calibration?: { method: CalibrationMethod; samples: number; percentile?: number };
  /** Tensor counts: int8 weights (per-channel unless noted), int8 activations, int32 biases, dropped ReLUs. */
  weights: number;
  activations?: number;
  int32Biases?: number;
  removedRelus?: number;
}

export function compactQuantisation(s: QuantSummary): CompactQuantisation {
  return {
    scheme: s.scheme,
    mode: s.mode,
    ...(s.calibration ? { calibration: s.calibration } : {}),
    weights: s.weights.length,
    activations: s.activations.length,
    int32Biases: s.biases.length,
    removedRelus: s.removedRelus.length,
  };
}

export interface ParityEntry {
  format: 'onnx' | 'tfjs';
  variant: VariantName;
  file: string;
  /** What ran it, e.g. "onnxruntime-node 1.30.0", "tfjs-converter loadGraphModel on wasm". */
  runtime: string;
  maxAbsDp: number;
  argmaxAgreement: number;
  /** Held-out accuracy of this variant and of the fp32 ONNX model on the same windows (null without labels). */
  accuracy: number | null;
  fp32Accuracy: number | null;
  /** Whether the entry meets QUALITY_BAR (fp32: max |Δp|; quantised: agreement and accuracy drop). */
  meetsBar: boolean;
}

export interface ParityReport {
  reference: string;
  /** Which windows: the checkpoint's held-out (test) windows, or rows drawn around its normalisation. */
  windows: { source: 'held-out' | 'synthetic-rows'; count: number; of?: number; detail: string };
  /** The checkpoint's own accuracy on those windows (tfjs eval mode). */
  checkpointAccuracy: number | null;
  entries: ParityEntry[];
  /** Variants not checked, and why. */
  unchecked: { variant: VariantName; reason: string }[];
}

export interface LatencyFigures {
  variant: VariantName;
  file: string;
  p50Us: number;
  p99Us: number;
}

export interface RuntimeReport {
  runtime: RuntimeName;
  /** e.g. "onnxruntime-node 1.30.0, 1 thread, spinning off, batch 1". */
  setup: string;
  latency: LatencyFigures[];
  /** The faster variant by p50 (null when one variant only or not measured). */
  faster: VariantName | null;
  /** The variant the device should load on this runtime: the faster one among those meeting the quality bar. */
  load: VariantName;
  note?: string;
}

/** The package part of card.json (for the coordinator's card schema). */
export interface PackageCard {
  format: typeof MODEL_DIR_FORMAT;
  version: typeof MODEL_DIR_VERSION;
  /** The model card entries embedded in every model file (ONNX metadata_props, tfjs userDefinedMetadata.card). */
  card: Record<string, string>;
  variants: VariantInfo[];
  runtimes: RuntimeReport[];
  files: { name: string; bytes: number; sha256: string }[];
  notes: string[];
}

/**
 * Why a checkpoint cannot be deployed as a model the device reproduces (empty when it can):
 *   - trained with per-subject normalisation: every subject was z-scored with its own statistics (the held-out one
 *     with its own unlabelled test features), but a model carries one set, the training set's global statistics,
 *     which the network never saw its inputs scaled by;
 *   - normalisation statistics that are not finite, or a standard deviation that is not positive.
 */
export function undeployableReasons(ck: Checkpoint): string[] {
  const out: string[] = [];
  const mode = ck.provenance.normalisation;
  if (mode !== undefined && mode !== 'global') {
    out.push(
      mode === 'per-subject'
        ? 'it was trained with --normalise per-subject (each subject z-scored with its own statistics, the held-out subject with its own unlabelled features), while an exported model carries one set of statistics, so on the device it would see inputs scaled unlike any it was trained on; retrain with --normalise global'
        : `provenance.normalisation is ${JSON.stringify(mode)}, not "global"`,
    );
  }
  const bad = (xs: number[], positive: boolean) =>
    xs.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0));
  const m = bad(ck.normalisation.mean, false);
  const s = bad(ck.normalisation.std, true);
  if (m >= 0) out.push(`normalisation.mean[${m}] is ${JSON.stringify(ck.normalisation.mean[m])}, not a finite number`);
  if (s >= 0) out.push(`normalisation.std[${s}] is ${JSON.stringify(ck.normalisation.std[s])}, not a positive number`);
  return out;
}

/** The shortest decimal that rounds to the same float32 (the precision the graph applies the statistics in). */
export function float32Text(v: number): number {
  const f = Math.fround(v);
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 1; p <= 9; p++) {
    const t = Number(f.toPrecision(p));
    if (Math.fround(t) === f) return t;
  }
  return f;
}

/**
 * The card embedded in the model directory's files: the checkpoint's model card, with the normalisation statistics
 * written to float32 precision (the graph holds them as float32; float64 digits doubled the card, which sits in
 * every model file and was a tenth of the int8 MLP's size).
 */
export function packageCard(ck: Checkpoint): Record<string, string> {
  const compact = { mean: ck.normalisation.mean.map(float32Text), std: ck.normalisation.std.map(float32Text) };
  return modelCard({ ...ck, normalisation: compact });
}

/** Metadata entries a variant's file adds to the card. */
export function variantMetadata(
  v: VariantName,
  q?: CompactQuantisation,
  load?: Partial<Record<RuntimeName, VariantName>>,
): Record<string, string> {
  return {
    'cmcrd.variant': v,
    ...(q ? { 'cmcrd.quantisation': JSON.stringify(q) } : {}),
    ...(load && Object.keys(load).length ? { 'cmcrd.load_per_runtime': JSON.stringify(load) } : {}),
  };
}

/** Does a parity entry meet the quality bar? fp32 by |Δp|, quantised variants by agreement and accuracy drop. */
export function meetsBar(
  variant: VariantName,
  e: Pick<ParityEntry, 'maxAbsDp' | 'argmaxAgreement' | 'accuracy' | 'fp32Accuracy'>,
): boolean {
  if (variant === 'fp32' || variant === 'tfjs-float32') return e.maxAbsDp <= QUALITY_BAR.fp32MaxAbsDp;
  const drop = e.accuracy !== null && e.fp32Accuracy !== null ? (e.fp32Accuracy - e.accuracy) * 100 : 0;
  return e.argmaxAgreement >= QUALITY_BAR.argmaxAgreement && drop <= QUALITY_BAR.accuracyDropPoints;
}

/** Per runtime: the faster variant by p50, and the one to load (the fastest that meets the bar; fp32 otherwise). */
export function chooseVariants(
  latency: LatencyFigures[],
  ok: (v: VariantName) => boolean,
): { faster: VariantName | null; load: VariantName } {
  const sorted = [...latency].sort((a, b) => a.p50Us - b.p50Us);
  const faster = sorted.length > 1 ? sorted[0]!.variant : null;
  const load = sorted.find((l) => ok(l.variant))?.variant ?? sorted[0]?.variant ?? 'fp32';
  return { faster, load };
}

/** p50 and p99 of latencies in microseconds. */
export function percentiles(us: number[]): { p50Us: number; p99Us: number } {
  const s = [...us].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { p50Us: at(0.5), p99Us: at(0.99) };
}

const kb = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(2)} MB` : `${(b / 1024).toFixed(1)} kB`);
const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)} %`);

/** The summary table `cmcrd export` prints: format, variant, size, max |Δp|, arg-max agreement, held-out accuracy. */
export function summaryTable(variants: VariantInfo[], parity: ParityReport): string {
  const rows = [['format', 'variant', 'file', 'size', 'max |Δp|', 'arg-max agreement', 'held-out accuracy', 'bar']];
  for (const v of variants) {
    const e = parity.entries.find((x) => x.variant === v.name);
    const un = parity.unchecked.find((x) => x.variant === v.name);
    rows.push([
      v.format,
      v.name,
      v.file,
      kb(v.bytes),
      e ? e.maxAbsDp.toExponential(2) : '—',
      e ? pct(e.argmaxAgreement) : un ? `not checked` : '—',
      e ? pct(e.accuracy) : '—',
      e ? (e.meetsBar ? 'ok' : 'BELOW') : '—',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  const ck = parity.checkpointAccuracy === null ? '' : `; checkpoint (tfjs) accuracy ${pct(parity.checkpointAccuracy)}`;
  out.push(
    `parity on ${parity.windows.count} ${parity.windows.source === 'held-out' ? 'held-out windows' : 'synthetic rows'} (${parity.windows.detail})${ck}`,
  );
  for (const u of parity.unchecked) out.push(`${u.variant}: not checked (${u.reason})`);
  return out.join('\n');
}
