/**
 * A minimal Web Bluetooth transport for the page, standing in for firmware-bridge/transports/web-bluetooth.ts
 * (being written in another branch). Coordinator: once that lands, replace `connectWebBluetooth(bluetooth,
 * request)` in ./main.ts by the transport's `requestHeadband(navigator.bluetooth)` (it builds the same request
 * from the registry, adds timeouts and typed errors) and delete this file; the rest of the app only needs a
 * GattPeripheral.
 *
 * What it does: requestDevice with the registry's filters and optionalServices (must run in a click handler),
 * connect, list every permitted service's characteristics, and run GATT operations one at a time (Chrome refuses
 * overlapping ones with "GATT operation already in progress").
 */
import { normaliseUuid, type GattPeripheral, type NotifyListener, type Uuid } from '../../firmware-bridge/gatt.js';
import type { WebBluetoothRequest } from '../../firmware-bridge/drivers/types.js';

// The part of the Web Bluetooth API used here (TypeScript's DOM library has no Web Bluetooth types).
export interface CharacteristicLike extends EventTarget {
  readonly uuid: string;
  readonly properties?: { write?: boolean; writeWithoutResponse?: boolean };
  readonly value?: DataView | null;
  readValue(): Promise<DataView>;
  writeValueWithResponse?(value: BufferSource): Promise<void>;
  writeValueWithoutResponse?(value: BufferSource): Promise<void>;
  writeValue?(value: BufferSource): Promise<void>;
  startNotifications(): Promise<unknown>;
  stopNotifications(): Promise<unknown>;
}
export interface ServiceLike {
  readonly uuid: string;
  getCharacteristics(): Promise<CharacteristicLike[]>;
}
export interface GattServerLike {
  readonly connected: boolean;
  connect(): Promise<GattServerLike>;
  disconnect(): void;
  getPrimaryServices(): Promise<ServiceLike[]>;
}
export interface BluetoothDeviceLike extends EventTarget {
  readonly id: string;
  readonly name?: string | null;
  readonly gatt?: GattServerLike | null;
}
export interface BluetoothLike {
  requestDevice(options: { filters: WebBluetoothRequest['filters']; optionalServices: string[] }): Promise<BluetoothDeviceLike>;
}

const bytesOf = (v: DataView): Uint8Array => new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));

export async function connectWebBluetooth(bluetooth: BluetoothLike | undefined, request: WebBluetoothRequest): Promise<GattPeripheral> {
  if (!bluetooth)
    throw new Error(
      'this browser has no Web Bluetooth: use Chrome or Edge on Android, ChromeOS, macOS or Windows, over https or localhost',
    );
  const device = await bluetooth.requestDevice({ filters: request.filters, optionalServices: request.optionalServices });
  const gatt = device.gatt;
  if (!gatt) throw new Error(`${device.name ?? device.id} has no GATT server`);
  let tail: Promise<unknown> = Promise.resolve();
  const queued = <T>(op: () => Promise<T>): Promise<T> => {
    const next = tail.then(op, op);
    tail = next.catch(() => undefined);
    return next;
  };
  await queued(() => gatt.connect());
  const chars = new Map<Uuid, CharacteristicLike>();
  const services: Uuid[] = [];
  for (const s of await queued(() => gatt.getPrimaryServices())) {
    services.push(normaliseUuid(s.uuid));
    for (const c of await queued(() => s.getCharacteristics())) if (!chars.has(normaliseUuid(c.uuid))) chars.set(normaliseUuid(c.uuid), c);
  }
  const name = device.name || device.id;
  const disconnectListeners = new Set<(reason: string) => void>();
  let connected = true;
  const lost = (reason: string) => {
    if (!connected) return;
    connected = false;
    for (const l of [...disconnectListeners]) l(reason);
  };
  device.addEventListener('gattserverdisconnected', () => lost('the headband disconnected'));
  const char = (u: Uuid): CharacteristicLike => {
    if (!connected) throw new Error(`${name} is disconnected`);
    const c = chars.get(normaliseUuid(u));
    if (!c) throw new Error(`${name} has no characteristic ${u}`);
    return c;
  };
  return {
    id: device.id,
    name,
    services,
    characteristics: [...chars.keys()],
    async write(u, data) {
      const c = char(u);
      const buf = data.slice();
      const p = c.properties ?? {};
      if (!p.write && p.writeWithoutResponse && c.writeValueWithoutResponse) await queued(() => c.writeValueWithoutResponse!(buf));
      else if (c.writeValueWithResponse) await queued(() => c.writeValueWithResponse!(buf));
      else if (c.writeValue) await queued(() => c.writeValue!(buf));
      else throw new Error(`${name}: ${u} cannot be written by this browser`);
    },
    async read(u) {
      const c = char(u);
      return bytesOf(await queued(() => c.readValue()));
    },
    async subscribe(u, listener: NotifyListener) {
      const c = char(u);
      const handler = () => {
        if (c.value) listener(bytesOf(c.value), performance.timeOrigin + performance.now());
      };
      c.addEventListener('characteristicvaluechanged', handler);
      await queued(() => c.startNotifications());
      return async () => {
        c.removeEventListener('characteristicvaluechanged', handler);
        if (connected) await queued(() => c.stopNotifications()).catch(() => undefined);
      };
    },
    onDisconnect(listener) {
      disconnectListeners.add(listener);
      return () => disconnectListeners.delete(listener);
    },
    async disconnect() {
      lost('host disconnected');
      gatt.disconnect();
    },
  };
}
