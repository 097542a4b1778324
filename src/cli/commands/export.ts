// size: one command with its model-directory writer, parity and latency steps (issue 20); split when it grows further
/**
 * `cmcrd export <checkpoint>`: a trained checkpoint (any of the three networks, either modality) as a deployable
 * model directory, or (with `--out x.onnx`, or no --out) as one fp32 ONNX file as before.
 *
 * Model directory (`--out <dir>`): model.onnx (fp32), model.int8.onnx (--int8: static QDQ S8S8 calibrated on windows
 * of the checkpoint's own training trials, or dynamic = weights only), tfjs/ (--tfjs: a GraphModel, float32 or uint8
 * weights), card.json, parity.json, and a summary table. Every variant is checked against the checkpoint's own
 * forward pass (tfjs, eval mode) on its held-out windows; latency is measured per runtime and the card says which
 * variant each runtime should load. Written to a temporary folder first and moved into place, so a failure leaves
 * nothing half-written; an existing non-empty --out is replaced only with --force.
 *
 * A checkpoint the device cannot reproduce is refused with the reason (e.g. one trained with per-subject
 * normalisation, whose statistics no single exported model carries).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { makeDirs } from '../../io/atomic.js';
import * as tf from '../../train/tf.js';
import { buildInferenceGraph, exportOnnx, graphName } from '../../../export/onnx-export.js';
import {
  quantizeOnnx,
  withMetadata,
  CALIBRATION_METHODS,
  type CalibrationMethod,
  type QuantMode,
  type QuantSummary,
} from '../../../export/quantize.js';
import { calibrate, ORT_NODE_OPTIONS } from '../../../export/calibrate.node.js';
import { DEFAULT_PERCENTILE } from '../../../export/calibrate.js';
import { exportGraphModel, type GraphModelFiles, type TfjsWeights } from '../../../export/tfjs-graph.js';
import {
  chooseVariants,
  compactQuantisation,
  FILES,
  meetsBar,
  MODEL_DIR_FORMAT,
  MODEL_DIR_VERSION,
  packageCard,
  percentiles,
  summaryTable,
  undeployableReasons,
  variantMetadata,
  type LatencyFigures,
  type PackageCard,
  type ParityEntry,
  type ParityReport,
  type RuntimeName,
  type RuntimeReport,
  type VariantInfo,
  type VariantName,
} from '../../../export/model-dir.js';
import { initBackend } from '../../train/backend.js';
import { parseTrials, readCheckpoint, type Checkpoint } from '../../train/checkpoint.js';
import { SeededRandom } from '../../train/nets/layers.js';
import { checkpointProbabilities } from '../../train/run.js';
import { checkParity, ortSessionLoader, type ParityResult, type SessionLoader } from '../../../export/parity.js';
import { DATASET_KINDS, flatten, loadDataset, type DatasetKind, type EmotionDataset } from '../../datasets/index.js';
import { makeFolds, PROTOCOLS, type ProtocolName } from '../../train/protocols.js';
import { CliError } from '../errors.js';
import { choiceOption, intOption } from '../options.js';
import { checkInputFile, prepareOutFile, writeOutput } from '../paths.js';

const PARITY_ROWS = 64;
/** Held-out windows the parity check uses at most (evenly spaced over the fold's test windows). */
export const PARITY_WINDOWS = 2000;
export const DEFAULT_CALIBRATION_SAMPLES = 1000;
const LATENCY_RUNS = 300;
const QUANT_MODES: readonly QuantMode[] = ['static', 'dynamic'];
const TFJS_WEIGHTS: readonly TfjsWeights[] = ['float32', 'uint8'];

/**
 * onnxruntime-node with the device's settings (1 thread, spinning off). The graph is run directly rather than through
 * the runtime's classifier, which sizes its input from the card's EEG channels × bands and so does not take
 * eye-movement models (a teacher, or a student of the eeg-to-eye direction).
 */
const ortNode: SessionLoader = ortSessionLoader(ort, ORT_NODE_OPTIONS);

/** The rows of a row-major [n, d] block, as views. */
const rowsOf = (flat: Float32Array, d: number): Float32Array[] =>
  Array.from({ length: flat.length / d }, (_, i) => flat.subarray(i * d, (i + 1) * d));

/** Parity of the exported model with tfjs (eval mode) on seeded raw rows drawn around the training normalisation. */
export async function exportParity(ck: Checkpoint, model: Uint8Array, seed = 1): Promise<ParityResult> {
  const rows = rowsOf(syntheticRows(ck, PARITY_ROWS, seed), ck.normalisation.mean.length);
  return checkParity(model, (x) => checkpointProbabilities(ck, x), rows, { loadSession: ortNode });
}

