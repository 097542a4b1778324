/**
 * The ONNX classifier, once, for every onnxruntime flavour: it receives the onnxruntime module (onnxruntime-node,
 * onnxruntime-web, or anything with onnxruntime-common's InferenceSession/Tensor API) and reads everything about
 * the model's interface from the graph itself: the input's name and size, the batch dimension (symbolic: any
 * number of rows per run; fixed: runs of exactly that many rows, the last one padded), and the output holding
 * the class probabilities. The model card supplies the class names (checked against the output's width); how
 * feature rows are laid out is the caller's business (the session checks the card's layout against inputSize).
 * Browser-safe: the platform adapters (onnx.node.ts, onnx.web.ts) only choose the module and session options.
 */
import { parseModelCard, type ModelCard } from '../model-card.js';
import type { Classifier } from './types.js';

/** The tensor shape onnxruntime-common returns (only what the classifier reads). */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** An input's or output's description (onnxruntime-common's InferenceSession.ValueMetadata). */
export interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  /** Dimensions: numbers when fixed, strings when symbolic (e.g. a batch dimension "N"). */
  readonly shape?: ReadonlyArray<number | string>;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** onnxruntime ≥ 1.22; the classifier needs it to size its input from the graph. */
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** The part of an onnxruntime module the classifier uses; `Options` are its session options. */
export interface OrtModule<Options = unknown> {
  readonly InferenceSession: { create(model: Uint8Array, options?: Options): Promise<OrtSession> };
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
}

export interface OnnxClassifierOptions<Options = unknown> {
  /** Names the model in errors (a file name). */
  source?: string;
  sessionOptions?: Options;
  /** Output holding the class probabilities (default "probabilities", or the graph's only output). */
  output?: string;
  /** Most rows per run when the graph's batch dimension is symbolic (default: all rows at once). */
  maxBatch?: number;
}

export interface OnnxClassifier extends Classifier {
  readonly card: ModelCard;
  readonly inputName: string;
  readonly outputName: string;
  /** Rows per run the graph takes: a fixed batch size, or null when any number of rows fits. */
  readonly fixedBatch: number | null;
}

const describe = (shape: ReadonlyArray<number | string>) =>
  `[${shape.map((d) => (typeof d === 'number' ? d : JSON.stringify(d))).join(', ')}]`;

/** Input layout from the graph: rows of `size` values, fed as [batch, ...rest] (or `rest` alone when rank 1). */
function inputLayout(
  meta: OrtValueMetadata,
  source: string,
): { size: number; rest: number[]; fixedBatch: number | null; batched: boolean } {
  const shape = meta.shape;
  if (!meta.isTensor || !shape || shape.length === 0) throw new Error(`${source}: model input "${meta.name}" has no tensor shape`);
  if (meta.type !== undefined && meta.type !== 'float32')
    throw new Error(`${source}: model input "${meta.name}" is ${meta.type}, the classifier feeds float32`);
  const batched = shape.length >= 2;
  const restDims = batched ? shape.slice(1) : shape;
  if (!restDims.every((d): d is number => typeof d === 'number' && d > 0))
    throw new Error(`${source}: model input "${meta.name}" has shape ${describe(shape)}: every dimension after the batch must be fixed`);
  const rest = restDims as number[];
  const b = shape[0];
  const fixedBatch = !batched ? 1 : typeof b === 'number' && b > 0 ? b : null;
  return { size: rest.reduce((a, c) => a * c, 1), rest, fixedBatch, batched };
}

/** A classifier over an ONNX model exported by cmcrd-edge, on the given onnxruntime module. */
export async function createOnnxClassifier<Options>(
  ort: OrtModule<Options>,
  model: Uint8Array,
  opts: OnnxClassifierOptions<Options> = {},
): Promise<OnnxClassifier> {
  const source = opts.source ?? 'model';
  const card = parseModelCard(model, source);
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(model, opts.sessionOptions);
  } catch (e) {
    throw new Error(`${source}: onnxruntime could not load the model (${e instanceof Error ? e.message : String(e)})`);
  }
  try {
    if (session.inputNames.length !== 1)
      throw new Error(
        `${source}: the classifier feeds one input; the model has ${session.inputNames.length} (${session.inputNames.join(', ')})`,
      );
    const inputName = session.inputNames[0]!;
    const meta = session.inputMetadata?.find((m) => m.name === inputName);
    if (!meta) throw new Error(`${source}: this onnxruntime does not describe the model's inputs (inputMetadata needs onnxruntime ≥ 1.22)`);
    const layout = inputLayout(meta, source);
    const outputName =
      opts.output ??
      (session.outputNames.includes('probabilities') ? 'probabilities' : session.outputNames.length === 1 ? session.outputNames[0]! : null);
    if (outputName === null || !session.outputNames.includes(outputName)) {
      throw new Error(
        `${source}: no output ${opts.output ? `"${opts.output}"` : '"probabilities"'} among the model's outputs (${session.outputNames.join(', ')})`,
      );
    }
    const classes = card.classes.length;
    const outShape = session.outputMetadata?.find((m) => m.name === outputName)?.shape;
    const outLast = outShape?.[outShape.length - 1];
    if (typeof outLast === 'number' && outLast !== classes)
      throw new Error(
        `${source}: output "${outputName}" has ${outLast} values per row, but the card names ${classes} classes (${card.classes.join(', ')})`,
      );
    const maxBatch = layout.fixedBatch ?? (opts.maxBatch !== undefined && opts.maxBatch >= 1 ? Math.floor(opts.maxBatch) : Infinity);
    const { size } = layout;

    const runChunk = async (rows: Float32Array[]): Promise<Float32Array[]> => {
      // A fixed batch dimension takes exactly that many rows: pad with zeros and drop the padded results.
      const n = layout.fixedBatch ?? rows.length;
      const flat = new Float32Array(n * size);
      rows.forEach((r, i) => flat.set(r, i * size));
      const dims = layout.batched ? [n, ...layout.rest] : layout.rest;
      const out = (await session.run({ [inputName]: new ort.Tensor('float32', flat, dims) }))[outputName];
      if (!out || out.type !== 'float32' || !ArrayBuffer.isView(out.data))
        throw new Error(`${source}: output "${outputName}" is not a float32 tensor`);
      const p = out.data as Float32Array;
      if (p.length !== n * classes)
        throw new Error(`${source}: output "${outputName}" has ${p.length} values for ${n} rows of ${classes} classes`);
      return rows.map((_, i) => p.slice(i * classes, (i + 1) * classes));
    };

    return {
      card,
      inputSize: size,
      classes: card.classes,
      inputName,
      outputName,
      fixedBatch: layout.fixedBatch,
      async run(rows) {
        rows.forEach((r, i) => {
          if (r.length !== size) throw new RangeError(`feature row ${i} has ${r.length} values, the model takes ${size}`);
        });
        const out: Float32Array[] = [];
        for (let i = 0; i < rows.length; i += maxBatch) out.push(...(await runChunk(rows.slice(i, i + maxBatch))));
        return out;
      },
      async dispose() {
        await session.release();
      },
    };
  } catch (e) {
    await session.release().catch(() => undefined);
    throw e;
  }
}
