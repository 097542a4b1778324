/**
 * `cmcrd run` on the host: per mode, one simulated hour of a virtual Muse worn by a synthetic person the model
 * never saw (emotion changing every minute), through the real supervisor at full speed on a virtual clock.
 * Figures: latency from the notification completing a window to its prediction (p50/p99, host time), host CPU
 * seconds per streaming hour per mode (process CPU minus the virtual headband's own and the virtual clock's, both
 * measured alone in the same run), resident memory across the hour, and closed-loop accuracy per mode.
 * Targets: saver ≤ 25 % of performance's CPU; RSS flat within 5 MB over the hour; p99 latency ≤ 5 ms.
 */
import { MUSE, MUSE_EEG_CHANNELS } from '../firmware-bridge/protocols/muse.js';
import { VirtualMuse } from '../firmware-bridge/sim/virtual-muse.js';
import type { SignalSource } from '../firmware-bridge/sim/base.js';
import { defaultWorld, WearerStream } from '../firmware-bridge/sim/wearer-model.js';
import { openHeadband } from '../firmware-bridge/headband.js';
import { exportOnnx } from '../export/onnx-export.js';
import { loadOnnxClassifier } from '../runtime/infer/onnx.node.js';
import { StreamingResampler } from '../runtime/dsp/resample.js';
import { VirtualClock } from '../runtime/run/clock.js';
import { virtualLink } from '../runtime/run/links.js';
import type { Mode } from '../runtime/run/modes.js';
import { startRun, type RunModel } from '../runtime/run/supervisor.js';
import type { RunSummary } from '../runtime/run/events.js';
import { initBackend } from '../src/train/backend.js';
import { generatePairedDataset } from '../src/synthetic/paired.js';
import { MUSE_MONTAGE, trainSkeleton } from '../src/pipeline/headband-kd.js';
import * as tf from '../src/train/tf.js';
import type { BenchResult, BenchSuite } from './harness.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A forced garbage collection (the flag is set at run time, since `npm run bench` passes no node flags). */
function collector(): () => void {
  try {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    /* fall through */
  }
  return () => undefined;
}
const gc = collector();

const SEGMENT_MS = 60_000;
const WEARER = 9; // not among the training subjects (0–7)