/** Rows drawn around the training normalisation (mean + std·N(0, 1)), row-major. */
function syntheticRows(ck: Checkpoint, n: number, seed: number): Float32Array {
  const { mean, std } = ck.normalisation;
  const d = mean.length;
  const rng = new SeededRandom(seed);
  return Float32Array.from({ length: n * d }, (_, i) => mean[i % d]! + std[i % d]! * rng.normal());
}

/** Windows of the checkpoint's own data: training windows (calibration) and held-out windows with labels (parity). */
export interface CheckpointWindows {
  d: number;
  /** e.g. "synthetic (/data/x)". */
  source: string;
  train: Float32Array | null;
  trainCount: number;
  test: { x: Float32Array; labels: Int32Array; count: number; detail: string } | null;
  notes: string[];
}

/** "<kind> (<root>)" as `cmcrd train` records the data in provenance.data. */
function recordedData(ck: Checkpoint): { kind: DatasetKind; root: string } | null {
  const m = /^([a-z-]+) \((.*)\)$/.exec(String(ck.provenance.data ?? ''));
  return m && (DATASET_KINDS as readonly string[]).includes(m[1]!) ? { kind: m[1] as DatasetKind, root: m[2]! } : null;
}

/**
 * The checkpoint's training and held-out windows, read from the dataset its provenance records (or `override`):
 * the training trials it lists (provenance.trainTrials) and the test windows of its fold (protocol, fold), with the
 * checkpoint's channels (montage capChannels, or its channel names) or eye features. Throws an Error saying what is
 * missing.
 */
export function checkpointWindows(ck: Checkpoint, override?: string): CheckpointWindows {
  const p = ck.provenance;
  const recorded = recordedData(ck);
  let kind: DatasetKind;
  let root: string;
  if (override !== undefined) {
    root = override;
    // A synthetic folder says so (SYNTHETIC.json); otherwise the layout the checkpoint was trained on (provenance.dataset).
    const layout = ['seed', 'seed-iv', 'seed-v'].includes(String(p.dataset))
      ? (p.dataset as DatasetKind)
      : recorded && recorded.kind !== 'synthetic'
        ? recorded.kind
        : 'seed-iv';
    kind = existsSync(join(root, 'SYNTHETIC.json')) ? 'synthetic' : layout;
  } else if (recorded) {
    ({ kind, root } = recorded);
  } else {
    throw new Error(
      `the checkpoint does not record the dataset it was trained on (provenance.data is ${JSON.stringify(p.data ?? null)}); give --calibration-data <dataset folder>`,
    );
  }
  const subjects = [...new Set([...String(p.trainSubjects ?? '').split(','), ...String(p.testSubjects ?? '').split(',')].filter(Boolean))];
  let ds: EmotionDataset;
  try {
    ds = loadDataset(kind, root, {
      ...(subjects.length ? { subjects } : {}),
      ...(typeof p.feature === 'string' && kind !== 'synthetic' ? { feature: p.feature } : {}),
    });
  } catch (e) {
    throw new Error(
      `${override !== undefined ? '--calibration-data' : "the checkpoint's dataset (provenance.data)"} ${root}: ${(e as Error).message}`,
    );
  }
  const d = ck.arch.input.channels * ck.arch.input.bands;
  const columns = featureColumns(ck, ds, root);
  const notes: string[] = [];
  let trainSet: ReturnType<typeof parseTrials> | null = null;
  if (typeof p.trainTrials === 'string') {
    try {
      trainSet = parseTrials(p.trainTrials);
    } catch (e) {
      throw new Error(`provenance.trainTrials cannot be read: ${(e as Error).message}`);
    }
  }
  const flat = flatten(ds);
  const rows = (pick: (r: number) => boolean): number[] => {
    const out: number[] = [];
    for (let r = 0; r < flat.n; r++) if (pick(r)) out.push(r);
    return out;
  };
  const trialOf = (r: number) => ({ subject: flat.subjectIds[flat.subjects[r]!]!, session: flat.sessions[r]!, trial: flat.trials[r]! });
  const trainRows = trainSet ? rows((r) => trainSet!.has(trialOf(r))) : [];
  if (trainSet && trainRows.length === 0)
    throw new Error(`${root}: none of the checkpoint's training trials (provenance.trainTrials) are in this dataset`);
  if (!trainSet) notes.push('the checkpoint does not record its training trials (provenance.trainTrials): no calibration windows');
  if (trainSet && trainSet.count > new Set(trainRows.map((r) => `${flat.subjects[r]}/${flat.sessions[r]}/${flat.trials[r]}`)).size) {
    notes.push(`${root} holds only some of the checkpoint's ${trainSet.count} training trials`);
  }
  let test: CheckpointWindows['test'] = null;
  const protocol = String(p.protocol ?? '');
  if ((PROTOCOLS as readonly string[]).includes(protocol) && typeof p.fold === 'string') {
    try {
      const fold = makeFolds(flat, protocol as ProtocolName, ds.meta.dataset).find((f) => f.id === p.fold);
      if (!fold) notes.push(`fold ${p.fold} (${protocol}) is not in ${root}: no held-out windows`);
      else {
        const leaked = Array.from(fold.testRows).filter((r) => trainSet?.has(trialOf(r)));
        if (leaked.length)
          throw new Error(
            `${leaked.length} of fold ${p.fold}'s test windows are from the checkpoint's training trials: the data is not the one it was trained on`,
          );
        const pickRows = evenly(Array.from(fold.testRows), PARITY_WINDOWS);
        test = {
          x: gather(ds, flat, columns, pickRows, ck.modality, d),
          labels: Int32Array.from(pickRows, (r) => flat.labels[r]!),
          count: pickRows.length,
          detail: `fold ${p.fold} (${protocol}), ${pickRows.length === fold.testRows.length ? 'all' : `${pickRows.length} of`} ${fold.testRows.length} test windows`,
        };
      }
    } catch (e) {
      if ((e as Error).message.includes('test windows are from')) throw e;
      notes.push(`no held-out windows (${(e as Error).message})`);
    }
  } else notes.push('the checkpoint does not record its protocol and fold: no held-out windows');
  return {
    d,
    source: `${kind} (${resolve(root)})`,
    train: trainRows.length ? gather(ds, flat, columns, trainRows, ck.modality, d) : null,
    trainCount: trainRows.length,
    test,
    notes,
  };
}

