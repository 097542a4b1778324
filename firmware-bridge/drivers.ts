/**
 * Generic streaming control over any GattPeripheral using the device registry: identify the device, subscribe
 * to its notifying characteristics, write its start sequence (with the pauses the device needs), keep it alive,
 * stop it. Used by `cmcrd record`; the runtime's device clients can use it too.
 */
import { athenaProfile, deviceProfile, ganglionProfile, identifyPeripheral, museProfile, type DeviceKind, type DeviceProfile } from './devices.js';
import type { GattPeripheral, NotifyListener, Uuid } from './gatt.js';
import { GANGLION, ganglionFirmwareFromBytes, type GanglionFirmware } from './protocols/ganglion.js';

export interface StreamSessionOptions {
  /** Device kind; default identified from the GATT table. */
  kind?: DeviceKind;
  /** Muse / Athena preset. */
  preset?: string;
  /** How to wait between commands (default real setTimeout; virtual devices pass their own clock). */
  wait?: (ms: number) => Promise<void>;
  /** Keep-alive timer; default setInterval (pass null to disable, e.g. on a manual clock). */
  keepAlive?: boolean;
}

export interface StreamSession {
  kind: DeviceKind;
  profile: DeviceProfile;
  /** Ganglion firmware read from Device Information (null for other devices or when unreadable). */
  firmware: GanglionFirmware | null;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Subscribe to every notifying characteristic the device has and start it; `listener` sees every notification. */
export async function startStream(device: GattPeripheral, listener: (char: Uuid, data: Uint8Array, t: number) => void, opts: StreamSessionOptions = {}): Promise<StreamSession> {
  const kind = opts.kind ?? identifyPeripheral(device);
  if (!kind) throw new Error(`${device.name}: not a supported headband (services ${device.services.join(', ')})`);
  let firmware: GanglionFirmware | null = null;
  if (kind === 'ganglion' && device.characteristics.includes(GANGLION.firmwareRevision)) {
    try {
      firmware = ganglionFirmwareFromBytes(await device.read(GANGLION.firmwareRevision));
    } catch {
      firmware = null;
    }
  }
  const profile = kind === 'muse' ? museProfile(opts.preset) : kind === 'muse-athena' ? athenaProfile(opts.preset) : kind === 'ganglion' ? ganglionProfile() : deviceProfile(kind);
  const wait = opts.wait ?? sleep;
  const unsubs: (() => Promise<void>)[] = [];
  for (const ch of profile.notify) {
    if (!device.characteristics.includes(ch)) continue;
    const l: NotifyListener = (data, t) => listener(ch, data, t);
    unsubs.push(await device.subscribe(ch, l));
  }
  for (const c of profile.start) {
    await device.write(c.characteristic, c.bytes);
    if (c.delayMs > 0) await wait(c.delayMs);
  }
  let timer: ReturnType<typeof setInterval> | null = null;
  if (profile.keepAlive && opts.keepAlive !== false) {
    const k = profile.keepAlive;
    timer = setInterval(() => void device.write(k.command.characteristic, k.command.bytes).catch(() => undefined), k.intervalS * 1000);
  }
  return {
    kind,
    profile,
    firmware,
    async stop() {
      if (timer) clearInterval(timer);
      for (const c of profile.stop) await device.write(c.characteristic, c.bytes).catch(() => undefined);
      for (const u of unsubs) await u();
    },
  };
}
