/** The three networks behind one factory: `buildNetwork(defaultSpec('dgcnn', { channels: 62, bands: 5 }, 4), seed)`. */
import { Dgcnn, dgcnnSpec } from './dgcnn.js';
import { EegNetMini, eegnetSpec } from './eegnet.js';
import { Mlp, mlpSpec } from './mlp.js';
import type { ArchName, ArchSpec, Network } from './types.js';

export type { ArchName, ArchSpec, Network, NetOutput, NamedArray } from './types.js';
export { Mlp, mlpSpec, MLP_BLOCKS } from './mlp.js';
export { EegNetMini, eegnetSpec, type EegNetParams } from './eegnet.js';
export { Dgcnn, dgcnnSpec } from './dgcnn.js';

export const ARCH_NAMES: readonly ArchName[] = ['mlp', 'eegnet', 'dgcnn'];

/** method.md's default sizes for an architecture, input layout and class count. */
export function defaultSpec(arch: ArchName, input: { channels: number; bands: number }, classes: number): ArchSpec {
  if (!Number.isInteger(input.channels) || !Number.isInteger(input.bands) || input.channels < 1 || input.bands < 1) {
    throw new Error(`network input must be positive integers channels × bands, got ${input.channels} × ${input.bands}`);
  }
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`network needs at least 2 classes, got ${classes}`);
  switch (arch) {
    case 'mlp':
      return mlpSpec(input, classes);
    case 'eegnet':
      return eegnetSpec(input, classes);
    case 'dgcnn':
      return dgcnnSpec(input, classes);
    default:
      throw new Error(`unknown architecture "${String(arch)}" (expected one of ${ARCH_NAMES.join(', ')})`);
  }
}

/** Build a network from its spec with deterministic, seeded initial weights. */
export function buildNetwork(spec: ArchSpec, seed: number): Network {
  switch (spec.arch) {
    case 'mlp':
      return new Mlp(spec, seed);
    case 'eegnet':
      return new EegNetMini(spec, seed);
    case 'dgcnn':
      return new Dgcnn(spec, seed);
    default:
      throw new Error(`unknown architecture "${String((spec as { arch: unknown }).arch)}" (expected one of ${ARCH_NAMES.join(', ')})`);
  }
}
