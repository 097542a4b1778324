/**
 * Synthetic datasets in the real layouts (SEED-IV MAT files, SEED-V npz-of-pickles), so the readers and
 * everything downstream run end to end without the licence-gated downloads.
 *
 * Signals come from the project's generative model (firmware-bridge/sim/wearer-model.ts): raw 62-channel
 * EEG at 200 Hz and per-window eye features. EEG feature files are computed from that raw signal with the
 * runtime's feature code (rawTrialFeatures), so eeg_feature_smooth is consistent with eeg_raw_data.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EmotionWorld, synthesizeTrial, WORLD_DEFAULTS, type WorldOptions } from '../../firmware-bridge/sim/wearer-model.js';
import { makeDirs, writeFileAtomic } from '../io/atomic.js';
import { writeMat, type MatWritable } from '../io/mat.js';
import type { NdArray } from '../io/ndarray.js';
import { writeNpz } from '../io/npy.js';
import { pickleDictOfArrays } from '../io/pickle.js';
import {
  CHANNELS_62,
  SEED_IV_CLASSES,
  SEED_IV_EYE_FEATURES,
  SEED_IV_FEATURES,
  SEED_IV_FS,
  SEED_IV_LABELS,
  SEED_IV_TRIALS,
  SEED_IV_WINDOW_SEC,
  SEED_V_CLASSES,
  SEED_V_EYE_FEATURES,
  SEED_V_LABELS,
  SEED_V_TRIALS,
  SEED_V_WINDOW_SEC,
  SYNTHETIC_MANIFEST,
} from './layouts.js';
import { rawTrialFeatures } from './raw-features.js';
import { option, optionText, OptionError } from '../train/errors.js';

export type SynthLayout = 'seed-iv' | 'seed-v';

export interface SynthOptions {
  layout: SynthLayout;
  /** Output folder: must not exist yet or be empty (otherwise SynthOutputError; nothing is written). */
  out: string;
  /** Default 2. */
  subjects?: number;
  /** 1..3, default 2. */
  sessions?: number;
  /** Windows per trial (default 3). With `varyWindows`, the mean of a spread of trial lengths. */
  windowsPerTrial?: number;
  /** Give trials different lengths (base ± up to 40 %), like the real recordings. Default false. */
  varyWindows?: boolean;
  /** World seed (default 2022). */
  seed?: number;
  /** Overrides of the generative model's parameters (docs/synthetic-model.md); recorded in the manifest. */
  model?: Omit<WorldOptions, 'seed' | 'classes'>;
  /** SEED-IV: also write eeg_raw_data (big: 62 × windows·800 float64 per trial). */
  raw?: boolean;
  /** zlib-compress MAT variables (default true, like MATLAB -v7). */
  compress?: boolean;
  onProgress?: (done: number, total: number, what: string) => void;
  /** Checked between trials; return true to stop early (already written files stay valid). */
  shouldStop?: () => boolean;
}

export interface SynthResult {
  files: string[];
  subjects: number;
  sessions: number;
  trials: number;
  windows: number;
  stopped: boolean;
}

/** The full-size preset (SEED-IV: 15 subjects × 3 sessions, ~35 windows per trial as in the release). */
export const FULL_SIZE: Pick<SynthOptions, 'subjects' | 'sessions' | 'windowsPerTrial' | 'varyWindows'> = {
  subjects: 15,
  sessions: 3,
  windowsPerTrial: 35,
  varyWindows: true,
};

/** Deterministic trial length: base, or base ± 40 % by a hash of (subject, session, trial). */
export function trialWindows(base: number, vary: boolean, subject: number, session: number, trial: number): number {
  if (!vary) return base;
  let h = (subject * 73856093) ^ (session * 19349663) ^ (trial * 83492791);
  h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
  const u = (h % 1001) / 1000; // 0..1
  return Math.max(1, Math.round(base * (0.6 + 0.8 * u)));
}

function sessionDate(session: number): string {
  return `2018${String(2 + session).padStart(2, '0')}1${session}`;
}

/** `synthesize` was pointed at an output path it must not write into; the message names the path. */
export class SynthOutputError extends Error {
  constructor(
    readonly dir: string,
    message: string,
  ) {
    super(`${dir}: ${message}`);
    this.name = 'SynthOutputError';
  }
}

