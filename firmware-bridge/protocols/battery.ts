/** Standard Bluetooth Battery Service (0x180F) with Battery Level (0x2A19): one uint8, percent. */
import { uuid16 } from '../gatt.js';
import type { Decoded } from './muse.js';

export const BATTERY_SERVICE = {
  service: uuid16(0x180f),
  level: uuid16(0x2a19),
  /** Name Web Bluetooth accepts in optionalServices. */
  webBluetoothName: 'battery_service',
} as const;

export function decodeBatteryLevel(bytes: Uint8Array): Decoded<number> {
  if (bytes.length !== 1) return { ok: false, error: `Battery Level must be 1 byte, got ${bytes.length}` };
  const v = bytes[0]!;
  if (v > 100) return { ok: false, error: `Battery Level ${v} exceeds 100 %` };
  return { ok: true, value: v };
}

export function encodeBatteryLevel(percent: number): Uint8Array {
  const r = Math.round(percent);
  return Uint8Array.of(Number.isFinite(r) ? Math.max(0, Math.min(100, r)) : 0);
}
