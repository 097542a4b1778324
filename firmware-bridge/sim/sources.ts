/**
 * Signal sources for virtual headbands: the synthetic wearer (default; the same generative world as the
 * synthetic datasets, so a model trained on them recognises the virtual wearer's emotion) or any recorded or
 * computed sample arrays.
 */
import type { SignalSource } from './base.js';
import { Rng } from './rng.js';
import { WearerStream, defaultWorld, type EmotionWorld } from './wearer-model.js';

export interface WearerSourceOptions {
  /** Electrode sites the device has (10-10 names). */
  sites: readonly string[];
  sampleRate: number;
  /** Class name or index (default 0, 'neutral' in the default world). */
  emotion?: number | string;
  subject?: number;
  seed?: number;
  world?: EmotionWorld;
}

/** The synthetic wearer as a source, with run-time emotion switching by name or index. */
export class WearerSource implements SignalSource {
  readonly world: EmotionWorld;
  private readonly stream: WearerStream;

  constructor(o: WearerSourceOptions) {
    this.world = o.world ?? defaultWorld();
    this.stream = new WearerStream(this.world, o.subject ?? 0, o.sites, o.sampleRate, o.seed ?? 1, this.labelIndex(o.emotion ?? 0));
  }

  labelIndex(label: number | string): number {
    const classes = this.world.classes;
    if (typeof label === 'number') {
      if (!Number.isInteger(label) || label < 0 || label >= classes.length)
        throw new RangeError(`emotion index ${label} outside 0..${classes.length - 1}`);
      return label;
    }
    const i = /^\d+$/.test(label) ? Number(label) : classes.indexOf(label.toLowerCase());
    if (i < 0 || i >= classes.length) throw new RangeError(`unknown emotion "${label}" (known: ${classes.join(', ')})`);
    return i;
  }

  setEmotion(label: number | string): void {
    this.stream.setEmotion(this.labelIndex(label));
  }

  get emotion(): string {
    return this.world.classes[this.stream.emotion]!;
  }

  read(n: number): Float64Array[] {
    return this.stream.read(n);
  }
}

/** Plays fixed sample arrays (µV, one per channel), looping by default; after the end without loop, zeros. */
export class ArraySource implements SignalSource {
  private pos = 0;
  constructor(
    private readonly data: readonly Float64Array[],
    private readonly loop = true,
  ) {
    if (data.length === 0 || data[0]!.length === 0) throw new RangeError('an array source needs at least one channel with samples');
    if (data.some((d) => d.length !== data[0]!.length)) throw new RangeError('every channel of an array source must have the same length');
  }
  read(n: number): Float64Array[] {
    const len = this.data[0]!.length;
    const out = this.data.map(() => new Float64Array(n));
    for (let i = 0; i < n; i++, this.pos++) {
      if (this.pos >= len) {
        if (!this.loop) break;
        this.pos = 0;
      }
      for (let c = 0; c < this.data.length; c++) out[c]![i] = this.data[c]![this.pos]!;
    }
    return out;
  }
}

/** Adds `extra` channels of small seeded noise (unconnected AUX inputs) after a source's channels. */
export class PaddedSource implements SignalSource {
  private readonly rng: Rng;
  constructor(
    private readonly inner: SignalSource,
    private readonly extra: number,
    seed: number,
    private readonly noiseUv = 2,
  ) {
    this.rng = Rng.derive(seed, 200);
  }
  read(n: number): Float64Array[] {
    const base = this.inner.read(n);
    for (let k = 0; k < this.extra; k++) base.push(Float64Array.from({ length: n }, () => this.rng.normal() * this.noiseUv));
    return base;
  }
  setEmotion(label: number | string): void {
    if (!this.inner.setEmotion) throw new Error('the inner source does not model emotion');
    this.inner.setEmotion(label);
  }
  get emotion(): number | string | undefined {
    return this.inner.emotion;
  }
}