/**
 * Refuse an output path that is a file or a non-empty folder. Writing into a previous dataset's folder would
 * overwrite some of its files and keep the rest (extra subjects, sessions, the other layout), and loaders would
 * read the mix as one dataset. We never delete anything: the user picks a new folder or removes the old one.
 */
function checkOutputFolder(dir: string): void {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new SynthOutputError(dir, 'exists and is a file, not a folder; choose a new output folder');
    entries = readdirSync(dir);
  } catch (err) {
    if (err instanceof SynthOutputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // created below
    if (code === 'ENOTDIR')
      throw new SynthOutputError(dir, 'a file is in the way (a part of the path is a file, not a folder); choose a new output folder');
    throw new SynthOutputError(dir, `cannot use this folder (${code ?? (err as Error).message})`);
  }
  if (entries.length === 0) return;
  const shown = entries.sort().slice(0, 4).join(', ') + (entries.length > 4 ? ', …' : '');
  throw new SynthOutputError(
    dir,
    `folder exists and is not empty (${shown}); synthesising into it would mix the new dataset with these files. ` +
      'Choose a new output folder, or delete this one yourself first if you no longer need it',
  );
}

/** Hard bounds on the counts (a real SEED-family release has 15–16 subjects and ~35 windows per trial). */
export const SYNTH_LIMITS = { subjects: 1000, windowsPerTrial: 1000, seed: 2 ** 32 - 1 } as const;

/** Overridable generative-model parameters (the CLI's model option). */
export type ModelParameters = Omit<WorldOptions, 'seed' | 'classes'>;

/**
 * Allowed range of every generative-model parameter (each element, for the gain arrays): up to about three
 * times the defaults, where every combination keeps ln band power well inside float32 (all parameters at
 * their maxima give DE features below ~80 and eye features below ~60; beyond, exp(ln P) and the PSD features
 * overflow). Values outside are refused naming the parameter; values inside are still checked after synthesis.
 */
export const MODEL_PARAMETER_RANGES: Readonly<Record<keyof ModelParameters, { min: number; max: number; integer?: boolean }>> = {
  latentDims: { min: 1, max: 12, integer: true },
  separation: { min: 0, max: 3 },
  eegEffect: { min: 0, max: 1 },
  eegNoise: { min: 0, max: 1 },
  subjectEffectJitter: { min: 0, max: 1 },
  eyeNoise: { min: 0, max: 10 },
  trialJitter: { min: 0, max: 1 },
  drift: { min: 0, max: 1 },
  engagementMean: { min: 0, max: 1 },
  engagementStd: { min: 0, max: 1 },
  eegLatentGain: { min: 0, max: 1.5 },
  eyeLatentGain: { min: 0, max: 1.5 },
};

/** The model parameters were out of range, or made the model produce non-finite values; the message names them. */
export class SynthModelError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'SynthModelError';
  }
}

/**
 * Check generative-model overrides: known names, finite numbers (arrays for the gains) inside
 * {@link MODEL_PARAMETER_RANGES}. Throws SynthModelError naming the parameter.
 */
export function checkModelParameters(model: Readonly<Record<string, unknown>>): ModelParameters {
  const out: Record<string, number | number[]> = {};
  for (const [key, val] of Object.entries(model)) {
    if (val === undefined) continue;
    if (!(key in WORLD_DEFAULTS))
      throw new SynthModelError(`unknown model parameter "${key}" (known: ${Object.keys(WORLD_DEFAULTS).join(', ')})`);
    const r = MODEL_PARAMETER_RANGES[key as keyof ModelParameters];
    const range = `${r.integer ? 'an integer ' : ''}in [${r.min}, ${r.max}]`;
    const isArray = Array.isArray(WORLD_DEFAULTS[key as keyof typeof WORLD_DEFAULTS]);
    const values = isArray ? val : [val];
    if (!Array.isArray(values) || !values.every((x) => typeof x === 'number')) {
      throw new SynthModelError(
        `model parameter "${key}" must be ${isArray ? 'an array of numbers' : 'a number'}, got ${JSON.stringify(val)}`,
      );
    }
    (values as number[]).forEach((x, i) => {
      if (!(Number.isFinite(x) && x >= r.min && x <= r.max && (!r.integer || Number.isInteger(x)))) {
        throw new SynthModelError(
          `model parameter "${key}"${isArray ? `[${i}]` : ''} = ${x} is out of range: expected ${range} (docs/synthetic-model.md)`,
        );
      }
    });
    out[key] = isArray ? [...(values as number[])] : (val as number);
  }
  return out as ModelParameters;
}

