/**
 * The export formats on the device runtimes: per network (62 channels × 5 bands → 4 classes, BatchNorm statistics
 * away from identity) and variant — fp32 ONNX, int8 static (QDQ S8S8, MinMax on 1000 rows drawn around the
 * normalisation), int8 dynamic (weights only), tfjs GraphModel float32 and uint8 weights — the file size, and the
 * batch-1 latency per window (p50 / p99 over N runs after a warm-up) in onnxruntime-node (1 thread, spinning off,
 * optimisation 'all'), onnxruntime-web (wasm, 1 thread, in Node) and the GraphModel loaded by tfjs-converter on
 * tfjs's wasm backend. Rows `export.<arch>.<variant>.<runtime>` (µs, p50), `export.<arch>.<variant>.bytes`, and
 * `export.<arch>.faster.<runtime>`: which ONNX variant was faster there (1 = int8, 0 = fp32), the choice the model
 * card records per runtime. Measured side by side in one process; the machine is shared, so compare within a run.
 */
import * as tf from '../src/train/tf.js';
import { initBackend } from '../src/train/backend.js';
import { buildNetwork, defaultSpec, type ArchName } from '../src/train/nets/index.js';
import { SeededRandom } from '../src/train/nets/layers.js';
import { buildInferenceGraph, graphName } from '../export/onnx-export.js';
import { quantizeOnnx } from '../export/quantize.js';
import { calibrate } from '../export/calibrate.node.js';
import { exportGraphModel } from '../export/tfjs-graph.js';
import type { Checkpoint } from '../export/checkpoint.js';
import { packageCard, type VariantName } from '../export/model-dir.js';
import { loadGraphModelFiles, measureLatency, ortNodeLatency, ortWebLatency } from '../src/cli/commands/export.js';
import type { BenchResult, BenchSuite } from './harness.js';

const ARCHS: readonly ArchName[] = ['mlp', 'eegnet', 'dgcnn'];
const CHANNELS = 62;
const BANDS = 5;

function checkpoint(arch: ArchName): Checkpoint {
  const net = buildNetwork(defaultSpec(arch, { channels: CHANNELS, bands: BANDS }, 4), 7);
  const rng = new SeededRandom(8);
  const w = net.getWeights();
  net.dispose();
  for (const [name, a] of Object.entries(w)) {
    if (name.endsWith('running_var')) a.data.forEach((_, i) => (a.data[i] = 0.2 + 2 * rng.next()));
    else if (name.endsWith('running_mean') || name.endsWith('beta') || name.endsWith('bias'))
      a.data.forEach((_, i) => (a.data[i] = rng.normal() * 0.5));
    else if (name === 'adj') a.data.forEach((_, i) => (a.data[i] = 0.2 + 0.3 * rng.normal()));
  }
  const d = CHANNELS * BANDS;
  return {
    format: 'cmcrd-checkpoint',
    version: 1,
    modality: 'eeg',
    arch: {
      arch,
      input: { channels: CHANNELS, bands: BANDS },
      classes: 4,
      params: defaultSpec(arch, { channels: CHANNELS, bands: BANDS }, 4).params,
    },
    weights: w,
    classes: ['neutral', 'sad', 'fear', 'happy'],
    channels: Array.from({ length: CHANNELS }, (_, i) => `C${i}`),
    features: { method: 'seed-de', fs: 200, windowSec: 4, hopSec: 4, bands: [], smoothing: 'none' },
    normalisation: { mean: Array.from({ length: d }, () => 12 + rng.normal()), std: Array.from({ length: d }, () => 0.5 + rng.next()) },
    provenance: { createdBy: 'bench' },
  };
}

