/**
 * The Web Bluetooth transport (Chrome/Edge/Samsung Internet on Android, ChromeOS, macOS, Windows): browser-safe,
 * it takes a `navigator.bluetooth`-like object, typed structurally below (TypeScript's DOM library has no Web
 * Bluetooth types), so tests drive it with a mock. requestDevice's filters and optionalServices come from the
 * device registry (a browser refuses access to any service not listed there). GATT operations run one at a
 * time, as Chrome requires ("GATT operation already in progress" otherwise), each with a timeout. After a
 * disconnect, connect the same BluetoothDevice again with {@link connectWebBluetoothDevice}: the services are
 * fetched afresh and the caller subscribes again.
 */
import { webBluetoothRequestFor } from '../registry.js';
import { DEVICE_KINDS, deviceProfile, type DeviceKind } from '../devices.js';
import { normaliseUuid, type GattPeripheral, type NotifyListener, type Uuid } from '../gatt.js';
import { BATTERY_SERVICE } from '../protocols/battery.js';
import { GANGLION } from '../protocols/ganglion.js';
import {
  TransportError,
  errorMessage,
  registryServices,
  resolveTimeouts,
  unique,
  withTimeout,
  type TransportTimeouts,
} from './transport.js';

// ----- the Web Bluetooth API surface used here

export interface CharacteristicPropertiesLike {
  readonly read?: boolean;
  readonly write?: boolean;
  readonly writeWithoutResponse?: boolean;
  readonly notify?: boolean;
  readonly indicate?: boolean;
}

export interface BluetoothRemoteGATTCharacteristicLike extends EventTarget {
  readonly uuid: string;
  readonly properties?: CharacteristicPropertiesLike;
  readonly value?: DataView | null;
  readValue(): Promise<DataView>;
  writeValueWithResponse?(value: BufferSource): Promise<void>;
  writeValueWithoutResponse?(value: BufferSource): Promise<void>;
  /** Deprecated in the spec, still the only write on older browsers. */
  writeValue?(value: BufferSource): Promise<void>;
  startNotifications(): Promise<unknown>;
  stopNotifications(): Promise<unknown>;
}

export interface BluetoothRemoteGATTServiceLike {
  readonly uuid: string;
  getCharacteristic(uuid: string): Promise<BluetoothRemoteGATTCharacteristicLike>;
  getCharacteristics(uuid?: string): Promise<BluetoothRemoteGATTCharacteristicLike[]>;
}

export interface BluetoothRemoteGATTServerLike {
  readonly connected: boolean;
  connect(): Promise<BluetoothRemoteGATTServerLike>;
  disconnect(): void;
  getPrimaryService(uuid: string): Promise<BluetoothRemoteGATTServiceLike>;
  getPrimaryServices(uuid?: string): Promise<BluetoothRemoteGATTServiceLike[]>;
}

export interface BluetoothDeviceLike extends EventTarget {
  readonly id: string;
  readonly name?: string | null;
  readonly gatt?: BluetoothRemoteGATTServerLike | null;
}

export type BluetoothLEScanFilterLike = { services?: string[]; name?: string; namePrefix?: string };

export interface RequestDeviceOptionsLike {
  filters?: BluetoothLEScanFilterLike[];
  optionalServices?: string[];
  acceptAllDevices?: boolean;
}

export interface BluetoothLike {
  requestDevice(options: RequestDeviceOptionsLike): Promise<BluetoothDeviceLike>;
  getAvailability?(): Promise<boolean>;
  /** Devices this origin was granted before (Chrome, behind a flag on some versions). */
  getDevices?(): Promise<BluetoothDeviceLike[]>;
}

/** requestDevice options for headbands of the given kinds: one filter per advertised service and name prefix. */
export function webBluetoothRequestOptions(kinds: readonly DeviceKind[] = DEVICE_KINDS): RequestDeviceOptionsLike {
  // The drivers' own requests (one table, the registry), plus the Battery Service, which any board may carry.
  const r = webBluetoothRequestFor(kinds);
  return { filters: r.filters.map((f) => ({ ...f })), optionalServices: unique([...r.optionalServices, BATTERY_SERVICE.service]) };
}

export interface WebBluetoothOptions {
  timeouts?: Partial<TransportTimeouts>;
  /** Host clock for notification timestamps (ms; default performance.timeOrigin + performance.now()). */
  now?: () => number;
}

/**
 * Ask the user to pick a headband (must run inside a user gesture, e.g. a click handler), connect and
 * discover it. The chooser itself has no timeout: the user takes the time they need.
 */
