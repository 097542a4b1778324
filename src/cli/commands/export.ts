/**
 * `cmcrd export <checkpoint>`: a trained checkpoint (any of the three networks, either modality) as fp32 ONNX with
 * its model card, checked before it is kept: onnxruntime-node must give tfjs's eval-mode probabilities on rows drawn
 * around the training normalisation (max |Δp| printed; above 1e-4 nothing is written).
 */
import type { Command } from 'commander';
import * as tf from '../../train/tf.js';
import { exportOnnx } from '../../../export/onnx-export.js';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../../train/backend.js';
import { readCheckpoint, type Checkpoint } from '../../train/checkpoint.js';
import { SeededRandom } from '../../train/nets/layers.js';
import { networkFromCheckpoint } from '../../train/run.js';
import { CliError } from '../main.js';
import { checkInputFile, prepareOutFile, writeOutput } from '../paths.js';

const PARITY_ROWS = 64;
const PARITY_LIMIT = 1e-4;

/** Largest |Δp| between tfjs (eval mode, normalised input) and the exported model (raw input), on seeded rows. */
export async function exportParity(ck: Checkpoint, model: Uint8Array, seed = 1): Promise<number> {
  const { mean, std } = ck.normalisation;
  const d = mean.length;
  const rng = new SeededRandom(seed);
  const raw = Array.from({ length: PARITY_ROWS }, () => Float32Array.from({ length: d }, (_, j) => mean[j]! + std[j]! * rng.normal()));
  const net = networkFromCheckpoint(ck);
  const expected = tf.tidy(() => {
    const x = tf.tensor2d(raw.flatMap((r) => Array.from(r, (v, j) => (v - mean[j]!) / std[j]!)), [PARITY_ROWS, d]);
    return tf.softmax(net.forward(x, false).logits).arraySync() as number[][];
  });
  net.dispose();
  // onnxruntime directly rather than the runtime's classifier, which sizes its input from the card's EEG channels
  // × bands and so does not take eye-movement models (a teacher, or a student of the eeg-to-eye direction).
  const session = await ort.InferenceSession.create(model);
  try {
    const flat = new Float32Array(PARITY_ROWS * d);
    raw.forEach((r, i) => flat.set(r, i * d));
    const got = (await session.run({ features: new ort.Tensor('float32', flat, [PARITY_ROWS, d]) })).probabilities!.data as Float32Array;
    const C = ck.classes.length;
    let max = 0;
    for (let i = 0; i < PARITY_ROWS; i++) for (let c = 0; c < C; c++) max = Math.max(max, Math.abs(got[i * C + c]! - expected[i]![c]!));
    return max;
  } finally {
    await session.release();
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a trained checkpoint as fp32 ONNX with its model card, after a parity check against tfjs')
    .argument('<checkpoint>', 'checkpoint JSON written by `cmcrd train` (checkpoints/) or `cmcrd demo`')
    .option('--out <file>', 'ONNX file to write (default: the checkpoint path with .onnx)')
    .option('--force', 'replace the --out file if it exists')
    .action(async (path: string, raw: { out?: string; force?: boolean }) => {
      const log = (l: string) => process.stderr.write(l + '\n');
      checkInputFile(path, 'checkpoint');
      let ck: Checkpoint;
      try {
        ck = readCheckpoint(path);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const out = raw.out ?? path.replace(/\.json$/i, '') + '.onnx';
      const target = prepareOutFile(out, '--out', { path, what: 'the checkpoint itself' }, { force: !!raw.force });
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
      writeOutput(target, model, !!raw.force, '--out', out);
      log(`wrote ${out} (${model.length} bytes)`);
      process.stdout.write(JSON.stringify({ out, bytes: model.length, arch: ck.arch.arch, modality: ck.modality, maxProbabilityDiff: maxDiff }) + '\n');
    });
}
