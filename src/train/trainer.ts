/**
 * Mini-batch training of a Network with AdamW and warm-up + cosine, optional extra loss terms (distillation),
 * a validation split carved from the training data only (stratified, seeded) for early stopping, and clean
 * interruption after the current epoch.
 */
import * as tf from '@tensorflow/tfjs';
import type { Network, NetOutput } from './nets/types.js';
import { AdamW, warmupCosine } from './optim.js';
import { SeededRandom } from './nets/layers.js';

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
}

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

function gather(m: Matrix, rows: Int32Array): tf.Tensor2D {
  const out = new Float32Array(rows.length * m.d);
  rows.forEach((r, i) => out.set(m.x.subarray(r * m.d, (r + 1) * m.d), i * m.d));
  return tf.tensor2d(out, [rows.length, m.d]);
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

export async function fit(net: Network, data: Matrix, labels: Int32Array, opts: FitOptions): Promise<FitResult> {
  const rng = new SeededRandom(opts.seed);
  const [trainRows, valRows] = opts.valRows
    ? complementSplit(data.n, opts.valRows)
    : opts.valFraction > 0
      ? stratifiedSplit(labels, opts.valFraction, rng)
      : [Int32Array.from({ length: data.n }, (_, i) => i), new Int32Array(0)];
  const stepsPerEpoch = Math.ceil(trainRows.length / opts.batchSize);
  const schedule = warmupCosine(opts.lr, opts.epochs, opts.warmupEpochs, stepsPerEpoch);
  const optimiser = new AdamW({ lr: opts.lr, weightDecay: opts.weightDecay });
  const vars = [...net.trainable, ...(opts.extraTrainable ?? [])];
  const history: EpochInfo[] = [];
  let best = { acc: -Infinity, epoch: -1, weights: null as ReturnType<Network['getWeights']> | null };
  let sinceBest = 0;
  let step = 0;
  let interrupted = false;
  const order = Array.from(trainRows);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffle(order, rng);
    let lossSum = 0;
    let correct = 0;
    let lr = opts.lr;
    // Per-step loss and predictions stay on the backend until the end of the epoch, then are read in step order
    // (same sums as reading them each step, without a host round trip per step).
    const pending: Array<{ loss: tf.Tensor; pred: tf.Tensor; labels: Int32Array }> = [];
    try {
      for (let s = 0; s < order.length; s += opts.batchSize) {
        const rows = Int32Array.from(order.slice(s, s + opts.batchSize));
        if (rows.length < 2) continue; // BatchNorm needs ≥ 2 rows
        lr = schedule(step++);
        const yb = Int32Array.from(rows, (r) => labels[r]!);
        let pred: tf.Tensor | null = null;
        const { value, grads } = tf.variableGrads(() => {
          const x = gather(data, rows);
          const y = tf.tensor1d(yb, 'int32');
          const out = net.forward(x, true);
          const ce = tf.losses.softmaxCrossEntropy(tf.oneHot(y, net.spec.classes), out.logits) as tf.Scalar;
          pred = tf.keep(tf.argMax(out.logits, 1));
          return opts.extraLoss ? tf.add(ce, opts.extraLoss(out, rows, y)) : ce;
        }, vars);
        pending.push({ loss: value, pred: pred!, labels: yb });
        optimiser.apply(grads, vars, lr);
        net.commitStats();
        opts.afterStep?.(rows);
        tf.dispose(grads);
      }
      for (const p of pending) {
        lossSum += (await p.loss.data())[0]! * p.labels.length;
        const pred = p.pred.dataSync();
        for (let i = 0; i < pred.length; i++) if (pred[i] === p.labels[i]) correct++;
      }
    } finally {
      for (const p of pending) tf.dispose([p.loss, p.pred]);
    }
    let valAcc: number | null = null;
    if (valRows.length) {
      const pred = argmaxRows(predictLogits(net, data, valRows), net.spec.classes);
      valAcc = accuracy(pred, Int32Array.from(valRows, (r) => labels[r]!));
      if (valAcc > best.acc) {
        best = { acc: valAcc, epoch, weights: net.getWeights() };
        sinceBest = 0;
      } else sinceBest++;
    }
    const info: EpochInfo = { epoch: epoch + 1, epochs: opts.epochs, loss: lossSum / trainRows.length, trainAccuracy: correct / trainRows.length, valAccuracy: valAcc, lr };
    history.push(info);
    opts.onEpoch?.(info);
    if (opts.interrupt?.interrupted) {
      interrupted = true;
      break;
    }
    if (opts.patience !== undefined && sinceBest > opts.patience) break;
  }
  if (best.weights) net.setWeights(best.weights);
  optimiser.dispose();
  return { epochsRun: history.length, bestEpoch: best.epoch + 1, bestValAccuracy: valRows.length ? best.acc : null, interrupted, history };
}
