/**
 * Mini-batch training of a Network with AdamW and warm-up + cosine, optional extra loss terms (distillation),
 * a validation split carved from the training data only (stratified, seeded) for early stopping, and clean
 * interruption after the current epoch.
 */
import * as tf from './tf.js';
import type { Network, NetOutput, TrainEngine } from './nets/types.js';
import { AdamW, warmupCosine } from './optim.js';
import { SeededRandom } from './nets/layers.js';
import { hostValues, tensorFrom } from './simd.js';
import { crossEntropy, crossEntropyValues } from './losses/classification.js';

export interface Matrix {
  /** row-major [n, d] */
  x: Float32Array;
  n: number;
  d: number;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupEpochs: number;
  seed: number;
  /** Fraction of the training rows held out for early stopping (0 disables it). */
  valFraction: number;
  /**
   * Explicit validation rows (indices into `data`), e.g. whole trials chosen by the protocol; the other rows
   * train. Overrides `valFraction` when given.
   */
  valRows?: Int32Array;
  /** Epochs without validation improvement before stopping (default: never stop early, keep the best). */
  patience?: number;
  /**
   * Extra loss on a batch, added to the cross-entropy: receives the network output and the batch's row indices
   * into the training matrix (e.g. to look up the teacher's logits for KD).
   */
  extraLoss?: (out: NetOutput, rows: Int32Array, labels: tf.Tensor1D) => tf.Scalar;
  extraTrainable?: tf.Variable[];
  /** Called after each optimiser step (e.g. memory-bank updates). */
  afterStep?: (rows: Int32Array) => void;
  onEpoch?: (info: EpochInfo) => void;
  interrupt?: { interrupted: boolean };
  /**
   * What runs the network's training steps: 'auto' (default) uses the network's faster engine where it has one
   * and tfjs runs on wasm or cpu (the MLP and DGCNN on onnxruntime-node's native kernels); 'tfjs' always uses tfjs.
   */
  engine?: EngineChoice;
}

export type EngineChoice = 'auto' | 'tfjs';
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'tfjs'];

export interface EpochInfo {
  epoch: number;
  epochs: number;
  loss: number;
  trainAccuracy: number;
  valAccuracy: number | null;
  lr: number;
}

export interface FitResult {
  epochsRun: number;
  bestEpoch: number;
  bestValAccuracy: number | null;
  interrupted: boolean;
  history: EpochInfo[];
  /** What ran the training steps, e.g. "tfjs wasm" or "onnxruntime-node 1.30.0 (cpu, 1 thread)". */
  engine: string;
}

/**
 * The training loss became NaN or ±Infinity: the weights are ruined from that step on, so `fit` stops instead of
 * training on and reporting chance accuracy (the usual causes: non-finite or huge inputs, too high a learning rate).
 */
export class NonFiniteLossError extends Error {
  constructor(
    readonly epoch: number,
    readonly batch: number,
    readonly batches: number,
    readonly loss: number,
    lr: number,
  ) {
    super(
      `the training loss became ${loss} at epoch ${epoch} (batch ${batch} of ${batches}); training stopped, nothing from this network is kept. ` +
        `Check the data for non-finite or extreme values, or lower the learning rate (this step used ${lr.toPrecision(3)})`,
    );
    this.name = 'NonFiniteLossError';
  }
}

/** Stratified split of row indices: returns [train, val]. */
export function stratifiedSplit(labels: Int32Array, fraction: number, rng: SeededRandom): [Int32Array, Int32Array] {
  const byClass = new Map<number, number[]>();
  labels.forEach((y, i) => {
    const list = byClass.get(y) ?? [];
    list.push(i);
    byClass.set(y, list);
  });
  const train: number[] = [];
  const val: number[] = [];
  for (const rows of byClass.values()) {
    shuffle(rows, rng);
    const k = Math.round(rows.length * fraction);
    val.push(...rows.slice(0, k));
    train.push(...rows.slice(k));
  }
  return [Int32Array.from(train.sort((a, b) => a - b)), Int32Array.from(val.sort((a, b) => a - b))];
}

/** [rows not in val, val] for an explicit validation set. */
function complementSplit(n: number, val: Int32Array): [Int32Array, Int32Array] {
  const isVal = new Uint8Array(n);
  for (const r of val) {
    if (!(r >= 0 && r < n)) throw new RangeError(`validation row ${r} outside 0..${n - 1}`);
    isVal[r] = 1;
  }
  const train: number[] = [];
  for (let i = 0; i < n; i++) if (!isVal[i]) train.push(i);
  return [Int32Array.from(train), Int32Array.from(val).sort()];
}

