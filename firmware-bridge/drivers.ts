/**
 * startStream: the earlier one-call form of openHeadband (headband.ts) + start, kept for existing callers.
 */
import type { DeviceKind } from './registry.js';
import type { DeviceProfile } from './drivers/types.js';
import type { GattPeripheral, Uuid } from './gatt.js';
import { openHeadband } from './headband.js';
import type { GanglionFirmware } from './protocols/ganglion.js';

export interface StreamSessionOptions {
  /** Device kind; default identified from the GATT table. */
  kind?: DeviceKind;
  /** Muse / Athena preset. */
  preset?: string;
  /** How to wait between commands (default real setTimeout; virtual devices pass their own clock). */
  wait?: (ms: number) => Promise<void>;
  /** Keep-alive timer; default setInterval (pass false to disable, e.g. on a manual clock). */
  keepAlive?: boolean;
}

export interface StreamSession {
  kind: DeviceKind;
  profile: DeviceProfile<DeviceKind>;
  /** Ganglion firmware read from Device Information (null for other devices or when unreadable). */
  firmware: GanglionFirmware | null;
  stop(): Promise<void>;
}

/** Subscribe to every notifying characteristic the device has and start it; `listener` sees every notification. */
export async function startStream(
  device: GattPeripheral,
  listener: (char: Uuid, data: Uint8Array, t: number) => void,
  opts: StreamSessionOptions = {},
): Promise<StreamSession> {
  const h = await openHeadband(device, opts);
  await h.start(listener);
  return { kind: h.kind, profile: h.profile, firmware: h.firmware, stop: () => h.stop() };
}