/** Up to `max` items spread evenly over the list (all when it is shorter), in order. */
function evenly<T>(list: T[], max: number): T[] {
  if (list.length <= max) return list;
  return Array.from({ length: max }, (_, i) => list[Math.floor((i * list.length) / max)]!);
}

/** Indices into a dataset window's EEG [channel][band] (or eye) of the checkpoint's input features. */
function featureColumns(ck: Checkpoint, ds: EmotionDataset, root: string): number[] | null {
  const d = ck.arch.input.channels * ck.arch.input.bands;
  if (ck.modality === 'eye') {
    if (ds.meta.eyeFeatures !== d)
      throw new Error(`${root}: the dataset has ${ds.meta.eyeFeatures} eye features, the checkpoint reads ${d}`);
    return null;
  }
  const B = ds.meta.bandNames.length;
  if (B !== ck.arch.input.bands) throw new Error(`${root}: the dataset has ${B} bands, the checkpoint reads ${ck.arch.input.bands}`);
  const names = ck.montage?.capChannels ?? ck.channels;
  const upper = ds.meta.channelNames.map((c) => c.toUpperCase());
  const idx = names.map((n) => {
    const i = upper.indexOf(n.toUpperCase());
    if (i < 0) throw new Error(`${root}: channel ${n} of the checkpoint is not in the dataset`);
    return i;
  });
  if (idx.length !== ck.arch.input.channels)
    throw new Error(`the checkpoint names ${idx.length} channels, its network reads ${ck.arch.input.channels}`);
  return idx.flatMap((c) => Array.from({ length: B }, (_, b) => c * B + b));
}

function gather(
  ds: EmotionDataset,
  flat: ReturnType<typeof flatten>,
  columns: number[] | null,
  rowList: number[],
  modality: 'eeg' | 'eye',
  d: number,
): Float32Array {
  const out = new Float32Array(rowList.length * d);
  const per = ds.meta.channelNames.length * ds.meta.bandNames.length;
  rowList.forEach((r, i) => {
    if (modality === 'eye') out.set(flat.eye!.subarray(r * d, (r + 1) * d), i * d);
    else for (let j = 0; j < d; j++) out[i * d + j] = flat.eeg[r * per + columns![j]!]!;
  });
  return out;
}

/** p50/p99 per-call latency (µs) of `run` after a warm-up. */
export async function measureLatency(
  run: () => Promise<unknown> | unknown,
  runs = LATENCY_RUNS,
): Promise<{ p50Us: number; p99Us: number }> {
  for (let i = 0; i < Math.min(50, runs); i++) await run();
  const us: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await run();
    us.push((performance.now() - t0) * 1000);
  }
  return percentiles(us);
}

