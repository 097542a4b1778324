/**
 * MLP of method.md: [Linear(in,h)–BN–ReLU–Linear(h,h)–BN–ReLU] → f1; [Linear(h,h)–BN–ReLU] ×2 → f2; Linear(h,C).
 */
import * as tf from '../tf.js';
import { BatchNorm, Dense, StoredModule, denseBnRelu } from './layers.js';
import type { ArchSpec, Network, NetOutput, TrainEngine } from './types.js';

export function mlpSpec(input: { channels: number; bands: number }, classes: number, hidden = 128): ArchSpec {
  return { arch: 'mlp', input, classes, params: { hidden } };
}

/** The four hidden blocks' layer names, in order (export/ relies on these names). */
export const MLP_BLOCKS = ['fc1', 'fc2', 'fc3', 'fc4'] as const;

export class Mlp extends StoredModule implements Network {
  private readonly dense: Dense[] = [];
  private readonly bns: BatchNorm[] = [];
  private readonly head: Dense;

  constructor(
    readonly spec: ArchSpec,
    seed: number,
  ) {
    super(seed);
    if (spec.arch !== 'mlp') throw new Error(`Mlp cannot build arch "${spec.arch}"`);
    const inDim = spec.input.channels * spec.input.bands;
    const h = spec.params.hidden ?? 128;
    MLP_BLOCKS.forEach((name, i) => {
      this.dense.push(new Dense(this.store, name, i === 0 ? inDim : h, h));
      this.bns.push(new BatchNorm(this.store, `${name}.bn`, h));
    });
    this.head = new Dense(this.store, 'head', h, spec.classes);
  }

  forward(x: tf.Tensor2D, training: boolean): NetOutput {
    let hcur: tf.Tensor2D = x;
    let f1: tf.Tensor2D | null = null;
    for (let i = 0; i < this.dense.length; i++) {
      // The input is data: no gradient to it from the first block.
      hcur = denseBnRelu(this.dense[i]!, this.bns[i]!, hcur, training, i > 0);
      if (i === 1) f1 = hcur;
    }
    return { logits: this.head.apply(hcur), f1: f1!, f2: hcur };
  }

  commitStats(): void {
    for (const bn of this.bns) bn.commit();
  }

  /** Training steps on onnxruntime-node's native kernels (./mlpOrt.node.ts), where it loads. */
  async createTrainEngine(): Promise<TrainEngine | null> {
    // Loaded on demand: the module pulls in the native binding, which only Node has.
    const { createMlpOrtEngine } = await import('./mlpOrt.node.js');
    return createMlpOrtEngine({ blocks: this.dense.map((dense, i) => ({ dense, bn: this.bns[i]! })), head: this.head, f1Block: 1 });
  }
}
