/**
 * DeviceLinks for the devices the runtime can open today: virtual headbands (which reconnect after a simulated
 * link loss, unless out of reach), replays (whose end is the end of the input) and any already connected
 * peripheral without a way back (a loss ends the run). Real radios (noble, Web Bluetooth) bring their own link.
 */
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import { ReplayPeripheral } from '../../firmware-bridge/sim/replay.js';
import { VirtualGanglion } from '../../firmware-bridge/sim/virtual-ganglion.js';
import type { Advanceable } from './clock.js';
import type { DeviceLink } from './supervisor.js';

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

export function linkFor(device: GattPeripheral, label: string, preset?: string): DeviceLink {
  if (device instanceof VirtualPeripheral) return virtualLink(device, label, preset);
  if (device instanceof ReplayPeripheral) return replayLink(device, label);
  return peripheralLink(device, label);
}
