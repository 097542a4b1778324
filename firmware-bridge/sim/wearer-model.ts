// size: the generative wearer model in one file (parameters, per-trial state, band powers, eye features) so its equations read together
/**
 * The synthetic wearer: a seeded generative model of paired raw EEG and eye-movement features driven by one
 * latent emotional state. It feeds the synthetic datasets (SEED-IV/V layouts) and the virtual headbands, so a
 * model trained on synthetic cap recordings meets the same physiology on a simulated headband.
 * The model is documented in docs/synthetic-model.md; in short:
 *
 *   latent   z_t = e_t·(μ_c + δ_trial) + η_t                (per 1-s step; e_t engagement, η_t AR(1) drift)
 *   EEG      ln P_{site,band}(t) = base_s(site, band) + g_s·⟨effect(site, band), z_t⟩ + ν_t
 *            raw EEG = Gaussian noise with that band power spread evenly over the band's FFT bins, on a 1/f
 *            background, synthesised in 2-s segments overlap-added with a sine window (hop 1 s)
 *   eye      v_w = o_s + γ_s·B·z̄_w + ε_w                      (per window, z̄_w the mean latent of the window)
 *
 * Emotion effects on log band power are smooth maps over the scalp (a global term plus Gaussian bumps, 50 mm
 * wide) evaluated at each electrode's position, so nearby electrodes see nearby effects. Subjects differ in
 * baseline spectra, effect gain, a subject-specific perturbation of the effect maps, and eye offsets/gains:
 * that is what makes cross-subject transfer hard. Engagement e_t < 1 models windows where the stimulus did
 * not elicit the labelled emotion; both modalities see it, the eye features with less noise.
 */
import FFT from 'fft.js';
import { Rng } from './rng.js';
import { idealisedPosition, distanceMm, type Vec3 } from './scalp.js';

/** The bands whose power the model sets (SEED bands). */
export const MODEL_BANDS: readonly { name: string; lo: number; hi: number; basePower: number }[] = [
  { name: 'delta', lo: 1, hi: 4, basePower: 90 },
  { name: 'theta', lo: 4, hi: 8, basePower: 36 },
  { name: 'alpha', lo: 8, hi: 14, basePower: 40 },
  { name: 'beta', lo: 14, hi: 31, basePower: 24 },
  { name: 'gamma', lo: 31, hi: 50, basePower: 8 },
];

export interface WorldOptions {
  seed: number;
  /** Class names; their count sets the number of emotion prototypes. */
  classes: readonly string[];
  /** Dimension of the latent emotional state. */
  latentDims?: number;
  /** Norm of the class prototypes in latent space (bigger = easier). */
  separation?: number;
  /** Log-power change per unit latent at the peak of an effect map. */
  eegEffect?: number;
  /** Per-window, per-site noise on ln band power. */
  eegNoise?: number;
  /** Relative size of each subject's private perturbation of the effect maps. */
  subjectEffectJitter?: number;
  /** Std of the eye features' noise (the eye loadings have unit scale). */
  eyeNoise?: number;
  /** Std of the trial-level deviation from the class prototype. */
  trialJitter?: number;
  /** Std of the AR(1) latent drift within a trial. */
  drift?: number;
  /** Mean and std of the engagement process (fraction of the prototype expressed). */
  engagementMean?: number;
  engagementStd?: number;
  /**
   * How strongly each latent dimension shows in EEG (length latentDims, default all 1): multiplies that
   * dimension's effect maps. Together with {@link eyeLatentGain} this sets how complementary the modalities are.
   */
  eegLatentGain?: readonly number[];
  /** How strongly each latent dimension shows in the eye features (length latentDims, default all 1). */
  eyeLatentGain?: readonly number[];
}

type Required_<T> = { [K in keyof T]-?: T[K] };

/** The model's default parameters (an empty gain array means all ones). */
export const WORLD_DEFAULTS: Readonly<Omit<Required_<WorldOptions>, 'seed' | 'classes'>> = {
  latentDims: 6,
  separation: 1.2,
  eegEffect: 0.35,
  eegNoise: 0.25,
  subjectEffectJitter: 0.35,
  eyeNoise: 0.35,
  trialJitter: 0.3,
  drift: 0.3,
  engagementMean: 0.8,
  engagementStd: 0.2,
  eegLatentGain: [],
  eyeLatentGain: [],
};

