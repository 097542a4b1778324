/**
 * A short look at a connected headband, for pairing: its exact kind (a Muse S Athena advertises like a Muse 2
 * and is told apart only by its GATT table) and its battery level where the kind exposes one without
 * streaming: the standard Battery Level characteristic (open EEG profile), or the `bp` field of a Muse / Athena
 * status reply. Ganglions report no battery. Never throws: what cannot be read is null, with the reason.
 */
import { identifyPeripheral, type DeviceKind } from '../devices.js';
import type { GattPeripheral } from '../gatt.js';
import { BATTERY_SERVICE, decodeBatteryLevel } from '../protocols/battery.js';
import { MUSE, MuseControlAssembler, encodeMuseCommand } from '../protocols/muse.js';
import { errorMessage, withTimeout } from './transport.js';

export interface ProbeResult {
  kind: DeviceKind | null;
  battery: number | null;
  /** Where the battery level came from. */
  batterySource: 'battery-service' | 'muse-status' | null;
  /** Why the battery is null when the device should have one. */
  note?: string;
}

export interface ProbeOptions {
  /** Waiting for a status reply (ms, default 3000). */
  timeoutMs?: number;
  /** Kind from the advertisement, used when the GATT table does not say. */
  kindHint?: DeviceKind | null;
}

export async function probeDevice(device: GattPeripheral, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const kind = identifyPeripheral(device) ?? opts.kindHint ?? null;
  try {
    if (device.characteristics.includes(BATTERY_SERVICE.level)) {
      const r = decodeBatteryLevel(
        await withTimeout(device.read(BATTERY_SERVICE.level), timeoutMs, `${device.name}: reading Battery Level`),
      );
      return r.ok
        ? { kind, battery: r.value, batterySource: 'battery-service' }
        : { kind, battery: null, batterySource: null, note: r.error };
    }
    if ((kind === 'muse' || kind === 'muse-athena') && device.characteristics.includes(MUSE.control)) {
      const bp = await museStatusBattery(device, timeoutMs);
      return bp === null
        ? { kind, battery: null, batterySource: null, note: 'the status reply has no battery field' }
        : { kind, battery: bp, batterySource: 'muse-status' };
    }
  } catch (e) {
    return { kind, battery: null, batterySource: null, note: errorMessage(e) };
  }
  return { kind, battery: null, batterySource: null };
}

/** Send the Muse status command `s` and read `bp` (battery %) from the JSON reply. */
async function museStatusBattery(device: GattPeripheral, timeoutMs: number): Promise<number | null> {
  const asm = new MuseControlAssembler();
  let settle: (v: number | null) => void = () => undefined;
  const reply = new Promise<number | null>((r) => (settle = r));
  const unsubscribe = await withTimeout(
    device.subscribe(MUSE.control, (bytes) => {
      for (const d of asm.push(bytes)) {
        // Other replies (to commands sent before ours) carry no hn/bp: wait for the status object.
        if (d.ok && ('bp' in d.value || 'hn' in d.value)) {
          const bp = d.value['bp'];
          settle(typeof bp === 'number' && bp >= 0 && bp <= 100 ? bp : null);
        }
      }
    }),
    timeoutMs,
    `${device.name}: subscribing to the control characteristic`,
  );
  try {
    await withTimeout(device.write(MUSE.control, encodeMuseCommand('s')), timeoutMs, `${device.name}: writing the status command`);
    return await withTimeout(reply, timeoutMs, `${device.name}: waiting for the status reply`);
  } finally {
    await unsubscribe().catch(() => undefined);
  }
}
