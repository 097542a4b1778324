/** Shared by the run tests: a small exported model (random MLP weights) as a model directory, and event helpers. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunEvent } from '../../../runtime/run/events.js';
import { museMlpModel } from '../muse-model.js';

export interface ModelDirOptions {
  /** Extra card.json fields. */
  card?: Record<string, unknown>;
  /** Also write model.int8.onnx (a copy: the tests only need a second file). */
  int8?: boolean;
  windowSec?: number;
  smoothing?: 'none' | 'lds' | 'moving-average';
  sites?: string[];
}

let onnx: Uint8Array | null = null;

/** The Muse-montage MLP as ONNX (cached; random weights, seed 1). */
export async function museModel(
  opts: { windowSec?: number; smoothing?: ModelDirOptions['smoothing']; sites?: string[] } = {},
): Promise<Uint8Array> {
  if (!opts.windowSec && !opts.smoothing && !opts.sites && onnx) return onnx;
  const m = await museMlpModel(opts);
  if (!opts.windowSec && !opts.smoothing && !opts.sites) onnx = m;
  return m;
}

/** A model directory: card.json (+ extra fields), model.onnx, optionally model.int8.onnx. */
export async function modelDir(opts: ModelDirOptions = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cmcrd-run-model-'));
  mkdirSync(dir, { recursive: true });
  const m = await museModel(opts);
  writeFileSync(join(dir, 'model.onnx'), m);
  if (opts.int8) writeFileSync(join(dir, 'model.int8.onnx'), m);
  writeFileSync(join(dir, 'card.json'), JSON.stringify({ ...(opts.card ?? {}) }));
  return dir;
}

export function parseLines(text: string): RunEvent[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RunEvent);
}

export function ofType<T extends RunEvent['type']>(events: RunEvent[], type: T): Extract<RunEvent, { type: T }>[] {
  return events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);
}
