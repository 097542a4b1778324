/**
 * `cmcrd train`: one method × network × protocol on a dataset, over folds and seeds. Writes results.json,
 * results.csv, results.md, the student checkpoints (checkpoints/) and the cached teachers (teachers/) to --out.
 * The results are rewritten after every finished fold × seed run, so a run that is stopped (Ctrl-C, SIGTERM)
 * or killed keeps them, and `--resume` continues it. The option parsing here is shared with `cmcrd compare`.
 */
import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import type { Command } from 'commander';
import { customMontage, MUSE_MONTAGE } from '../../../firmware-bridge/montage/index.js';
import { DATASET_KINDS, loadDataset, selectMontage, type DatasetKind, type EmotionDataset, type LoadDatasetOptions } from '../../datasets/index.js';
import { initBackend, trainingStepsLine, type BackendName } from '../../train/backend.js';
import { readCheckpoint, type Checkpoint } from '../../train/checkpoint.js';
import { METHOD_NAMES, type MethodName } from '../../train/methods/index.js';
import { ARCH_NAMES, type ArchName } from '../../train/nets/index.js';
import { ENGINE_CHOICES, NonFiniteLossError, type EngineChoice } from '../../train/trainer.js';
import { PROTOCOLS, type NormalisationMode, type ProtocolName, type ValidationUnit } from '../../train/protocols.js';
import type { NegativePool } from '../../train/losses/index.js';
import { readRunResults, writeRunReport } from '../../train/report.js';
import { checkSuppliedTeacher, DEFAULT_HYPER, DEFAULT_SEEDS, ExperimentConfigError, runExperiment, usesTeacher, type Direction, type ExperimentOptions, type ExperimentResult, type MccMode, type PreviousRun, type RunEvent, type TrainHyper } from '../../train/run.js';
import { CliError } from '../main.js';
import { prepareOutDir } from '../paths.js';
import { Interrupt, progress, type Progress } from '../progress.js';
import { jobsFailed, runInJobs } from '../jobs.js';

/** Options shared by `train` and `compare` (everything but the method/arch choice and output). */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--dataset <kind>', `dataset: ${DATASET_KINDS.join(', ')}`)
    .requiredOption('--root <dir>', 'dataset folder (for synthetic: a folder written by `cmcrd dataset synth`)')
    .option('--protocol <p>', `evaluation protocol: ${PROTOCOLS.join(', ')}`, 'loso')
    .option('--folds <ids>', 'only these fold ids, comma-separated (e.g. s1,s2 for loso; s1-sess1 for within)')
    .option('--subjects <ids>', 'load only these subject ids, comma-separated')
    .option('--sessions <list>', 'load only these sessions, comma-separated')
    .option('--feature <name>', 'EEG feature key (SEED/SEED-IV), e.g. de_LDS, de_movingAve')
    .option('--montage <name>', 'train on a headband montage: muse, or custom:SITE,SITE,… (nearest cap channels)')
    .option('--seeds <list>', 'seeds, comma-separated', DEFAULT_SEEDS.join(','))
    .option('--epochs <n>', 'epochs per network', String(DEFAULT_HYPER.epochs))
    .option('--teacher-epochs <n>', 'epochs for the teacher (default: --epochs)')
    .option('--batch-size <n>', 'mini-batch size', String(DEFAULT_HYPER.batchSize))
    .option('--lr <x>', 'AdamW learning rate', String(DEFAULT_HYPER.lr))
    .option('--weight-decay <x>', 'AdamW weight decay', String(DEFAULT_HYPER.weightDecay))
    .option('--warmup <n>', 'linear warm-up epochs before the half-cosine', String(DEFAULT_HYPER.warmupEpochs))
    .option('--val-fraction <x>', 'fraction of training trials (per class) held out for early stopping; 0 keeps the last epoch', String(DEFAULT_HYPER.valFraction))
    .option('--val-by <unit>', 'validation split unit: trial (whole trials per class) or subject (whole training subjects; for loso)', 'trial')
    .option('--patience <n>', 'stop after this many epochs without validation improvement (default: run all epochs, keep the best)')
    .option('--lambda <x>', 'weight of the distillation loss (default: method.md λ of the method)')
    .option('--lambda-mcc <x>', "weight of the teacher's MCC term", '1')
    .option('--mcc <mode>', 'teacher MCC on the labelled batch (labelled), on unlabelled target-subject data (transductive), or off', 'labelled')
    .option('--direction <d>', 'eye-to-eeg (eye teacher, EEG student) or eeg-to-eye (the "vice versa" direction)', 'eye-to-eeg')
    .option('--normalise <mode>', 'z-score with training statistics (global) or per subject (per-subject; the held-out subject then uses its own unlabelled features)', 'global')
    .option('--teacher-arch <arch>', 'teacher network (default: the student network)')
    .option('--negatives <k>', 'CRD/CMCRD negatives per sample (default 1000, capped by the data)')
    .option('--negative-pool <pool>', "CRD/CMCRD negatives from 'other-class' samples (method.md, default) or 'any' other sample (ablation)")
    .option('--cmcrd-sign <on|off>', "CMCRD's unimodal-supervision sign: on (method.md, default) or off (ablation: no sample's NCE term is reversed)")
    .option('--teacher <checkpoint>', 'use this teacher checkpoint for every fold instead of training one')
    .option('--teacher-cache <dir>', 'where trained teachers are cached (default <out>/teachers)')
    .option('--backend <name>', 'tfjs backend: tensorflow, wasm or cpu (default: the best that loads)')
    .option('--resume', 'continue an interrupted run in --out: keep its finished fold × seed runs and train the rest (same settings; more --seeds or --folds may be added)')
    .option('--force', 'start afresh in a non-empty --out folder, replacing the earlier results there (without --resume or --force it is refused)')
    .option('--engine <e>', "what runs the networks' training steps: auto (the MLP's and DGCNN's forward and backward on onnxruntime-node where it loads, on the wasm or cpu backend; EEGNet-mini and the losses on tfjs) or tfjs (everything on tfjs)", 'auto')
    .option('--jobs <n>', 'run the folds in n parallel processes, one core each (same results as one process)', '1');
}