/** Check the counts of a synth run (OptionError naming the field). */
function checkCounts(subjects: number, sessions: number, base: number, seed: number): void {
  if (!(Number.isInteger(subjects) && subjects >= 1 && subjects <= SYNTH_LIMITS.subjects))
    throw new OptionError('subjects', optionText`${option('subjects')} must be an integer 1–${SYNTH_LIMITS.subjects}, got ${subjects}`);
  if (!(Number.isInteger(sessions) && sessions >= 1 && sessions <= 3))
    throw new OptionError('sessions', optionText`${option('sessions')} must be 1, 2 or 3, got ${sessions}`);
  if (!(Number.isInteger(base) && base >= 1 && base <= SYNTH_LIMITS.windowsPerTrial))
    throw new OptionError(
      'windowsPerTrial',
      optionText`${option('windowsPerTrial')} must be an integer 1–${SYNTH_LIMITS.windowsPerTrial}, got ${base}`,
    );
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= SYNTH_LIMITS.seed))
    throw new OptionError('seed', optionText`${option('seed')} must be an integer 0–${SYNTH_LIMITS.seed}, got ${seed}`);
}

export interface SynthEstimate {
  files: number;
  trials: number;
  windows: number;
  /** Upper estimate of the bytes written (uncompressed float64 data and container overhead). */
  bytes: number;
}

/** What a synth run would write, computed from the options alone (nothing is synthesised). */
export function estimateSynth(
  o: Pick<SynthOptions, 'layout' | 'subjects' | 'sessions' | 'windowsPerTrial' | 'varyWindows' | 'raw' | 'seed'>,
): SynthEstimate {
  const subjects = o.subjects ?? 2;
  const sessions = o.sessions ?? 2;
  const base = o.windowsPerTrial ?? 3;
  checkCounts(subjects, sessions, base, o.seed ?? 2022);
  const iv = o.layout === 'seed-iv';
  const trialsPerSession = iv ? SEED_IV_TRIALS : SEED_V_TRIALS;
  const C = CHANNELS_62.length;
  let windows = 0;
  // Trial lengths depend on (subject, session, trial) only; with varied lengths they are summed exactly.
  if (!o.varyWindows) windows = subjects * sessions * trialsPerSession * base;
  else
    for (let s = 1; s <= subjects; s++)
      for (let x = 1; x <= sessions; x++) for (let t = 1; t <= trialsPerSession; t++) windows += trialWindows(base, true, s, x, t);
  const trials = subjects * sessions * trialsPerSession;
  const perWindow = iv
    ? SEED_IV_FEATURES.length * C * 5 * 8 + SEED_IV_EYE_FEATURES * 8 + (o.raw ? C * SEED_IV_FS * SEED_IV_WINDOW_SEC * 8 : 0)
    : (C * 5 + SEED_V_EYE_FEATURES + 2) * 8;
  const perTrial = iv ? (SEED_IV_FEATURES.length + 1 + (o.raw ? 1 : 0)) * 200 : 2 * 300; // headers, names, pickle opcodes
  const files = iv ? subjects * sessions * (o.raw ? 3 : 2) : subjects * 2;
  return { files, trials, windows, bytes: windows * perWindow + trials * perTrial + files * 512 + 1024 };
}

/**
 * Written at the start as {"partial": true, …} and rewritten at the end: a folder whose SYNTHETIC.json still says
 * partial without "stopped" was killed mid-run (or is being written), and loaders refuse it; a run stopped by
 * Ctrl-C / SIGTERM ends with "partial": true, "stopped": true, and holds complete files for fewer subjects.
 */
function writeManifest(out: string, m: Record<string, unknown>): void {
  writeFileAtomic(join(out, SYNTHETIC_MANIFEST), JSON.stringify(m, null, 2) + '\n');
}