interface Bump {
  centre: Vec3;
  amp: number;
}
/** A smooth scalar map over the scalp: constant + Gaussian bumps. */
class ScalpMap {
  constructor(
    readonly constant: number,
    readonly bumps: Bump[],
    readonly widthMm = 50,
  ) {}
  at(p: Vec3): number {
    let v = this.constant;
    for (const b of this.bumps) {
      const d = distanceMm(p, b.centre);
      v += b.amp * Math.exp(-(d * d) / (2 * this.widthMm * this.widthMm));
    }
    return v;
  }
  static random(rng: Rng, constantStd: number, nBumps: number, ampStd: number): ScalpMap {
    const bumps: Bump[] = [];
    for (let i = 0; i < nBumps; i++) {
      // Uniform direction on the upper part of the head.
      const z = rng.uniform(-0.2, 1);
      const a = rng.uniform(0, 2 * Math.PI);
      const r = Math.sqrt(1 - z * z);
      bumps.push({ centre: [95 * r * Math.cos(a), 95 * r * Math.sin(a), 95 * z], amp: rng.normal() * ampStd });
    }
    return new ScalpMap(rng.normal() * constantStd, bumps);
  }
}

export class EmotionWorld {
  readonly seed: number;
  readonly classes: readonly string[];
  readonly opts: Omit<Required_<WorldOptions>, 'seed' | 'classes'>;
  /** Class prototypes μ_c in latent space. */
  readonly prototypes: Float64Array[];
  /** effectMaps[band][latentDim] */
  private readonly effectMaps: ScalpMap[][];
  private readonly eyeLoadingsCache = new Map<number, Float64Array[]>();
  private readonly subjects = new Map<number, SubjectProfile>();

  constructor(options: WorldOptions) {
    if (options.classes.length < 2) throw new RangeError('a world needs at least two classes');
    this.seed = options.seed;
    this.classes = options.classes;
    const o = { ...WORLD_DEFAULTS, ...stripUndefined(options) } as Omit<Required_<WorldOptions>, 'seed' | 'classes'>;
    for (const key of ['eegLatentGain', 'eyeLatentGain'] as const) {
      const g = o[key];
      if (g.length === 0) o[key] = new Array<number>(o.latentDims).fill(1);
      else if (g.length !== o.latentDims || !g.every((v) => Number.isFinite(v))) {
        throw new RangeError(`${key} must hold ${o.latentDims} finite numbers (one per latent dimension), got [${g.join(', ')}]`);
      }
    }
    this.opts = o;
    const rng = Rng.derive(options.seed, 1);
    // Prototypes: random directions, made mutually distinct by Gram-Schmidt when dims allow, scaled to `separation`.
    const D = o.latentDims;
    const protos: Float64Array[] = [];
    for (let c = 0; c < options.classes.length; c++) {
      const v = new Float64Array(D);
      for (let j = 0; j < D; j++) v[j] = rng.normal();
      if (c < D)
        for (const p of protos) {
          const dot = p.reduce((s, pj, j) => s + pj * v[j]!, 0) / (o.separation * o.separation);
          for (let j = 0; j < D; j++) v[j]! -= dot * p[j]!;
        }
      const n = Math.hypot(...v);
      for (let j = 0; j < D; j++) v[j] = (v[j]! / n) * o.separation;
      protos.push(v);
    }
    this.prototypes = protos;
    this.effectMaps = MODEL_BANDS.map(() => Array.from({ length: D }, () => ScalpMap.random(rng, 0.5, 3, 1)));
  }

  /** ⟨effect(site, band), z⟩ for the population (subject perturbations are added by SubjectProfile). */
  effectVector(pos: Vec3, band: number): Float64Array {
    const maps = this.effectMaps[band]!;
    return Float64Array.from(maps, (m) => m.at(pos) * this.opts.eegEffect);
  }

  /** Eye loadings B (eyeDims × latentDims), fixed per world. */
  eyeLoadings(eyeDims: number): Float64Array[] {
    let b = this.eyeLoadingsCache.get(eyeDims);
    if (!b) {
      const rng = Rng.derive(this.seed, 2, eyeDims);
      const D = this.opts.latentDims;
      const gain = this.opts.eyeLatentGain;
      b = Array.from({ length: eyeDims }, () => Float64Array.from({ length: D }, (_, j) => (rng.normal() / Math.sqrt(D)) * 1.5 * gain[j]!));
      this.eyeLoadingsCache.set(eyeDims, b);
    }
    return b;
  }

