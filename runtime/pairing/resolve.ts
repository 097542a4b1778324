/**
 * What `--device <spec>` means: a `sim:` or `replay:` URI (no radio, no pairing needed), or a paired headband
 * named by id, alias or name. A radio device that is not on the allow-list is refused with the reason and the
 * command that pairs it; `connectAllowed` checks again at connect time, so nothing reaches a stranger's
 * headband even through the library.
 */
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import type { BleTransport, ConnectOptions, TransportName } from '../../firmware-bridge/transports/transport.js';
import { describeEntry, findDevice, isAllowed, type AllowList, type AllowListEntry } from './allow-list.js';

export type DeviceResolution = { source: 'uri'; scheme: 'sim' | 'replay'; uri: string } | { source: 'allow-list'; entry: AllowListEntry };

export class DeviceNotAllowedError extends Error {
  constructor(
    message: string,
    readonly spec: string,
  ) {
    super(message);
    this.name = 'DeviceNotAllowedError';
  }
}

export interface ResolveDeviceOptions {
  allowList: AllowList;
  /** Where the allow-list lives, for messages. */
  allowListPath?: string;
}

const RADIO_SCHEMES: Record<string, TransportName> = { noble: 'noble', ble: 'noble', 'web-bluetooth': 'web-bluetooth' };

export function resolveDevice(spec: string, opts: ResolveDeviceOptions): DeviceResolution {
  const s = spec.trim();
  if (!s)
    throw new DeviceNotAllowedError(
      'no device given: pass a sim:… or replay:… URI, or the name or id of a paired headband (see `cmcrd devices`)',
      spec,
    );
  if (/^sim:/i.test(s)) return { source: 'uri', scheme: 'sim', uri: s };
  if (/^replay:/i.test(s)) return { source: 'uri', scheme: 'replay', uri: s };
  // An explicit radio URI (noble:<id>) names the transport too; the device must still be on the list.
  const m = /^([a-z-]+):(.+)$/i.exec(s);
  const scheme = m ? RADIO_SCHEMES[m[1]!.toLowerCase()] : undefined;
  const key = scheme ? m![2]! : s;
  const entry = findDevice(opts.allowList, key);
  const where = opts.allowListPath ? ` (${opts.allowListPath})` : '';
  if (!entry || (scheme && entry.transport !== scheme)) {
    const saved = opts.allowList.devices.length
      ? `paired: ${opts.allowList.devices.map(describeEntry).join('; ')}`
      : 'nothing is paired yet';
    throw new DeviceNotAllowedError(
      `"${spec}" is not a paired headband: over a real radio only devices on the allow-list${where} are connected, so a stranger's headband is never streamed. ` +
        `Pair it first with \`cmcrd pair --select ${JSON.stringify(key)}\` (${saved}); sim:… and replay:… devices need no pairing.`,
      spec,
    );
  }
  return { source: 'allow-list', entry };
}

/** Connect a paired device over `transport`, refusing anything not on the allow-list for that transport. */
export async function connectAllowed(
  entry: AllowListEntry,
  allowList: AllowList,
  transport: BleTransport,
  opts?: ConnectOptions,
): Promise<GattPeripheral> {
  if (transport.name !== entry.transport)
    throw new DeviceNotAllowedError(`${describeEntry(entry)} was paired over ${entry.transport}, not ${transport.name}`, entry.id);
  if (!isAllowed(allowList, entry.transport, entry.id))
    throw new DeviceNotAllowedError(`${describeEntry(entry)} is not on the allow-list`, entry.id);
  const device = await transport.connect(entry.id, opts);
  if (device.id.toLowerCase() !== entry.id.toLowerCase()) {
    await device.disconnect().catch(() => undefined);
    throw new DeviceNotAllowedError(`asked for ${entry.id} but the radio connected ${device.id}: disconnected`, entry.id);
  }
  return device;
}
