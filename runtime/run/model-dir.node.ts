/**
 * Loads what `--model` names for a run: a model directory (card.json + model.onnx, optionally model.int8.onnx
 * and others listed in card.json) or a single .onnx file, on onnxruntime-node. Every variant's embedded card must
 * describe the same model as model.onnx's. In the exporter's directory every listed file must have its listed size,
 * every loaded model file its listed SHA-256, and card.json's card the entries model.onnx embeds.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { loadOnnxClassifier } from '../infer/onnx.node.js';
import type { OnnxClassifier } from '../infer/onnx.js';
import { parseModelCard, type ModelCard } from '../model-card.js';
import { RunSetupError } from './device-fit.js';
import { checkSameCard, describeModelDirectory, readUserCalibration, type ModelDirectoryInfo, type UserCalibration } from './model.js';
import { listedHash, type ModelDirCard } from './model-dir-card.js';
import type { RunModel } from './supervisor.js';

export interface LoadedModel extends RunModel {
  info: ModelDirectoryInfo;
  userCalibration: UserCalibration | null;
  dispose(): Promise<void>;
}

async function loadVariant(path: string, check?: { pkg: ModelDirCard; file: string; source: string }): Promise<OnnxClassifier> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new RunSetupError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const want = check ? listedHash(check.pkg, check.file) : null;
  if (check && want !== null && createHash('sha256').update(bytes).digest('hex') !== want) {
    const i = check.pkg.files.findIndex((f) => f.name === check.file);
    throw new RunSetupError(
      `${check.source}: files[${i}].sha256: ${check.file} does not have the SHA-256 card.json lists: the file was changed after export`,
    );
  }
  try {
    parseModelCard(bytes, path);
    return await loadOnnxClassifier(bytes, path);
  } catch (e) {
    throw new RunSetupError(e instanceof Error ? e.message : String(e));
  }
}

/** Load a model directory or an .onnx file; `fast: false` loads model.onnx only (e.g. for calibration). */
export async function loadRunModel(path: string, opts: { fast?: boolean } = {}): Promise<LoadedModel> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new RunSetupError(`--model ${path}: no such file or directory`);
  }
  const loaded: OnnxClassifier[] = [];
  const dispose = async () => {
    for (const c of loaded) await c.dispose().catch(() => undefined);
  };
  try {
    if (!isDir) {
      if (!path.endsWith('.onnx')) throw new RunSetupError(`--model ${path}: expected a model directory or an .onnx file`);
      const cl = await loadVariant(path);
      loaded.push(cl);
      const uc = readUserCalibration(cl.card.raw, path);
      const info: ModelDirectoryInfo = {
        variants: [{ name: 'model', file: basename(path) }],
        defaultVariant: { name: 'model', file: basename(path) },
        fastVariant: null,
        fastReason: 'a single model file: it runs in every mode',
        userCalibration: uc,
        exported: null,
      };
      return {
        label: path,
        card: cl.card,
        default: { name: 'model', classifier: cl },
        fast: null,
        info,
        userCalibration: uc,
        notes: [],
        dispose,
      };
    }
    const files = await readdir(path);
    let cardJson: unknown = null;
    if (files.includes('card.json')) {
      const text = await readFile(join(path, 'card.json'), 'utf8');
      try {
        cardJson = JSON.parse(text) as unknown;
      } catch (e) {
        throw new RunSetupError(`${join(path, 'card.json')}: not valid JSON (${(e as Error).message})`);
      }
    }
    const sizes = await listedSizes(path, cardJson);
    let info: ModelDirectoryInfo;
    try {
      info = describeModelDirectory(cardJson, files, 'onnxruntime-node', path, (n) => sizes.get(n));
    } catch (e) {
      throw new RunSetupError(e instanceof Error ? e.message : String(e));
    }
    const pkg = info.exported;
    const checkOf = (file: string) => (pkg ? { pkg, file, source: join(path, 'card.json') } : undefined);
    const main = await loadVariant(join(path, info.defaultVariant.file), checkOf(info.defaultVariant.file));
    loaded.push(main);
    const card: ModelCard = main.card;
    if (pkg) {
      // card.json's card is the one every model file embeds: a difference means files from different exports.
      for (const [key, value] of Object.entries(pkg.card)) {
        const embedded = card.raw[key];
        if (embedded !== value)
          throw new RunSetupError(
            `${join(path, 'card.json')}: card["${key}"] is ${JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value)}, but ${info.defaultVariant.file} embeds ${embedded === undefined ? 'no such entry' : JSON.stringify(embedded.length > 80 ? embedded.slice(0, 77) + '...' : embedded)}`,
          );
      }
    }
    let fast: RunModel['fast'] = null;
    if (info.fastVariant && opts.fast !== false) {
      const f = await loadVariant(join(path, info.fastVariant.file), checkOf(info.fastVariant.file));
      loaded.push(f);
      try {
        checkSameCard(card, f.card, join(path, info.fastVariant.file));
      } catch (e) {
        throw new RunSetupError((e as Error).message);
      }
      if (f.inputSize !== main.inputSize)
        throw new RunSetupError(
          `${join(path, info.fastVariant.file)} takes ${f.inputSize} values per window, model.onnx ${main.inputSize}`,
        );
      fast = { name: info.fastVariant.name, classifier: f };
    }
    const uc = info.userCalibration ?? readUserCalibration(card.raw, join(path, info.defaultVariant.file));
    const notes = cardJson === null ? [`${path} has no card.json: the card embedded in ${info.defaultVariant.file} is used`] : [];
    notes.push(info.fastReason);
    return {
      label: path,
      card,
      default: { name: info.defaultVariant.name, classifier: main },
      fast,
      info,
      userCalibration: uc,
      notes,
      dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** Sizes of the files the exporter's card.json lists (those present; names leaving the directory are skipped). */
async function listedSizes(dir: string, cardJson: unknown): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const files = (cardJson as { files?: unknown } | null)?.files;
  if (!Array.isArray(files)) return out;
  for (const f of files.slice(0, 1000)) {
    const name = (f as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !name || name.startsWith('/') || name.includes('\\') || name.split('/').includes('..')) continue;
    try {
      const st = await stat(join(dir, name));
      if (st.isFile()) out.set(name, st.size);
    } catch {
      /* missing: reported by the card check, naming the field */
    }
  }
  return out;
}