/** Per emotion, 32 s of the wearer's EEG (after the latent state settles), looped; the emotion follows the device's clock. */
function scheduledWearer(classes: number, now: () => number, t0: number): { source: SignalSource; truthAt: (t: number) => number } {
  const world = defaultWorld();
  const buffers = Array.from({ length: classes }, (_, label) => {
    const w = new WearerStream(world, WEARER, MUSE_EEG_CHANNELS, MUSE.sampleRate, 31 + label, label);
    w.read(8 * MUSE.sampleRate);
    return w.read(32 * MUSE.sampleRate);
  });
  const pos = new Array<number>(classes).fill(0);
  const truthAt = (t: number) => Math.floor((t - t0) / SEGMENT_MS) % classes;
  return {
    truthAt,
    source: {
      read(n) {
        const label = truthAt(now());
        const b = buffers[label]!;
        const len = b[0]!.length;
        const out = b.map(() => new Float64Array(n));
        for (let i = 0; i < n; i++) {
          const p = (pos[label]! + i) % len;
          for (let c = 0; c < b.length; c++) out[c]![i] = b[c]![p]!;
        }
        pos[label] = (pos[label]! + n) % len;
        return out;
      },
    },
  };
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface ModeRun {
  summary: RunSummary;
  cpu: number;
  accuracy: number | null;
  scored: number;
  rss: number[];
  heap: number[];
  wallMs: number;
}

async function runMode(model: RunModel, mode: Mode, seconds: number, classes: number, sampleMemory = false): Promise<ModeRun> {
  const clock = new VirtualClock(0);
  let device: VirtualMuse | null = null;
  const wearer = scheduledWearer(classes, () => device!.now(), 0);
  device = new VirtualMuse({ clock: 'manual', startTimeMs: 0, source: wearer.source, seed: 5, batteryPercent: 100, drainPerHour: 0 });
  let scored = 0;
  let correct = 0;
  const rss: number[] = [];
  const heap: number[] = [];
  gc();
  const cpu0 = cpuSeconds();
  const wall0 = performance.now();
  const run = startRun({ link: virtualLink(device, 'bench:muse'), model, clock, speed: Infinity, durationMs: seconds * 1000, policy: { kind: 'fixed', mode }, random: () => 0.5 });
  run.hub.subscribe((e) => {
    if (e.type !== 'prediction' || e.label === null) return;
    const a = wearer.truthAt(e.start);
    // Score windows lying wholly inside one emotion segment.
    if (a !== wearer.truthAt(e.t)) return;
    scored++;
    if (e.label === model.card.classes[a]) correct++;
  });
  if (sampleMemory) void (async () => {
    while (!run.hub.isEnded) {
      await clock.sleep(60_000);
      // After a collection, so the figures show what is kept, not when V8 last collected.
      gc();
      const m = process.memoryUsage();
      rss.push(m.rss);
      heap.push(m.heapUsed);
    }
  })();
  const summary = await run.done;
  const cpu = cpuSeconds() - cpu0; // (with sampleMemory it includes the forced collections)
  return { summary, cpu, accuracy: scored ? correct / scored : null, scored, rss, heap, wallMs: performance.now() - wall0 };
}

/** CPU of the virtual clock stepping an idle device, and of the device streaming alone (per second). */
async function baselines(seconds: number, classes: number, reps = 3): Promise<{ clockPerSec: number; devicePerStreamedSec: number }> {
  const pace = async (streaming: boolean) => {
    const clock = new VirtualClock(0);
    let device: VirtualMuse | null = null;
    const wearer = scheduledWearer(classes, () => device!.now(), 0);
    device = new VirtualMuse({ clock: 'manual', startTimeMs: 0, source: wearer.source, seed: 5 });
    const detach = clock.drive({ advance: (ms) => device!.advance(ms), now: () => device!.now() });
    if (streaming) {
      const hb = await openHeadband(device, { keepAlive: false, wait: async (ms) => device!.advance(ms) });
      await hb.start(() => undefined);
    }
    const end = clock.now() + seconds * 1000;
    const c0 = cpuSeconds();
    await clock.pace({ speed: Infinity, until: () => clock.now() >= end });
    const c = cpuSeconds() - c0;
    detach();
    await device.disconnect();
    return c / seconds;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  await pace(true); // warm-up
  const idle: number[] = [];
  const both: number[] = [];
  for (let i = 0; i < reps; i++) {
    idle.push(await pace(false));
    both.push(await pace(true));
  }
  const clockPerSec = median(idle);
  return { clockPerSec, devicePerStreamedSec: Math.max(0, median(both) - clockPerSec) };
}

export const runtimeSuite: BenchSuite = {
  name: 'runtime',
  async run(ctx) {
    const out: BenchResult[] = [];
    const hour = ctx.quick ? 600 : 3600;
    // A model trained on synthetic people 0–7 (the demo's recipe, smaller), EEG only, on the Muse montage.
    await initBackend(undefined, ctx.log);
    const t0 = performance.now();
    const dataset = generatePairedDataset({ world: defaultWorld(), subjects: [0, 1, 2, 3, 4, 5, 6, 7], windowsPerTrial: 4 });
    const trained = await trainSkeleton({ dataset, testSubjects: [6, 7], montage: MUSE_MONTAGE, epochs: ctx.quick ? 6 : 12, seed: 2022 });
    ctx.log(`trained in ${((performance.now() - t0) / 1000).toFixed(1)} s; held-out accuracy (EEG only) ${(trained.accuracy.eegOnly * 100).toFixed(1)} %`);
    const classifier = await loadOnnxClassifier(exportOnnx(trained.eegOnly), 'bench-eeg-only');
    tf.disposeVariables();
    const classes = classifier.classes.length;
    const model: RunModel = { label: 'bench-eeg-only', card: classifier.card, default: { name: 'fp32', classifier }, fast: null };
    // No int8 exporter in this tree yet: the "fast" variant is model.onnx, as a model directory without one runs.

    // Warm up the whole path (JIT, onnxruntime's arena) before anything is measured.
    await runMode(model, 'performance', 300, classes);
    const base = await baselines(hour, classes);
    ctx.log(`baselines (median of 3 simulated ${hour / 60}-min runs): virtual clock ${(base.clockPerSec * 3600).toFixed(2)} CPU s/h, virtual headband ${(base.devicePerStreamedSec * 3600).toFixed(2)} CPU s per streamed hour`);
    const modes: Mode[] = ['performance', 'balanced', 'saver', 'critical'];
    const host: Partial<Record<Mode, number>> = {};
    const raw: Partial<Record<Mode, number>> = {};
    const runs: Partial<Record<Mode, ModeRun[]>> = {};
    // Two rounds, modes interleaved; the lower CPU of the two is kept (a shared machine only ever adds).
    for (let round = 0; round < 2; round++) {
      for (const mode of modes) {
        const r = await runMode(model, mode, hour, classes);
        (runs[mode] ??= []).push(r);
        const s = r.summary;
        const deviceCpu = base.devicePerStreamedSec * s.streamedSeconds;
        const clockCpu = base.clockPerSec * s.seconds;
        const perHour = ((r.cpu - deviceCpu - clockCpu) * 3600) / s.seconds;
        if (raw[mode] === undefined || perHour < raw[mode]!) raw[mode] = perHour;
        ctx.log(`${mode} (round ${round + 1}): ${s.predictions} predictions, streamed ${(s.streamedSeconds / 60).toFixed(1)} of ${(s.seconds / 60).toFixed(0)} min, process CPU ${r.cpu.toFixed(2)} s (headband ${deviceCpu.toFixed(2)}, clock ${clockCpu.toFixed(2)}) → host ${perHour.toFixed(2)} s/h; accuracy ${r.accuracy === null ? 'n/a' : (r.accuracy * 100).toFixed(1) + ' %'} over ${r.scored} windows; p99 ${s.latencyMs.p99?.toFixed(2) ?? '–'} ms; ${(r.wallMs / 1000).toFixed(1)} s wall`);
      }
    }
    for (const mode of modes) {
      const r = runs[mode]![0]!;
      const s = r.summary;
      // At critical the difference is within the baselines' noise: it can come out below zero.
      host[mode] = Math.max(0, raw[mode]!);
      out.push({
        name: `runtime.cpu.${mode}`,
        value: Number(host[mode]!.toFixed(3)),
        unit: 'CPU s/streaming h',
        detail: { rawDifference: Number(raw[mode]!.toFixed(3)), rounds: runs[mode]!.map((x) => Number(x.cpu.toFixed(3))).join(' / '), simulatedSeconds: s.seconds, streamedSeconds: Number(s.streamedSeconds.toFixed(1)), predictions: s.predictions },
      });
      if (mode !== 'critical') {
        out.push({ name: `runtime.accuracy.${mode}`, value: r.accuracy === null ? NaN : Number(r.accuracy.toFixed(4)), unit: 'fraction', detail: { scoredWindows: r.scored, segmentS: SEGMENT_MS / 1000, wearer: WEARER, heldOutAccuracy: Number(trained.accuracy.eegOnly.toFixed(4)) } });
      }
      if (mode === 'performance') {
        const l = runs[mode]!.map((x) => x.summary.latencyMs);
        out.push({ name: 'runtime.latency.p50', value: Number((l[0]!.p50 ?? NaN).toFixed(4)), unit: 'ms', detail: { windows: s.predictions, rounds: l.map((x) => x.p50?.toFixed(4)).join(' / ') } });
        out.push({ name: 'runtime.latency.p99', value: Number((l[0]!.p99 ?? NaN).toFixed(4)), unit: 'ms', detail: { target: 5, rounds: l.map((x) => x.p99?.toFixed(3)).join(' / '), max: l.map((x) => x.max?.toFixed(2)).join(' / '), note: 'host time from the notification completing a window to its prediction' } });
      }
    }
    // Memory: a separate performance hour, sampled after a forced collection every simulated minute.
    const m = await runMode(model, 'performance', hour, classes, true);
    const settled = m.rss.slice(Math.min(4, m.rss.length - 1));
    const heap = m.heap.slice(Math.min(4, m.heap.length - 1));
    const mb = (b: number) => b / 2 ** 20;
    const span = (xs: number[]) => mb(Math.max(...xs) - Math.min(...xs));
    ctx.log(`memory over ${settled.length} simulated minutes: RSS ${mb(settled[0]!).toFixed(1)} → ${mb(settled.at(-1)!).toFixed(1)} MB (range ${span(settled).toFixed(2)}), heap ${mb(heap[0]!).toFixed(2)} → ${mb(heap.at(-1)!).toFixed(2)} MB`);
    out.push({
      name: 'runtime.rss.range',
      value: Number(span(settled).toFixed(2)),
      unit: 'MB',
      detail: { target: 5, first: Number(mb(settled[0]!).toFixed(1)), last: Number(mb(settled.at(-1)!).toFixed(1)), minutes: settled.length, heapFirstMB: Number(mb(heap[0]!).toFixed(2)), heapLastMB: Number(mb(heap.at(-1)!).toFixed(2)), heapRangeMB: Number(span(heap).toFixed(2)) },
    });
    const r = (x: Mode) => (host[x]! / host.performance!) * 100;
    out.push({ name: 'runtime.cpu.saver-vs-performance', value: Number(r('saver').toFixed(1)), unit: '%', detail: { target: 25, balanced: Number(r('balanced').toFixed(1)), critical: Number(r('critical').toFixed(1)) } });
    // The look-ahead of the 256 → 200 Hz resampler: device time a window's prediction waits for beyond its last sample.
    const lookahead = new StreamingResampler(256, 200).latencySamples;
    out.push({ name: 'runtime.latency.resampler-lookahead', value: Number(((lookahead / 256) * 1000).toFixed(2)), unit: 'ms', detail: { samples: lookahead, note: 'algorithmic, in device time' } });
    await classifier.dispose();
    return out;
  },
};