/** Batch-1 latency of ONNX models on onnxruntime-node (1 thread, spinning off). */
export async function ortNodeLatency(
  models: { variant: VariantName; file: string; bytes: Uint8Array }[],
  d: number,
  runs = LATENCY_RUNS,
): Promise<LatencyFigures[]> {
  const out: LatencyFigures[] = [];
  const x = new ort.Tensor('float32', new Float32Array(d), [1, d]);
  for (const m of models) {
    const s = await ort.InferenceSession.create(m.bytes, ORT_NODE_OPTIONS);
    try {
      out.push({ variant: m.variant, file: m.file, ...(await measureLatency(() => s.run({ features: x }), runs)) });
    } finally {
      await s.release();
    }
  }
  return out;
}

/** onnxruntime-web (wasm, 1 thread) inside Node, when installed (it is a development dependency). */
export async function ortWebLatency(
  models: { variant: VariantName; file: string; bytes: Uint8Array }[],
  d: number,
  runs = LATENCY_RUNS,
): Promise<{ latency: LatencyFigures[] } | string> {
  let web: typeof import('onnxruntime-web');
  try {
    web = await import('onnxruntime-web');
  } catch {
    return 'onnxruntime-web is not installed';
  }
  web.env.wasm.numThreads = 1;
  const latency: LatencyFigures[] = [];
  for (const m of models) {
    const s = await web.InferenceSession.create(m.bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const x = new web.Tensor('float32', new Float32Array(d), [1, d]);
    latency.push({ variant: m.variant, file: m.file, ...(await measureLatency(() => s.run({ features: x }), runs)) });
    await s.release();
  }
  return { latency };
}

/** Load a GraphModel from its files with tfjs-converter (a development dependency: absent → null). */
export async function loadGraphModelFiles(
  files: GraphModelFiles,
): Promise<{ predict(rows: Float32Array, n: number, d: number): Float32Array; dispose(): void } | null> {
  let converter: typeof import('@tensorflow/tfjs-converter');
  try {
    // Optional, like onnxruntime-web: only the check needs it, the written model does not.
    converter = await import('@tensorflow/tfjs-converter');
  } catch {
    return null;
  }
  const json = JSON.parse(files.modelJson) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: object[] }[];
    format: string;
    generatedBy: string;
    convertedBy: string;
    signature: object;
    userDefinedMetadata?: object;
  };
  const paths = json.weightsManifest.flatMap((g) => g.paths);
  const total = paths.reduce((s, p) => s + files.shards.get(p)!.length, 0);
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const p of paths) {
    weightData.set(files.shards.get(p)!, off);
    off += files.shards.get(p)!.length;
  }
  const model = await converter.loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
      weightData: weightData.buffer,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      signature: json.signature,
      ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata as Record<string, object> } : {}),
    }),
  });
  return {
    predict(rows, n, d) {
      return tf.tidy(() => (model.execute(tf.tensor2d(rows, [n, d]), 'probabilities') as tf.Tensor).dataSync() as Float32Array);
    },
    dispose: () => model.dispose(),
  };
}

interface ExportOptions {
  out?: string;
  int8?: QuantMode;
  calibration: CalibrationMethod;
  calibrationData?: string;
  calibrationSamples: number;
  tfjs?: TfjsWeights;
  force?: boolean;
  json?: boolean;
  latencyRuns: number;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write a trained checkpoint as a deployable model directory (fp32 / int8 ONNX, tfjs GraphModel, card, parity), or as one fp32 ONNX file',
    )
    .argument('<checkpoint>', 'checkpoint JSON written by `cmcrd train` (checkpoints/) or `cmcrd demo`')
    .option(
      '--out <dir|file.onnx>',
      'model directory to write; a path ending in .onnx writes only the fp32 model (default: the checkpoint path with .onnx)',
    )
    .addOption(
      choiceOption(
        '--int8 [mode]',
        'also write model.int8.onnx: static (default; QDQ S8S8 calibrated on training windows) or dynamic (int8 weights only)',
        QUANT_MODES,
      ).preset('static'),
    )
    .addOption(
      choiceOption('--calibration <method>', `static int8 calibration (percentile: ${DEFAULT_PERCENTILE} %)`, CALIBRATION_METHODS).default(
        'minmax',
      ),
    )
    .option(
      '--calibration-data <root>',
      "dataset folder holding the checkpoint's training trials (default: the one its provenance records)",
    )
    .addOption(
      intOption('--calibration-samples <n>', 'training windows to calibrate on, spread over all training trials', 1).default(
        DEFAULT_CALIBRATION_SAMPLES,
      ),
    )
    .addOption(
      choiceOption(
        '--tfjs [weights]',
        'also write a tfjs GraphModel (tfjs/model.json + shards): float32 (default) or uint8 weights',
        TFJS_WEIGHTS,
      ).preset('float32'),
    )
    .addOption(
      intOption(
        '--latency-runs <n>',
        'batch-1 runs per variant and runtime when measuring which variant each runtime should load (0: do not measure, load fp32)',
        0,
      ).default(LATENCY_RUNS),
    )
    .option('--force', 'replace an existing --out file, or an existing, non-empty --out folder')
    .option('--json', 'print the summary as JSON instead of a table')
    .action(async (path: string, raw: ExportOptions) => {
      const log = (l: string) => process.stderr.write(l + '\n');
      checkInputFile(path, 'checkpoint');
      let ck: Checkpoint;
      try {
        ck = readCheckpoint(path);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const refusal = undeployableReasons(ck);
      if (refusal.length) throw new CliError(`${path}: cannot export a model the device could not reproduce: ${refusal.join('; ')}`);
      if (raw.out !== undefined && resolve(raw.out) === resolve(path))
        throw new CliError(`--out ${raw.out} is the checkpoint itself; writing there would replace it (choose another file)`);
      const singleFile = raw.out === undefined || /\.onnx$/i.test(raw.out);
      if (singleFile) {
        if (raw.int8 !== undefined || raw.tfjs !== undefined)
          throw new CliError(`--int8 and --tfjs write a model directory: give --out <folder> (not a .onnx file)`);
        return exportSingleFile(ck, path, raw.out, !!raw.force, log);
      }
      await exportModelDir(ck, path, raw.out!, raw, log);
    });
}

