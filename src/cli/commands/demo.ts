/**
 * `cmcrd demo` (= `npm start`): the whole journey on the embedded default — synthetic paired data, an eye
 * teacher and EEG-only, KD and CMCRD students for the Muse montage (trained by the experiment code of
 * `cmcrd train`, src/demo/train.ts), the CMCRD student exported to ONNX with a parity check, and a closed loop
 * through a virtual Muse that speaks the real byte protocol. Progress on stderr; one JSON line per prediction
 * and a final summary line on stdout.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import type { Command } from 'commander';
import { defaultWorld, DEFAULT_WORLD_SEED } from '../../../firmware-bridge/sim/wearer-model.js';
import { exportOnnx } from '../../../export/onnx-export.js';
import { serialiseCheckpoint } from '../../../export/checkpoint.js';
import { loadOnnxClassifier } from '../../../runtime/infer/onnx.node.js';
import * as ort from 'onnxruntime-node';
import { initBackend, trainingStepsLine } from '../../train/backend.js';
import { ARCH_NAMES, type ArchName } from '../../train/nets/index.js';
import { MUSE_MONTAGE } from '../../../firmware-bridge/montage/index.js';
import { checkParity, ortSessionLoader } from '../../../export/parity.js';
import { checkpointProbabilities } from '../../train/run.js';
import { NonFiniteLossError } from '../../train/trainer.js';
import { PAIRED_NFFT, syntheticPairedDataset } from '../../synthetic/paired.js';
import { runClosedLoop } from '../../demo/closed-loop.js';
import { DEMO_STUDENTS, trainDemoModels, type DemoStudent } from '../../demo/train.js';
import { CliError } from '../errors.js';
import { configError } from '../experiment-options.js';
import { choiceOption, intOption, numberOption } from '../options.js';
import { prepareOutDir } from '../paths.js';
import { Interrupt, progress } from '../progress.js';

type DemoFlags = {
  out: string;
  subjects: number;
  windowsPerTrial: number;
  epochs: number;
  seed: number;
  arch: ArchName;
  segment: number;
  cycles: number;
  speed: number;
  drop: number;
  ship: DemoStudent;
  force?: boolean;
};

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
    .addOption(
      numberOption('--speed <x>', 'virtual headband speed (virtual seconds per real second)', 'a number ≥ 0.1', (x) => x >= 0.1).default(
        16,
      ),
    )
    .addOption(
      numberOption(
        '--drop <p>',
        'probability that the virtual headband loses a notification (radio loss)',
        'a probability in [0, 1)',
        (x) => x >= 0 && x < 1,
      ).default(0),
    )
    .addOption(choiceOption('--ship <method>', 'student exported and run in the closed loop', DEMO_STUDENTS).default('cmcrd'))
    .option('--force', 'write into a non-empty --out folder (its files of the same names are replaced)')
    .action(async (raw: DemoFlags, cmd: Command) => {
      const { subjects, windowsPerTrial, epochs, seed, segment: segmentSec, cycles, speed, drop, arch, ship } = raw;
      // Before training, so a bad --out fails in a second. The default folder of `npm start` moves on to
      // runs/demo-2, -3, … when an earlier demo is there, rather than refusing or replacing it.
      if (cmd.getOptionValueSource('out') === 'default' && !raw.force) {
        const given = raw.out;
        raw.out = freeFolder(given);
        if (raw.out !== given)
          process.stderr.write(
            `note: ${given} holds an earlier demo; writing to ${raw.out} (--out chooses the folder, --force replaces)\n`,
          );
      }
      prepareOutDir(raw.out, '--out', { force: !!raw.force });
      const interrupt = new Interrupt();
      const log = (l: string) => process.stderr.write(l + '\n');
      const t0 = performance.now();
      try {
        log(await trainingStepsLine('auto', await initBackend(undefined, log)));
        const world = defaultWorld();
        log(
          `[1/5] data: ${subjects} synthetic subjects × 24 trials × ${windowsPerTrial} windows, 62-channel raw EEG at 200 Hz + 31 eye features (world seed ${DEFAULT_WORLD_SEED})`,
        );
        const bar = progress('  generating trials', subjects * 24);
        const dataset = syntheticPairedDataset({
          world,
          subjects: Array.from({ length: subjects }, (_, i) => i),
          windowsPerTrial,
          onTrial: (d) => bar.update(d),
        });
        bar.stop();
        const heldOut = [String(subjects - 2), String(subjects - 1)];
        const windows = dataset.trials.reduce((n, t) => n + t.windows, 0);
        log(`[2/5] features: SEED-lab DE (4-s windows, nfft ${PAIRED_NFFT}, 5 bands) computed by runtime/dsp; ${windows} windows`);
        log(
          `[3/5] training (held-out subjects ${heldOut.join(', ')}): eye teacher, then EEG-only, KD and CMCRD students on the Muse montage (${arch}), with the experiment code of \`cmcrd train\``,
        );
        const bars = new Map<string, ReturnType<typeof progress>>();
        let where = ''; // the network in training, to name it if its loss becomes non-finite
        const trained = await trainDemoModels({
          dataset,
          montage: MUSE_MONTAGE,
          heldOut,
          arch,
          epochs,
          seed,
          dataLabel: `synthetic people (world seed ${DEFAULT_WORLD_SEED}, in memory)`,
          interrupt,
          onEvent(model, e) {
            if (e.type !== 'epoch') return;
            where = `${model} (${arch}), fold ${e.fold} seed ${e.seed}`;
            const info = e.info;
            let b = bars.get(model);
            if (!b) bars.set(model, (b = progress(`  ${model.padEnd(8)}`, info.epochs)));
            b.update(info.epoch, { loss: info.loss, acc: info.trainAccuracy, val: info.valAccuracy ?? NaN });
            if (info.epoch === info.epochs) b.stop();
          },
        }).catch((e: unknown) => {
          if (e instanceof NonFiniteLossError) throw new CliError(`demo ${where}: ${e.message}`);
          throw configError(e);
        });
        for (const b of bars.values()) b.stop();
        if (trained.interrupted) throw new CliError('interrupted during training; nothing exported', interrupt.exitCode);
        const acc = trained.accuracy;
        log(
          `      held-out accuracy (fold ${trained.fold}, ${trained.windows.test} windows): teacher (eye) ${pct(acc.teacher)}, EEG-only ${pct(acc['eeg-only'])}, KD ${pct(acc.kd)}, CMCRD ${pct(acc.cmcrd)} (chance ${pct(1 / dataset.meta.classNames.length)})`,
        );
        writeFileAtomic(join(raw.out, 'teacher.json'), serialiseCheckpoint(trained.teacher));
        for (const m of DEMO_STUDENTS) writeFileAtomic(join(raw.out, `student-${m}.json`), serialiseCheckpoint(trained.students[m]));

        const shipped = trained.students[ship];
        log(`[4/5] export: ${SHIP_NAMES[ship]} student (${arch}) → fp32 ONNX (BatchNorm folded, model card in metadata_props)`);
        const onnxBytes = exportOnnx(shipped);
        const onnxPath = join(raw.out!, 'student.onnx');
        writeFileAtomic(onnxPath, onnxBytes);
        const parity = await checkParity(onnxBytes, (rows) => checkpointProbabilities(shipped, rows), trained.testRows, {
          loadSession: ortSessionLoader(ort),
        });
        log(
          `      ${onnxPath}: ${onnxBytes.length} bytes; onnxruntime-node vs tfjs on ${parity.rows} held-out windows: max |Δp| = ${parity.maxAbsDiff.toExponential(2)}, same class on ${pct(parity.argmaxAgreement)}`,
        );
        if (!parity.passed) throw new Error(`export parity failed: max |Δp| = ${parity.maxAbsDiff}`);
        const classifier = await loadOnnxClassifier(onnxBytes, onnxPath);

        const classes = dataset.meta.classNames;
        const schedule = Array.from({ length: cycles * classes.length }, (_, i) => DEMO_ORDER[i % DEMO_ORDER.length]! % classes.length);
        const wearer = subjects; // a person not in the dataset at all
        log(
          `[5/5] closed loop: virtual Muse (subject ${wearer}, unseen) → 20-byte EEG notifications → decode → reassemble → 256→200 Hz → DE → ONNX (${SHIP_NAMES[ship]}); emotion changes every ${segmentSec} s: ${schedule.map((c) => classes[c]).join(' → ')} (speed ×${speed})`,
        );
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
                probabilities:
                  p.probabilities && Object.fromEntries(Object.entries(p.probabilities).map(([k, v]) => [k, Number(v.toFixed(4))])),
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
          shipped: ship,
          heldOutAccuracy: { teacher: acc.teacher, eegOnly: acc['eeg-only'], kd: acc.kd, cmcrd: acc.cmcrd },
          closedLoop: {
            accuracy: loop.accuracy,
            scoredWindows: loop.scored,
            correct: loop.correct,
            chance: 1 / classes.length,
            skippedWindows: loop.stats.skipped,
            lostSamples: loop.stats.lostSamples,
            filledSamples: loop.stats.filledSamples,
            decodeErrors: loop.stats.decodeErrors,
          },
          battery: { start: Number(loop.batteryStart.toFixed(2)), end: Number(loop.batteryEnd.toFixed(2)) },
          onnx: { path: onnxPath, bytes: onnxBytes.length, maxProbabilityDiff: parity.maxAbsDiff, argmaxAgreement: parity.argmaxAgreement },
          seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
        };
        writeFileAtomic(join(raw.out!, 'demo-report.json'), JSON.stringify(summary, null, 2));
        process.stdout.write(JSON.stringify(summary) + '\n');
        log(
          `closed-loop accuracy of the ${SHIP_NAMES[ship]} student ${pct(loop.accuracy)} over ${loop.scored} windows (chance ${pct(1 / classes.length)}); report in ${join(raw.out!, 'demo-report.json')} (${summary.seconds} s)`,
        );
      } finally {
        interrupt.dispose();
      }
    });
}

const SHIP_NAMES: Record<DemoStudent, string> = { cmcrd: 'CMCRD', kd: 'KD', 'eeg-only': 'EEG-only' };

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
