/**
 * Device URIs: `sim:<kind>?<options>` builds a virtual headband, `replay:<capture file>?<options>` replays a
 * capture. Options are documented in firmware-bridge/README.md; unknown options and bad values are errors
 * naming the option.
 */
import { parseCapture } from '../capture.js';
import type { GattPeripheral } from '../gatt.js';
import { findDriver, type DeviceKind } from '../registry.js';
import type { FaultOptions, VirtualDeviceOptions, VirtualPeripheral } from './base.js';
import { ReplayPeripheral, type ReplayOptions } from './replay.js';
import { VirtualAthena } from './virtual-athena.js';
import { VirtualGanglion } from './virtual-ganglion.js';
import { VirtualMuse } from './virtual-muse.js';
import { VirtualOpenEeg } from './virtual-open-eeg.js';

export class DeviceUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceUriError';
  }
}

const COMMON = [
  'emotion',
  'subject',
  'seed',
  'speed',
  'clock',
  'battery',
  'drain',
  'drop',
  'dup',
  'reorder',
  'corrupt',
  'jitter',
  'stall',
  'stall-at',
  'disconnect-after',
  'down',
  'name',
  'start',
];
/** The kinds with a virtual headband, and the options of each beyond COMMON (a new driver needs no entry here). */
const PER_KIND: Partial<Record<DeviceKind, string[]>> = {
  muse: ['preset'],
  'muse-athena': ['preset'],
  ganglion: ['firmware', 'accel', 'sites'],
  'open-eeg': ['sites', 'rate', 'format', 'frames', 'scale', 'version'],
};
const SIMULATED = Object.keys(PER_KIND).join('|');

export interface SimSpec {
  kind: DeviceKind;
  params: Map<string, string>;
}

export function parseSimUri(uri: string): SimSpec {
  const m = /^sim:([a-z-]+)(?:\?(.*))?$/.exec(uri.trim());
  if (!m) throw new DeviceUriError(`not a simulator URI: ${JSON.stringify(uri)} (expected sim:<${SIMULATED}>[?option=value&…])`);
  const driver = findDriver(m[1]!);
  if (!driver) throw new DeviceUriError(`unknown simulated device "${m[1]}" (known: ${SIMULATED.replace(/\|/g, ', ')})`);
  const kind = driver.kind;
  const own = PER_KIND[kind];
  if (!own) throw new DeviceUriError(`sim:${kind}: there is no virtual ${driver.label} (simulated: ${SIMULATED.replace(/\|/g, ', ')})`);
  const params = new Map<string, string>();
  const allowed = new Set([...COMMON, ...own]);
  for (const [k, v] of new URLSearchParams(m[2] ?? '')) {
    if (!allowed.has(k)) throw new DeviceUriError(`unknown option "${k}" for sim:${kind} (known: ${[...allowed].join(', ')})`);
    if (params.has(k)) throw new DeviceUriError(`option "${k}" is given twice (${k}=${params.get(k)} and ${k}=${v}); give it once`);
    params.set(k, v);
  }
  return { kind, params };
}

function num(p: Map<string, string>, key: string, check: (v: number) => boolean, what: string): number | undefined {
  const s = p.get(key);
  if (s === undefined) return undefined;
  // A plain decimal only: Number() would also read "0x10" as 16 and "" as 0.
  const v = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(s.trim()) ? Number(s) : NaN;
  if (!Number.isFinite(v) || !check(v)) throw new DeviceUriError(`option ${key}=${JSON.stringify(s)}: expected ${what}`);
  return v;
}

const prob = (v: number) => v >= 0 && v <= 1;

