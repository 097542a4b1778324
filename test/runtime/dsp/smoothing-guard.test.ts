/** `run`'s smoothing guard (runtime/smoothing-guard.ts): refuse offline forms with the reason and the retraining command, warn with allowOffline. */
import { describe, expect, it } from 'vitest';
import { checkLiveSmoothing, OfflineSmoothingError, retrainCommand, type SmoothingCardFields } from '../../../runtime/smoothing-guard.js';
import { SMOOTHING_FORMS } from '../../../runtime/dsp/index.js';

const provenance = (p: Record<string, unknown>) => ({ 'cmcrd.provenance': JSON.stringify(p) });
const card = (smoothing: string, extra: Partial<SmoothingCardFields> = {}): SmoothingCardFields => ({
  smoothing,
  featureMethod: 'seed-de',
  montage: null,
  raw: {},
  ...extra,
});

function refusal(c: SmoothingCardFields): OfflineSmoothingError {
  try {
    checkLiveSmoothing(c);
  } catch (e) {
    expect(e).toBeInstanceOf(OfflineSmoothingError);
    return e as OfflineSmoothingError;
  }
  throw new Error(`card with smoothing "${c.smoothing}" was not refused`);
}

describe('checkLiveSmoothing', () => {
  it('passes every causal form without a warning', () => {
    for (const f of SMOOTHING_FORMS.filter((x) => x.causal)) {
      expect(checkLiveSmoothing(card(f.name))).toEqual({ smoothing: f.name, causal: true, warning: null });
      expect(checkLiveSmoothing(card(f.name), { allowOffline: true }).warning).toBeNull();
    }
  });

  it('refuses SEED offline LDS with the reason and the command that retrains on lds-causal from raw EEG', () => {
    const e = refusal(
      card('lds', {
        montage: { device: 'muse', sites: ['TP9', 'AF7', 'AF8', 'TP10'] },
        raw: provenance({ dataset: 'seed-iv', synthetic: false, method: 'cmcrd', arch: 'dgcnn', protocol: 'loso' }),
      }),
    );
    expect(e.smoothing).toBe('lds');
    expect(e.message).toMatch(
      /model smoothing "lds" \(SEED.s offline LDS, a Kalman filter started from the trial mean\) needs the whole trial/,
    );
    expect(e.message).toMatch(/a memory of ~100 windows\), predictions lag/);
    expect(e.message).toMatch(/--allow-offline-smoothing/);
    expect(e.retrain).toBe(
      'cmcrd train --dataset seed-iv --root <SEED-IV folder with eeg_raw_data/> --feature de --smooth lds-causal --method cmcrd --arch dgcnn --protocol loso --montage muse --out <dir> …',
    );
    expect(e.message).toContain(e.retrain);
  });

  it('moving-average → moving-average-causal; psd models keep psd; synthetic data and custom montages', () => {
    const e = refusal(
      card('moving-average', {
        featureMethod: 'seed-psd',
        montage: { device: 'custom', sites: ['C3', 'C4'] },
        raw: provenance({ synthetic: true }),
      }),
    );
    expect(e.retrain).toBe(
      'cmcrd train --dataset synthetic --root <folder written by `cmcrd dataset synth --layout seed-iv --raw`> --feature psd --smooth moving-average-causal --montage custom:C3,C4 --out <dir> …',
    );
  });

  it('says what is possible for SEED / SEED-V models, whose releases hold only offline features', () => {
    expect(refusal(card('lds', { raw: provenance({ dataset: 'seed-v' }) })).message).toMatch(
      /SEED-V's released features, which exist only in the offline form; .*SEED-IV \(eeg_raw_data\) and synthetic data/,
    );
    expect(refusal(card('lds', { raw: { 'cmcrd.provenance': 'not json' } })).retrain).toMatch(/^cmcrd train --dataset seed-iv /);
  });

  it('with allowOffline returns a warning line naming the stand-in and the retraining command', () => {
    const r = checkLiveSmoothing(card('lds'), { allowOffline: true });
    expect(r.causal).toBe(false);
    expect(r.smoothing).toBe('lds');
    expect(r.warning).toMatch(
      /^warning: --allow-offline-smoothing: .*running the filter started from the running mean of the windows so far instead, .* Retrain: cmcrd train .*--smooth lds-causal/,
    );
    expect(r.warning).not.toMatch(/\n/);
  });

  it('refuses an unknown smoothing name even with allowOffline', () => {
    expect(() => checkLiveSmoothing(card('kalman-rts'), { allowOffline: true })).toThrow(
      /smoothing "kalman-rts" is not one this runtime knows/,
    );
  });

  it('retrainCommand reads the feature method from the metadata when the card has no field for it', () => {
    expect(retrainCommand({ smoothing: 'lds', raw: { 'cmcrd.feature_method': 'seed-psd' } }, 'lds-causal')).toContain(
      '--feature psd --smooth lds-causal',
    );
  });
});
