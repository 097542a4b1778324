/**
 * The headband registry: one driver per device kind (drivers/<kind>.ts). Adding a device is one driver module
 * and one line in HEADBAND_DRIVERS; DeviceKind, scan recognition, decoding, capture headers and device URIs all
 * follow from this table.
 */
import type { Uuid } from './gatt.js';
import { ganglionDriver } from './drivers/ganglion.js';
import { museAthenaDriver } from './drivers/muse-athena.js';
import { museDriver } from './drivers/muse.js';
import { openEegDriver } from './drivers/open-eeg.js';
import type { Advertisement, GattTable, HeadbandDriver, WebBluetoothFilter, WebBluetoothRequest } from './drivers/types.js';

export const HEADBAND_DRIVERS = [museDriver, museAthenaDriver, ganglionDriver, openEegDriver] as const;

export type AnyHeadbandDriver = (typeof HEADBAND_DRIVERS)[number];
export type DeviceKind = AnyHeadbandDriver['kind'];
export const DEVICE_KINDS: readonly DeviceKind[] = HEADBAND_DRIVERS.map((d) => d.kind);

export function listDrivers(): readonly AnyHeadbandDriver[] {
  return HEADBAND_DRIVERS;
}

export function isDeviceKind(s: string): s is DeviceKind {
  return (DEVICE_KINDS as readonly string[]).includes(s);
}

/** The driver of a kind. */
export function getDriver<K extends DeviceKind>(kind: K): Extract<AnyHeadbandDriver, { kind: K }> {
  const d = HEADBAND_DRIVERS.find((x) => x.kind === kind);
  if (!d) throw new RangeError(`unknown device kind "${kind}" (known: ${DEVICE_KINDS.join(', ')})`);
  return d as Extract<AnyHeadbandDriver, { kind: K }>;
}

/** The driver a user-typed name or alias (e.g. "athena") refers to, or null. */
export function findDriver(name: string): AnyHeadbandDriver | null {
  const n = name.toLowerCase();
  return HEADBAND_DRIVERS.find((d) => d.kind === n || d.aliases.includes(n)) ?? null;
}

/**
 * Which kind a scan result is: an advertised service decides, else the name. Muse gen 2 and Athena advertise
 * the same service and names: the scan says 'muse' and {@link identifyPeripheral} refines it once connected.
 */
export function identifyAdvertisement(ad: Advertisement): DeviceKind | null {
  const matches = HEADBAND_DRIVERS.map((d) => [d.kind, d.matchAdvertisement(ad)] as const);
  return (matches.find(([, m]) => m === 'service') ?? matches.find(([, m]) => m === 'name'))?.[0] ?? null;
}

/** Kind of a connected peripheral from its GATT table (Athena is told apart by 273e0013). */
export function identifyPeripheral(p: GattTable): DeviceKind | null {
  return HEADBAND_DRIVERS.find((d) => d.matchPeripheral(p))?.kind ?? null;
}

/** One navigator.bluetooth.requestDevice request that offers every listed kind (default: all). */
export function webBluetoothRequestFor(kinds: readonly DeviceKind[] = DEVICE_KINDS): WebBluetoothRequest {
  const filters: WebBluetoothFilter[] = [];
  const seen = new Set<string>();
  const optional = new Set<Uuid>();
  for (const k of kinds) {
    const r = getDriver(k).webBluetooth;
    for (const f of r.filters) {
      const key = JSON.stringify(f);
      if (!seen.has(key)) filters.push(f);
      seen.add(key);
    }
    for (const s of r.optionalServices) optional.add(s);
  }
  return { filters, optionalServices: [...optional] };
}

export type { HeadbandDriver };