export function shuffle<T>(a: T[] | Int32Array, rng: SeededRandom): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

function gatherRows(m: Matrix, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * m.d);
  rows.forEach((r, i) => out.set(m.x.subarray(r * m.d, (r + 1) * m.d), i * m.d));
  return out;
}

function gather(m: Matrix, rows: Int32Array): tf.Tensor2D {
  return tf.tensor2d(gatherRows(m, rows), [rows.length, m.d]);
}

/**
 * Whether networks with their own training engine use it under `choice` on this tfjs backend. Measured on
 * wasm (docs/training-speed.md); tfjs-node already runs native kernels, so it keeps the tfjs path.
 */
export function networkEnginesApply(choice: EngineChoice, backend: string): boolean {
  return choice === 'auto' && (backend === 'wasm' || backend === 'cpu');
}

/** The network's training engine under `choice`, or null for the tfjs path. */
async function trainEngine(net: Network, choice: EngineChoice): Promise<TrainEngine | null> {
  if (!net.createTrainEngine || !networkEnginesApply(choice, tf.getBackend())) return null;
  return net.createTrainEngine();
}

/**
 * A tensor holding host values computed outside tfjs (an engine's forward), made differentiable by routing it
 * through `anchor`, a scalar variable in the gradient list: the loss's gradient with respect to it is handed to
 * `onGrad` (and the anchor gets zeros). Not called when the loss does not use the tensor.
 */
function hostOutput(values: Float32Array, shape: [number, number], anchor: tf.Variable, onGrad: (g: Float32Array) => void): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as tf.Tensor;
    return {
      value: tensorFrom(values, shape) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor) => {
        onGrad(hostValues(dy).slice());
        return [tf.zerosLike(a)];
      },
    };
  }) as (a: tf.Tensor) => tf.Tensor2D;
  return op(anchor);
}

/** Logits in eval mode, in batches. */
export function predictLogits(net: Network, m: Matrix, rows?: Int32Array, batch = 512): Float32Array {
  const idx = rows ?? Int32Array.from({ length: m.n }, (_, i) => i);
  const C = net.spec.classes;
  const out = new Float32Array(idx.length * C);
  for (let s = 0; s < idx.length; s += batch) {
    const part = idx.subarray(s, Math.min(idx.length, s + batch));
    const logits = tf.tidy(() => net.forward(gather(m, part), false).logits);
    out.set(logits.dataSync() as Float32Array, s * C);
    logits.dispose();
  }
  return out;
}

export function argmaxRows(values: Float32Array, cols: number): Int32Array {
  const n = values.length / cols;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (values[i * cols + c]! > values[i * cols + best]!) best = c;
    out[i] = best;
  }
  return out;
}

export function accuracy(pred: Int32Array, truth: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === truth[i]) ok++;
  return pred.length ? ok / pred.length : NaN;
}

/** What one training step needs besides the network: the loss extras and the optimiser settings. */
export interface StepOptions {
  weightDecay: number;
  extraLoss?: FitOptions['extraLoss'];
  extraTrainable?: tf.Variable[];
  afterStep?: (rows: Int32Array) => void;
  engine?: EngineChoice;
}

/**
 * A step's loss and predicted classes (argmax of the logits): tensors (the caller disposes them, see
 * {@link disposeStep}) or host values.
 */
export interface StepResult {
  loss: tf.Tensor | number;
  pred: tf.Tensor | Int32Array;
}

export function disposeStep(r: StepResult): void {
  if (typeof r.loss !== 'number') r.loss.dispose();
  if (!(r.pred instanceof Int32Array)) r.pred.dispose();
}

/**
 * One optimiser step at a time for a network: CE (+ the extra loss), AdamW, BatchNorm statistics, `afterStep`.
 * `fit` and `npm run bench` both train through it, so the benchmark times the trainer's own step.
 */
export class Stepper {
  private readonly optimiser: AdamW;
  private readonly vars: tf.Variable[];
  private anchor: tf.Variable | null;

  private constructor(
    readonly net: Network,
    private readonly opts: StepOptions,
    private readonly engine: TrainEngine | null,
    lr: number,
  ) {
    this.optimiser = new AdamW({ lr, weightDecay: opts.weightDecay });
    this.vars = [...net.trainable, ...(opts.extraTrainable ?? [])];
    this.anchor = engine ? tf.variable(tf.scalar(0), true, `engine_anchor_${anchorId++}`) : null;
  }

  static async create(net: Network, opts: StepOptions, lr = 1e-3): Promise<Stepper> {
    return new Stepper(net, opts, await trainEngine(net, opts.engine ?? 'auto'), lr);
  }

