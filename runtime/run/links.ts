/**
 * DeviceLinks: virtual headbands (which reconnect after a simulated link loss, unless out of reach), replays
 * (whose end is the end of the input), paired headbands reached through a radio transport (every connection,
 * the first and each reconnection, goes through the allow-list check and the same transport), and any already
 * connected peripheral without a way back (a loss ends the run).
 */
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import type { BleTransport } from '../../firmware-bridge/transports/transport.js';
import type { AllowList, AllowListEntry } from '../pairing/allow-list.js';
import { connectAllowed } from '../pairing/resolve.js';
import { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import { ReplayPeripheral } from '../../firmware-bridge/sim/replay.js';
import { VirtualGanglion } from '../../firmware-bridge/sim/virtual-ganglion.js';
import type { Advanceable } from './clock.js';

/** How the supervisor reaches a device: the first connection and every reconnection go through it. */
export interface DeviceLink {
  /** The device as the user named it (URI or saved name). */
  readonly label: string;
  /** attempt 0: first connection; n ≥ 1: the n-th reconnection attempt after a loss. */
  connect(attempt: number): Promise<GattPeripheral>;
  /** A loss that must not be retried (e.g. a replay that reached its end). */
  isFinal?(reason: string): boolean;
  /** A virtual device for a virtual clock to move. */
  readonly advanceable?: Advanceable;
  /** Preset asked for (a URI's preset= or a flag). */
  readonly preset?: string;
  /** Channel labels the device cannot report (e.g. a virtual Ganglion's sites). */
  readonly channelNames?: readonly string[];
  close(): Promise<void>;
}

/** Does this device run on a manual clock (advance() works)? */
export function manualClock(d: GattPeripheral): Advanceable | null {
  const a = d as GattPeripheral & Partial<Advanceable>;
  if (typeof a.advance !== 'function') return null;
  try {
    a.advance(0);
    return a as Advanceable;
  } catch {
    return null;
  }
}

export function virtualLink(device: VirtualPeripheral, label: string, preset?: string): DeviceLink {
  const clock = manualClock(device);
  return {
    label,
    ...(preset !== undefined ? { preset } : {}),
    // A virtual Ganglion knows where its wearer's electrodes are; a real one cannot report it.
    ...(device instanceof VirtualGanglion ? { channelNames: device.sites } : {}),
    ...(clock ? { advanceable: { advance: (ms: number) => device.advance(ms), now: () => device.now() } } : {}),
    async connect(attempt) {
      if (attempt > 0) device.reconnect();
      return device;
    },
    async close() {
      await device.disconnect();
    },
  };
}

export function replayLink(device: ReplayPeripheral, label: string): DeviceLink {
  const clock = manualClock(device);
  return {
    label,
    ...(device.capture.header.preset !== undefined ? { preset: device.capture.header.preset } : {}),
    ...(device.capture.header.channels ? { channelNames: device.capture.header.channels } : {}),
    ...(clock ? { advanceable: clock } : {}),
    async connect(attempt) {
      if (attempt > 0) throw new Error('a replay cannot reconnect');
      return device;
    },
    isFinal: () => true,
    async close() {
      await device.disconnect();
    },
  };
}

/** A connected peripheral with no way to reconnect: a lost link ends the run. */
export function peripheralLink(p: GattPeripheral, label = p.name): DeviceLink {
  return {
    label,
    async connect(attempt) {
      if (attempt > 0) throw new Error(`${label}: no way to reconnect`);
      return p;
    },
    isFinal: () => true,
    async close() {
      await p.disconnect();
    },
  };
}

/**
 * A paired headband over `transport` (noble, Web Bluetooth, the simulated radio), connected now: errors such as a
 * missing adapter surface here, before anything streams. Every reconnection goes through `connectAllowed` on the
 * same transport, so a reconnect can never reach a device off the allow-list. A simulated radio's virtual
 * headband runs on a manual clock: the link then moves whichever device is connected.
 */
export async function openPairedLink(
  entry: AllowListEntry,
  allowList: AllowList,
  transport: BleTransport,
  opts: { label?: string; preset?: string } = {},
): Promise<DeviceLink> {
  let current = await connectAllowed(entry, allowList, transport);
  let first: GattPeripheral | null = current;
  const clock = manualClock(current);
  const live = (): Advanceable => current as GattPeripheral & Advanceable;
  const advanceable: Advanceable | null = clock
    ? { advance: (ms) => live().advance(ms), ...(clock.now ? { now: () => live().now!() } : {}) }
    : null;
  return {
    label: opts.label ?? entry.alias ?? entry.name ?? entry.id,
    ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
    ...(current instanceof VirtualGanglion ? { channelNames: current.sites } : {}),
    ...(advanceable ? { advanceable } : {}),
    async connect(attempt) {
      if (attempt === 0 && first) {
        const p = first;
        first = null;
        return p;
      }
      current = await connectAllowed(entry, allowList, transport);
      return current;
    },
    async close() {
      first = null;
      await current.disconnect().catch(() => undefined);
      await transport.close().catch(() => undefined);
    },
  };
}

export function linkFor(device: GattPeripheral, label: string, preset?: string): DeviceLink {
  if (device instanceof VirtualPeripheral) return virtualLink(device, label, preset);
  if (device instanceof ReplayPeripheral) return replayLink(device, label);
  return peripheralLink(device, label);
}

/**
 * The same peripheral, but an exception thrown while handling a notification is reported instead of escaping
 * into the transport (a radio stack's event handler, a virtual device's clock): a bug in one packet's handling
 * must not end a run of hours.
 */
export function guardPeripheral(p: GattPeripheral, report: (e: unknown) => void): GattPeripheral {
  return {
    get id() {
      return p.id;
    },
    get name() {
      return p.name;
    },
    get services() {
      return p.services;
    },
    get characteristics() {
      return p.characteristics;
    },
    write: (c, d) => p.write(c, d),
    read: (c) => p.read(c),
    subscribe: (c, l) =>
      p.subscribe(c, (d, t) => {
        try {
          l(d, t);
        } catch (e) {
          report(e);
        }
      }),
    onDisconnect: (l) => p.onDisconnect(l),
    disconnect: () => p.disconnect(),
  };
}