export const exportSuite: BenchSuite = {
  name: 'export',
  async run(ctx) {
    const out: BenchResult[] = [];
    await initBackend('wasm', ctx.log);
    const runs = ctx.quick ? 300 : 2000;
    const d = CHANNELS * BANDS;
    for (const arch of ARCHS) {
      const ck = checkpoint(arch);
      const rng = new SeededRandom(9);
      const rows = Float32Array.from(
        { length: 1000 * d },
        (_, i) => ck.normalisation.mean[i % d]! + ck.normalisation.std[i % d]! * rng.normal(),
      );
      const fp32 = buildInferenceGraph(ck).build(graphName(ck), packageCard(ck)); // as `cmcrd export --out` writes it
      const ranges = await calibrate(fp32, rows, d, 'minmax');
      const onnx: { variant: VariantName; file: string; bytes: Uint8Array }[] = [
        { variant: 'fp32', file: 'model.onnx', bytes: fp32 },
        { variant: 'int8-static', file: 'model.int8.onnx', bytes: quantizeOnnx(fp32, { mode: 'static', ranges }).bytes },
        { variant: 'int8-dynamic', file: 'model.int8.onnx', bytes: quantizeOnnx(fp32, { mode: 'dynamic' }).bytes },
      ];
      for (const m of onnx)
        out.push({
          name: `export.${arch}.${m.variant}.bytes`,
          value: m.bytes.length,
          unit: 'bytes',
          detail: { ofFp32: Number((m.bytes.length / fp32.length).toFixed(3)) },
        });
      const perRuntime: Record<string, { variant: VariantName; p50Us: number; p99Us: number }[]> = {};
      perRuntime['onnxruntime-node'] = await ortNodeLatency(onnx, d, runs);
      const web = await ortWebLatency(onnx, d, runs);
      if (typeof web === 'string') ctx.log(`onnxruntime-web skipped: ${web}`);
      else perRuntime['onnxruntime-web'] = web.latency;
      for (const [runtime, lat] of Object.entries(perRuntime)) {
        for (const l of lat)
          out.push({
            name: `export.${arch}.${l.variant}.${runtime}`,
            value: Number(l.p50Us.toFixed(1)),
            unit: 'µs/window',
            detail: { p99Us: Number(l.p99Us.toFixed(1)), runs, batch: 1, threads: 1 },
          });
        const fp = lat.find((l) => l.variant === 'fp32')!;
        const q = lat.find((l) => l.variant === 'int8-static')!;
        out.push({
          name: `export.${arch}.faster.${runtime}`,
          value: q.p50Us < fp.p50Us ? 1 : 0,
          unit: 'int8 faster (1) / fp32 faster (0)',
          detail: { int8OverFp32: Number((q.p50Us / fp.p50Us).toFixed(2)) },
        });
        ctx.log(`${arch} ${runtime}: ${lat.map((l) => `${l.variant} ${l.p50Us.toFixed(0)}/${l.p99Us.toFixed(0)} µs`).join(', ')}`);
      }
      for (const weights of ['float32', 'uint8'] as const) {
        const files = exportGraphModel(ck, { weights });
        const bytes = files.modelJson.length + [...files.shards.values()].reduce((s, b) => s + b.length, 0);
        out.push({
          name: `export.${arch}.tfjs-${weights}.bytes`,
          value: bytes,
          unit: 'bytes',
          detail: { ofFp32Onnx: Number((bytes / fp32.length).toFixed(3)) },
        });
        const model = await loadGraphModelFiles(files);
        if (!model) {
          ctx.log('tfjs GraphModel skipped: @tensorflow/tfjs-converter is not installed');
          continue;
        }
        const x = new Float32Array(d);
        const lat = await measureLatency(() => model.predict(x, 1, d), runs);
        model.dispose();
        out.push({
          name: `export.${arch}.tfjs-${weights}.tfjs-${tf.getBackend()}`,
          value: Number(lat.p50Us.toFixed(1)),
          unit: 'µs/window',
          detail: { p99Us: Number(lat.p99Us.toFixed(1)), runs, batch: 1 },
        });
        ctx.log(`${arch} tfjs-${weights} on ${tf.getBackend()}: ${lat.p50Us.toFixed(0)}/${lat.p99Us.toFixed(0)} µs`);
      }
    }
    return out;
  },
};
