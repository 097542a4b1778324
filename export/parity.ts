/**
 * Parity of an exported model with the network it was exported from: on the same raw feature rows, the ONNX
 * graph run by onnxruntime must give the reference probabilities. The reference comes from the caller
 * (`forward`, e.g. tfjs in eval mode) and onnxruntime through an injected session loader, so export/ imports
 * neither tfjs nor a particular onnxruntime build (`ortSessionLoader(await import('onnxruntime-node'))`).
 */

/** A loaded model: probabilities [n × classes] for raw feature rows [n × d], both row-major. */
export interface ParitySession {
  run(features: Float32Array, n: number, d: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Loads a model to run; `M` is what the model is given as (ONNX bytes, or e.g. an already loaded tfjs GraphModel). */
export type SessionLoader<M = Uint8Array> = (model: M) => Promise<ParitySession>;

/** What parity needs of an onnxruntime module (onnxruntime-node or onnxruntime-web). */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

interface OrtSession {
  run(feeds: Record<string, never>): Promise<Record<string, { data: unknown } | undefined>>;
  release(): Promise<void>;
}

/**
 * A loader that runs the exported graph (input `features`, output `probabilities`) with this onnxruntime, and
 * these session options if given (e.g. the device's threads and optimisation level).
 */
export function ortSessionLoader(ort: OrtModule, sessionOptions?: object): SessionLoader {
  return async (model) => {
    const session = await ort.InferenceSession.create(model, sessionOptions);
    return {
      async run(features, n, d) {
        const out = await session.run({ features: new ort.Tensor('float32', features, [n, d]) as never });
        const p = out.probabilities?.data;
        if (!(p instanceof Float32Array)) throw new Error('the model has no float32 output "probabilities"');
        return p;
      },
      release: () => session.release(),
    };
  };
}

export interface ParityResult {
  rows: number;
  classes: number;
  /** Largest |Δp| over every row and class (Infinity when a probability is NaN). */
  maxAbsDiff: number;
  /** Fraction of rows whose most probable class is the same in both. */
  argmaxAgreement: number;
  /** The limit maxAbsDiff was held to, and whether it stayed below it. */
  limit: number;
  passed: boolean;
  /** With `labels`: the fraction of rows the model classifies correctly, and the reference does. */
  accuracy?: number;
  referenceAccuracy?: number;
}

/** Largest |Δp| an exported fp32 model may show against its reference (float32 rounding, folded BatchNorm). */
export const PARITY_LIMIT = 1e-4;

export interface ParityOptions<M = Uint8Array> {
  loadSession: SessionLoader<M>;
  /** Default PARITY_LIMIT. */
  limit?: number;
  /** The rows' true classes: the result then has both sides' accuracy. */
  labels?: ArrayLike<number>;
}

const argmax = (p: ArrayLike<number>, from: number, n: number) => {
  let best = 0;
  for (let c = 1; c < n; c++) if (p[from + c]! > p[from + best]!) best = c;
  return best;
};

/**
 * Run the model on `rows` (raw features, as the device will feed it) and compare with `forward`'s
 * probabilities for the same rows. Rows must all have one length; `forward` must give one row per row.
 */
export async function checkParity<M = Uint8Array>(
  model: M,
  forward: (rows: readonly Float32Array[]) => ArrayLike<number>[] | Promise<ArrayLike<number>[]>,
  rows: readonly Float32Array[],
  opts: ParityOptions<M>,
): Promise<ParityResult> {
  const limit = opts.limit ?? PARITY_LIMIT;
  const { labels } = opts;
  const n = rows.length;
  if (n === 0) throw new RangeError('parity needs at least one feature row');
  if (labels && labels.length !== n) throw new RangeError(`parity has ${labels.length} labels for ${n} rows`);
  const d = rows[0]!.length;
  const flat = new Float32Array(n * d);
  rows.forEach((r, i) => {
    if (r.length !== d) throw new RangeError(`parity row ${i} has ${r.length} values, row 0 has ${d}`);
    flat.set(r, i * d);
  });
  const expected = await forward(rows);
  if (expected.length !== n) throw new RangeError(`the reference gave ${expected.length} rows for ${n}`);
  const C = expected[0]!.length;
  const session = await opts.loadSession(model);
  let got: Float32Array;
  try {
    got = await session.run(flat, n, d);
  } finally {
    await session.release();
  }
  if (got.length !== n * C) throw new RangeError(`the model gave ${got.length} probabilities for ${n} rows × ${C} classes`);
  let maxAbsDiff = 0;
  let agree = 0;
  let correct = 0;
  let referenceCorrect = 0;
  for (let i = 0; i < n; i++) {
    const e = expected[i]!;
    for (let c = 0; c < C; c++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got[i * C + c]! - e[c]!));
    const g = argmax(got, i * C, C);
    const r = argmax(e, 0, C);
    if (g === r) agree++;
    if (labels && g === labels[i]) correct++;
    if (labels && r === labels[i]) referenceCorrect++;
  }
  // A NaN anywhere fails the check (Math.max propagates it; NaN < limit is false); it is reported as Infinity,
  // so that a larger-is-worse comparison of the figure stays right.
  if (Number.isNaN(maxAbsDiff)) maxAbsDiff = Infinity;
  return {
    rows: n,
    classes: C,
    maxAbsDiff,
    argmaxAgreement: agree / n,
    limit,
    passed: maxAbsDiff < limit,
    ...(labels ? { accuracy: correct / n, referenceAccuracy: referenceCorrect / n } : {}),
  };
}