  /** What runs the network's forward and backward, e.g. "tfjs wasm" or "onnxruntime-node 1.30.0 (cpu, 1 thread)". */
  get engineName(): string {
    return this.engine?.name ?? `tfjs ${tf.getBackend()}`;
  }

  /** One step on a batch: x row-major [n, d], its labels, and its row indices into the training matrix. */
  async step(x: Float32Array, yb: Int32Array, rows: Int32Array, lr: number): Promise<StepResult> {
    const r = this.engine ? await this.engineStep(this.engine, x, yb, rows, lr) : this.tfjsStep(x, yb, rows, lr);
    this.net.commitStats();
    this.opts.afterStep?.(rows);
    return r;
  }

  private tfjsStep(xb: Float32Array, yb: Int32Array, rows: Int32Array, lr: number): StepResult {
    const { net, opts } = this;
    let pred: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const x = tf.tensor2d(xb, [yb.length, xb.length / yb.length]);
      const y = tf.tensor1d(yb, 'int32');
      const out = net.forward(x, true);
      const ce = crossEntropy(out.logits, yb);
      pred = tf.keep(tf.argMax(out.logits, 1));
      return opts.extraLoss ? tf.add(ce, opts.extraLoss(out, rows, y)) : ce;
    }, this.vars);
    try {
      this.optimiser.apply(grads, this.vars, lr);
    } finally {
      tf.dispose(grads);
    }
    return { loss: value, pred: pred! };
  }

  /**
   * The network's forward and backward on `engine`: the loss (cross-entropy + extra) is still written in tfjs,
   * on tensors of the engine's outputs, and its gradients with respect to those outputs go back to the engine.
   * Gradients that reach the network's variables through tfjs too (a loss that runs the network again, e.g. the
   * transductive MCC term) are added to the engine's.
   */
  private async engineStep(engine: TrainEngine, xb: Float32Array, yb: Int32Array, rows: Int32Array, lr: number): Promise<StepResult> {
    const { net, opts } = this;
    const anchor = this.anchor!;
    const n = yb.length;
    const C = net.spec.classes;
    if (!opts.extraLoss) {
      // Cross-entropy alone: one engine call, no tfjs at all in the step (the loss for the log from the logits).
      const r = await engine.crossEntropyStep(xb, yb, n);
      this.applyEngineGrads(r.grads, {}, lr);
      return { loss: crossEntropyValues(r.logits, yb, C).loss, pred: argmaxRows(r.logits, C) };
    }
    const fw = await engine.forward(xb, n);
    const d: { logits: Float32Array | null; f1: Float32Array | null; f2: Float32Array | null } = { logits: null, f1: null, f2: null };
    const { value, grads } = tf.variableGrads(() => {
      const logits = hostOutput(fw.logits, [n, C], anchor, (g) => (d.logits = g));
      const ce = crossEntropy(logits, yb);
      // f1 and f2 become tensors only if the extra loss reads them.
      let f1: tf.Tensor2D | null = null;
      let f2: tf.Tensor2D | null = null;
      const out: NetOutput = {
        logits,
        get f1() {
          return (f1 ??= hostOutput(fw.f1, [n, fw.f1Dim], anchor, (g) => (d.f1 = g)));
        },
        get f2() {
          return (f2 ??= hostOutput(fw.f2, [n, fw.f2Dim], anchor, (g) => (d.f2 = g)));
        },
      };
      return tf.add(ce, opts.extraLoss!(out, rows, tf.tensor1d(yb, 'int32')));
    }, [anchor, ...this.vars]);
    try {
      if (!d.logits) throw new Error('training engine: the loss does not depend on the logits');
      this.applyEngineGrads(await engine.backward({ logits: d.logits, f1: d.f1, f2: d.f2 }), grads, lr);
    } catch (e) {
      value.dispose();
      throw e;
    } finally {
      tf.dispose(grads);
    }
    return { loss: value, pred: argmaxRows(fw.logits, C) };
  }

  /**
   * One AdamW update from the engine's gradients of the network's variables (in `trainable` order) and the
   * tfjs gradients (extra trainables; network variables reached through tfjs too, added to the engine's).
   */
  private applyEngineGrads(netGrads: Float32Array[], viaTfjs: Record<string, tf.Tensor>, lr: number): void {
    const all: Record<string, tf.Tensor | Float32Array> = { ...viaTfjs };
    this.net.trainable.forEach((v, i) => {
      const g = netGrads[i]!;
      const t = viaTfjs[v.name];
      if (t) {
        const tv = hostValues(t);
        for (let j = 0; j < g.length; j++) g[j] = g[j]! + tv[j]!;
      }
      all[v.name] = g;
    });
    this.optimiser.apply(all, this.vars, lr);
  }

  dispose(): void {
    this.optimiser.dispose();
    this.anchor?.dispose();
    this.anchor = null;
  }
}
let anchorId = 0;

