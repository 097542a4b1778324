/**
 * EEGNet-mini (method.md "Networks"), written with elementwise products, sums and matMuls so the wasm backend can
 * differentiate it (tfjs-backend-wasm has no conv gradient kernels). Every convolution is 1×1 or spans the whole
 * channel axis, so this is the same function as the PyTorch Conv2d version:
 *
 *   input [B, channels, bands] (x[c·bands + b] = channel c, band b; EM uses channels = 1)
 *   Conv(1→F1, 1×1, no bias) – BN                                   conv1.weight [F1]
 *   depthwise Conv(F1→F1·D, (channels×1), groups F1) – BN – ELU – Dropout → f1   dw.weight [channels, F1·D]
 *   depthwise Conv 1×1 (F1·D, groups F1·D) – BN                        sep_dw.weight [F1·D]
 *   pointwise Conv 1×1 (F1·D→F2) – BN – ELU – Dropout → f2            sep_pw.weight [F1·D, F2]
 *   Linear(F2·bands, C)                                               head.weight [F2·bands, C], head.bias [C]
 *
 * Output map g of the depthwise conv reads input map ⌊g/D⌋ (PyTorch grouped-conv order). Convolutions followed by
 * BatchNorm have no bias (the BN shift makes it redundant, as in EEGNet). Note that BN after the bias-free 1×1
 * conv1 cancels conv1's scale, so in training mode conv1.weight only matters through its sign (its gradient is
 * zero up to rounding); in eval mode it matters together with bn1's running statistics. Features are flattened map-major
 * (index g·bands + b), i.e. PyTorch's flatten of [B, maps, 1, bands]. Defaults F1 = 8, D = 2, F2 = 16, dropout 0.5.
 * PyTorch weight layouts: conv1 [F1,1,1,1], dw [F1·D,1,channels,1] (= transpose of ours), sep_dw [F1·D,1,1,1],
 * sep_pw [F2,F1·D,1,1] (= transpose of ours), head [C, F2·bands] (= transpose of ours).
 */
import * as tf from '../tf.js';
import { BatchNorm, Dense, SeededRandom, StoredModule, matMulFast } from './layers.js';
import type { ArchSpec, Network, NetOutput } from './types.js';

export function eegnetSpec(input: { channels: number; bands: number }, classes: number, p: Partial<EegNetParams> = {}): ArchSpec {
  return { arch: 'eegnet', input, classes, params: { F1: 8, D: 2, F2: 16, dropout: 0.5, ...p } };
}

export interface EegNetParams {
  F1: number;
  D: number;
  F2: number;
  dropout: number;
}

export class EegNetMini extends StoredModule implements Network {
  /** Separate stream for dropout masks, so masks never disturb the initialisation sequence. */
  private readonly dropRng: SeededRandom;
  private readonly channels: number;
  private readonly bands: number;
  private readonly F1: number;
  private readonly maps: number;
  private readonly F2: number;
  private readonly dropout: number;
  private readonly conv1: tf.Variable;
  private readonly dw: tf.Variable;
  private readonly sepDw: tf.Variable;
  private readonly sepPw: tf.Variable;
  private readonly bn: BatchNorm[];
  private readonly head: Dense;
  /** Constant [F1, F1·D] 0/1 matrix sending input map f to output maps f·D … f·D+D−1. */
  private readonly expand: tf.Tensor2D;