export async function requestHeadband(
  bluetooth: BluetoothLike | null | undefined,
  opts: WebBluetoothOptions & { kinds?: readonly DeviceKind[] } = {},
): Promise<WebBluetoothPeripheral> {
  if (!bluetooth || typeof bluetooth.requestDevice !== 'function') {
    throw new TransportError(
      'unsupported',
      'this browser has no Web Bluetooth: use Chrome, Edge or Samsung Internet on Android, ChromeOS, macOS or Windows (not Safari on iOS, not Firefox; on Linux enable chrome://flags/#enable-web-bluetooth), over https or localhost.',
    );
  }
  if (bluetooth.getAvailability) {
    let available = true;
    try {
      available = await bluetooth.getAvailability();
    } catch {
      /* unknown: let requestDevice say */
    }
    if (!available)
      throw new TransportError(
        'no-adapter',
        'no Bluetooth adapter is available to this browser: switch Bluetooth on in the system settings and try again.',
      );
  }
  let device: BluetoothDeviceLike;
  try {
    device = await bluetooth.requestDevice(webBluetoothRequestOptions(opts.kinds));
  } catch (e) {
    throw requestError(e);
  }
  return connectWebBluetoothDevice(device, opts);
}

function requestError(e: unknown): TransportError {
  const name = (e as { name?: unknown } | null)?.name;
  const msg = errorMessage(e);
  if (name === 'NotFoundError') return new TransportError('cancelled', `no headband was chosen (${msg})`, { cause: e });
  if (name === 'SecurityError') {
    return new TransportError(
      'no-permission',
      `the browser refused Bluetooth access (${msg}): requestDevice must run from a click or tap, on an https page or localhost, and Bluetooth must be allowed for this site.`,
      { cause: e },
    );
  }
  if (name === 'NotAllowedError')
    return new TransportError(
      'no-permission',
      `Bluetooth permission was denied (${msg}): allow it for this site in the browser settings.`,
      { cause: e },
    );
  return new TransportError('gatt', `requesting a Bluetooth device failed: ${msg}`, { cause: e });
}

/** Connect (or reconnect) a BluetoothDevice the user granted earlier, and discover its services. */
export async function connectWebBluetoothDevice(
  device: BluetoothDeviceLike,
  opts: WebBluetoothOptions = {},
): Promise<WebBluetoothPeripheral> {
  const p = new WebBluetoothPeripheral(device, opts);
  await p.connect();
  return p;
}

/** Runs GATT operations one at a time, in call order. */
class GattQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

const viewToBytes = (v: DataView): Uint8Array => new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
const defaultNow = (): number => performance.timeOrigin + performance.now();

export class WebBluetoothPeripheral implements GattPeripheral {
  readonly id: string;
  readonly name: string;
  services: readonly Uuid[] = [];
  characteristics: readonly Uuid[] = [];
  readonly device: BluetoothDeviceLike;
  private readonly timeouts: TransportTimeouts;
  private readonly now: () => number;
  private readonly queue = new GattQueue();
  private readonly chars = new Map<Uuid, BluetoothRemoteGATTCharacteristicLike>();
  private readonly listeners = new Map<Uuid, { set: Set<NotifyListener>; handler: (ev: Event) => void }>();
  private readonly disconnectListeners = new Set<(reason: string) => void>();
  private connected = false;
  private readonly onGattDisconnected = () => this.lost('the device disconnected (gattserverdisconnected)');

