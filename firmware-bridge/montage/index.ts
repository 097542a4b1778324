/**
 * Montages: the SEED family's 62-channel cap, headband electrode sets, and the mapping from a headband's
 * sites to the nearest cap channels (by 3-D distance on the standard 10-05 template). Pure data and
 * geometry: runs in Node and the browser, used by the device registry, the runtime and training.
 */
import { STANDARD_1005_MM, type Vec3 } from './positions.js';

export { STANDARD_1005_MM, type Vec3 } from './positions.js';

/** Channel order of SEED, SEED-IV and SEED-V feature and raw files (datasets.md). */
export const SEED_62_CHANNELS: readonly string[] = Object.freeze(
  (
    'FP1 FPZ FP2 AF3 AF4 F7 F5 F3 F1 FZ F2 F4 F6 F8 FT7 FC5 FC3 FC1 FCZ FC2 FC4 FC6 FT8 T7 C5 C3 C1 CZ C2 C4 C6 T8 ' +
    'TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 P7 P5 P3 P1 PZ P2 P4 P6 P8 PO7 PO5 PO3 POZ PO4 PO6 PO8 CB1 O1 OZ O2 CB2'
  ).split(' '),
);

const BY_UPPER = new Map<string, Vec3>(Object.entries(STANDARD_1005_MM).map(([k, v]) => [k.toUpperCase(), v]));

/** Position of a named site (case-insensitive: "FPZ", "Fpz" and "fpz" are the same), or undefined. */
export function sitePosition(name: string): Vec3 | undefined {
  return BY_UPPER.get(name.trim().toUpperCase());
}

/** Every site name we know a position for. */
export function knownSites(): string[] {
  return Object.keys(STANDARD_1005_MM);
}

export function distanceMm(a: Vec3, b: Vec3): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** Distance between two named sites in mm; throws on an unknown name. */
export function siteDistanceMm(a: string, b: string): number {
  return distanceMm(requirePosition(a), requirePosition(b));
}

function requirePosition(name: string): Vec3 {
  const p = sitePosition(name);
  if (!p)
    throw new RangeError(
      `unknown electrode site "${name}" (not on the 10-05 template table; known: 10-10 sites, T3–T6, M1/M2, A1/A2, CB1/CB2)`,
    );
  return p;
}

/** A device's electrode set. `reference` is informational (the cap data are not re-referenced by this module). */
export interface Montage {
  name: string;
  sites: readonly string[];
  reference?: string;
}

/** Muse (2016, S, 2): TP9, AF7, AF8, TP10 in the order of its EEG characteristics; reference Fpz. */
export const MUSE_MONTAGE: Montage = Object.freeze({ name: 'muse', sites: Object.freeze(['TP9', 'AF7', 'AF8', 'TP10']), reference: 'Fpz' });

/** OpenBCI Ganglion: four user-placed electrodes; the user says where they are. */
export function ganglionMontage(sites: readonly string[], reference?: string): Montage {
  if (sites.length !== 4) throw new RangeError(`a Ganglion montage needs exactly 4 electrode sites, got ${sites.length}`);
  return customMontage('ganglion', sites, reference);
}

/** Any named sites (checked against the position table). */
export function customMontage(name: string, sites: readonly string[], reference?: string): Montage {
  if (!sites.length) throw new RangeError(`montage ${name} lists no electrode sites`);
  for (const s of sites) requirePosition(s);
  if (new Set(sites.map((s) => s.toUpperCase())).size !== sites.length) throw new RangeError(`montage ${name} lists a site twice`);
  return Object.freeze({ name, sites: Object.freeze([...sites]), ...(reference ? { reference } : {}) });
}

export interface ChannelMatch {
  /** Device site, e.g. "AF7". */
  site: string;
  /** Nearest cap channel, spelled as in the cap list (e.g. "FP1"). */
  channel: string;
  /** Its index in the cap list. */
  index: number;
  distanceMm: number;
  /** Other cap channels within `tieToleranceMm` of the nearest one (AF7 is ≈30 mm from both FP1 and F7). */
  alternatives: { channel: string; index: number; distanceMm: number }[];
}

export interface ChannelMapping {
  montage: Montage;
  capChannels: readonly string[];
  matches: ChannelMatch[];
}

export interface MapOptions {
  /** Cap channel list (default: the SEED 62-channel order). */
  capChannels?: readonly string[];
  /** Report alternatives this close to the best distance (default 2 mm). */
  tieToleranceMm?: number;
  /** Fail when the nearest cap channel is farther than this (default 60 mm). */
  maxDistanceMm?: number;
  /** Allow two device sites to map to the same cap channel (default false: later sites take their next-best). */
  allowShared?: boolean;
  /** Force specific choices, e.g. { AF7: 'F7' } (must be a cap channel). */
  overrides?: Readonly<Record<string, string>>;
}

/**
 * Map each device site to the nearest cap channel by Euclidean distance on the 10-05 template. A site that
 * is itself a cap channel maps to it at 0 mm. Ties within 1e-6 mm are broken by cap order (deterministic).
 */
export function mapToCap(montage: Montage, opts: MapOptions = {}): ChannelMapping {
  const cap = opts.capChannels ?? SEED_62_CHANNELS;
  const tol = opts.tieToleranceMm ?? 2;
  const maxD = opts.maxDistanceMm ?? 60;
  const capPos = cap.map((c) => requirePosition(c));
  const used = new Set<number>();
  const matches: ChannelMatch[] = [];
  for (const site of montage.sites) {
    const p = requirePosition(site);
    const ranked = cap
      .map((channel, index) => ({ channel, index, distanceMm: distanceMm(p, capPos[index]!) }))
      .sort((a, b) => a.distanceMm - b.distanceMm || a.index - b.index);
    const override = opts.overrides?.[site] ?? opts.overrides?.[site.toUpperCase()];
    let best = ranked[0]!;
    if (override !== undefined) {
      const o = ranked.find((r) => r.channel.toUpperCase() === override.toUpperCase());
      if (!o) throw new RangeError(`override ${site} → ${override}: ${override} is not a cap channel`);
      best = o;
    } else if (!opts.allowShared) {
      const free = ranked.find((r) => !used.has(r.index));
      if (!free) throw new RangeError(`no free cap channel left for site ${site}`);
      best = free;
    }
    if (best.distanceMm > maxD) {
      throw new RangeError(`site ${site}: nearest cap channel ${best.channel} is ${best.distanceMm.toFixed(1)} mm away (> ${maxD} mm)`);
    }
    used.add(best.index);
    matches.push({
      site,
      channel: best.channel,
      index: best.index,
      distanceMm: best.distanceMm,
      alternatives: ranked.filter((r) => r !== best && r.distanceMm - best.distanceMm <= tol),
    });
  }
  return { montage, capChannels: cap, matches };
}

/** Indices (into the cap list) of a mapping's channels, in device-site order. */
export function mappedIndices(mapping: ChannelMapping): number[] {
  return mapping.matches.map((m) => m.index);
}

/**
 * Pick the mapped channels out of one window's [channels][bands] features (row-major, `bands` per channel).
 * Returns a new [sites][bands] array in device-site order.
 */
export function selectChannelFeatures<T extends Float32Array | Float64Array>(features: T, bands: number, indices: readonly number[]): T {
  const out = new (features.constructor as new (n: number) => T)(indices.length * bands);
  indices.forEach((ch, i) => {
    if (ch < 0 || (ch + 1) * bands > features.length)
      throw new RangeError(`channel index ${ch} outside ${features.length / bands} channels`);
    out.set(features.subarray(ch * bands, (ch + 1) * bands), i * bands);
  });
  return out;
}
