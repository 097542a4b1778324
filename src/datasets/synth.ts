/**
 * Synthetic datasets in the real layouts (SEED-IV MAT files, SEED-V npz-of-pickles), so the readers and
 * everything downstream run end to end without the licence-gated downloads.
 *
 * Signals come from the project's generative model (firmware-bridge/sim/wearer-model.ts): raw 62-channel
 * EEG at 200 Hz and per-window eye features. EEG feature files are computed from that raw signal with the
 * runtime's feature code (rawTrialFeatures), so eeg_feature_smooth is consistent with eeg_raw_data.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmotionWorld, synthesizeTrial, type WorldOptions } from '../../firmware-bridge/sim/wearer-model.js';
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
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // created below
    throw err;
  }
  if (entries.length === 0) return;
  const shown = entries.sort().slice(0, 4).join(', ') + (entries.length > 4 ? ', …' : '');
  throw new SynthOutputError(
    dir,
    `folder exists and is not empty (${shown}); synthesising into it would mix the new dataset with these files. ` +
      'Choose a new output folder, or delete this one yourself first if you no longer need it',
  );
}

export function synthesize(o: SynthOptions): SynthResult {
  const subjects = o.subjects ?? 2;
  const sessions = o.sessions ?? 2;
  const base = o.windowsPerTrial ?? 3;
  const vary = o.varyWindows ?? false;
  const seed = o.seed ?? 2022;
  if (!(Number.isInteger(subjects) && subjects >= 1)) throw new OptionError('subjects', optionText`${option('subjects')} must be a positive integer, got ${subjects}`);
  if (!(Number.isInteger(sessions) && sessions >= 1 && sessions <= 3)) throw new OptionError('sessions', optionText`${option('sessions')} must be 1, 2 or 3, got ${sessions}`);
  if (!(Number.isInteger(base) && base >= 1)) throw new OptionError('windowsPerTrial', optionText`${option('windowsPerTrial')} must be a positive integer, got ${base}`);
  if (o.raw && o.layout !== 'seed-iv') throw new OptionError('raw', optionText`${option('raw')} is only available for the seed-iv layout (SEED-V releases no raw EEG)`);
  const classes = o.layout === 'seed-iv' ? SEED_IV_CLASSES : SEED_V_CLASSES;
  checkOutputFolder(o.out);
  const world = new EmotionWorld({ ...o.model, seed, classes });
  mkdirSync(o.out, { recursive: true });
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
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, bytes);
    files.push(path);
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
        const { eeg, eye } = synthesizeTrial({ world, subject: subj - 1, session, trial: t, label, windows: W, windowSec, fs, sites: CHANNELS_62, eyeDims });
        const { features, windows, bands } = rawTrialFeatures(eeg, { fs, windowSec });
        if (windows !== W) throw new Error(`internal: ${windows} feature windows from ${W} synthesised`);
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
          for (let c = 0; c < C; c++) for (let w = 0; w < W; w++) for (let b = 0; b < bands; b++) d[w * C * bands + c * bands + b] = de[(c * W + w) * bands + b]!;
          const k = (session - 1) * SEED_V_TRIALS + (t - 1);
          vEeg.set(k, { dtype: 'float64', shape: [W, C * bands], data: d });
          const e = new Float64Array(W * eyeDims);
          eye.forEach((v, w) => e.set(v, w * eyeDims));
          vEyes.set(k, { dtype: 'float64', shape: [W, eyeDims], data: e });
          vLabels.set(k, { dtype: 'float64', shape: [W], data: new Float64Array(W).fill(label) });
        }
        o.onProgress?.(++doneTrials, totalTrials, `subject ${subj} session ${session} trial ${t}`);
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
  const manifest = {
    generator: 'cmcrd dataset synth',
    model: 'firmware-bridge/sim/wearer-model.ts',
    layout: o.layout,
    subjects,
    sessions,
    windowsPerTrial: base,
    varyWindows: vary,
    seed,
    ...(o.model && Object.keys(o.model).length ? { modelParameters: o.model } : {}),
    raw: !!o.raw,
    stopped,
  };
  writeFileSync(join(o.out, SYNTHETIC_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  return { files, subjects, sessions, trials: doneTrials, windows: windowsTotal, stopped };
}