export async function fit(net: Network, data: Matrix, labels: Int32Array, opts: FitOptions): Promise<FitResult> {
  const rng = new SeededRandom(opts.seed);
  const [trainRows, valRows] = opts.valRows
    ? complementSplit(data.n, opts.valRows)
    : opts.valFraction > 0
      ? stratifiedSplit(labels, opts.valFraction, rng)
      : [Int32Array.from({ length: data.n }, (_, i) => i), new Int32Array(0)];
  // Batches actually stepped on: a last batch of one row is skipped (below), and must not count in the schedule.
  const stepsPerEpoch = Math.floor(trainRows.length / opts.batchSize) + (trainRows.length % opts.batchSize >= 2 ? 1 : 0);
  const schedule = warmupCosine(opts.lr, opts.epochs, opts.warmupEpochs, stepsPerEpoch);
  const stepper = await Stepper.create(net, opts, opts.lr);
  const history: EpochInfo[] = [];
  let best = { acc: -Infinity, epoch: -1, weights: null as ReturnType<Network['getWeights']> | null };
  let sinceBest = 0;
  let step = 0;
  let interrupted = false;
  const order = Array.from(trainRows);
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      shuffle(order, rng);
      let lossSum = 0;
      let correct = 0;
      let seen = 0; // rows stepped on: a last batch of one row is skipped
      let lr = opts.lr;
      // Per-step losses (and tfjs predictions) stay on the backend until the end of the epoch, then are read in
      // step order (same sums as reading them each step, without a host round trip per step).
      const pending: Array<StepResult & { labels: Int32Array; lr: number }> = [];
      try {
        for (let s = 0; s < order.length; s += opts.batchSize) {
          const rows = Int32Array.from(order.slice(s, s + opts.batchSize));
          if (rows.length < 2) continue; // BatchNorm needs ≥ 2 rows
          lr = schedule(step++);
          const yb = Int32Array.from(rows, (r) => labels[r]!);
          pending.push({ ...(await stepper.step(gatherRows(data, rows), yb, rows, lr)), labels: yb, lr });
        }
        for (const [k, p] of pending.entries()) {
          const loss = typeof p.loss === 'number' ? p.loss : (await p.loss.data())[0]!;
          if (!Number.isFinite(loss)) {
            // Reported through onEpoch first, so a caller that knows the fold and network can name them.
            opts.onEpoch?.({ epoch: epoch + 1, epochs: opts.epochs, loss, trainAccuracy: NaN, valAccuracy: null, lr: p.lr });
            throw new NonFiniteLossError(epoch + 1, k + 1, pending.length, loss, p.lr);
          }
          lossSum += loss * p.labels.length;
          seen += p.labels.length;
          const pred = p.pred instanceof Int32Array ? p.pred : p.pred.dataSync();
          for (let i = 0; i < pred.length; i++) if (pred[i] === p.labels[i]) correct++;
        }
      } finally {
        for (const p of pending) disposeStep(p);
      }
      let valAcc: number | null = null;
      if (valRows.length) {
        const pred = argmaxRows(predictLogits(net, data, valRows), net.spec.classes);
        valAcc = accuracy(
          pred,
          Int32Array.from(valRows, (r) => labels[r]!),
        );
        if (valAcc > best.acc) {
          best = { acc: valAcc, epoch, weights: net.getWeights() };
          sinceBest = 0;
        } else sinceBest++;
      }
      const info: EpochInfo = {
        epoch: epoch + 1,
        epochs: opts.epochs,
        loss: lossSum / seen,
        trainAccuracy: correct / seen,
        valAccuracy: valAcc,
        lr,
      };
      history.push(info);
      opts.onEpoch?.(info);
      // Let the event loop run once per epoch: the tfjs backends' steps and reads resolve as microtasks, so without
      // this a Ctrl-C / SIGTERM handler (or a browser's UI) would not run until training ended.
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      if (opts.interrupt?.interrupted) {
        interrupted = true;
        break;
      }
      if (opts.patience !== undefined && sinceBest >= opts.patience) break;
    }
  } finally {
    stepper.dispose();
  }
  if (best.weights) net.setWeights(best.weights);
  return {
    epochsRun: history.length,
    bestEpoch: best.epoch + 1,
    bestValAccuracy: valRows.length ? best.acc : null,
    interrupted,
    history,
    engine: stepper.engineName,
  };
}
