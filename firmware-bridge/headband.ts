/**
 * openHeadband: the one way to take any connected GattPeripheral (noble, Web Bluetooth, virtual, replay) to a
 * streaming headband. It identifies the kind, checks the preset, lets the driver read what decoding depends on
 * (once), builds the profile and the decoder for that setup, and on start() subscribes, writes the start sequence
 * with the pauses the device needs and keeps the link alive. The runtime session, `cmcrd record` and `cmcrd run`
 * all open devices through it.
 */
import { DeviceDecoder } from './decoder.js';
import type { CaptureDeviceFields, DeviceProfile, DeviceSetup, HeadbandDriver } from './drivers/types.js';
import type { GattPeripheral, NotifyListener, Uuid } from './gatt.js';
import type { GanglionFirmware } from './protocols/ganglion.js';
import { getDriver, identifyPeripheral, type DeviceKind } from './registry.js';

export interface OpenHeadbandOptions {
  /** Device preset (Muse / Athena); the driver's default when absent. Devices without presets refuse one. */
  preset?: string;
  /** Device kind; default identified from the GATT table. */
  kind?: DeviceKind;
  /** Channel labels the device cannot report itself (e.g. the sites a Ganglion's electrodes are placed at). */
  channelNames?: readonly string[];
  /** How to wait between commands (default real setTimeout; virtual devices pass their own clock). */
  wait?: (ms: number) => Promise<void>;
  /** Keep-alive timer while streaming (default true; false e.g. on a manual clock). */
  keepAlive?: boolean;
}

/** Sees every notification with its characteristic and host arrival time (ms). */
export type HeadbandListener = (characteristic: Uuid, data: Uint8Array, hostMs: number) => void;

export interface OpenedHeadband {
  readonly peripheral: GattPeripheral;
  readonly kind: DeviceKind;
  readonly driver: HeadbandDriver<DeviceKind>;
  /** The setup as asked for and prepared (preset as asked: absent when the default is used). */
  readonly setup: Readonly<DeviceSetup>;
  /** The preset streamed (the asked one or the driver's default); null for devices without presets. */
  readonly preset: string | null;
  readonly profile: DeviceProfile<DeviceKind>;
  /** Ganglion firmware read from Device Information (null for other devices or when unreadable). */
  readonly firmware: GanglionFirmware | null;
  /** A decoder set up for exactly this setup (firmware, AUX preset, channel labels). */
  readonly decoder: DeviceDecoder;
  /** What the driver could not read, and what it assumed instead. */
  readonly warnings: readonly string[];
  readonly streaming: boolean;
  /** The setup fields a capture header of this stream records. */
  captureFields(): CaptureDeviceFields;
  /** Subscribe to the profile's characteristics, write the start sequence, start the keep-alive. */
  start(listener: HeadbandListener): Promise<void>;
  /** Stop the keep-alive, write the stop sequence (errors ignored: the link may be gone), unsubscribe. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function openHeadband(peripheral: GattPeripheral, opts: OpenHeadbandOptions = {}): Promise<OpenedHeadband> {
  const kind = opts.kind ?? identifyPeripheral(peripheral);
  if (!kind) throw new Error(`${peripheral.name}: not a supported headband (services ${peripheral.services.join(', ')})`);
  const driver: HeadbandDriver<DeviceKind> = getDriver(kind);
  if (opts.preset !== undefined) {
    if (driver.presets.length === 0) throw new RangeError(`${peripheral.name} (${driver.label}) has no presets (got "${opts.preset}")`);
    // The profile refuses unknown presets with the list of known ones.
    driver.profile({ preset: opts.preset });
  }
  // Read before anything is written or decoded (e.g. the Ganglion's packet format depends on its firmware).
  const prepared = (await driver.prepare?.(peripheral)) ?? {};
  const channelNames = opts.channelNames ?? prepared.channelNames;
  const setup: DeviceSetup = {
    ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
    ...(prepared.firmware !== undefined ? { firmware: prepared.firmware } : {}),
    ...(channelNames !== undefined && channelNames.length > 0 ? { channelNames } : {}),
  };
  const profile: DeviceProfile<DeviceKind> = driver.profile(setup);
  const decoder = new DeviceDecoder(kind, driver.decoderOptions(setup));
  const wait = opts.wait ?? sleep;
  let unsubs: (() => Promise<void>)[] = [];
  let timer: ReturnType<typeof setInterval> | null = null;
  let streaming = false;

  const unsubscribe = async () => {
    const u = unsubs;
    unsubs = [];
    for (const f of u) await f().catch(() => undefined);
  };

  return {
    peripheral,
    kind,
    driver,
    setup,
    preset: opts.preset ?? driver.defaultPreset,
    profile,
    firmware: prepared.firmware ?? null,
    decoder,
    warnings: prepared.warnings ?? [],
    get streaming() {
      return streaming;
    },
    captureFields() {
      return { ...driver.captureFields(setup, profile), ...(driver.experimental ? { experimental: true } : {}) };
    },
    async start(listener) {
      if (streaming) throw new Error(`${peripheral.name}: already streaming`);
      streaming = true;
      try {
        for (const ch of profile.notify) {
          if (!peripheral.characteristics.includes(ch)) continue;
          const l: NotifyListener = (data, t) => listener(ch, data, t);
          unsubs.push(await peripheral.subscribe(ch, l));
        }
        for (const c of profile.start) {
          await peripheral.write(c.characteristic, c.bytes);
          if (c.delayMs > 0) await wait(c.delayMs);
        }
      } catch (e) {
        streaming = false;
        await unsubscribe();
        throw e;
      }
      if (profile.keepAlive && opts.keepAlive !== false) {
        const k = profile.keepAlive;
        timer = setInterval(
          () => void peripheral.write(k.command.characteristic, k.command.bytes).catch(() => undefined),
          k.intervalS * 1000,
        );
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      if (!streaming) return;
      streaming = false;
      for (const c of profile.stop) await peripheral.write(c.characteristic, c.bytes).catch(() => undefined);
      await unsubscribe();
    },
  };
}
