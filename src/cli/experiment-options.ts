/**
 * What `cmcrd train` and `cmcrd compare` share: the experiment options (dataset, protocol, hyper-parameters,
 * teacher, engine, --jobs), turning them into runExperiment's options with the data loaded, the up-front teacher
 * check, --resume's earlier results, the backend start, progress lines and the summary line. Option values are
 * checked while the command line is parsed (./options.ts); what needs the data is checked in experimentConfig.
 */
import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { Option, type Command } from 'commander';
import { customMontage, MUSE_MONTAGE } from '../../firmware-bridge/montage/index.js';
import {
  DATASET_KINDS,
  loadDataset,
  selectMontage,
  type DatasetKind,
  type EmotionDataset,
  type LoadDatasetOptions,
} from '../datasets/index.js';
import { initBackend, trainingStepsLine, type BackendName } from '../train/backend.js';
import { readCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import type { MethodName } from '../train/methods/index.js';
import { ARCH_NAMES, type ArchName } from '../train/nets/index.js';
import { ENGINE_CHOICES, NonFiniteLossError, type EngineChoice } from '../train/trainer.js';
import { PROTOCOLS, type NormalisationMode, type ProtocolName, type ValidationUnit } from '../train/protocols.js';
import type { NegativePool } from '../train/losses/index.js';
import { readRunResults } from '../train/report.js';
import {
  checkSuppliedTeacher,
  DEFAULT_HYPER,
  DEFAULT_SEEDS,
  ExperimentConfigError,
  usesTeacher,
  type Direction,
  type ExperimentOptions,
  type ExperimentResult,
  type MccMode,
  type PreviousRun,
  type RunEvent,
  type TrainHyper,
} from '../train/run.js';
import { SMOOTHING_NAMES, type SmoothingName } from '../../runtime/dsp/smooth.js';
import { CliError } from './errors.js';
import { cliMessage, flagOf } from './flags.js';
import { queueOption } from '../scale/queue-url.js';
import { anyEntry, choiceOption, intEntry, intOption, listOption, numberOption, splitList } from './options.js';
import { prepareOutDir } from './paths.js';
import { progress, type Progress } from './progress.js';

/** The parsed values of {@link addExperimentOptions}'s options, under commander's camel-cased keys. */
export type ExperimentFlags = {
  dataset: DatasetKind;
  root: string;
  protocol: ProtocolName;
  folds?: string[];
  subjects?: string[];
  sessions?: number[];
  feature?: string;
  smooth?: SmoothingName;
  montage?: string;
  seeds: number[];
  epochs: number;
  teacherEpochs?: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmup: number;
  valFraction: number;
  valBy: ValidationUnit;
  patience?: number;
  lambda?: number;
  lambdaMcc: number;
  mcc: MccMode;
  direction: Direction;
  normalise: NormalisationMode;
  teacherArch?: ArchName;
  negatives?: number;
  negativePool?: NegativePool;
  cmcrdSign?: 'on' | 'off';
  teacher?: string;
  teacherCache?: string;
  backend?: BackendName;
  resume?: boolean;
  force?: boolean;
  engine: EngineChoice;
  jobs: number;
  queue?: string;
  json?: boolean;
};

const MONTAGE_SYNTAX = /^(muse|custom:.*)$/;

/** Options shared by `train` and `compare` (everything but the method/arch choice and output). */
export function addExperimentOptions(cmd: Command): Command {
  const nonNegative = (flags: string, description: string, dflt?: number) => {
    const o = numberOption(flags, description, 'a number ≥ 0', (x) => x >= 0);
    return dflt === undefined ? o : o.default(dflt);
  };
  return cmd
    .addOption(choiceOption('--dataset <kind>', 'dataset', DATASET_KINDS).makeOptionMandatory())
    .requiredOption('--root <dir>', 'dataset folder (for synthetic: a folder written by `cmcrd dataset synth`)')
    .addOption(choiceOption('--protocol <p>', 'evaluation protocol', PROTOCOLS).default('loso'))
    .addOption(listOption('--folds <ids>', 'only these fold ids, comma-separated (e.g. s1,s2 for loso; s1-sess1 for within)', anyEntry))
    .addOption(listOption('--subjects <ids>', 'load only these subject ids, comma-separated', anyEntry))
    .addOption(listOption('--sessions <list>', 'load only these sessions, comma-separated', intEntry(1, 'positive integers')))
    .option('--feature <name>', 'EEG feature key (SEED/SEED-IV), e.g. de_LDS, de_movingAve; with --smooth just de or psd')
    .addOption(
      choiceOption(
        '--smooth <form>',
        'compute the EEG features from the raw EEG (SEED-IV eeg_raw_data, synthetic --raw) smoothed per trial with this form; lds-causal and moving-average-causal are what the device reproduces (docs/smoothing.md)',
        SMOOTHING_NAMES,
      ),
    )
    .addOption(
      new Option('--montage <name>', 'train on a headband montage: muse, or custom:SITE,SITE,… (nearest cap channels)').argParser(
        (v: string) => {
          if (!MONTAGE_SYNTAX.test(v)) throw new CliError(`--montage must be muse or custom:SITE,SITE,…, got ${JSON.stringify(v)}`);
          return v;
        },
      ),
    )
    .addOption(
      listOption('--seeds <list>', 'seeds, comma-separated', intEntry(0, 'non-negative integers')).default(
        [...DEFAULT_SEEDS],
        DEFAULT_SEEDS.join(','),
      ),
    )
    .addOption(intOption('--epochs <n>', 'epochs per network', 1).default(DEFAULT_HYPER.epochs))
    .addOption(intOption('--teacher-epochs <n>', 'epochs for the teacher (default: --epochs)', 1))
    .addOption(intOption('--batch-size <n>', 'mini-batch size', 2).default(DEFAULT_HYPER.batchSize))
    .addOption(numberOption('--lr <x>', 'AdamW learning rate', 'a positive number', (x) => x > 0).default(DEFAULT_HYPER.lr))
    .addOption(nonNegative('--weight-decay <x>', 'AdamW weight decay', DEFAULT_HYPER.weightDecay))
    .addOption(intOption('--warmup <n>', 'linear warm-up epochs before the half-cosine', 0).default(DEFAULT_HYPER.warmupEpochs))
    .addOption(
      numberOption(
        '--val-fraction <x>',
        'fraction of training trials (per class) held out for early stopping; 0 keeps the last epoch',
        'a fraction in [0, 1)',
        (x) => x >= 0 && x < 1,
      ).default(DEFAULT_HYPER.valFraction),
    )
    .addOption(
      choiceOption(
        '--val-by <unit>',
        'validation split unit: trial (whole trials per class) or subject (whole training subjects; for loso)',
        ['trial', 'subject'] as const,
      ).default('trial'),
    )
    .addOption(
      intOption('--patience <n>', 'stop after this many epochs without validation improvement (default: run all epochs, keep the best)', 1),
    )
    .addOption(nonNegative('--lambda <x>', 'weight of the distillation loss (default: method.md λ of the method)'))
    .addOption(nonNegative('--lambda-mcc <x>', "weight of the teacher's MCC term", 1))
    .addOption(
      choiceOption(
        '--mcc <mode>',
        'teacher MCC on the labelled batch (labelled), on unlabelled target-subject data (transductive), or off',
        ['labelled', 'transductive', 'off'] as const,
      ).default('labelled'),
    )
    .addOption(
      choiceOption('--direction <d>', 'eye-to-eeg (eye teacher, EEG student) or eeg-to-eye (the "vice versa" direction)', [
        'eye-to-eeg',
        'eeg-to-eye',
      ] as const).default('eye-to-eeg'),
    )
    .addOption(
      choiceOption(
        '--normalise <mode>',
        'z-score with training statistics (global) or per subject (per-subject; the held-out subject then uses its own unlabelled features)',
        ['global', 'per-subject'] as const,
      ).default('global'),
    )
    .addOption(choiceOption('--teacher-arch <arch>', 'teacher network (default: the student network)', ARCH_NAMES))
    .addOption(intOption('--negatives <k>', 'CRD/CMCRD negatives per sample (default 1000, capped by the data)', 1))
    .addOption(
      choiceOption(
        '--negative-pool <pool>',
        "CRD/CMCRD negatives from 'other-class' samples (method.md, default) or 'any' other sample (ablation)",
        ['other-class', 'any'] as const,
      ),
    )
    .addOption(
      choiceOption(
        '--cmcrd-sign <on|off>',
        "CMCRD's unimodal-supervision sign: on (method.md, default) or off (ablation: no sample's NCE term is reversed)",
        ['on', 'off'] as const,
      ),
    )
    .option('--teacher <checkpoint>', 'use this teacher checkpoint for every fold instead of training one')
    .option('--teacher-cache <dir>', 'where trained teachers are cached (default <out>/teachers)')
    .addOption(choiceOption('--backend <name>', 'tfjs backend (default: the best that loads)', ['tensorflow', 'wasm', 'cpu'] as const))
    .option(
      '--resume',
      'continue an interrupted run in --out: keep its finished fold × seed runs and train the rest (same settings; more --seeds or --folds may be added)',
    )
    .option(
      '--force',
      'start afresh in a non-empty --out folder, replacing the earlier results there (without --resume or --force it is refused)',
    )
    .addOption(
      choiceOption(
        '--engine <e>',
        "what runs the networks' training steps: auto (the MLP's and DGCNN's forward and backward on onnxruntime-node where it loads, on the wasm or cpu backend; EEGNet-mini and the losses on tfjs) or tfjs (everything on tfjs)",
        ENGINE_CHOICES,
      ).default('auto'),
    )
    .addOption(intOption('--jobs <n>', 'run the folds in n parallel processes, one core each (same results as one process)', 1).default(1))
    .addOption(queueOption())
    .option('--json', 'print one JSON document on stdout: the files written and the key figures (progress stays on stderr)');
}

export interface ExperimentConfig {
  kind: DatasetKind;
  root: string;
  dataset: EmotionDataset;
  montage?: Checkpoint['montage'];
  base: Omit<ExperimentOptions, 'method' | 'arch' | 'dataset'>;
}

/** A library's configuration error as a CLI error (exit 2), its message prefixed with `prefix`. */
export function configError(e: unknown, prefix = ''): unknown {
  return e instanceof ExperimentConfigError ? new CliError(prefix + cliMessage(e)) : e;
}

/** Check what needs the file system, load the data (montage applied) and the supplied teacher. */
export function experimentConfig(f: ExperimentFlags, out: string, log: (l: string) => void): ExperimentConfig {
  const { dataset: kind, root } = f;
  const hyper: Partial<TrainHyper> = {
    epochs: f.epochs,
    batchSize: f.batchSize,
    lr: f.lr,
    weightDecay: f.weightDecay,
    warmupEpochs: f.warmup,
    valFraction: f.valFraction,
    valBy: f.valBy,
    ...(f.patience !== undefined ? { patience: f.patience } : {}),
  };
  const loadOpts: LoadDatasetOptions = {
    ...(f.subjects !== undefined ? { subjects: f.subjects } : {}),
    ...(f.sessions !== undefined ? { sessions: f.sessions } : {}),
    ...(f.feature !== undefined ? { feature: f.feature } : {}),
    ...(f.smooth !== undefined ? { smooth: f.smooth } : {}),
  };
  prepareOutDir(out, '--out', { reuse: f.resume === true, force: f.force === true, hint: 'or add --resume to continue the run in it' });
  if (f.teacherCache !== undefined) prepareOutDir(f.teacherCache, '--teacher-cache', { reuse: true });
  let dataset: EmotionDataset;
  try {
    dataset = loadDataset(kind, root, loadOpts);
  } catch (e) {
    throw new CliError(`--root ${root}: ${cliMessage(e)}`);
  }
  if (!dataset.trials.length) throw new CliError(`--root ${root}: no trials loaded (check --subjects / --sessions)`);
  let montage: Checkpoint['montage'] | undefined;
  if (f.montage !== undefined) {
    const spec = f.montage;
    let m;
    try {
      m = spec === 'muse' ? MUSE_MONTAGE : customMontage('custom', splitList(spec.slice('custom:'.length)));
    } catch (e) {
      throw new CliError(`--montage ${spec}: ${(e as Error).message}`);
    }
    const sel = selectMontage(dataset, m);
    dataset = sel.dataset;
    montage = { device: m.name, sites: sel.mapping.matches.map((x) => x.site), capChannels: sel.mapping.matches.map((x) => x.channel) };
    log(`montage ${m.name}: ${montage.sites.map((s, i) => `${s}→${montage!.capChannels[i]}`).join(', ')}`);
  }
  let teacherCheckpoint: Checkpoint | undefined;
  if (f.teacher !== undefined) {
    try {
      teacherCheckpoint = readCheckpoint(f.teacher);
    } catch (e) {
      throw new CliError(`--teacher: ${(e as Error).message}`);
    }
  }
  const base: ExperimentConfig['base'] = {
    engine: f.engine,
    protocol: f.protocol,
    seeds: f.seeds,
    hyper,
    ...(f.teacherEpochs !== undefined ? { teacherHyper: { epochs: f.teacherEpochs } } : {}),
    ...(f.folds !== undefined ? { folds: f.folds } : {}),
    ...(f.lambda !== undefined ? { lambda: f.lambda } : {}),
    lambdaMcc: f.lambdaMcc,
    mcc: f.mcc,
    direction: f.direction,
    normalisation: f.normalise,
    ...(f.teacherArch ? { teacherArch: f.teacherArch } : {}),
    ...(f.negatives !== undefined ? { nNeg: f.negatives } : {}),
    ...(f.negativePool ? { negativePool: f.negativePool } : {}),
    ...(f.cmcrdSign !== undefined ? { cmcrdSign: f.cmcrdSign === 'on' } : {}),
    ...(teacherCheckpoint ? { teacherCheckpoint } : {}),
    teacherCacheDir: f.teacherCache ?? join(out, 'teachers'),
    ...(montage ? { montage } : {}),
    dataLabel: `${kind} (${resolve(root)})`,
  };
  return { kind, root, dataset, ...(montage ? { montage } : {}), base };
}

/**
 * A supplied --teacher checked against every planned fold (modality, features, classes, and no leak of any fold's
 * test trials) before anything else runs: the backend, the first fold, or --jobs children. runExperiment checks it
 * again (so does each child); this makes a refusal take a second, not the training of the folds before it.
 * Nothing to check when no method of the run uses the teacher (then it is ignored, and that is said).
 */
export function checkTeacherUpFront(cfg: ExperimentConfig, methods: readonly MethodName[], log: (l: string) => void): void {
  const teacher = cfg.base.teacherCheckpoint;
  if (!teacher) return;
  const direction = cfg.base.direction ?? 'eye-to-eeg';
  if (methods.every((m) => usesTeacher(m, direction) === 'none')) {
    log(
      `note: --teacher is not used: ${methods.length === 1 ? `method ${methods[0]} uses` : `methods ${methods.join(', ')} use`} no teacher`,
    );
    return;
  }
  try {
    const run = {
      dataset: cfg.dataset,
      protocol: cfg.base.protocol,
      direction,
      teacher,
      ...(cfg.base.folds ? { folds: cfg.base.folds } : {}),
    };
    for (const note of checkSuppliedTeacher(run)) log(`${flagOf('teacher')}: ${note}`);
  } catch (e) {
    throw configError(e);
  }
}

/** With --resume, the earlier results in `dir` (none yet: start afresh, and say so); without, warn before replacing them. */
export function previousRun(
  f: Pick<ExperimentFlags, 'resume'>,
  dir: string,
  log: (l: string) => void,
  prefix = '',
): PreviousRun | undefined {
  const path = join(dir, 'results.json');
  if (!f.resume) {
    if (existsSync(path)) log(`${prefix}note: replacing the earlier ${path} (--resume would keep its finished runs)`);
    return undefined;
  }
  let prev: PreviousRun | null;
  try {
    prev = readRunResults(path);
  } catch (e) {
    throw new CliError(`--resume: ${(e as Error).message}`);
  }
  if (!prev) log(`${prefix}--resume: no ${path} yet, starting afresh`);
  else log(`${prefix}--resume: keeping ${prev.folds.length} finished fold × seed run${prev.folds.length === 1 ? '' : 's'} from ${path}`);
  return prev ?? undefined;
}

/** Start the tfjs backend and say what will run the training steps. */
export async function startBackend(f: Pick<ExperimentFlags, 'backend' | 'engine'>, log: (l: string) => void): Promise<void> {
  let backend: BackendName;
  try {
    backend = await initBackend(f.backend, log);
  } catch (e) {
    throw new CliError(`--backend ${f.backend ?? ''}: ${(e as Error).message}`);
  }
  log(await trainingStepsLine(f.engine, backend));
}

/**
 * Where a run is (fold, seed, network), from its events, so a loss that becomes non-finite is reported with the
 * place it happened: `onEvent` passes the events on to `next`, `fail` turns the trainer's error into a CliError
 * (other errors are returned unchanged).
 */
export function runTracker(label: string, next: (e: RunEvent) => void): { onEvent: (e: RunEvent) => void; fail: (e: unknown) => unknown } {
  let where = '';
  return {
    onEvent: (e) => {
      if (e.type === 'fold-start') where = `fold ${e.fold} seed ${e.seed}`;
      else if (e.type === 'epoch') where = `fold ${e.fold} seed ${e.seed}, ${e.model}`;
      next(e);
    },
    fail: (e) => (e instanceof NonFiniteLossError ? new CliError(`${label}${where ? `, ${where}` : ''}: ${e.message}`) : e),
  };
}

/** Progress bars per trained network (loss, train/val accuracy per epoch) and one line per finished fold. */
export function progressReporter(prefix: string, log: (l: string) => void): (e: RunEvent) => void {
  let bar: Progress | null = null;
  return (e) => {
    if (e.type === 'fold-start') log(`${prefix}fold ${e.fold} seed ${e.seed} (${e.index + 1}/${e.total})`);
    else if (e.type === 'fold-done' && e.resumed)
      log(
        `${prefix}fold ${e.record.fold} seed ${e.record.seed} (${e.index}/${e.total}): kept from the earlier run, test accuracy ${(100 * e.record.accuracy).toFixed(1)} %`,
      );
    else if (e.type === 'teacher' && e.damaged)
      log(`${prefix}  teacher: retrained, the cached file could not be read and was replaced (${e.damaged})`);
    else if (e.type === 'teacher' && e.source !== 'trained')
      log(`${prefix}  teacher: ${e.source}${e.path && e.source === 'disk' ? ` (${e.path})` : ''}`);
    else if (e.type === 'epoch') {
      if (e.info.epoch === 1 || !bar) {
        bar?.stop();
        bar = progress(`${prefix}  ${e.model.padEnd(7)}`, e.info.epochs);
      }
      bar.update(e.info.epoch, {
        loss: e.info.loss,
        acc: e.info.trainAccuracy,
        ...(e.info.valAccuracy !== null ? { val: e.info.valAccuracy } : {}),
      });
    } else if (e.type === 'fold-done') {
      bar?.stop();
      bar = null;
      const r = e.record;
      log(
        `${prefix}  → test accuracy ${(100 * r.accuracy).toFixed(1)} %, BCA ${(100 * r.bca).toFixed(1)} %${r.teacherAccuracy !== undefined ? ` (teacher ${(100 * r.teacherAccuracy).toFixed(1)} %)` : ''}, ${r.seconds.toFixed(1)} s`,
      );
    }
  };
}

export function summaryLine(r: ExperimentResult): string {
  if (r.completed === 0) return `${r.config.method} · ${r.config.arch}: no finished fold × seed run (0/${r.planned})`;
  const s = r.summary;
  return `${r.config.method} · ${r.config.arch}: accuracy ${(100 * s.accuracy.mean).toFixed(2)} ± ${(100 * s.accuracy.std).toFixed(2)} %, BCA ${(100 * s.bca.mean).toFixed(2)} ± ${(100 * s.bca.std).toFixed(2)} % (${r.completed}/${r.planned} fold × seed runs)`;
}
