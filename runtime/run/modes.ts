/**
 * The four run modes and what each sets. Streaming is what a headband spends its battery on, and decoding and
 * resampling every sample is most of the host's work, so the thrifty modes save by streaming less, not only by
 * classifying less: saver halts the headband between the windows it classifies, critical halts it altogether
 * (a short burst now and then reads the headband's battery) unless told to keep classifying.
 */

export type Mode = 'performance' | 'balanced' | 'saver' | 'critical';
/** Richest first. */
export const MODES: readonly Mode[] = ['performance', 'balanced', 'saver', 'critical'];

export interface ModeSettings {
  /** Seconds from one classified window's start to the next. */
  strideSec: number;
  /** default: model.onnx; fast: the variant the card says is faster on this runtime (model.onnx when it says none). */
  variant: 'default' | 'fast';
  /** full: the preset asked for (or the device's default); lean: the fewest streams that carry the model's electrodes. */
  preset: 'full' | 'lean';
  /** Halt the headband between classified windows (stream only a window's worth each stride). */
  dutyCycle: boolean;
  /** No inference; only a battery watch (critical). */
  pause: boolean;
}

export type ModeTable = Record<Mode, ModeSettings>;

/** Default settings for a card with window `windowSec` and hop `hopSec`. */
export function defaultModes(windowSec: number, hopSec: number): ModeTable {
  return {
    performance: { strideSec: Math.min(1, hopSec), variant: 'default', preset: 'full', dutyCycle: false, pause: false },
    balanced: { strideSec: hopSec, variant: 'fast', preset: 'lean', dutyCycle: false, pause: false },
    // About half a minute between windows: the headband streams some 15 % of the time (emotions change slowly).
    saver: { strideSec: Math.max(8 * hopSec, 2 * windowSec, 30), variant: 'fast', preset: 'lean', dutyCycle: true, pause: false },
    critical: { strideSec: Math.max(15 * hopSec, 60), variant: 'fast', preset: 'lean', dutyCycle: true, pause: true },
  };
}

export interface ResolvedModes {
  table: ModeTable;
  /** Feature stride shared by the continuous modes (a mode switch between them needs no restart). */
  baseStrideSec: number;
  notes: string[];
}

/**
 * The mode table for a card: user overrides on the defaults, then what the card allows. A card whose features are
 * smoothed along windows needs every window at its own hop, in order: strides become whole multiples of the hop
 * and nothing is duty-cycled (the smoother would miss windows).
 */
export function resolveModes(
  card: { windowSec: number; hopSec: number; fs: number; smoothing: string },
  overrides: Partial<Record<Mode, Partial<ModeSettings>>> = {},
): ResolvedModes {
  const base = defaultModes(card.windowSec, card.hopSec);
  const notes: string[] = [];
  const table = {} as ModeTable;
  for (const m of MODES) {
    const s: ModeSettings = { ...base[m], ...(overrides[m] ?? {}) };
    if (!(s.strideSec > 0) || !Number.isFinite(s.strideSec))
      throw new RangeError(`mode ${m}: strideSec must be a positive number of seconds, got ${s.strideSec}`);
    table[m] = s;
  }
  const smoothed = card.smoothing !== 'none';
  if (smoothed) {
    for (const m of MODES) {
      const s = table[m];
      const k = Math.max(1, Math.round(s.strideSec / card.hopSec));
      if (s.strideSec !== k * card.hopSec) s.strideSec = k * card.hopSec;
      if (s.dutyCycle && !s.pause) {
        s.dutyCycle = false;
        notes.push(
          `${m}: the card smooths features along windows (${card.smoothing}), so the headband streams continuously and every ${k}. window is classified`,
        );
      }
    }
  }
  // Continuous modes share one feature stride: the largest whole number of samples dividing all their strides.
  const continuous = MODES.filter((m) => !table[m].dutyCycle && !table[m].pause).map((m) => table[m].strideSec);
  let baseStride = smoothed ? card.hopSec : Math.min(...continuous, card.hopSec);
  const samples = (s: number) => Math.round(s * card.fs);
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  if (!smoothed) {
    let g = samples(baseStride);
    for (const s of continuous) g = gcd(g, samples(s));
    baseStride = Math.max(1, g) / card.fs;
  }
  for (const m of MODES) {
    const s = table[m];
    if (Math.abs(samples(s.strideSec) - s.strideSec * card.fs) > 1e-6)
      throw new RangeError(`mode ${m}: a stride of ${s.strideSec} s is not a whole number of samples at ${card.fs} Hz`);
  }
  return { table, baseStrideSec: baseStride, notes };
}

/** Parses "performance" etc. */
export function isMode(s: string): s is Mode {
  return (MODES as readonly string[]).includes(s);
}

/** Richer = lower index. */
export function modeRank(m: Mode): number {
  return MODES.indexOf(m);
}