  constructor(device: BluetoothDeviceLike, opts: WebBluetoothOptions = {}) {
    this.device = device;
    this.id = device.id;
    this.name = device.name || device.id;
    this.timeouts = resolveTimeouts(opts.timeouts);
    this.now = opts.now ?? defaultNow;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Connect the GATT server and fetch every permitted service and its characteristics. */
  async connect(): Promise<void> {
    const gatt = this.device.gatt;
    if (!gatt) throw new TransportError('gatt', `${this.name} has no GATT server`);
    this.device.addEventListener('gattserverdisconnected', this.onGattDisconnected);
    try {
      await this.queued(
        () => gatt.connect(),
        `connecting to ${this.name}`,
        this.timeouts.connectMs,
        () => gatt.disconnect(),
      );
      this.connected = true;
      const services = await this.queued(() => gatt.getPrimaryServices(), `listing the services of ${this.name}`, this.timeouts.discoverMs);
      const su: Uuid[] = [];
      for (const s of services) {
        const chars = await this.queued(() => s.getCharacteristics(), `listing the characteristics of ${s.uuid}`, this.timeouts.discoverMs);
        su.push(normaliseUuid(s.uuid));
        for (const c of chars) {
          const u = normaliseUuid(c.uuid);
          if (!this.chars.has(u)) this.chars.set(u, c);
        }
      }
      this.services = unique(su);
      this.characteristics = [...this.chars.keys()];
    } catch (e) {
      this.device.removeEventListener('gattserverdisconnected', this.onGattDisconnected);
      this.connected = false;
      try {
        gatt.disconnect();
      } catch {
        /* best effort */
      }
      throw e;
    }
  }

  private char(u: Uuid, what: string): BluetoothRemoteGATTCharacteristicLike {
    if (!this.connected) throw new TransportError('disconnected', `${this.name} is disconnected (${what})`);
    const c = this.chars.get(normaliseUuid(u));
    if (!c)
      throw new TransportError('gatt', `${this.name} has no characteristic ${u} (${what}); was its service listed in optionalServices?`);
    return c;
  }

  async write(characteristic: Uuid, data: Uint8Array): Promise<void> {
    const c = this.char(characteristic, 'write');
    const buf = data.slice();
    const p = c.properties ?? {};
    const op =
      !p.write && p.writeWithoutResponse && c.writeValueWithoutResponse
        ? () => c.writeValueWithoutResponse!(buf)
        : c.writeValueWithResponse
          ? () => c.writeValueWithResponse!(buf)
          : c.writeValue
            ? () => c.writeValue!(buf)
            : null;
    if (!op) throw new TransportError('gatt', `${this.name}: characteristic ${characteristic} cannot be written by this browser`);
    await this.queued(op, `writing ${characteristic}`);
  }

  async read(characteristic: Uuid): Promise<Uint8Array> {
    const c = this.char(characteristic, 'read');
    return viewToBytes(await this.queued(() => c.readValue(), `reading ${characteristic}`));
  }

  async subscribe(characteristic: Uuid, listener: NotifyListener): Promise<() => Promise<void>> {
    const u = normaliseUuid(characteristic);
    const c = this.char(u, 'subscribe');
    let entry = this.listeners.get(u);
    if (!entry) {
      const set = new Set<NotifyListener>();
      const handler = (ev: Event) => {
        const v = (ev.target as BluetoothRemoteGATTCharacteristicLike | null)?.value;
        if (!v) return;
        const t = this.now();
        const bytes = viewToBytes(v);
        for (const l of set) l(bytes, t);
      };
      entry = { set, handler };
      this.listeners.set(u, entry);
      c.addEventListener('characteristicvaluechanged', handler);
      try {
        await this.queued(() => c.startNotifications(), `starting notifications on ${u}`);
      } catch (e) {
        c.removeEventListener('characteristicvaluechanged', handler);
        this.listeners.delete(u);
        throw e;
      }
    }
    entry.set.add(listener);
    return async () => {
      const e = this.listeners.get(u);
      if (!e || !e.set.delete(listener) || e.set.size > 0) return;
      this.listeners.delete(u);
      c.removeEventListener('characteristicvaluechanged', e.handler);
      if (this.connected) await this.queued(() => c.stopNotifications(), `stopping notifications on ${u}`).catch(() => undefined);
    };
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    // Chrome fires gattserverdisconnected for a disconnect() too; the reason says who asked.
    this.lost('host disconnected');
    try {
      this.device.gatt?.disconnect();
    } catch {
      /* already gone */
    }
  }

  private lost(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.device.removeEventListener('gattserverdisconnected', this.onGattDisconnected);
    for (const [u, e] of this.listeners) this.chars.get(u)?.removeEventListener('characteristicvaluechanged', e.handler);
    this.listeners.clear();
    for (const l of [...this.disconnectListeners]) l(reason);
  }

  private queued<T>(op: () => Promise<T>, what: string, ms = this.timeouts.operationMs, onTimeout?: () => void): Promise<T> {
    return this.queue.run(async () => {
      try {
        return await withTimeout(Promise.resolve().then(op), ms, `${this.name}: ${what}`, onTimeout);
      } catch (e) {
        if (e instanceof TransportError) throw e;
        if (this.device.gatt && !this.device.gatt.connected && this.connected) this.lost('the device disconnected');
        const name = (e as { name?: unknown } | null)?.name;
        if (name === 'NetworkError' && !this.connected)
          throw new TransportError('disconnected', `${this.name} disconnected while ${what}`, { cause: e });
        throw new TransportError('gatt', `${this.name}: ${what} failed: ${errorMessage(e)}`, { cause: e });
      }
    });
  }
}
