/**
 * DGCNN (Song et al. 2018) as method.md specifies it:
 *
 *   input [B, nodes, F] (EEG: 62 electrodes × 5 bands; EM: d single-feature nodes, i.e. channels = 1, bands = d)
 *   BatchNorm over the F node features (statistics over batch and nodes)     bn.*  [F]
 *   L̃ = D^{-1/2} Â D^{-1/2},  Â = sym(ReLU(A)) with zero diagonal,           adj   [nodes, nodes], init U(0.01, 0.5)
 *       sym(M) = (M + Mᵀ)/2, D = diag(row sums of Â) (+1e-10 against empty rows)
 *   Chebyshev graph conv, K = 2: H = ReLU(X W₀ + L̃ X W₁)                    cheb0.weight, cheb1.weight [F, hidden]
 *   flatten node-major (index node·hidden + h) → f2;  Linear(nodes·hidden, C)  head.weight [nodes·hidden, C], head.bias
 *
 * Feature levels: f2 = the flattened graph-conv output (penultimate, 992 for EEG), f1 = the batch-normalised input
 * flattened [B, nodes·F] (DGCNN has a single hidden layer, so the level before the penultimate is its input).
 * The graph conv has no bias (as in the DGCNN paper's Chebyshev filter). All ops are matMuls / elementwise, so the
 * wasm backend differentiates it, adjacency included.
 */
import * as tf from '../tf.js';
import { BatchNorm, Dense, glorot, StoredModule, matMulFast } from './layers.js';
import type { ArchSpec, Network, NetOutput, TrainEngine } from './types.js';

/**
 * @param input channels × bands as for every network. By default a one-channel input is read as `bands`
 * single-feature nodes (the eye-movement case), otherwise as `channels` nodes with `bands` features.
 */
export function dgcnnSpec(input: { channels: number; bands: number }, classes: number, hidden = 16): ArchSpec {
  const single = input.channels === 1;
  return {
    arch: 'dgcnn',
    input,
    classes,
    params: { nodes: single ? input.bands : input.channels, nodeFeatures: single ? 1 : input.bands, hidden },
  };
}

export class Dgcnn extends StoredModule implements Network {
  private readonly nodes: number;
  private readonly feats: number;
  private readonly hidden: number;
  private readonly bn: BatchNorm;
  private readonly adj: tf.Variable;
  private readonly w0: tf.Variable;
  private readonly w1: tf.Variable;
  private readonly head: Dense;

  constructor(
    readonly spec: ArchSpec,
    seed: number,
  ) {
    super(seed);
    if (spec.arch !== 'dgcnn') throw new Error(`Dgcnn cannot build arch "${spec.arch}"`);
    const d = spec.input.channels * spec.input.bands;
    this.nodes = spec.params.nodes ?? spec.input.channels;
    this.feats = spec.params.nodeFeatures ?? spec.input.bands;
    this.hidden = spec.params.hidden ?? 16;
    if (this.nodes * this.feats !== d) {
      throw new Error(
        `dgcnn: nodes (${this.nodes}) × nodeFeatures (${this.feats}) must equal the input size ${spec.input.channels}×${spec.input.bands}`,
      );
    }
    this.bn = new BatchNorm(this.store, 'bn', this.feats);
    this.adj = this.store.add('adj', [this.nodes, this.nodes], (r) => r.uniform(0.01, 0.5));
    this.w0 = this.store.add('cheb0.weight', [this.feats, this.hidden], glorot(this.feats, this.hidden));
    this.w1 = this.store.add('cheb1.weight', [this.feats, this.hidden], glorot(this.feats, this.hidden));
    this.head = new Dense(this.store, 'head', this.nodes * this.hidden, spec.classes);
  }

  /** The normalised adjacency L̃ currently in use ([nodes, nodes]). */
  laplacian(): tf.Tensor2D {
    return tf.tidy(() => {
      const n = this.nodes;
      const r = tf.relu(this.adj);
      const a = tf.mul(tf.div(tf.add(r, tf.transpose(r)), 2), tf.sub(1, tf.eye(n)));
      const dInv = tf.rsqrt(tf.add(tf.sum(a, 1), 1e-10));
      return tf.mul(tf.mul(a, tf.expandDims(dInv, 1)), tf.expandDims(dInv, 0)) as tf.Tensor2D;
    });
  }

  forward(x: tf.Tensor2D, training: boolean): NetOutput {
    const b = x.shape[0];
    const { nodes, feats, hidden } = this;
    if (x.shape[1] !== nodes * feats) throw new Error(`dgcnn: input has ${x.shape[1]} features, expected ${nodes * feats}`);
    return tf.tidy(() => {
      const xn = this.bn.apply(tf.reshape(x, [b, nodes, feats]), training) as tf.Tensor3D;
      // L̃ X for every sample: nodes to the front, one [nodes, nodes] × [nodes, B·F] product.
      const xt = tf.reshape(tf.transpose(xn, [1, 0, 2]), [nodes, b * feats]);
      const lx = tf.transpose(tf.reshape(matMulFast(this.laplacian(), xt), [nodes, b, feats]), [1, 0, 2]);
      const h = tf.relu(
        tf.add(matMulFast(tf.reshape(xn, [b * nodes, feats]), this.w0), matMulFast(tf.reshape(lx, [b * nodes, feats]), this.w1)),
      );
      const f2 = tf.reshape(h, [b, nodes * hidden]) as tf.Tensor2D;
      const f1 = tf.reshape(xn, [b, nodes * feats]) as tf.Tensor2D;
      return { logits: this.head.apply(f2), f1, f2 };
    });
  }

  commitStats(): void {
    this.bn.commit();
  }

  /** Training steps on onnxruntime-node's native kernels (./dgcnnOrt.node.ts), where it loads. */
  async createTrainEngine(): Promise<TrainEngine | null> {
    // Loaded on demand: the module pulls in the native binding, which only Node has.
    const { createDgcnnOrtEngine } = await import('./dgcnnOrt.node.js');
    return createDgcnnOrtEngine({ bn: this.bn, adj: this.adj, w0: this.w0, w1: this.w1, head: this.head });
  }
}