  constructor(
    readonly spec: ArchSpec,
    seed: number,
  ) {
    super(seed);
    if (spec.arch !== 'eegnet') throw new Error(`EegNetMini cannot build arch "${spec.arch}"`);
    const { channels, bands } = spec.input;
    this.channels = channels;
    this.bands = bands;
    this.F1 = spec.params.F1 ?? 8;
    const D = spec.params.D ?? 2;
    this.maps = this.F1 * D;
    this.F2 = spec.params.F2 ?? 16;
    this.dropout = spec.params.dropout ?? 0.5;
    if (!(this.dropout >= 0 && this.dropout < 1)) throw new Error(`eegnet: dropout must be in [0, 1), got ${this.dropout}`);
    this.dropRng = new SeededRandom((seed ^ 0x27d4eb2f) >>> 0);
    // PyTorch's default conv init: U(±1/√fan_in) (kaiming-uniform with a = √5).
    const conv = (fanIn: number) => (r: SeededRandom) => r.uniform(-1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
    this.conv1 = this.store.add('conv1.weight', [this.F1], conv(1));
    const bn1 = new BatchNorm(this.store, 'bn1', this.F1);
    this.dw = this.store.add('dw.weight', [channels, this.maps], conv(channels));
    const bn2 = new BatchNorm(this.store, 'bn2', this.maps);
    this.sepDw = this.store.add('sep_dw.weight', [this.maps], conv(1));
    const bn3 = new BatchNorm(this.store, 'bn3', this.maps);
    this.sepPw = this.store.add('sep_pw.weight', [this.maps, this.F2], conv(this.maps));
    const bn4 = new BatchNorm(this.store, 'bn4', this.F2);
    this.bn = [bn1, bn2, bn3, bn4];
    this.head = new Dense(this.store, 'head', this.F2 * bands, spec.classes);
    const e = new Float32Array(this.F1 * this.maps);
    for (let g = 0; g < this.maps; g++) e[Math.floor(g / D) * this.maps + g] = 1;
    this.expand = tf.keep(tf.tensor2d(e, [this.F1, this.maps]));
  }

  private drop(x: tf.Tensor3D, training: boolean): tf.Tensor3D {
    if (!training || this.dropout === 0) return x;
    const keep = 1 - this.dropout;
    const mask = new Float32Array(x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = this.dropRng.next() < keep ? 1 / keep : 0;
    return tf.mul(x, tf.tensor(mask, x.shape)) as tf.Tensor3D;
  }

  /** [B, bands, maps] → [B, maps·bands], map-major. */
  private flatten(h: tf.Tensor3D): tf.Tensor2D {
    const [b, bands, maps] = h.shape;
    return tf.reshape(tf.transpose(h, [0, 2, 1]), [b, maps * bands]);
  }

  /**
   * Conv(1→F1, 1×1, no bias) – BN1 – depthwise (channels×1) conv, as one matrix product. Map f of the 1×1 conv is
   * w_f·x, and BatchNorm of it is an affine function of x with the same shape for every map:
   *   training: BN1(w_f·x) = s_f·(x − m) + β_f,  s_f = γ_f·w_f / √(w_f²·v + ε),  m, v the batch mean and (biased)
   *             variance of x over batch, channels and bands (map f's batch statistics are w_f·m and w_f²·v);
   *   eval:     BN1(w_f·x) = s_f·x + t_f,  s_f = γ_f·w_f / √(var_f + ε),  t_f = β_f − γ_f·mean_f / √(var_f + ε).
   * So output map g (reading map f = ⌊g/D⌋) is s_f·(X dw)[·, g] + t_f·Σ_c dw[c, g], with X the input (centred in
   * training) as [B·bands, channels]: one [B·bands, channels] × [channels, maps] product instead of a
   * [B, channels, bands, maps] tensor, whose broadcast products and channel sum made this block ~4× slower forward
   * and backward on tfjs-wasm. Same function as PyTorch's layers, to float32 rounding (test/src/train/nets.test.ts).
   */
  private conv1Bn1Depthwise(x: tf.Tensor2D, training: boolean): tf.Tensor3D {
    const { channels, bands } = this;
    const b = x.shape[0];
    const bn1 = this.bn[0]!;
    let centred: tf.Tensor2D = x;
    let scale: tf.Tensor;
    let shift: tf.Tensor;
    if (training) {
      const { mean, variance } = tf.moments(x);
      bn1.queueStats(tf.mul(this.conv1, mean), tf.mul(tf.square(this.conv1), variance), x.size);
      centred = tf.sub(x, mean);
      scale = tf.div(tf.mul(bn1.gamma, this.conv1), tf.sqrt(tf.add(tf.mul(tf.square(this.conv1), variance), bn1.eps)));
      shift = bn1.beta;
    } else {
      const rstd = tf.rsqrt(tf.add(bn1.variance, bn1.eps));
      scale = tf.mul(tf.mul(bn1.gamma, this.conv1), rstd);
      shift = tf.sub(bn1.beta, tf.mul(tf.mul(bn1.gamma, bn1.mean), rstd));
    }
    // [B, channels·bands] (channel-major) → [B·bands, channels].
    const xt = tf.reshape(tf.transpose(tf.reshape(centred, [b, channels, bands]), [0, 2, 1]), [b * bands, channels]);
    const perMap = (v: tf.Tensor) => matMulFast(tf.reshape(v, [1, this.F1]), this.expand); // [1, maps]: v_⌊g/D⌋
    const y = tf.add(tf.mul(matMulFast(xt, this.dw), perMap(scale)), tf.mul(tf.sum(this.dw, 0, true), perMap(shift)));
    return tf.reshape(y, [b, bands, this.maps]);
  }

  forward(x: tf.Tensor2D, training: boolean): NetOutput {
    const { channels, bands } = this;
    const b = x.shape[0];
    if (x.shape[1] !== channels * bands) {
      throw new Error(`eegnet: input has ${x.shape[1]} features, expected ${channels}×${bands} = ${channels * bands}`);
    }
    return tf.tidy(() => {
      const dw = this.conv1Bn1Depthwise(x, training); // [B, bands, maps]
      const a1 = this.drop(tf.elu(this.bn[1]!.apply(dw, training)) as tf.Tensor3D, training);
      const sd = this.bn[2]!.apply(tf.mul(a1, this.sepDw), training);
      const pw = tf.reshape(matMulFast(tf.reshape(sd, [b * bands, this.maps]), this.sepPw), [b, bands, this.F2]);
      const a2 = this.drop(tf.elu(this.bn[3]!.apply(pw, training)) as tf.Tensor3D, training);
      const f1 = this.flatten(a1);
      const f2 = this.flatten(a2);
      return { logits: this.head.apply(f2), f1, f2 };
    });
  }

  commitStats(): void {
    for (const bn of this.bn) bn.commit();
  }
  override dispose(): void {
    super.dispose();
    this.expand.dispose();
  }
}
