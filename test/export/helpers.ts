/** Checkpoints for the export tests, made the way training makes them (makeCheckpoint). */
import type { Checkpoint } from '../../export/checkpoint.js';
import { buildNetwork, defaultSpec, type ArchName } from '../../src/train/nets/index.js';
import { makeCheckpoint } from '../../src/train/checkpoint.js';
import { tinyDataset } from '../src/train/experiment/helpers.js';

const ds = tinyDataset({ channels: 4, eye: 6 });

/** A checkpoint as training writes it (makeCheckpoint), for either modality. */
export function trainedCheckpoint(arch: ArchName, modality: 'eeg' | 'eye' = 'eeg', seed = 1): Checkpoint {
  const eeg = modality === 'eeg';
  const input = eeg ? { channels: 4, bands: 5 } : { channels: 1, bands: 6 };
  const d = input.channels * input.bands;
  const net = buildNetwork(defaultSpec(arch, input, 4), seed);
  const ck = makeCheckpoint(net, {
    modality,
    meta: ds.meta,
    channels: eeg ? [...ds.meta.channelNames] : Array.from({ length: 6 }, (_, i) => `eye${i + 1}`),
    normalisation: {
      mean: Float64Array.from({ length: d }, (_, i) => 10 + i / 7),
      std: Float64Array.from({ length: d }, (_, i) => 0.5 + i / 11),
    },
    ...(eeg ? { montage: { device: 'muse', sites: ['AF7', 'AF8', 'TP9', 'TP10'], capChannels: [...ds.meta.channelNames] } } : {}),
    provenance: { createdBy: 'test', seed, synthetic: true },
    metrics: { testAccuracy: 0.5, bestEpoch: 3 },
  });
  net.dispose();
  return ck;
}
