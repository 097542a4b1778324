/**
 * A simulated radio: several virtual headbands of different kinds and battery levels advertise (plus a
 * device the registry does not know, as in any real room), and each connects as the existing virtual device
 * (sim/virtual-*.ts) built through its `sim:` URI, so everything after the scan speaks the real byte
 * protocols. It makes pairing testable end to end without hardware (`cmcrd pair --transport sim`).
 */
import { identifyAdvertisement, deviceProfile, type DeviceKind } from '../devices.js';
import { normaliseUuid, uuid16, type GattPeripheral, type Uuid } from '../gatt.js';
import { BATTERY_SERVICE } from '../protocols/battery.js';
import {
  TransportError,
  resolveTimeouts,
  sleep,
  withTimeout,
  type BleTransport,
  type ConnectOptions,
  type ScanOptions,
  type ScanResult,
  type TransportTimeouts,
} from '../transports/transport.js';
import type { VirtualPeripheral } from './base.js';
import { createSimDevice } from './uri.js';

export interface SimAdvertiser {
  kind: DeviceKind;
  /** Advertised name; the device id is `sim-<name>`, as the virtual device's own id. */
  name: string;
  batteryPercent: number;
  rssi: number;
  /** Put the battery level in the advertisement (Battery Service data), as some custom firmware does. */
  advertiseBattery?: boolean;
  /** When the scan first hears it (ms after the scan starts; default 40 ms + 150 ms × its position). */
  heardAtMs?: number;
  /** It advertises, but connects never complete (out of range by the time you connect). */
  unreachable?: boolean;
  /** Extra `sim:` URI options for the virtual device (e.g. { drop: '0.01', emotion: 'happy' }). */
  options?: Record<string, string>;
}

/** A device the registry does not recognise (it must never be offered for pairing). */
export interface SimStranger {
  name: string;
  services: Uuid[];
  rssi: number;
}

export const DEFAULT_SIM_FLEET: readonly SimAdvertiser[] = [
  { kind: 'muse', name: 'Muse-1A2B', batteryPercent: 80, rssi: -58 },
  { kind: 'muse-athena', name: 'MuseS-7C3D', batteryPercent: 35, rssi: -67 },
  { kind: 'ganglion', name: 'Ganglion-4E5F', batteryPercent: 90, rssi: -72 },
  { kind: 'open-eeg', name: 'CMCRD-0C12', batteryPercent: 12, rssi: -81, advertiseBattery: true },
];

export const DEFAULT_SIM_STRANGERS: readonly SimStranger[] = [{ name: 'HRM-Pro:4711', services: [uuid16(0x180d)], rssi: -63 }];

export interface SimTransportOptions {
  fleet?: readonly SimAdvertiser[];
  strangers?: readonly SimStranger[];
  /** Options every virtual device gets unless its advertiser says otherwise (e.g. { clock: 'manual' }). */
  deviceDefaults?: Record<string, string>;
  /** Real ms per simulated ms during a scan (default 0: the scan returns at once with what it would hear). */
  timeScale?: number;
  timeouts?: Partial<TransportTimeouts>;
}

export const simDeviceId = (name: string): string => `sim-${name}`;

export class SimTransport implements BleTransport {
  readonly name = 'sim' as const;
  readonly fleet: readonly SimAdvertiser[];
  readonly strangers: readonly SimStranger[];
  private readonly timeouts: TransportTimeouts;
  private readonly timeScale: number;
  private readonly deviceDefaults: Record<string, string>;
  /** The headbands in the room, made at their first connect: a later connect reaches the same one again. */
  private readonly devices = new Map<string, VirtualPeripheral>();
  private closed = false;

  constructor(opts: SimTransportOptions = {}) {
    this.fleet = opts.fleet ?? DEFAULT_SIM_FLEET;
    this.strangers = opts.strangers ?? DEFAULT_SIM_STRANGERS;
    this.timeouts = resolveTimeouts(opts.timeouts);
    this.timeScale = opts.timeScale ?? 0;
    this.deviceDefaults = opts.deviceDefaults ?? {};
    const ids = this.fleet.map((a) => simDeviceId(a.name));
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new RangeError(`two simulated devices share the id ${dup}`);
  }

