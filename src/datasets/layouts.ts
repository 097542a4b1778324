/** Facts about the SEED family's released files (../shared/docs/datasets.md). */
import { SEED_62_CHANNELS } from '../../firmware-bridge/montage/index.js';
import { SEED_BANDS } from '../../runtime/dsp/bands.js';

export const CHANNELS_62 = SEED_62_CHANNELS;
export const BAND_NAMES: readonly string[] = SEED_BANDS.map((b) => b.name);

export const SEED_IV_CLASSES: readonly string[] = ['neutral', 'sad', 'fear', 'happy'];
/** SEED-IV labels per session (1..3) and trial (1..24); identical for all subjects. */
export const SEED_IV_LABELS: readonly (readonly number[])[] = [
  [1, 2, 3, 0, 2, 0, 0, 1, 0, 1, 2, 1, 1, 1, 2, 3, 2, 2, 3, 3, 0, 3, 0, 3],
  [2, 1, 3, 0, 0, 2, 0, 2, 3, 3, 2, 3, 2, 0, 1, 1, 2, 1, 0, 3, 0, 1, 3, 1],
  [1, 2, 2, 1, 3, 3, 3, 1, 1, 2, 1, 0, 2, 3, 3, 0, 2, 3, 0, 0, 2, 0, 1, 0],
];
export const SEED_IV_TRIALS = 24;
export const SEED_IV_EYE_FEATURES = 31;
export const SEED_IV_FEATURES = ['de_LDS', 'de_movingAve', 'psd_LDS', 'psd_movingAve'] as const;
export type SeedIVFeature = (typeof SEED_IV_FEATURES)[number];
export const SEED_IV_FS = 200;
export const SEED_IV_WINDOW_SEC = 4;

export const SEED_V_CLASSES: readonly string[] = ['disgust', 'fear', 'sad', 'neutral', 'happy'];
export const SEED_V_LABELS: readonly (readonly number[])[] = [
  [4, 1, 3, 2, 0, 4, 1, 3, 2, 0, 4, 1, 3, 2, 0],
  [2, 1, 3, 0, 4, 4, 0, 3, 2, 1, 3, 4, 1, 2, 0],
  [2, 1, 3, 0, 4, 4, 0, 3, 2, 1, 3, 4, 1, 2, 0],
];
export const SEED_V_TRIALS = 15;
export const SEED_V_EYE_FEATURES = 33;
export const SEED_V_WINDOW_SEC = 4;

/** SEED: label.mat holds −1/0/1; class index = value + 1. */
export const SEED_CLASSES: readonly string[] = ['negative', 'neutral', 'positive'];
export const SEED_LABELS: readonly number[] = [1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1];
export const SEED_TRIALS = 15;
export const SEED_WINDOW_SEC = 1;

/** Written next to synthetic data so readers can tell it from a real download. */
export const SYNTHETIC_MANIFEST = 'SYNTHETIC.json';
