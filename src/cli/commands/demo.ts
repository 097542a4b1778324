/**
 * `cmcrd demo` (= `npm start`): the whole journey on the embedded default — synthetic paired data, an eye
 * teacher and a distilled EEG student for the Muse montage, ONNX export with a parity check, and a closed
 * loop through a virtual Muse that speaks the real byte protocol. Progress on stderr; one JSON line per
 * prediction and a final summary line on stdout.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { defaultWorld, DEFAULT_WORLD_SEED } from '../../../firmware-bridge/sim/wearer-model.js';
import { exportOnnx } from '../../../export/onnx-export.js';
import { serialiseCheckpoint } from '../../../export/checkpoint.js';
import { loadOnnxClassifier } from '../../../runtime/infer/onnx.node.js';
import { initBackend, trainingStepsLine } from '../../train/backend.js';
import { ARCH_NAMES, type ArchName } from '../../train/nets/index.js';
import { generatePairedDataset } from '../../synthetic/paired.js';
import { MUSE_MONTAGE, trainSkeleton } from '../../pipeline/headband-kd.js';
import { runClosedLoop } from '../../demo/closed-loop.js';
import { CliError } from '../errors.js';
import { choiceOption, intOption, numberOption } from '../options.js';
import { prepareOutDir } from '../paths.js';
import { Interrupt, progress } from '../progress.js';

type DemoFlags = { out: string; subjects: number; windowsPerTrial: number; epochs: number; seed: number; arch: ArchName; segment: number; cycles: number; speed: number; drop: number };

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the end-to-end demo on synthetic data and a virtual Muse (what `npm start` runs)')
    .option('--out <dir>', 'where checkpoints, the ONNX model and the report go', 'runs/demo')
    // Counts are rejected, not rounded, when fractional (same rule and message as `cmcrd train`).
    .addOption(intOption('--subjects <n>', 'synthetic subjects (the last two are held out for testing)', 3).default(10))
    .addOption(intOption('--windows-per-trial <n>', '4-s windows per trial (24 trials per subject)', 1).default(8))
    .addOption(intOption('--epochs <n>', 'training epochs per model', 1).default(30))
    .addOption(intOption('--seed <n>', 'training seed', 0).default(2022))
    .addOption(choiceOption('--arch <a>', 'network for the teacher and the students', ARCH_NAMES).default('mlp'))
    .addOption(numberOption('--segment <s>', 'seconds the virtual wearer stays in each emotion', 'a number ≥ 8', (x) => x >= 8).default(24))
    .addOption(intOption('--cycles <n>', 'times the closed loop cycles through all emotions', 1).default(2))
    .addOption(numberOption('--speed <x>', 'virtual headband speed (virtual seconds per real second)', 'a number ≥ 0.1', (x) => x >= 0.1).default(16))
    .addOption(numberOption('--drop <p>', 'probability that the virtual headband loses a notification (radio loss)', 'a probability in [0, 1)', (x) => x >= 0 && x < 1).default(0))
    .action(async (raw: DemoFlags) => {
      const { subjects, windowsPerTrial, epochs, seed, segment: segmentSec, cycles, speed, drop, arch } = raw;
      prepareOutDir(raw.out!, '--out'); // before training, so a bad --out fails in a second
      const interrupt = new Interrupt();
      const log = (l: string) => process.stderr.write(l + '\n');
      const t0 = performance.now();
      try {
        log(await trainingStepsLine('auto', await initBackend(undefined, log)));
        const world = defaultWorld();
        log(`[1/5] data: ${subjects} synthetic subjects × 24 trials × ${windowsPerTrial} windows, 62-channel raw EEG at 200 Hz + 31 eye features (world seed ${DEFAULT_WORLD_SEED})`);
        const bar = progress('  generating trials', subjects * 24);
        const dataset = generatePairedDataset({ world, subjects: Array.from({ length: subjects }, (_, i) => i), windowsPerTrial, onTrial: (d) => bar.update(d) });
        bar.stop();
        const testSubjects = [subjects - 2, subjects - 1];
        log(`[2/5] features: SEED-lab DE (4-s windows, nfft ${dataset.nfft}, 5 bands) computed by runtime/dsp; ${dataset.windows.length} windows`);
        log(`[3/5] training (held-out subjects ${testSubjects.join(', ')}): eye teacher, EEG-only student, KD student on the Muse montage (${arch})`);
        const bars = new Map<string, ReturnType<typeof progress>>();
        const trained = await trainSkeleton({
          dataset,
          testSubjects,
          montage: MUSE_MONTAGE,
          epochs,
          seed,
          arch,
          interrupt,
          onEpoch(model, info) {
            let b = bars.get(model);
            if (!b) bars.set(model, (b = progress(`  ${model.padEnd(8)}`, info.epochs)));
            b.update(info.epoch, { loss: info.loss, acc: info.trainAccuracy, val: info.valAccuracy ?? NaN });
            if (info.epoch === info.epochs) b.stop();
          },
        });
        for (const b of bars.values()) b.stop();
        if (trained.interrupted) throw new CliError('interrupted during training; nothing exported', interrupt.exitCode);
        log(`      held-out accuracy: teacher (eye) ${pct(trained.accuracy.teacher)}, EEG-only ${pct(trained.accuracy.eegOnly)}, KD student ${pct(trained.accuracy.kd)} (chance ${pct(1 / dataset.classes.length)})`);
        for (const [name, ck] of [['teacher', trained.teacher], ['student-eeg-only', trained.eegOnly], ['student-kd', trained.kd]] as const) {
          await writeFile(join(raw.out!, `${name}.json`), serialiseCheckpoint(ck));
        }

        log(`[4/5] export: KD student (${arch}) → fp32 ONNX (BatchNorm folded, model card in metadata_props)`);
        const onnxBytes = exportOnnx(trained.kd);
        const onnxPath = join(raw.out!, 'student.onnx');
        await writeFile(onnxPath, onnxBytes);
        const classifier = await loadOnnxClassifier(onnxBytes, onnxPath);
        const { n, d, rawFeatures, logits } = trained.parity;
        const rows = Array.from({ length: n }, (_, i) => rawFeatures.slice(i * d, (i + 1) * d));
        const probs = await classifier.run(rows);
        const maxDiff = maxProbabilityDiff(probs, logits, dataset.classes.length);
        log(`      ${onnxPath}: ${onnxBytes.length} bytes; onnxruntime-node vs tfjs on ${n} held-out windows: max |Δp| = ${maxDiff.toExponential(2)}`);
        if (!(maxDiff < 1e-4)) throw new Error(`export parity failed: max |Δp| = ${maxDiff}`);

        const schedule = Array.from({ length: cycles * dataset.classes.length }, (_, i) => DEMO_ORDER[i % DEMO_ORDER.length]! % dataset.classes.length);
        const wearer = subjects; // a person not in the dataset at all
        log(`[5/5] closed loop: virtual Muse (subject ${wearer}, unseen) → 20-byte EEG notifications → decode → reassemble → 256→200 Hz → DE → ONNX; emotion changes every ${segmentSec} s: ${schedule.map((c) => dataset.classes[c]).join(' → ')} (speed ×${speed})`);
        const loop = await runClosedLoop({
          world,
          subject: wearer,
          seed: seed + 7,
          classifier,
          card: classifier.card,
          schedule,
          segmentSec,
          speed,
          faults: drop > 0 ? { drop } : undefined,
          interrupt,
          onPrediction(p, truth) {
            process.stdout.write(
              JSON.stringify({
                t: Math.round(p.endMs),
                window: [Math.round(p.startMs), Math.round(p.endMs)],
                predicted: p.predicted,
                truth,
                probabilities: p.probabilities && Object.fromEntries(Object.entries(p.probabilities).map(([k, v]) => [k, Number(v.toFixed(4))])),
                battery: p.batteryPercent === null ? null : Number(p.batteryPercent.toFixed(2)),
                ...(p.skipped ? { skipped: p.skipped } : {}),
              }) + '\n',
            );
          },
        });
        await classifier.dispose();
        const summary = {
          summary: true,
          arch,
          heldOutAccuracy: trained.accuracy,
          closedLoop: { accuracy: loop.accuracy, scoredWindows: loop.scored, correct: loop.correct, chance: 1 / dataset.classes.length, skippedWindows: loop.stats.skipped, lostSamples: loop.stats.lostSamples, filledSamples: loop.stats.filledSamples, decodeErrors: loop.stats.decodeErrors },
          battery: { start: Number(loop.batteryStart.toFixed(2)), end: Number(loop.batteryEnd.toFixed(2)) },
          onnx: { path: onnxPath, bytes: onnxBytes.length, maxProbabilityDiff: maxDiff },
          seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
        };
        await writeFile(join(raw.out!, 'demo-report.json'), JSON.stringify(summary, null, 2));
        process.stdout.write(JSON.stringify(summary) + '\n');
        log(`closed-loop accuracy ${pct(loop.accuracy)} over ${loop.scored} windows (chance ${pct(1 / dataset.classes.length)}); report in ${join(raw.out!, 'demo-report.json')} (${summary.seconds} s)`);
      } finally {
        interrupt.dispose();
      }
    });
}

/** happy, sad, neutral, fear (SEED-IV indices), so consecutive segments always differ. */
const DEMO_ORDER = [3, 1, 0, 2];

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function maxProbabilityDiff(probs: Float32Array[], logits: Float32Array, C: number): number {
  let max = 0;
  probs.forEach((p, i) => {
    const l = logits.subarray(i * C, (i + 1) * C);
    const m = Math.max(...l);
    const e = Array.from(l, (v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) max = Math.max(max, Math.abs(p[c]! - e[c]! / s));
  });
  return max;
}