  subject(index: number): SubjectProfile {
    let s = this.subjects.get(index);
    if (!s) {
      s = new SubjectProfile(this, index);
      this.subjects.set(index, s);
    }
    return s;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class SubjectProfile {
  readonly gain: number;
  readonly alphaShift: number;
  readonly globalOffset: number;
  private readonly baselineMaps: ScalpMap[];
  private readonly perturbMaps: ScalpMap[][];
  readonly eyeGain: number;
  private readonly eyeOffsetRng: number;

  constructor(
    readonly world: EmotionWorld,
    readonly index: number,
  ) {
    const rng = Rng.derive(world.seed, 3, index);
    this.gain = Math.exp(rng.normal() * 0.2);
    this.alphaShift = rng.normal() * 0.3;
    this.globalOffset = rng.normal() * 0.3;
    this.baselineMaps = MODEL_BANDS.map(() => ScalpMap.random(rng, 0.2, 3, 0.4));
    const D = world.opts.latentDims;
    const j = world.opts.subjectEffectJitter;
    this.perturbMaps = MODEL_BANDS.map(() => Array.from({ length: D }, () => ScalpMap.random(rng, 0.5 * j, 3, j)));
    this.eyeGain = Math.exp(rng.normal() * 0.15);
    this.eyeOffsetRng = rng.int(2 ** 30);
  }

  /** Baseline ln band power at a site (µV²), before emotion effects. */
  baseline(pos: Vec3, band: number): number {
    let v = Math.log(MODEL_BANDS[band]!.basePower) + this.globalOffset + this.baselineMaps[band]!.at(pos);
    if (MODEL_BANDS[band]!.name === 'alpha') v += this.alphaShift + 0.5 * Math.max(0, -pos[1] / 95); // posterior alpha
    return v;
  }

  /** This subject's effect vector (population effect × gain + private perturbation). */
  effectVector(pos: Vec3, band: number): Float64Array {
    const v = this.world.effectVector(pos, band);
    const maps = this.perturbMaps[band]!;
    const g = this.world.opts.eegLatentGain;
    for (let j = 0; j < v.length; j++) v[j] = (this.gain * v[j]! + maps[j]!.at(pos) * this.world.opts.eegEffect) * g[j]!;
    return v;
  }

  eyeOffset(eyeDims: number): Float64Array {
    const rng = Rng.derive(this.eyeOffsetRng, eyeDims);
    return Float64Array.from({ length: eyeDims }, () => rng.normal() * 0.5);
  }
}

/** The latent emotional state over time, stepped once per second. The label can change mid-stream. */
export class LatentProcess {
  private trialDeviation: Float64Array;
  private drift: Float64Array;
  private engagement: number;
  private label: number;

  constructor(
    readonly world: EmotionWorld,
    label: number,
    private readonly rng: Rng,
  ) {
    this.label = this.checkLabel(label);
    const D = world.opts.latentDims;
    this.trialDeviation = this.newDeviation();
    this.drift = new Float64Array(D);
    this.engagement = world.opts.engagementMean;
  }

  private checkLabel(label: number): number {
    if (!Number.isInteger(label) || label < 0 || label >= this.world.classes.length) {
      throw new RangeError(`label ${label} is not a class index (0..${this.world.classes.length - 1})`);
    }
    return label;
  }

  private newDeviation(): Float64Array {
    return Float64Array.from({ length: this.world.opts.latentDims }, () => this.rng.normal() * this.world.opts.trialJitter);
  }

  /** Switch the emotion (a new "trial" starts: a new trial deviation is drawn). */
  setLabel(label: number): void {
    this.label = this.checkLabel(label);
    this.trialDeviation = this.newDeviation();
  }

  get currentLabel(): number {
    return this.label;
  }

  step(): Float64Array {
    const o = this.world.opts;
    const rho = 0.8;
    const innov = Math.sqrt(1 - rho * rho);
    for (let j = 0; j < this.drift.length; j++) this.drift[j] = rho * this.drift[j]! + innov * o.drift * this.rng.normal();
    const rhoE = 0.9;
    this.engagement =
      o.engagementMean + rhoE * (this.engagement - o.engagementMean) + Math.sqrt(1 - rhoE * rhoE) * o.engagementStd * this.rng.normal();
    const e = Math.min(1, Math.max(0, this.engagement));
    const mu = this.world.prototypes[this.label]!;
    return Float64Array.from(mu, (m, j) => e * (m + this.trialDeviation[j]!) + this.drift[j]!);
  }
}

/**
 * Continuous multichannel EEG for a set of electrode sites at any sampling rate. Call {@link EegSynth.hop}
 * with the latent state once per second of output; {@link EegSynth.read} serves arbitrary sample counts.
 */
export class EegSynth {
  readonly hopSamples: number;
  private readonly segLen: number;
  private readonly nfft: number;
  private readonly fft: FFT;
  private readonly window: Float64Array;
  private readonly positions: Vec3[];
  private readonly base: Float64Array[]; // [site][band]
  private readonly effects: Float64Array[][]; // [site][band] → latent vector
  private readonly overlap: Float64Array[]; // [site] second half of the previous segment
  private readonly bandOfBin: Int32Array;
  private readonly binsInBand: number[];
  private readonly background: Float64Array; // per-bin background power (µV² per bin)
  private fifo: Float64Array[];
  private readonly spec: number[];
  private readonly out: number[];

  constructor(
    readonly subject: SubjectProfile,
    readonly sites: readonly string[],
    readonly fs: number,
    private readonly rng: Rng,
    sessionOffsetStd = 0.1,
  ) {
    if (!(fs > 100) || !Number.isInteger(fs)) throw new RangeError(`fs must be an integer > 100 Hz (bands reach 50 Hz), got ${fs}`);
    this.hopSamples = fs;
    this.segLen = 2 * fs;
    let n = 2;
    while (n < this.segLen) n *= 2;
    this.nfft = n;
    this.fft = new FFT(n);
    this.window = Float64Array.from({ length: this.segLen }, (_, i) => Math.sin((Math.PI * (i + 0.5)) / this.segLen));
    this.positions = sites.map((s) => idealisedPosition(s));
    this.base = this.positions.map((p) =>
      Float64Array.from(MODEL_BANDS, (_, b) => subject.baseline(p, b) + sessionOffsetStd * rng.normal()),
    );
    this.effects = this.positions.map((p) => MODEL_BANDS.map((_, b) => subject.effectVector(p, b)));
    this.overlap = sites.map(() => new Float64Array(this.hopSamples));
    this.bandOfBin = new Int32Array(n / 2).fill(-1);
    this.binsInBand = MODEL_BANDS.map(() => 0);
    this.background = new Float64Array(n / 2);
    const df = fs / n;
    for (let k = 1; k < n / 2; k++) {
      const f = k * df;
      const b = MODEL_BANDS.findIndex((band) => f >= band.lo && f < band.hi);
      this.bandOfBin[k] = b;
      if (b >= 0) this.binsInBand[b]!++;
      // 1/f background (about 12 µV² in all) plus a white floor; keeps DE finite outside the bands.
      this.background[k] = (12 * df) / (1 + f) ** 1.2 / 3 + 0.002 * df;
    }
    this.fifo = sites.map(() => new Float64Array(0));
    this.spec = this.fft.createComplexArray() as number[];
    this.out = this.fft.createComplexArray() as number[];
    // Prime the overlap so the first hop already has full variance.
    this.hop(new Float64Array(subject.world.opts.latentDims));
  }

  /** Synthesise one hop (fs samples, 1 s) per site for latent state z. */
  hop(z: Float64Array): Float64Array[] {
    const { nfft, segLen, hopSamples, rng } = this;
    const noise = this.subject.world.opts.eegNoise;
    const half = nfft / 2;
    const result: Float64Array[] = [];
    for (let s = 0; s < this.sites.length; s++) {
      const bandPower = MODEL_BANDS.map((_, b) => {
        const eff = this.effects[s]![b]!;
        let l = this.base[s]![b]!;
        for (let j = 0; j < z.length; j++) l += eff[j]! * z[j]!;
        return Math.exp(l + noise * rng.normal());
      });
      const spec = this.spec;
      spec.fill(0);
      for (let k = 1; k < half; k++) {
        const b = this.bandOfBin[k]!;
        const p = this.background[k]! + (b >= 0 ? bandPower[b]! / this.binsInBand[b]! : 0);
        // E|X_k|² = p·N²/2 gives variance p from this bin in the real signal.
        const a = Math.sqrt((p * nfft * nfft) / 4);
        const re = a * rng.normal();
        const im = a * rng.normal();
        spec[2 * k] = re;
        spec[2 * k + 1] = im;
        spec[2 * (nfft - k)] = re;
        spec[2 * (nfft - k) + 1] = -im;
      }
      this.fft.inverseTransform(this.out, spec); // fft.js's inverse divides by N
      const seg = new Float64Array(segLen);
      for (let i = 0; i < segLen; i++) seg[i] = this.out[2 * i]! * this.window[i]!;
      const ov = this.overlap[s]!;
      const y = new Float64Array(hopSamples);
      for (let i = 0; i < hopSamples; i++) y[i] = ov[i]! + seg[i]!;
      ov.set(seg.subarray(hopSamples, segLen));
      result.push(y);
    }
    return result;
  }

  /** Read n samples per site; `nextLatent` is called whenever a new second must be synthesised. */
  read(n: number, nextLatent: () => Float64Array): Float64Array[] {
    while (this.fifo[0]!.length < n) {
      const h = this.hop(nextLatent());
      this.fifo = this.fifo.map((f, s) => {
        const m = new Float64Array(f.length + h[s]!.length);
        m.set(f);
        m.set(h[s]!, f.length);
        return m;
      });
    }
    const out = this.fifo.map((f) => f.slice(0, n));
    this.fifo = this.fifo.map((f) => f.slice(n));
    return out;
  }
}

/** Eye-movement features for one window from the window's mean latent state. */
export function eyeFeatures(subject: SubjectProfile, zMean: Float64Array, eyeDims: number, rng: Rng): Float64Array {
  const B = subject.world.eyeLoadings(eyeDims);
  const o = subject.eyeOffset(eyeDims);
  const noise = subject.world.opts.eyeNoise;
  return Float64Array.from(B, (row, i) => {
    let v = 0;
    for (let j = 0; j < row.length; j++) v += row[j]! * zMean[j]!;
    return o[i]! + subject.eyeGain * v + noise * rng.normal();
  });
}

export interface SynthesizeTrialOptions {
  world: EmotionWorld;
  subject: number;
  session: number;
  trial: number;
  label: number;
  windows: number;
  /** Window length in whole seconds (SEED-IV: 4). */
  windowSec: number;
  fs: number;
  sites: readonly string[];
  /** Eye feature count (SEED-IV 31, SEED-V 33); 0 for none. */
  eyeDims: number;
}

export interface SyntheticTrial {
  /** One array per site: windows·windowSec·fs samples, µV. */
  eeg: Float64Array[];
  /** One array per window: eyeDims values. */
  eye: Float64Array[];
}

/** One trial of paired raw EEG and per-window eye features. Deterministic in (world seed, subject, session, trial). */
export function synthesizeTrial(o: SynthesizeTrialOptions): SyntheticTrial {
  if (!Number.isInteger(o.windowSec) || o.windowSec < 1)
    throw new RangeError(`windowSec must be a whole number of seconds, got ${o.windowSec}`);
  const subject = o.world.subject(o.subject);
  const rng = Rng.derive(o.world.seed, 4, o.subject, o.session, o.trial);
  // Session-level electrode offsets come from a session-seeded stream so all trials of a session share them.
  const synth = new EegSynth(subject, o.sites, o.fs, Rng.derive(o.world.seed, 5, o.subject, o.session), 0.1);
  const latent = new LatentProcess(o.world, o.label, rng);
  const n = o.windows * o.windowSec * o.fs;
  const eeg = o.sites.map(() => new Float64Array(n));
  const eye: Float64Array[] = [];
  const D = o.world.opts.latentDims;
  for (let w = 0; w < o.windows; w++) {
    const zSum = new Float64Array(D);
    for (let sec = 0; sec < o.windowSec; sec++) {
      const z = latent.step();
      for (let j = 0; j < D; j++) zSum[j]! += z[j]! / o.windowSec;
      const h = synth.hop(z);
      const offset = (w * o.windowSec + sec) * o.fs;
      for (let s = 0; s < o.sites.length; s++) eeg[s]!.set(h[s]!, offset);
    }
    if (o.eyeDims > 0) eye.push(eyeFeatures(subject, zSum, o.eyeDims, rng));
  }
  return { eeg, eye };
}

/**
 * A live wearer for virtual headbands: continuous EEG at the device's sites and rate whose emotion can be
 * switched at any time.
 */
export class WearerStream {
  private readonly latent: LatentProcess;
  private readonly synth: EegSynth;

  constructor(world: EmotionWorld, subject: number, sites: readonly string[], fs: number, seed: number, label = 0) {
    const rng = Rng.derive(seed, 6, subject);
    this.latent = new LatentProcess(world, label, rng);
    this.synth = new EegSynth(world.subject(subject), sites, fs, Rng.derive(seed, 7, subject), 0.1);
  }
  setEmotion(label: number): void {
    this.latent.setLabel(label);
  }
  get emotion(): number {
    return this.latent.currentLabel;
  }
  /** n samples per site (µV). */
  read(n: number): Float64Array[] {
    return this.synth.read(n, () => this.latent.step());
  }
}

export const SEED_IV_CLASSES = ['neutral', 'sad', 'fear', 'happy'] as const;

/** The world every default path uses (synthetic datasets, virtual headbands): SEED-IV classes, seed 2022. */
export const DEFAULT_WORLD_SEED = 2022;
export function defaultWorld(overrides: Partial<WorldOptions> = {}): EmotionWorld {
  return new EmotionWorld({ seed: DEFAULT_WORLD_SEED, classes: SEED_IV_CLASSES, ...overrides });
}