/** Write a synthetic dataset (synchronously; see {@link synthesizeAsync} for a run that can be interrupted). */
export function synthesize(o: SynthOptions): SynthResult {
  const steps = synthSteps(o);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * {@link synthesize}, yielding to the event loop after every trial, so a SIGINT / SIGTERM handler (or a UI) runs
 * and `shouldStop` can end the run between trials.
 */
export async function synthesizeAsync(o: SynthOptions): Promise<SynthResult> {
  const steps = synthSteps(o);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function* synthSteps(o: SynthOptions): Generator<void, SynthResult> {
  const subjects = o.subjects ?? 2;
  const sessions = o.sessions ?? 2;
  const base = o.windowsPerTrial ?? 3;
  const vary = o.varyWindows ?? false;
  const seed = o.seed ?? 2022;
  checkCounts(subjects, sessions, base, seed);
  if (o.raw && o.layout !== 'seed-iv')
    throw new OptionError('raw', optionText`${option('raw')} is only available for the seed-iv layout (SEED-V releases no raw EEG)`);
  const model = o.model ? checkModelParameters(o.model as Record<string, unknown>) : undefined;
  const classes = o.layout === 'seed-iv' ? SEED_IV_CLASSES : SEED_V_CLASSES;
  checkOutputFolder(o.out);
  const world = new EmotionWorld({ ...model, seed, classes });
  try {
    makeDirs(o.out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SynthOutputError(
      o.out,
      `cannot create this folder (${code === 'ENOTDIR' ? 'a file is in the way' : code === 'ENOENT' ? 'its parent folder does not accept new folders' : (code ?? (err as Error).message)})`,
    );
  }
  const manifest = {
    generator: 'cmcrd dataset synth',
    model: 'firmware-bridge/sim/wearer-model.ts',
    layout: o.layout,
    subjects,
    sessions,
    windowsPerTrial: base,
    varyWindows: vary,
    seed,
    ...(model && Object.keys(model).length ? { modelParameters: model } : {}),
    raw: !!o.raw,
  };
  writeManifest(o.out, { ...manifest, partial: true });
  const files: string[] = [];
  const trialsPerSession = o.layout === 'seed-iv' ? SEED_IV_TRIALS : SEED_V_TRIALS;
  const totalTrials = subjects * sessions * trialsPerSession;
  let doneTrials = 0;
  let windowsTotal = 0;
  let stopped = false;
  const fs = SEED_IV_FS;
  const windowSec = o.layout === 'seed-iv' ? SEED_IV_WINDOW_SEC : SEED_V_WINDOW_SEC;
  const eyeDims = o.layout === 'seed-iv' ? SEED_IV_EYE_FEATURES : SEED_V_EYE_FEATURES;
  const labelsOf = o.layout === 'seed-iv' ? SEED_IV_LABELS : SEED_V_LABELS;
  const C = CHANNELS_62.length;

  const write = (path: string, bytes: Uint8Array) => {
    makeDirs(join(path, '..'));
    writeFileAtomic(path, bytes);
    files.push(path);
  };
  // Every value the readers will load must be finite in float32, or the dataset would train into NaN.
  const checkFinite = (values: ArrayLike<number>, what: string, subj: number, session: number, t: number) => {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(Math.fround(values[i]!))) {
        const params =
          model && Object.keys(model).length ? `the model parameters ${JSON.stringify(model)}` : 'the default model parameters';
        throw new SynthModelError(
          `the synthetic model produced a non-finite ${what} (${values[i]}) for subject ${subj}, session ${session}, trial ${t} with ${params}; bring them closer to the defaults (nothing more is written; remove ${o.out})`,
        );
      }
    }
  };

  outer: for (let subj = 1; subj <= subjects; subj++) {
    // SEED-V keeps all sessions of a subject in one file; SEED-IV has one file per session.
    const vEeg = new Map<number, NdArray>();
    const vEyes = new Map<number, NdArray>();
    const vLabels = new Map<number, NdArray>();
    for (let session = 1; session <= sessions; session++) {
      const feat = new Map<string, MatWritable>();
      const eyeVars = new Map<string, MatWritable>();
      const rawVars = new Map<string, MatWritable>();
      for (let t = 1; t <= trialsPerSession; t++) {
        if (o.shouldStop?.()) {
          stopped = true;
          break outer;
        }
        const label = labelsOf[session - 1]![t - 1]!;
        const W = trialWindows(base, vary, subj, session, t);
        const { eeg, eye } = synthesizeTrial({
          world,
          subject: subj - 1,
          session,
          trial: t,
          label,
          windows: W,
          windowSec,
          fs,
          sites: CHANNELS_62,
          eyeDims,
        });
        const { features, windows, bands } = rawTrialFeatures(eeg, { fs, windowSec });
        if (windows !== W) throw new Error(`internal: ${windows} feature windows from ${W} synthesised`);
        for (const ch of eeg) checkFinite(ch, 'raw EEG sample', subj, session, t);
        for (const f of SEED_IV_FEATURES) checkFinite(features[f], `EEG feature (${f})`, subj, session, t);
        for (const v of eye) checkFinite(v, 'eye feature', subj, session, t);
        windowsTotal += W;
        if (o.layout === 'seed-iv') {
          for (const f of SEED_IV_FEATURES) feat.set(`${f}${t}`, { dtype: 'float64', shape: [C, W, bands], data: features[f] });
          // eye_feature_smooth stores features × windows.
          const e = new Float64Array(eyeDims * W);
          for (let w = 0; w < W; w++) for (let i = 0; i < eyeDims; i++) e[i * W + w] = eye[w]![i]!;
          eyeVars.set(`eye_${t}`, { dtype: 'float64', shape: [eyeDims, W], data: e });
          if (o.raw) {
            const n = eeg[0]!.length;
            const r = new Float64Array(C * n);
            eeg.forEach((ch, c) => r.set(ch, c * n));
            rawVars.set(`sx${subj}_eeg${t}`, { dtype: 'float64', shape: [C, n], data: r });
          }
        } else {
          // SEED-V: windows × 310, channel-major columns (c·5 + b), from the LDS-smoothed DE.
          const de = features.de_LDS;
          const d = new Float64Array(W * C * bands);
          for (let c = 0; c < C; c++)
            for (let w = 0; w < W; w++) for (let b = 0; b < bands; b++) d[w * C * bands + c * bands + b] = de[(c * W + w) * bands + b]!;
          const k = (session - 1) * SEED_V_TRIALS + (t - 1);
          vEeg.set(k, { dtype: 'float64', shape: [W, C * bands], data: d });
          const e = new Float64Array(W * eyeDims);
          eye.forEach((v, w) => e.set(v, w * eyeDims));
          vEyes.set(k, { dtype: 'float64', shape: [W, eyeDims], data: e });
          vLabels.set(k, { dtype: 'float64', shape: [W], data: new Float64Array(W).fill(label) });
        }
        o.onProgress?.(++doneTrials, totalTrials, `subject ${subj} session ${session} trial ${t}`);
        yield;
      }
      if (o.layout === 'seed-iv') {
        const name = `${subj}_${sessionDate(session)}.mat`;
        const compress = o.compress ?? true;
        write(join(o.out, 'eeg_feature_smooth', String(session), name), writeMat(feat, { compress }));
        write(join(o.out, 'eye_feature_smooth', String(session), name), writeMat(eyeVars, { compress }));
        if (o.raw) write(join(o.out, 'eeg_raw_data', String(session), name), writeMat(rawVars, { compress }));
      }
    }
    if (o.layout === 'seed-v') {
      const labelsPickle = pickleDictOfArrays(vLabels);
      const member = (b: Uint8Array) => ({ dtype: 'bytes' as const, itemSize: b.length, shape: [], items: [b] });
      const name = `${subj}_123.npz`;
      write(join(o.out, 'EEG_DE_features', name), writeNpz({ data: member(pickleDictOfArrays(vEeg)), label: member(labelsPickle) }));
      write(join(o.out, 'Eye_movement_features', name), writeNpz({ data: member(pickleDictOfArrays(vEyes)), label: member(labelsPickle) }));
    }
  }
  writeManifest(o.out, stopped ? { ...manifest, partial: true, stopped: true } : { ...manifest, stopped: false });
  return { files, subjects, sessions, trials: doneTrials, windows: windowsTotal, stopped };
}
