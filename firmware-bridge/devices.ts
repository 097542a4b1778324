/**
 * The device facts by their historical names, as thin wrappers over the registry (registry.ts) and the per-kind
 * drivers (drivers/<kind>.ts), which hold the facts themselves.
 */
import { ganglionDriver } from './drivers/ganglion.js';
import { museAthenaDriver } from './drivers/muse-athena.js';
import { museDriver } from './drivers/muse.js';
import { openEegDriver } from './drivers/open-eeg.js';
import type { DeviceProfile } from './drivers/types.js';
import { getDriver, type DeviceKind } from './registry.js';

export type { Advertisement, ChannelInfo, DeviceCommand, DeviceProfile } from './drivers/types.js';
export { DEVICE_KINDS, identifyAdvertisement, identifyPeripheral, type DeviceKind } from './registry.js';

export function museProfile(preset = 'p21'): DeviceProfile<'muse'> {
  return museDriver.profile({ preset });
}

export function athenaProfile(preset = 'p1041'): DeviceProfile<'muse-athena'> {
  return museAthenaDriver.profile({ preset });
}

export function ganglionProfile(sites?: readonly string[]): DeviceProfile<'ganglion'> {
  return ganglionDriver.profile(sites ? { channelNames: sites } : {});
}

export function openEegProfile(channels?: readonly string[], sampleRate?: number): DeviceProfile<'open-eeg'> {
  const p = openEegDriver.profile(channels ? { channelNames: channels } : {});
  return sampleRate === undefined ? p : { ...p, sampleRate };
}

/** A kind's profile under its default preset and channel labels. */
export function deviceProfile<K extends DeviceKind>(kind: K): DeviceProfile<K> {
  return getDriver(kind).profile() as DeviceProfile<K>;
}