async function exportSingleFile(
  ck: Checkpoint,
  path: string,
  outArg: string | undefined,
  force: boolean,
  log: (l: string) => void,
): Promise<void> {
  const out = outArg ?? path.replace(/\.json$/i, '') + '.onnx';
  const target = prepareOutFile(out, '--out', { path, what: 'the checkpoint itself' }, { force });
  let model: Uint8Array;
  try {
    model = exportOnnx(ck);
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
  await initBackend(undefined, () => undefined);
  const parity = await exportParity(ck, model);
  const maxDiff = parity.maxAbsDiff;
  log(
    `${ck.modality} ${ck.arch.arch} (${ck.arch.input.channels}×${ck.arch.input.bands} → ${ck.classes.join(', ')}): onnxruntime-node vs tfjs on ${parity.rows} rows, max |Δp| = ${maxDiff.toExponential(2)}`,
  );
  if (!parity.passed)
    throw new CliError(`${path}: the exported model disagrees with the checkpoint (max |Δp| = ${maxDiff}); nothing written`, 1);
  writeOutput(target, model, force, '--out', out);
  log(`wrote ${out} (${model.length} bytes)`);
  // The first five keys are the ones this command printed before the document had more.
  const doc = {
    out,
    bytes: model.length,
    arch: ck.arch.arch,
    modality: ck.modality,
    maxProbabilityDiff: maxDiff,
    command: 'export',
    checkpoint: path,
    classes: ck.classes,
    input: ck.arch.input,
    parityRows: PARITY_ROWS,
  };
  process.stdout.write(JSON.stringify(doc) + '\n');
}

/** Check --out before any work: a folder (or nothing yet), empty unless --force, not holding the checkpoint. */
function prepareModelDir(out: string, ckPath: string, force: boolean): void {
  let st;
  try {
    st = statSync(out);
  } catch {
    st = null;
  }
  if (st && !st.isDirectory())
    throw new CliError(`--out ${out}: is a file, expected a folder (or a path ending in .onnx for a single model file)`);
  if (st && readdirSync(out).length) {
    if (!force)
      throw new CliError(`--out ${out}: the folder is not empty (${readdirSync(out).length} entries); pass --force to replace it`);
    // By real paths, so a link to the folder holding the checkpoint is caught too.
    const rel = relative(realpathSync(out), realpathSync(ckPath));
    if (!rel.startsWith('..') && !rel.startsWith('/'))
      throw new CliError(`--out ${out} holds the checkpoint ${ckPath}; --force would delete it (choose another folder)`);
  }
  try {
    // makeDirs, not mkdirSync(recursive), which never returns for a path such as /proc/nope/x.
    makeDirs(dirname(resolve(out)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(
      `--out ${out}: cannot create its parent folder (${code === 'ENOENT' ? 'the file system there does not accept new folders' : (code ?? (e as Error).message)})`,
    );
  }
}

/** Write `files` into a fresh temporary folder beside `out`, then swap it in; the old folder goes only on success. */
function writeDirAtomic(out: string, files: Map<string, Uint8Array | string>, force: boolean): void {
  const target = resolve(out);
  const tmp = `${target}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [name, data] of files) {
      const p = join(tmp, name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, data);
    }
    if (existsSync(target)) {
      // Checked before the work; a folder that filled meanwhile is kept unless --force.
      if (!force && readdirSync(target).length)
        throw new Error('a non-empty folder appeared there while the command ran; it was kept (add --force to replace it)');
      const old = `${target}.old-${process.pid}`;
      renameSync(target, old);
      try {
        renameSync(tmp, target);
      } catch (e) {
        renameSync(old, target);
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new CliError(
      `--out ${out}: cannot write the model directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); nothing written`,
    );
  }
}

/** A variant's line of parity.json from checkParity's result, with whether it meets the quality bar. */
function parityEntry(
  what: Pick<ParityEntry, 'format' | 'variant' | 'file' | 'runtime'>,
  r: ParityResult,
  fp32Accuracy: number | null,
): ParityEntry {
  const e: ParityEntry = {
    ...what,
    maxAbsDp: r.maxAbsDiff,
    argmaxAgreement: r.argmaxAgreement,
    accuracy: r.accuracy ?? null,
    fp32Accuracy,
    meetsBar: false,
  };
  e.meetsBar = meetsBar(what.variant, e);
  return e;
}

async function exportModelDir(ck: Checkpoint, path: string, out: string, raw: ExportOptions, log: (l: string) => void): Promise<void> {
  // Parsed and checked by the option builders (src/cli/options.ts).
  const int8: QuantMode | null = raw.int8 ?? null;
  const method = raw.calibration;
  const samples = raw.calibrationSamples;
  const tfjsWeights: TfjsWeights | null = raw.tfjs ?? null;
  const latencyRuns = raw.latencyRuns;
  if (raw.calibrationData !== undefined && !existsSync(raw.calibrationData))
    throw new CliError(`--calibration-data ${raw.calibrationData}: no such folder`);
  prepareModelDir(out, path, !!raw.force);
  const d = ck.arch.input.channels * ck.arch.input.bands;
  const notes: string[] = [];

  // The checkpoint's own windows: training (calibration) and held-out (parity).
  let windows: CheckpointWindows | null = null;
  try {
    windows = checkpointWindows(ck, raw.calibrationData);
    notes.push(...windows.notes);
    log(`data: ${windows.source}: ${windows.trainCount} training windows, ${windows.test ? windows.test.detail : 'no held-out windows'}`);
  } catch (e) {
    if (raw.calibrationData !== undefined || int8 === 'static') {
      throw new CliError(
        `${path}: ${int8 === 'static' ? 'static int8 needs calibration windows from the training trials: ' : ''}${(e as Error).message}`,
      );
    }
    notes.push(`no data windows (${(e as Error).message}); parity on rows drawn around the normalisation`);
    log(`note: ${notes[notes.length - 1]}`);
  }
  if (int8 === 'static' && !windows?.train)
    throw new CliError(
      `${path}: static int8 needs calibration windows from the training trials: ${windows?.notes.join('; ') || 'none found'}`,
    );

  const card = packageCard(ck);
  let fp32: Uint8Array;
  try {
    fp32 = buildInferenceGraph(ck).build(graphName(ck), { ...card, ...variantMetadata('fp32') });
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
  await initBackend(undefined, () => undefined);

  // Parity rows and the checkpoint's own probabilities on them (computed once; every variant is checked against them
  // by checkParity, the one parity check of export/parity.ts).
  const held = windows?.test ?? null;
  const rows = rowsOf(held ? held.x : syntheticRows(ck, PARITY_ROWS, 1), d);
  const reference = checkpointProbabilities(ck, rows);
  const parityOf = <M>(model: M, loadSession: SessionLoader<M>) =>
    checkParity(model, () => reference, rows, { loadSession, ...(held ? { labels: held.labels } : {}) });
  const entries: ParityEntry[] = [];
  const unchecked: ParityReport['unchecked'] = [];
  const variants: VariantInfo[] = [];
  const ortVersion = `onnxruntime-node ${ort.env.versions.node ?? ''}`.trim();

  const fp32Parity = await parityOf(fp32, ortNode);
  const checkpointAccuracy = fp32Parity.referenceAccuracy ?? null;
  const fp32Accuracy = fp32Parity.accuracy ?? null;
  const fp32Entry = parityEntry({ format: 'onnx', variant: 'fp32', file: FILES.fp32, runtime: ortVersion }, fp32Parity, fp32Accuracy);
  if (!fp32Parity.passed)
    throw new CliError(
      `${path}: the exported model disagrees with the checkpoint (max |Δp| = ${fp32Parity.maxAbsDiff}); nothing written`,
      1,
    );
  entries.push(fp32Entry);
  variants.push({ name: 'fp32', format: 'onnx', file: FILES.fp32, bytes: fp32.length });

  let int8Bytes: Uint8Array | null = null;
  let int8Name: VariantName | null = null;
  let summary: QuantSummary | null = null;
  if (int8) {
    int8Name = int8 === 'static' ? 'int8-static' : 'int8-dynamic';
    let ranges;
    let calibrationCount = 0;
    if (int8 === 'static') {
      const train = windows!.train!;
      const all = Array.from({ length: windows!.trainCount }, (_, i) => i);
      const pick = evenly(all, samples);
      const calib = new Float32Array(pick.length * d);
      pick.forEach((r, i) => calib.set(train.subarray(r * d, (r + 1) * d), i * d));
      calibrationCount = pick.length;
      log(`calibrating (${method}) on ${pick.length} of ${windows!.trainCount} training windows`);
      ranges = await calibrate(fp32, calib, d, method);
    }
    const q = quantizeOnnx(fp32, {
      mode: int8,
      ...(ranges ? { ranges } : {}),
      ...(int8 === 'static'
        ? { calibration: { method, samples: calibrationCount, ...(method === 'percentile' ? { percentile: DEFAULT_PERCENTILE } : {}) } }
        : {}),
    });
    summary = q.summary;
    const compact = compactQuantisation(q.summary);
    int8Bytes = withMetadata(q.bytes, variantMetadata(int8Name, compact));
    const cmp = await parityOf(int8Bytes, ortNode);
    const e = parityEntry({ format: 'onnx', variant: int8Name, file: FILES.int8, runtime: ortVersion }, cmp, fp32Accuracy);
    entries.push(e);
    variants.push({ name: int8Name, format: 'onnx', file: FILES.int8, bytes: int8Bytes.length, quantisation: compact });
    if (!e.meetsBar)
      log(
        `warning: ${int8Name} is below the quality bar (arg-max agreement ${(cmp.argmaxAgreement * 100).toFixed(2)} %); the card keeps fp32 as the variant to load`,
      );
  }

  let graphModel: GraphModelFiles | null = null;
  let tfjsName: VariantName | null = null;
  let tfjsModel: Awaited<ReturnType<typeof loadGraphModelFiles>> = null;
  if (tfjsWeights) {
    tfjsName = tfjsWeights === 'uint8' ? 'tfjs-uint8' : 'tfjs-float32';
    graphModel = exportGraphModel(ck, { weights: tfjsWeights, metadata: { card: { ...card, ...variantMetadata(tfjsName) } } });
    const bytes = graphModel.modelJson.length + [...graphModel.shards.values()].reduce((s, b) => s + b.length, 0);
    variants.push({
      name: tfjsName,
      format: 'tfjs',
      file: FILES.tfjs,
      bytes,
      ...(graphModel.quantised.length
        ? { quantisation: { scheme: 'uint8 affine weights (tfjs manifest)', weights: graphModel.quantised.length } }
        : {}),
    });
    tfjsModel = await loadGraphModelFiles(graphModel);
    if (tfjsModel) {
      // The GraphModel stays loaded (latency is measured on it below); the check runs it, it does not release it.
      const graph: SessionLoader<NonNullable<typeof tfjsModel>> = async (m) => ({
        run: async (x, n, dd) => m.predict(x, n, dd),
        release: async () => undefined,
      });
      const cmp = await parityOf(tfjsModel, graph);
      entries.push(
        parityEntry(
          { format: 'tfjs', variant: tfjsName, file: FILES.tfjs, runtime: `tfjs-converter loadGraphModel on ${tf.getBackend()}` },
          cmp,
          fp32Accuracy,
        ),
      );
    } else unchecked.push({ variant: tfjsName, reason: '@tensorflow/tfjs-converter is not installed' });
  }

  // Latency per runtime; the variant each runtime should load.
  const ok = (v: VariantName) => entries.find((e) => e.variant === v)?.meetsBar ?? false;
  const onnxModels = [
    { variant: 'fp32' as VariantName, file: FILES.fp32, bytes: fp32 },
    ...(int8Bytes ? [{ variant: int8Name!, file: FILES.int8, bytes: int8Bytes }] : []),
  ];
  const runtimes: RuntimeReport[] = [];
  if (latencyRuns > 0) {
    log(`measuring batch-1 latency per runtime (${latencyRuns} runs per variant)`);
    const runtimeReport = (runtime: RuntimeName, setup: string, latency: LatencyFigures[]): RuntimeReport => ({
      runtime,
      setup,
      latency,
      ...chooseVariants(latency, (v) => v === 'fp32' || ok(v)),
    });
    runtimes.push(
      runtimeReport(
        'onnxruntime-node',
        `${ortVersion}, 1 thread, spinning off, graph optimisation 'all', batch 1`,
        await ortNodeLatency(onnxModels, d, latencyRuns),
      ),
    );
    const web = await ortWebLatency(onnxModels, d, latencyRuns);
    if (typeof web === 'string') notes.push(`onnxruntime-web not measured: ${web}`);
    else runtimes.push(runtimeReport('onnxruntime-web', 'onnxruntime-web (wasm, 1 thread) in Node, batch 1', web.latency));
    if (tfjsModel && tfjsName) {
      const x = new Float32Array(d);
      const lat = await measureLatency(() => tfjsModel!.predict(x, 1, d), latencyRuns);
      runtimes.push({
        runtime: 'tfjs-wasm',
        setup: `tfjs GraphModel on the ${tf.getBackend()} backend, batch 1`,
        latency: [{ variant: tfjsName, file: FILES.tfjs, ...lat }],
        faster: null,
        load: tfjsName,
      });
    }
  } else notes.push('latency not measured (--latency-runs 0): every runtime loads fp32');
  tfjsModel?.dispose();
  const load = Object.fromEntries(runtimes.map((r) => [r.runtime, r.load])) as Partial<Record<RuntimeName, VariantName>>;

  // Final bytes: the card in every model file, with what each runtime should load.
  const files = new Map<string, Uint8Array | string>();
  const fp32Final = withMetadata(fp32, variantMetadata('fp32', undefined, load));
  files.set(FILES.fp32, fp32Final);
  variants[0]!.bytes = fp32Final.length;
  if (int8Bytes) {
    const final = withMetadata(int8Bytes, variantMetadata(int8Name!, compactQuantisation(summary!), load));
    files.set(FILES.int8, final);
    variants.find((v) => v.name === int8Name)!.bytes = final.length;
  }
  if (graphModel && tfjsName) {
    const json = JSON.parse(graphModel.modelJson) as { userDefinedMetadata: { card: Record<string, string> } };
    json.userDefinedMetadata.card = { ...card, ...variantMetadata(tfjsName, undefined, load) };
    const text = JSON.stringify(json);
    files.set(FILES.tfjs, text);
    for (const [name, data] of graphModel.shards) files.set(`tfjs/${name}`, data);
    variants.find((v) => v.name === tfjsName)!.bytes = text.length + [...graphModel.shards.values()].reduce((s, b) => s + b.length, 0);
  }
  const parity: ParityReport = {
    reference: `the checkpoint's own forward pass (tfjs ${tf.version_core}, ${tf.getBackend()} backend, eval mode)`,
    windows: held
      ? { source: 'held-out', count: held.count, detail: held.detail }
      : { source: 'synthetic-rows', count: PARITY_ROWS, detail: 'mean + std·N(0, 1) of the training normalisation; no held-out windows' },
    checkpointAccuracy,
    entries,
    unchecked,
  };
  if (int8 === 'static' && summary) notes.push(`int8 calibrated on ${summary.calibration?.samples ?? 0} training windows (${method})`);
  const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
  const byteLength = (b: Uint8Array | string) => (typeof b === 'string' ? Buffer.byteLength(b) : b.length);
  const parityText = JSON.stringify(parity, null, 1);
  files.set(FILES.parity, parityText);
  const pkg: PackageCard = {
    format: MODEL_DIR_FORMAT,
    version: MODEL_DIR_VERSION,
    card,
    variants,
    runtimes,
    files: [...files].map(([name, b]) => ({ name, bytes: byteLength(b), sha256: sha(b) })),
    notes,
  };
  files.set(FILES.card, JSON.stringify(pkg, null, 1));
  writeDirAtomic(out, files, !!raw.force);
  log(`wrote ${out}/ (${[...files.keys()].join(', ')})`);
  if (raw.json) process.stdout.write(JSON.stringify({ out, arch: ck.arch.arch, modality: ck.modality, variants, parity, runtimes }) + '\n');
  else {
    process.stdout.write(summaryTable(variants, parity) + '\n');
    for (const r of runtimes) {
      const lat = r.latency.map((l) => `${l.variant} p50 ${l.p50Us.toFixed(0)} µs / p99 ${l.p99Us.toFixed(0)} µs`).join(', ');
      process.stdout.write(`${r.runtime}: ${lat}; load ${r.load}\n`);
    }
  }
}
