import { describe, expect, it } from 'vitest';
import { EmotionWorld, synthesizeTrial, WearerStream, defaultWorld } from '../../../firmware-bridge/sim/wearer-model.js';
import { seedBandEnergy } from '../../../runtime/dsp/seed-de.js';

const classes = ['neutral', 'sad', 'fear', 'happy'];

describe('synthetic wearer model', () => {
  it('is deterministic for a seed and differs across seeds, subjects and trials', () => {
    const base = { subject: 1, session: 0, trial: 3, label: 2, windows: 2, windowSec: 4, fs: 200, sites: ['FP1', 'TP7'], eyeDims: 31 };
    const a = synthesizeTrial({ world: new EmotionWorld({ seed: 5, classes }), ...base });
    const b = synthesizeTrial({ world: new EmotionWorld({ seed: 5, classes }), ...base });
    expect(Array.from(a.eeg[0]!)).toEqual(Array.from(b.eeg[0]!));
    expect(Array.from(a.eye[1]!)).toEqual(Array.from(b.eye[1]!));
    const c = synthesizeTrial({ world: new EmotionWorld({ seed: 6, classes }), ...base });
    expect(c.eeg[0]![100]).not.toBe(a.eeg[0]![100]);
    const d = synthesizeTrial({ world: new EmotionWorld({ seed: 5, classes }), ...base, trial: 4 });
    expect(d.eeg[0]![100]).not.toBe(a.eeg[0]![100]);
    expect(a.eeg[0]!.length).toBe(2 * 4 * 200);
    expect(a.eye).toHaveLength(2);
    expect(a.eye[0]).toHaveLength(31);
  });

  it('puts the band power the model asks for into the raw signal (variance ≈ sum of band + background powers)', () => {
    const world = new EmotionWorld({ seed: 9, classes, eegNoise: 0 });
    const t = synthesizeTrial({
      world,
      subject: 0,
      session: 0,
      trial: 0,
      label: 0,
      windows: 30,
      windowSec: 4,
      fs: 200,
      sites: ['CZ'],
      eyeDims: 0,
    });
    const x = t.eeg[0]!;
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const rms = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
    // Default base powers sum to ~200 µV² before subject offsets: a plausible scalp EEG amplitude.
    expect(rms).toBeGreaterThan(5);
    expect(rms).toBeLessThan(40);
    expect(Math.abs(mean)).toBeLessThan(rms / 5);
  });

  it('makes emotions separable in band energy at a headband site', () => {
    const world = defaultWorld();
    const energy = (label: number) => {
      const t = synthesizeTrial({
        world,
        subject: 2,
        session: 0,
        trial: 10 + label,
        label,
        windows: 10,
        windowSec: 4,
        fs: 200,
        sites: ['TP7'],
        eyeDims: 0,
      });
      const m = new Float64Array(5);
      for (let w = 0; w < 10; w++)
        seedBandEnergy(t.eeg[0]!.subarray(w * 800, (w + 1) * 800), 200, { nfft: 1024 }).forEach((e, b) => (m[b]! += Math.log(e) / 10));
      return m;
    };
    const e = [0, 1, 2, 3].map(energy);
    // Some band must differ between some pair of emotions by clearly more than the within-class noise (σ≈0.25/√10).
    let maxDiff = 0;
    for (let a = 0; a < 4; a++)
      for (let b = a + 1; b < 4; b++) for (let k = 0; k < 5; k++) maxDiff = Math.max(maxDiff, Math.abs(e[a]![k]! - e[b]![k]!));
    expect(maxDiff).toBeGreaterThan(0.4);
  });

  it('streams continuously at any block size and switches emotion on request', () => {
    const world = defaultWorld();
    const s1 = new WearerStream(world, 11, ['TP9', 'AF7'], 256, 1, 3);
    const s2 = new WearerStream(world, 11, ['TP9', 'AF7'], 256, 1, 3);
    const whole = s1.read(1000)[0]!;
    const parts = [s2.read(7), s2.read(500), s2.read(493)].map((p) => p[0]!);
    expect(Array.from(parts.flatMap((p) => Array.from(p)))).toEqual(Array.from(whole));
    s1.setEmotion(1);
    expect(s1.emotion).toBe(1);
    expect(() => s1.setEmotion(7)).toThrow(/label 7/);
  });

  it('latent gains control what each modality sees of the emotion', () => {
    const trial = (world: EmotionWorld, label: number) =>
      synthesizeTrial({
        world,
        subject: 1,
        session: 1,
        trial: 5,
        label,
        windows: 2,
        windowSec: 4,
        fs: 200,
        sites: ['FP1', 'O2'],
        eyeDims: 31,
      });
    // Same (subject, session, trial) → same random draws; only the label's prototype differs.
    const zero = new Array<number>(6).fill(0);
    const eegBlind = new EmotionWorld({ seed: 5, classes, eegLatentGain: zero });
    const eyeBlind = new EmotionWorld({ seed: 5, classes, eyeLatentGain: zero });
    const both = new EmotionWorld({ seed: 5, classes });
    const [a0, a3] = [trial(eegBlind, 0), trial(eegBlind, 3)];
    expect(Array.from(a0.eeg[1]!)).toEqual(Array.from(a3.eeg[1]!));
    expect(a0.eye[0]![4]).not.toBe(a3.eye[0]![4]);
    const [b0, b3] = [trial(eyeBlind, 0), trial(eyeBlind, 3)];
    expect(Array.from(b0.eye[1]!)).toEqual(Array.from(b3.eye[1]!));
    expect(b0.eeg[1]![300]).not.toBe(b3.eeg[1]![300]);
    const [c0, c3] = [trial(both, 0), trial(both, 3)];
    expect(c0.eeg[1]![300]).not.toBe(c3.eeg[1]![300]);
    expect(c0.eye[0]![4]).not.toBe(c3.eye[0]![4]);
    // All-ones gains are the unscaled model.
    const ones = new EmotionWorld({ seed: 5, classes, eegLatentGain: [1, 1, 1, 1, 1, 1], eyeLatentGain: [1, 1, 1, 1, 1, 1] });
    const d0 = trial(ones, 0);
    expect(Array.from(d0.eeg[0]!)).toEqual(Array.from(c0.eeg[0]!));
    expect(Array.from(d0.eye[1]!)).toEqual(Array.from(c0.eye[1]!));
  });

  it('rejects gain vectors that do not match the latent dimension', () => {
    expect(() => new EmotionWorld({ seed: 1, classes, eyeLatentGain: [1, 1] })).toThrow(/eyeLatentGain must hold 6 finite numbers/);
    expect(() => new EmotionWorld({ seed: 1, classes, latentDims: 3, eegLatentGain: [1, Number.NaN, 1] })).toThrow(/eegLatentGain/);
    expect(new EmotionWorld({ seed: 1, classes, latentDims: 3 }).opts.eyeLatentGain).toEqual([1, 1, 1]);
  });
});