/** Build the virtual headband a `sim:` URI describes. `defaults` fill options the URI leaves out. */
export function createSimDevice(uri: string, defaults: Partial<Record<string, string>> = {}): VirtualPeripheral {
  const { kind, params } = parseSimUri(uri);
  for (const [k, v] of Object.entries(defaults))
    if (v !== undefined && !params.has(k) && [...COMMON, ...(PER_KIND[kind] ?? [])].includes(k)) params.set(k, v);
  const clock = params.get('clock');
  if (clock !== undefined && clock !== 'real' && clock !== 'manual')
    throw new DeviceUriError(`option clock=${JSON.stringify(clock)}: expected real or manual`);
  const faults: FaultOptions = {};
  const setF = <K extends keyof FaultOptions>(k: K, v: number | undefined) => {
    if (v !== undefined) faults[k] = v;
  };
  setF('drop', num(params, 'drop', prob, 'a probability 0–1'));
  setF('dup', num(params, 'dup', prob, 'a probability 0–1'));
  setF('reorder', num(params, 'reorder', prob, 'a probability 0–1'));
  setF('corrupt', num(params, 'corrupt', prob, 'a probability 0–1'));
  setF(
    'jitterMs',
    num(params, 'jitter', (v) => v >= 0, 'milliseconds ≥ 0'),
  );
  setF(
    'stallS',
    num(params, 'stall', (v) => v > 0, 'seconds > 0'),
  );
  setF(
    'stallAtS',
    num(params, 'stall-at', (v) => v >= 0, 'seconds ≥ 0'),
  );
  setF(
    'disconnectAfterS',
    num(params, 'disconnect-after', (v) => v > 0, 'seconds > 0'),
  );
  setF(
    'downS',
    num(params, 'down', (v) => v >= 0, 'seconds ≥ 0'),
  );
  const base: VirtualDeviceOptions = { faults };
  const speed = num(params, 'speed', (v) => v > 0, 'a number > 0');
  if (speed !== undefined) base.speed = speed;
  if (clock) base.clock = clock as 'real' | 'manual';
  const battery = num(params, 'battery', (v) => v >= 0 && v <= 100, 'a percentage 0–100');
  if (battery !== undefined) base.batteryPercent = battery;
  const drain = num(params, 'drain', (v) => v >= 0, '% per hour ≥ 0');
  if (drain !== undefined) base.drainPerHour = drain;
  const seed = num(params, 'seed', Number.isInteger, 'an integer');
  if (seed !== undefined) base.seed = seed;
  const start = num(params, 'start', (v) => v >= 0, 'a virtual epoch in ms');
  if (start !== undefined) base.startTimeMs = start;
  if (params.has('name')) base.name = params.get('name')!;
  const subject = num(params, 'subject', (v) => Number.isInteger(v) && v >= 0, 'a subject index ≥ 0');
  const emotion = params.get('emotion');
  const wearer = { ...(subject !== undefined ? { subject } : {}), ...(emotion !== undefined ? { emotion } : {}) };
  const sites = params
    .get('sites')
    ?.split(',')
    .map((s) => s.trim().toUpperCase());
  try {
    switch (kind) {
      case 'muse':
        return new VirtualMuse({ ...base, ...wearer, ...(params.has('preset') ? { preset: params.get('preset')! } : {}) });
      case 'muse-athena':
        return new VirtualAthena({ ...base, ...wearer, ...(params.has('preset') ? { preset: params.get('preset')! } : {}) });
      case 'ganglion': {
        const fw = params.get('firmware');
        if (fw !== undefined && !/^[23](\.x)?$/.test(fw))
          throw new DeviceUriError(`option firmware=${JSON.stringify(fw)}: expected 2 or 3`);
        const accel = params.get('accel');
        if (accel !== undefined && !['on', 'off', 'true', 'false', '1', '0'].includes(accel))
          throw new DeviceUriError(`option accel=${JSON.stringify(accel)}: expected on or off`);
        return new VirtualGanglion({
          ...base,
          ...wearer,
          ...(fw ? { firmware: fw.startsWith('2') ? 2 : 3 } : {}),
          ...(accel ? { accel: ['on', 'true', '1'].includes(accel) } : {}),
          ...(sites ? { sites } : {}),
        });
      }
      case 'open-eeg': {
        const format = params.get('format');
        if (format !== undefined && format !== 'int16' && format !== 'int24')
          throw new DeviceUriError(`option format=${JSON.stringify(format)}: expected int16 or int24`);
        const rate = num(params, 'rate', (v) => Number.isInteger(v) && v > 100 && v <= 16000, 'an integer sample rate 101–16000 Hz');
        const frames = num(params, 'frames', (v) => Number.isInteger(v) && v >= 1 && v <= 255, 'an integer 1–255');
        const scale = num(params, 'scale', (v) => v > 0, 'µV per count > 0');
        const version = num(params, 'version', (v) => v === 1 || v === 2, 'packet format version 1 or 2');
        return new VirtualOpenEeg({
          ...base,
          ...wearer,
          ...(sites ? { sites } : {}),
          ...(rate ? { sampleRate: rate } : {}),
          ...(format ? { format } : {}),
          ...(frames ? { frames } : {}),
          ...(scale ? { scaleUv: scale } : {}),
          ...(version ? { version: version as 1 | 2 } : {}),
        });
      }
      default:
        throw new DeviceUriError(`sim:${kind as string}: no virtual headband for this kind`);
    }
  } catch (e) {
    if (e instanceof DeviceUriError) throw e;
    throw new DeviceUriError(`${uri}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface OpenDeviceOptions {
  /** Reads a capture file for `replay:` URIs (Node: fs; browser: fetch or a File). */
  loadCapture?: (path: string) => Promise<string>;
  /** Defaults for options a `sim:` URI leaves out (e.g. { clock: 'manual' }). */
  simDefaults?: Partial<Record<string, string>>;
}

/** Open a `sim:` or `replay:` device. */
export async function openDevice(uri: string, opts: OpenDeviceOptions = {}): Promise<GattPeripheral> {
  if (uri.startsWith('sim:')) return createSimDevice(uri, opts.simDefaults);
  if (uri.startsWith('replay:')) {
    const { path, options } = parseReplayUri(uri);
    if (!opts.loadCapture)
      throw new DeviceUriError(
        'replay: needs a capture loader here (pass loadCapture; in Node use openDevice from firmware-bridge/open.node.ts)',
      );
    const text = await opts.loadCapture(path);
    const cap = parseCapture(text);
    return new ReplayPeripheral(cap, options);
  }
  throw new DeviceUriError(`unsupported device URI ${JSON.stringify(uri)} (expected sim:… or replay:…)`);
}

export function parseReplayUri(uri: string): { path: string; options: ReplayOptions } {
  const m = /^replay:([^?]+)(?:\?(.*))?$/.exec(uri);
  if (!m) throw new DeviceUriError(`not a replay URI: ${JSON.stringify(uri)} (expected replay:<capture file>[?speed=…&clock=manual])`);
  const options: ReplayOptions = {};
  const given = new Set<string>();
  for (const [k, v] of new URLSearchParams(m[2] ?? '')) {
    if (given.has(k)) throw new DeviceUriError(`option "${k}" is given twice; give it once`);
    given.add(k);
    if (k === 'speed') {
      const s = Number(v);
      if (!(s > 0)) throw new DeviceUriError(`option speed=${JSON.stringify(v)}: expected a number > 0`);
      options.speed = s;
    } else if (k === 'clock') {
      if (v !== 'real' && v !== 'manual') throw new DeviceUriError(`option clock=${JSON.stringify(v)}: expected real or manual`);
      options.clock = v;
    } else if (k === 'autoplay') options.autoplay = v !== 'false' && v !== '0';
    else throw new DeviceUriError(`unknown replay option "${k}" (known: speed, clock, autoplay)`);
  }
  return { path: m[1]!, options };
}

/** Is this peripheral a virtual headband (with advance(), setEmotion(), faults…)? */
export function isVirtualDevice(p: GattPeripheral): p is VirtualPeripheral {
  return (
    typeof (p as Partial<VirtualPeripheral>).setEmotion === 'function' && typeof (p as Partial<VirtualPeripheral>).advance === 'function'
  );
}
