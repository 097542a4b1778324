/** Small helpers the drivers share. */
import type { Uuid } from '../gatt.js';
import type { Advertisement, WebBluetoothFilter, WebBluetoothRequest } from './types.js';

/** Does an advertisement list this service (full, dashless or 16-bit form, any case)? */
export function advertises(ad: Advertisement, service: Uuid): boolean {
  const services = (ad.services ?? []).map((s) => s.toLowerCase());
  return services.includes(service) || services.includes(service.replace(/-/g, '')) || services.includes(service.slice(4, 8));
}

export const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/**
 * A requestDevice request: the filters, and every service the driver touches as optional (a device matched by a
 * name filter alone is granted only the services listed somewhere; repeating a filter's service is harmless).
 */
export function webBluetoothRequest(filters: WebBluetoothFilter[], services: readonly Uuid[]): WebBluetoothRequest {
  return { filters, optionalServices: [...services] };
}

/** The preset to use, checked against the driver's list (`device` names it in the error, e.g. "Muse"). */
export function checkPreset(device: string, presets: readonly string[], preset: string): string {
  if (!presets.includes(preset)) throw new RangeError(`unknown ${device} preset "${preset}" (known: ${presets.join(', ')})`);
  return preset;
}
