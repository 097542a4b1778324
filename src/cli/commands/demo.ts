/**
 * `cmcrd demo` (= `npm start`): the whole journey on the embedded default — synthetic paired data, an eye
 * teacher and a distilled EEG student for the Muse montage, ONNX export with a parity check, and a closed
 * loop through a virtual Muse that speaks the real byte protocol. Progress on stderr; one JSON line per
 * prediction and a final summary line on stdout.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
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
import { CliError } from '../main.js';
import { prepareOutDir } from '../paths.js';
import { Interrupt, progress } from '../progress.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the end-to-end demo on synthetic data and a virtual Muse (what `npm start` runs)')
    .option('--out <dir>', 'where checkpoints, the ONNX model and the report go', 'runs/demo')
    .option('--subjects <n>', 'synthetic subjects (the last two are held out for testing)', '10')
    .option('--windows-per-trial <n>', '4-s windows per trial (24 trials per subject)', '8')
    .option('--epochs <n>', 'training epochs per model', '30')
    .option('--seed <n>', 'training seed', '2022')
    .option('--arch <a>', `network for the teacher and the students: ${ARCH_NAMES.join(', ')}`, 'mlp')
    .option('--segment <s>', 'seconds the virtual wearer stays in each emotion', '24')
    .option('--cycles <n>', 'times the closed loop cycles through all emotions', '2')
    .option('--speed <x>', 'virtual headband speed (virtual seconds per real second)', '16')
    .option('--drop <p>', 'probability that the virtual headband loses a notification (radio loss)', '0')
    .option('--force', 'write into a non-empty --out folder (its files of the same names are replaced)')
    .action(async (raw: Record<string, string>, cmd: Command) => {
      const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
      const num = (k: string, min: number) => {
        const v = Number(raw[k]);
        if (String(raw[k]).trim() === '' || !Number.isFinite(v) || v < min) throw new CliError(`${flag(k)} must be a number ≥ ${min}, got ${JSON.stringify(raw[k])}`);
        return v;
      };
      // Counts are rejected, not rounded, when fractional (same rule and message as `cmcrd train`).
      const int = (k: string, min: number) => {
        const v = Number(raw[k]);
        if (String(raw[k]).trim() === '' || !Number.isInteger(v) || v < min) throw new CliError(`${flag(k)} must be an integer ≥ ${min}, got ${JSON.stringify(raw[k])}`);
        return v;
      };
      const subjects = int('subjects', 3);
      const windowsPerTrial = int('windowsPerTrial', 1);
      const epochs = int('epochs', 1);
      const seed = int('seed', 0);
      const segmentSec = num('segment', 8);
      const cycles = int('cycles', 1);
      const speed = num('speed', 0.1);
      const drop = num('drop', 0);
      if (drop >= 1) throw new CliError(`--drop must be a probability below 1, got ${raw.drop}`);
      const arch = raw.arch as ArchName;
      if (!ARCH_NAMES.includes(arch)) throw new CliError(`--arch must be one of ${ARCH_NAMES.join(', ')}, got ${JSON.stringify(raw.arch)}`);
      // Before training, so a bad --out fails in a second. The default folder of `npm start` moves on to
      // runs/demo-2, -3, … when an earlier demo is there, rather than refusing or replacing it.
      if (cmd.getOptionValueSource('out') === 'default' && !raw.force) {
        const given = raw.out!;
        raw.out = freeFolder(given);
        if (raw.out !== given) process.stderr.write(`note: ${given} holds an earlier demo; writing to ${raw.out} (--out chooses the folder, --force replaces)\n`);
      }
      prepareOutDir(raw.out!, '--out', { force: !!raw.force });
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
          writeFileAtomic(join(raw.out!, `${name}.json`), serialiseCheckpoint(ck));
        }

        log(`[4/5] export: KD student (${arch}) → fp32 ONNX (BatchNorm folded, model card in metadata_props)`);
        const onnxBytes = exportOnnx(trained.kd);
        const onnxPath = join(raw.out!, 'student.onnx');
        writeFileAtomic(onnxPath, onnxBytes);
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
        writeFileAtomic(join(raw.out!, 'demo-report.json'), JSON.stringify(summary, null, 2));
        process.stdout.write(JSON.stringify(summary) + '\n');
        log(`closed-loop accuracy ${pct(loop.accuracy)} over ${loop.scored} windows (chance ${pct(1 / dataset.classes.length)}); report in ${join(raw.out!, 'demo-report.json')} (${summary.seconds} s)`);
      } finally {
        interrupt.dispose();
      }
    });
}

/** `dir` if it is missing or empty, else the first of dir-2, dir-3, … that is. */
export function freeFolder(dir: string): string {
  const free = (d: string) => {
    try {
      return readdirSync(d).length === 0;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT';
    }
  };
  if (free(dir)) return dir;
  for (let k = 2; ; k++) if (free(`${dir}-${k}`)) return `${dir}-${k}`;
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
