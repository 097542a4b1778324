/**
 * The `run` command's check that the device can compute the features the model was trained on: a card whose
 * smoothing needs the whole trial (SEED's offline LDS, the centred moving average) is refused with the reason
 * and the command that retrains it on the causal form; with `allowOffline` (`--allow-offline-smoothing`) the
 * model runs on the form's online stand-in and the caller prints the returned warning at the start and in the
 * summary. Browser-safe; takes only the card fields it reads, so it works with any version of the card type.
 * See docs/smoothing.md.
 */
import { smoothingForm, SMOOTHING_NAMES, type SmoothingName } from './dsp/smooth.js';

/** The model-card fields the guard reads (runtime/model-card.ts ModelCard has them). */
export interface SmoothingCardFields {
  smoothing: string;
  featureMethod?: string;
  montage?: { device: string; sites: readonly string[] } | null;
  /** The card's metadata_props; `cmcrd.provenance` (JSON) names the dataset and training settings. */
  raw?: Readonly<Record<string, string>>;
}

export interface LiveSmoothingOptions {
  /** Run a model whose smoothing needs the whole trial anyway (on the form's online stand-in). */
  allowOffline?: boolean;
}

export interface LiveSmoothingCheck {
  smoothing: SmoothingName;
  /** True when the device computes exactly the training features. */
  causal: boolean;
  /** Set when an offline form runs because of `allowOffline`: print it at the start and in the summary. */
  warning: string | null;
}

/** The card's smoothing cannot be reproduced live (and `allowOffline` was not given), or is unknown. */
export class OfflineSmoothingError extends Error {
  constructor(
    message: string,
    readonly smoothing: string,
    /** The command that retrains the model on the causal form ('' when the name is unknown). */
    readonly retrain: string,
  ) {
    super(message);
    this.name = 'OfflineSmoothingError';
  }
}

/** Per offline form: what it is, what running it live does, and the online stand-in `allowOffline` runs. */
const OFFLINE: Partial<Record<SmoothingName, { what: string; effect: string; standIn: string }>> = {
  lds: {
    what: "SEED's offline LDS, a Kalman filter started from the trial mean",
    effect:
      'live features would differ from the trained ones by up to about a DE unit and, with Q = 1e-4 (a memory of ~100 windows), predictions lag (docs/smoothing.md)',
    standIn: 'the filter started from the running mean of the windows so far',
  },
  'moving-average': {
    what: 'a centred moving average over the trial',
    effect: 'live features would differ from the trained ones wherever the signal changes, and lag by half the window',
    standIn: 'a trailing moving average',
  },
};

function provenanceOf(card: SmoothingCardFields): Record<string, unknown> {
  const text = card.raw?.['cmcrd.provenance'];
  if (!text) return {};
  try {
    const p: unknown = JSON.parse(text);
    return p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The `cmcrd train` command that retrains the card's model with the causal form `live`, from raw EEG, with the
 * training settings the card's provenance records (method, network, protocol, montage); `…` stands for the
 * rest of the original command line.
 */
export function retrainCommand(card: SmoothingCardFields, live: SmoothingName): string {
  const p = provenanceOf(card);
  const method = card.featureMethod ?? card.raw?.['cmcrd.feature_method'] ?? 'seed-de';
  const parts = ['cmcrd train'];
  if (p.synthetic === true) parts.push('--dataset synthetic --root <folder written by `cmcrd dataset synth --layout seed-iv --raw`>');
  else parts.push('--dataset seed-iv --root <SEED-IV folder with eeg_raw_data/>');
  parts.push(`--feature ${method === 'seed-psd' ? 'psd' : 'de'} --smooth ${live}`);
  for (const key of ['method', 'arch', 'protocol'] as const)
    if (typeof p[key] === 'string' && p[key]) parts.push(`--${key} ${p[key] as string}`);
  const m = card.montage;
  if (m) parts.push(m.device === 'muse' ? '--montage muse' : `--montage custom:${m.sites.join(',')}`);
  parts.push('--out <dir> …');
  return parts.join(' ');
}

/** What to say when the card's data came from a release that ships only offline-smoothed features. */
function releaseNote(card: SmoothingCardFields): string {
  const ds = provenanceOf(card).dataset;
  if (ds === 'seed' || ds === 'seed-v') {
    return ` The model was trained on ${ds === 'seed' ? 'SEED' : 'SEED-V'}'s released features, which exist only in the offline form; cmcrd computes features from raw EEG for SEED-IV (eeg_raw_data) and synthetic data, so retrain on one of those.`;
  }
  return '';
}

/**
 * Check that the device can compute the card's smoothing as training did. Causal forms pass (warning null).
 * A form that needs the whole trial throws {@link OfflineSmoothingError} with the reason and the retraining
 * command, unless `allowOffline`, which returns the warning line to print. An unknown name always throws.
 */
export function checkLiveSmoothing(card: SmoothingCardFields, opts: LiveSmoothingOptions = {}): LiveSmoothingCheck {
  const form = smoothingForm(card.smoothing);
  if (!form) {
    throw new OfflineSmoothingError(
      `the model card's smoothing "${card.smoothing}" is not one this runtime knows (${SMOOTHING_NAMES.join(', ')}); the model needs a newer cmcrd or a re-export`,
      card.smoothing,
      '',
    );
  }
  if (form.causal) return { smoothing: form.name, causal: true, warning: null };
  const retrain = retrainCommand(card, form.liveForm);
  const o = OFFLINE[form.name] ?? {
    what: form.description,
    effect: 'live features would differ from the trained ones',
    standIn: 'an online stand-in',
  };
  if (!opts.allowOffline) {
    throw new OfflineSmoothingError(
      `model smoothing "${form.name}" (${o.what}) needs the whole trial, which a live stream never has: ${o.effect}. ` +
        `Retrain on the causal form "${form.liveForm}", which training and the device compute with the same code: ${retrain}; then export it again. ` +
        `To run this model anyway, add --allow-offline-smoothing.${releaseNote(card)}`,
      form.name,
      retrain,
    );
  }
  return {
    smoothing: form.name,
    causal: false,
    warning: `warning: --allow-offline-smoothing: model smoothing "${form.name}" needs the whole trial; running ${o.standIn} instead, so features differ from training and predictions lag. Retrain: ${retrain}`,
  };
}
