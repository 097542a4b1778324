/** Node flavour of openDevice: `replay:` URIs read capture files from disk. */
import { readFile } from 'node:fs/promises';
import type { GattPeripheral } from './gatt.js';
import { openDevice as openDeviceWith, type OpenDeviceOptions } from './sim/uri.js';

export function openDevice(uri: string, opts: OpenDeviceOptions = {}): Promise<GattPeripheral> {
  return openDeviceWith(uri, { loadCapture: (p) => readFile(p, 'utf8'), ...opts });
}
