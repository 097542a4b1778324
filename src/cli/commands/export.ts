/**
 * `cmcrd export <checkpoint>`: a trained checkpoint (any of the three networks, either modality) as fp32 ONNX with
 * its model card, checked before it is kept: onnxruntime-node must give tfjs's eval-mode probabilities on rows drawn
 * around the training normalisation (max |Δp| printed; above 1e-4 nothing is written).
 */
import { writeFileAtomic } from '../../io/atomic.js';
import type { Command } from 'commander';
import { exportOnnx } from '../../../export/onnx-export.js';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../../train/backend.js';
import { readCheckpoint, type Checkpoint } from '../../train/checkpoint.js';
import { SeededRandom } from '../../train/nets/layers.js';
import { checkpointProbabilities } from '../../train/run.js';
import { checkParity, ortSessionLoader, PARITY_LIMIT } from '../../../export/parity.js';
import { CliError } from '../main.js';
import { prepareOutFile } from '../paths.js';

const PARITY_ROWS = 64;

/**
 * Largest |Δp| between tfjs (eval mode) and the exported model on seeded raw rows drawn around the training
 * normalisation. onnxruntime runs the graph directly rather than through the runtime's classifier, which sizes its
 * input from the card's EEG channels × bands and so does not take eye-movement models (a teacher, or a student of
 * the eeg-to-eye direction).
 */
export async function exportParity(ck: Checkpoint, model: Uint8Array, seed = 1): Promise<number> {
  const { mean, std } = ck.normalisation;
  const rng = new SeededRandom(seed);
  const rows = Array.from({ length: PARITY_ROWS }, () => Float32Array.from(mean, (m, j) => m + std[j]! * rng.normal()));
  const r = await checkParity(model, (x) => checkpointProbabilities(ck, x), rows, { loadSession: ortSessionLoader(ort) });
  return r.maxAbsDiff;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a trained checkpoint as fp32 ONNX with its model card, after a parity check against tfjs')
    .argument('<checkpoint>', 'checkpoint JSON written by `cmcrd train` (checkpoints/) or `cmcrd demo`')
    .option('--out <file>', 'ONNX file to write (default: the checkpoint path with .onnx)')
    .action(async (path: string, raw: { out?: string }) => {
      const log = (l: string) => process.stderr.write(l + '\n');
      let ck: Checkpoint;
      try {
        ck = readCheckpoint(path);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const out = raw.out ?? path.replace(/\.json$/i, '') + '.onnx';
      prepareOutFile(out, '--out', { path, what: 'the checkpoint itself' });
      let model: Uint8Array;
      try {
        model = exportOnnx(ck);
      } catch (e) {
        throw new CliError(`${path}: ${(e as Error).message}`);
      }
      await initBackend(undefined, () => undefined);
      const maxDiff = await exportParity(ck, model);
      log(`${ck.modality} ${ck.arch.arch} (${ck.arch.input.channels}×${ck.arch.input.bands} → ${ck.classes.join(', ')}): onnxruntime-node vs tfjs on ${PARITY_ROWS} rows, max |Δp| = ${maxDiff.toExponential(2)}`);
      if (!(maxDiff < PARITY_LIMIT)) throw new CliError(`${path}: the exported model disagrees with the checkpoint (max |Δp| = ${maxDiff}); nothing written`, 1);
      writeFileAtomic(out, model);
      log(`wrote ${out} (${model.length} bytes)`);
      process.stdout.write(JSON.stringify({ out, bytes: model.length, arch: ck.arch.arch, modality: ck.modality, maxProbabilityDiff: maxDiff }) + '\n');
    });
}