  async scan(opts: ScanOptions): Promise<ScanResult[]> {
    this.assertOpen();
    const heard: { at: number; result: ScanResult }[] = [];
    this.fleet.forEach((a, i) => {
      const services = deviceProfile(a.kind).scan.services.map((u) => normaliseUuid(u));
      heard.push({
        at: a.heardAtMs ?? 40 + 150 * i,
        result: {
          transport: 'sim',
          id: simDeviceId(a.name),
          name: a.name,
          rssi: a.rssi,
          services: a.advertiseBattery ? [...services, BATTERY_SERVICE.service] : services,
          kind: identifyAdvertisement({ name: a.name, services }),
          battery: a.advertiseBattery ? Math.round(a.batteryPercent) : null,
        },
      });
    });
    this.strangers.forEach((s, i) => {
      const services = s.services.map((u) => normaliseUuid(u));
      heard.push({
        at: 115 + 150 * i,
        result: {
          transport: 'sim',
          id: simDeviceId(s.name),
          name: s.name,
          rssi: s.rssi,
          services,
          kind: identifyAdvertisement({ name: s.name, services }),
          battery: null,
        },
      });
    });
    heard.sort((a, b) => a.at - b.at);
    const out: ScanResult[] = [];
    let now = 0;
    for (const h of heard) {
      if (h.at >= opts.durationMs || opts.signal?.aborted) break;
      if (this.timeScale > 0) await sleep((h.at - now) * this.timeScale, opts.signal);
      now = h.at;
      if (opts.signal?.aborted) break;
      if (h.result.kind === null && !opts.includeUnknown) continue;
      out.push(h.result);
      opts.onResult?.(h.result);
    }
    if (this.timeScale > 0 && !opts.signal?.aborted) await sleep((opts.durationMs - now) * this.timeScale, opts.signal);
    return out;
  }

  async connect(id: string, opts: ConnectOptions = {}): Promise<GattPeripheral> {
    this.assertOpen();
    const a = this.fleet.find((x) => simDeviceId(x.name) === id);
    const timeoutMs = opts.timeoutMs ?? this.timeouts.connectMs;
    if (!a) {
      if (this.strangers.some((s) => simDeviceId(s.name) === id))
        throw new TransportError('not-found', `${id} is not a headband the registry knows`);
      throw new TransportError(
        'not-found',
        `no simulated device has the id ${id} (simulated: ${this.fleet.map((x) => simDeviceId(x.name)).join(', ')})`,
      );
    }
    const what = `connecting to ${a.name} (${id})`;
    if (a.unreachable) return withTimeout(new Promise<never>(() => undefined), timeoutMs, what);
    // The same headband again (its wearer, battery and clock go on), as a radio reconnects the same device after
    // a link loss; one still out of reach (`down=`) does not answer, as a real one times out.
    const known = this.devices.get(id);
    if (known) {
      try {
        known.reconnect();
      } catch (e) {
        throw new TransportError('timeout', `${what} timed out: ${e instanceof Error ? e.message : String(e)}`);
      }
      return known;
    }
    const device = this.createDevice(a);
    this.devices.set(id, device);
    return device;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The `sim:` URI the advertiser connects as. */
  deviceUri(a: SimAdvertiser): string {
    const params = new URLSearchParams({
      name: a.name,
      battery: String(a.batteryPercent),
      seed: String(seedOf(a.name)),
      ...this.deviceDefaults,
      ...a.options,
    });
    return `sim:${a.kind}?${params.toString()}`;
  }

  private createDevice(a: SimAdvertiser): VirtualPeripheral {
    return createSimDevice(this.deviceUri(a));
  }

  private assertOpen(): void {
    if (this.closed) throw new TransportError('disconnected', 'the simulated transport is closed');
  }
}

/** A stable seed per device name, so each virtual headband has its own (repeatable) wearer and noise. */
function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h % 1_000_000;
}

export function createSimTransport(opts: SimTransportOptions = {}): SimTransport {
  return new SimTransport(opts);
}
