/**
 * `cmcrd inspect <model.onnx | model-dir> [--json]`: the model card, inputs and outputs with shapes, operators with
 * counts, opset and IR version, initializer sizes and the quantisation summary of an ONNX model, or of every model
 * of a directory written by `cmcrd export --out` (with its files checked against card.json). A file that is not a
 * readable ONNX model, or whose metadata is hostile or oversized, is named (exit 2), never a stack trace.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { formatModelDirInspection, formatOnnxInspection, inspectModelDir, inspectOnnx, MAX_MODEL_BYTES } from '../../../export/inspect.js';
import { CliError } from '../errors.js';

function readLimited(path: string): Uint8Array {
  const st = statSync(path);
  if (st.size > MAX_MODEL_BYTES) throw new Error(`${path}: ${st.size} bytes, more than the ${MAX_MODEL_BYTES} inspected`);
  return new Uint8Array(readFileSync(path));
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show what an ONNX model or a model directory holds: card, inputs/outputs, operators, opset, initializers, quantisation')
    .argument('<path>', 'an ONNX file, or a model directory written by `cmcrd export --out`')
    .option('--json', 'print the inspection as JSON')
    .action((path: string, opts: { json?: boolean }) => {
      let isDir: boolean;
      try {
        isDir = statSync(path).isDirectory();
      } catch (e) {
        throw new CliError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      try {
        if (isDir) {
          const root = resolve(path);
          const read = (name: string): Uint8Array | null => {
            const p = resolve(join(root, name));
            if (!p.startsWith(root + sep)) return null;
            try {
              return readLimited(p);
            } catch {
              return null;
            }
          };
          const r = inspectModelDir(path, read, (b) => createHash('sha256').update(b).digest('hex'));
          process.stdout.write((opts.json ? JSON.stringify(r) : formatModelDirInspection(r)) + '\n');
        } else {
          const r = inspectOnnx(readLimited(path), path);
          process.stdout.write((opts.json ? JSON.stringify(r) : formatOnnxInspection(r)) + '\n');
        }
      } catch (e) {
        throw new CliError((e as Error).message);
      }
    });
}