export interface CommonConfig {
  kind: DatasetKind;
  root: string;
  dataset: EmotionDataset;
  montage?: Checkpoint['montage'];
  base: Omit<ExperimentOptions, 'method' | 'arch' | 'dataset'>;
}

function intOpt(raw: Record<string, unknown>, key: string, flag: string, min: number): number | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag} must be an integer ≥ ${min}, got "${String(v)}"`);
  return n;
}

function numOpt(raw: Record<string, unknown>, key: string, flag: string, ok: (x: number) => boolean, what: string): number | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (String(v).trim() === '' || !Number.isFinite(n) || !ok(n)) throw new CliError(`${flag} must be ${what}, got "${String(v)}"`);
  return n;
}

function choice<T extends string>(v: unknown, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(String(v))) throw new CliError(`${flag} must be one of ${allowed.join(', ')}, got "${String(v)}"`);
  return v as T;
}

export function parseList(v: unknown): string[] {
  return String(v)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A list option names each entry once: a repeated seed or fold would be trained twice and counted twice. */
function unique<T extends string | number>(list: T[], flag: string): T[] {
  const seen = new Set<T>();
  for (const x of list) {
    if (seen.has(x)) throw new CliError(`${flag} lists "${x}" more than once`);
    seen.add(x);
  }
  return list;
}

export function parseMethods(v: unknown, flag: string): MethodName[] {
  const list = parseList(v);
  if (!list.length) throw new CliError(`${flag} is empty`);
  return unique(list.map((m) => choice(m, flag, METHOD_NAMES)), flag);
}

export function parseArchs(v: unknown, flag: string): ArchName[] {
  const list = parseList(v);
  if (!list.length) throw new CliError(`${flag} is empty`);
  return unique(list.map((a) => choice(a, flag, ARCH_NAMES)), flag);
}

/** Parse and check the shared options, load the data (montage applied) and the supplied teacher. */
export function commonConfig(raw: Record<string, unknown>, out: string, log: (l: string) => void): CommonConfig {
  const kind = choice(raw.dataset, '--dataset', DATASET_KINDS);
  const root = String(raw.root);
  const protocol = choice<ProtocolName>(raw.protocol, '--protocol', PROTOCOLS);
  const seeds = unique(
    parseList(raw.seeds).map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new CliError(`--seeds must be non-negative integers, got "${s}"`);
      return n;
    }),
    '--seeds',
  );
  if (!seeds.length) throw new CliError('--seeds is empty');
  const hyper: Partial<TrainHyper> = {
    epochs: intOpt(raw, 'epochs', '--epochs', 1)!,
    batchSize: intOpt(raw, 'batchSize', '--batch-size', 2)!,
    lr: numOpt(raw, 'lr', '--lr', (x) => x > 0, 'a positive number')!,
    weightDecay: numOpt(raw, 'weightDecay', '--weight-decay', (x) => x >= 0, 'a number ≥ 0')!,
    warmupEpochs: intOpt(raw, 'warmup', '--warmup', 0)!,
    valFraction: numOpt(raw, 'valFraction', '--val-fraction', (x) => x >= 0 && x < 1, 'a fraction in [0, 1)')!,
  };
  hyper.valBy = choice<ValidationUnit>(raw.valBy, '--val-by', ['trial', 'subject']);
  const patience = intOpt(raw, 'patience', '--patience', 1);
  if (patience !== undefined) hyper.patience = patience;
  const teacherEpochs = intOpt(raw, 'teacherEpochs', '--teacher-epochs', 1);
  const lambda = numOpt(raw, 'lambda', '--lambda', (x) => x >= 0, 'a number ≥ 0');
  const lambdaMcc = numOpt(raw, 'lambdaMcc', '--lambda-mcc', (x) => x >= 0, 'a number ≥ 0')!;
  const mcc = choice<MccMode>(raw.mcc, '--mcc', ['labelled', 'transductive', 'off']);
  const direction = choice<Direction>(raw.direction, '--direction', ['eye-to-eeg', 'eeg-to-eye']);
  const normalisation = choice<NormalisationMode>(raw.normalise, '--normalise', ['global', 'per-subject']);
  const engine = choice<EngineChoice>(raw.engine ?? 'auto', '--engine', ENGINE_CHOICES);
  const teacherArch = raw.teacherArch === undefined ? undefined : choice<ArchName>(raw.teacherArch, '--teacher-arch', ARCH_NAMES);
  const nNeg = intOpt(raw, 'negatives', '--negatives', 1);
  const negativePool = raw.negativePool === undefined ? undefined : choice<NegativePool>(raw.negativePool, '--negative-pool', ['other-class', 'any']);
  const cmcrdSign = raw.cmcrdSign === undefined ? undefined : choice<'on' | 'off'>(raw.cmcrdSign, '--cmcrd-sign', ['on', 'off']) === 'on';
  const loadOpts: LoadDatasetOptions = {};
  if (raw.subjects !== undefined) loadOpts.subjects = unique(parseList(raw.subjects), '--subjects');
  if (raw.sessions !== undefined) {
    loadOpts.sessions = unique(
      parseList(raw.sessions).map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 1) throw new CliError(`--sessions must be positive integers, got "${s}"`);
        return n;
      }),
      '--sessions',
    );
  }
  if (raw.feature !== undefined) loadOpts.feature = String(raw.feature);
  prepareOutDir(out, '--out', { reuse: raw.resume === true, force: raw.force === true, hint: 'or add --resume to continue the run in it' });
  if (raw.teacherCache !== undefined) prepareOutDir(String(raw.teacherCache), '--teacher-cache', { reuse: true });
  let dataset: EmotionDataset;
  try {
    dataset = loadDataset(kind, root, loadOpts);
  } catch (e) {
    throw new CliError(`--root ${root}: ${(e as Error).message}`);
  }
  if (!dataset.trials.length) throw new CliError(`--root ${root}: no trials loaded (check --subjects / --sessions)`);
  let montage: Checkpoint['montage'] | undefined;
  if (raw.montage !== undefined) {
    const spec = String(raw.montage);
    let m;
    try {
      m = spec === 'muse' ? MUSE_MONTAGE : spec.startsWith('custom:') ? customMontage('custom', parseList(spec.slice(7))) : null;
    } catch (e) {
      throw new CliError(`--montage ${spec}: ${(e as Error).message}`);
    }
    if (!m) throw new CliError(`--montage must be muse or custom:SITE,SITE,…, got "${spec}"`);
    const sel = selectMontage(dataset, m);
    dataset = sel.dataset;
    montage = { device: m.name, sites: sel.mapping.matches.map((x) => x.site), capChannels: sel.mapping.matches.map((x) => x.channel) };
    log(`montage ${m.name}: ${montage.sites.map((s, i) => `${s}→${montage!.capChannels[i]}`).join(', ')}`);
  }
  let teacherCheckpoint: Checkpoint | undefined;
  if (raw.teacher !== undefined) {
    try {
      teacherCheckpoint = readCheckpoint(String(raw.teacher));
    } catch (e) {
      throw new CliError(`--teacher: ${(e as Error).message}`);
    }
  }
  const base: CommonConfig['base'] = {
    engine,
    protocol,
    seeds,
    hyper,
    ...(teacherEpochs !== undefined ? { teacherHyper: { epochs: teacherEpochs } } : {}),
    ...(raw.folds !== undefined ? { folds: unique(parseList(raw.folds), '--folds') } : {}),
    ...(lambda !== undefined ? { lambda } : {}),
    lambdaMcc,
    mcc,
    direction,
    normalisation,
    ...(teacherArch ? { teacherArch } : {}),
    ...(nNeg !== undefined ? { nNeg } : {}),
    ...(negativePool ? { negativePool } : {}),
    ...(cmcrdSign !== undefined ? { cmcrdSign } : {}),
    ...(teacherCheckpoint ? { teacherCheckpoint } : {}),
    teacherCacheDir: raw.teacherCache !== undefined ? String(raw.teacherCache) : join(out, 'teachers'),
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
export function checkTeacherUpFront(cfg: CommonConfig, methods: readonly MethodName[], log: (l: string) => void): void {
  const teacher = cfg.base.teacherCheckpoint;
  if (!teacher) return;
  const direction = cfg.base.direction ?? 'eye-to-eeg';
  if (methods.every((m) => usesTeacher(m, direction) === 'none')) {
    log(`note: --teacher is not used: ${methods.length === 1 ? `method ${methods[0]} uses` : `methods ${methods.join(', ')} use`} no teacher`);
    return;
  }
  try {
    const run = { dataset: cfg.dataset, protocol: cfg.base.protocol, direction, teacher, ...(cfg.base.folds ? { folds: cfg.base.folds } : {}) };
    for (const note of checkSuppliedTeacher(run)) log(note);
  } catch (e) {
    if (e instanceof ExperimentConfigError) throw new CliError(e.message);
    throw e;
  }
}

/** With --resume, the earlier results in `dir` (none yet: start afresh, and say so); without, warn before replacing them. */
export function previousRun(raw: Record<string, unknown>, dir: string, log: (l: string) => void, prefix = ''): PreviousRun | undefined {
  const path = join(dir, 'results.json');
  if (!raw.resume) {
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

/** --jobs: how many processes run the folds (1 = this one). */
export function jobsOption(raw: Record<string, unknown>): number {
  return intOpt(raw, 'jobs', '--jobs', 1) ?? 1;
}

/** Start the tfjs backend and say what will run the training steps. */
export async function startBackend(raw: Record<string, unknown>, log: (l: string) => void): Promise<void> {
  const prefer = raw.backend === undefined ? undefined : choice<BackendName>(raw.backend, '--backend', ['tensorflow', 'wasm', 'cpu']);
  const engine = choice<EngineChoice>(raw.engine ?? 'auto', '--engine', ENGINE_CHOICES);
  let backend: BackendName;
  try {
    backend = await initBackend(prefer, log);
  } catch (e) {
    throw new CliError(`--backend ${String(raw.backend ?? '')}: ${(e as Error).message}`);
  }
  log(await trainingStepsLine(engine, backend));
}

/**
 * Where a run is (fold, seed, network), from its events, so a loss that becomes non-finite is reported with the
 * place it happened: `onEvent` passes the events on to `next`, `fail` turns the trainer's error into a CliError.
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
    else if (e.type === 'fold-done' && e.resumed) log(`${prefix}fold ${e.record.fold} seed ${e.record.seed} (${e.index}/${e.total}): kept from the earlier run, test accuracy ${(100 * e.record.accuracy).toFixed(1)} %`);
    else if (e.type === 'teacher' && e.damaged) log(`${prefix}  teacher: retrained, the cached file could not be read and was replaced (${e.damaged})`);
    else if (e.type === 'teacher' && e.source !== 'trained') log(`${prefix}  teacher: ${e.source}${e.path && e.source === 'disk' ? ` (${e.path})` : ''}`);
    else if (e.type === 'epoch') {
      if (e.info.epoch === 1 || !bar) {
        bar?.stop();
        bar = progress(`${prefix}  ${e.model.padEnd(7)}`, e.info.epochs);
      }
      bar.update(e.info.epoch, { loss: e.info.loss, acc: e.info.trainAccuracy, ...(e.info.valAccuracy !== null ? { val: e.info.valAccuracy } : {}) });
    } else if (e.type === 'fold-done') {
      bar?.stop();
      bar = null;
      const r = e.record;
      log(`${prefix}  → test accuracy ${(100 * r.accuracy).toFixed(1)} %, BCA ${(100 * r.bca).toFixed(1)} %${r.teacherAccuracy !== undefined ? ` (teacher ${(100 * r.teacherAccuracy).toFixed(1)} %)` : ''}, ${r.seconds.toFixed(1)} s`);
    }
  };
}

export function summaryLine(r: ExperimentResult): string {
  if (r.completed === 0) return `${r.config.method} · ${r.config.arch}: no finished fold × seed run (0/${r.planned})`;
  const s = r.summary;
  return `${r.config.method} · ${r.config.arch}: accuracy ${(100 * s.accuracy.mean).toFixed(2)} ± ${(100 * s.accuracy.std).toFixed(2)} %, BCA ${(100 * s.bca.mean).toFixed(2)} ± ${(100 * s.bca.std).toFixed(2)} % (${r.completed}/${r.planned} fold × seed runs)`;
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train and evaluate one method × network under a protocol (eye teacher → EEG student by default)')
    .option('--method <m>', `${METHOD_NAMES.join(', ')}`, 'cmcrd')
    .option('--arch <a>', `student network: ${ARCH_NAMES.join(', ')}`, 'mlp')
    .requiredOption('--out <dir>', 'output folder (results.json/csv/md, checkpoints/, teachers/)')
    .option('--no-checkpoints', 'do not write student checkpoints');
  addCommonOptions(cmd).action(async (raw: Record<string, unknown>) => {
    const log = (l: string) => process.stderr.write(l + '\n');
    const method = choice<MethodName>(raw.method, '--method', METHOD_NAMES);
    const arch = choice<ArchName>(raw.arch, '--arch', ARCH_NAMES);
    const out = String(raw.out);
    const jobs = jobsOption(raw);
    const cfg = commonConfig(raw, out, log);
    checkTeacherUpFront(cfg, [method], log);
    const resume = previousRun(raw, out, log);
    await startBackend(raw, log);
    const interrupt = new Interrupt();
    const checkpointDir = raw.checkpoints === false ? null : join(out, 'checkpoints');
    const tracker = runTracker(`${method} · ${arch}`, progressReporter('', log));
    let result: ExperimentResult;
    let failures: string[] = [];
    try {
      if (jobs > 1) {
        const done = await runInJobs({
          command: 'train',
          cmd,
          raw,
          out,
          jobs,
          cfg,
          cells: [{ method, arch, rel: '', checkpointDir, ...(resume ? { resume } : {}) }],
          log,
          interrupt,
        });
        result = done.results[0]!;
        failures = done.failures;
      } else result = await runExperiment({
        ...cfg.base,
        dataset: cfg.dataset,
        method,
        arch,
        checkpointDir,
        ...(resume ? { resume } : {}),
        interrupt,
        onEvent: tracker.onEvent,
        onPartial: (partial) => writeRunReport(out, partial),
      });
    } catch (e) {
      if (e instanceof ExperimentConfigError) throw new CliError(e.message);
      throw tracker.fail(e);
    } finally {
      interrupt.dispose();
    }
    const files = writeRunReport(out, result);
    log(summaryLine(result));
    log(`wrote ${files.join(', ')}`);
    process.stdout.write(JSON.stringify({ out, summary: { accuracy: result.summary.accuracy, bca: result.summary.bca }, completed: result.completed, planned: result.planned, interrupted: result.interrupted }) + '\n');
    if (failures.length) throw jobsFailed(out, failures);
    if (result.interrupted) throw new CliError(`interrupted: results of the ${result.completed} completed fold × seed runs were written to ${out} (the same command with --resume continues)`, interrupt.exitCode);
  });
}
