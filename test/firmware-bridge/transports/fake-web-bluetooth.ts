/**
 * A mocked `navigator.bluetooth` in Node (EventTarget, DataView, BufferSource) that behaves like Chrome where
 * it matters: requestDevice picks a device matching the filters and grants access only to the services in
 * filters + optionalServices; a second GATT operation while one is in flight fails with "GATT operation
 * already in progress"; notifications set `characteristic.value` (a DataView) and fire
 * 'characteristicvaluechanged' on the characteristic; a dropped link fires 'gattserverdisconnected' on the
 * device. Each device is a virtual headband (firmware-bridge/sim) speaking the real byte protocols.
 */
import { normaliseUuid, type GattPeripheral, type Uuid } from '../../../firmware-bridge/gatt.js';
import { BATTERY_SERVICE } from '../../../firmware-bridge/protocols/battery.js';
import { GANGLION } from '../../../firmware-bridge/protocols/ganglion.js';
import { MUSE } from '../../../firmware-bridge/protocols/muse.js';
import { OPEN_EEG } from '../../../firmware-bridge/protocols/open-eeg.js';
import type {
  BluetoothDeviceLike,
  BluetoothLike,
  BluetoothRemoteGATTCharacteristicLike,
  BluetoothRemoteGATTServerLike,
  BluetoothRemoteGATTServiceLike,
  CharacteristicPropertiesLike,
  RequestDeviceOptionsLike,
} from '../../../firmware-bridge/transports/web-bluetooth.js';

type Op = 'connect' | 'services' | 'characteristics' | 'read' | 'write' | 'startNotifications' | 'stopNotifications';

export interface FakeWebDeviceSpec {
  id: string;
  name: string;
  /** Advertised services (what filters match). */
  advertised: Uuid[];
  create: () => GattPeripheral;
  hang?: Op[];
}

const domError = (name: string, message: string) => Object.assign(new Error(message), { name });

function propertiesOf(u: Uuid): CharacteristicPropertiesLike {
  const p = { read: false, write: false, writeWithoutResponse: false, notify: false, indicate: false };
  if (u === MUSE.control) return { ...p, writeWithoutResponse: true, notify: true };
  if (u === GANGLION.write || u === GANGLION.disconnect) return { ...p, write: true, writeWithoutResponse: true };
  if (u === OPEN_EEG.control) return { ...p, write: true };
  if (u === BATTERY_SERVICE.level) return { ...p, read: true, notify: true };
  if (u === GANGLION.firmwareRevision || u === OPEN_EEG.info) return { ...p, read: true };
  return { ...p, notify: true };
}

function serviceOf(u: Uuid, services: readonly Uuid[]): Uuid {
  if (u === BATTERY_SERVICE.level) return BATTERY_SERVICE.service;
  if (u === GANGLION.firmwareRevision) return GANGLION.deviceInfoService;
  return services[0]!;
}

function bytesOf(v: BufferSource): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

export class FakeCharacteristic extends EventTarget implements BluetoothRemoteGATTCharacteristicLike {
  readonly uuid: string;
  readonly properties: CharacteristicPropertiesLike;
  value: DataView | null = null;
  readonly writes: { bytes: Uint8Array; how: 'withResponse' | 'withoutResponse' }[] = [];
  notifying = false;
  private unsub: (() => Promise<void>) | null = null;

  constructor(
    private readonly server: FakeServer,
    readonly full: Uuid,
  ) {
    super();
    this.uuid = full;
    this.properties = propertiesOf(full);
  }

  readValue(): Promise<DataView> {
    return this.server.op('read', async (dev) => {
      const b = await dev.read(this.full);
      this.value = new DataView(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      return this.value;
    });
  }

  writeValueWithResponse(v: BufferSource): Promise<void> {
    if (!this.properties.write) return Promise.reject(domError('NotSupportedError', 'GATT operation not permitted.'));
    return this.server.op('write', async (dev) => {
      this.writes.push({ bytes: bytesOf(v), how: 'withResponse' });
      await dev.write(this.full, bytesOf(v));
    });
  }

  writeValueWithoutResponse(v: BufferSource): Promise<void> {
    if (!this.properties.writeWithoutResponse) return Promise.reject(domError('NotSupportedError', 'GATT operation not permitted.'));
    return this.server.op('write', async (dev) => {
      this.writes.push({ bytes: bytesOf(v), how: 'withoutResponse' });
      await dev.write(this.full, bytesOf(v));
    });
  }

  startNotifications(): Promise<FakeCharacteristic> {
    return this.server.op('startNotifications', async (dev) => {
      this.notifying = true;
      this.unsub ??= await dev.subscribe(this.full, (bytes) => {
        // Chrome hands each event a fresh DataView in characteristic.value.
        this.value = new DataView(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        this.dispatchEvent(new Event('characteristicvaluechanged'));
      });
      return this;
    });
  }

  stopNotifications(): Promise<FakeCharacteristic> {
    return this.server.op('stopNotifications', async () => {
      this.notifying = false;
      const u = this.unsub;
      this.unsub = null;
      await u?.();
      return this;
    });
  }
}

export class FakeService implements BluetoothRemoteGATTServiceLike {
  readonly characteristics: FakeCharacteristic[] = [];
  constructor(
    private readonly server: FakeServer,
    readonly uuid: string,
  ) {}
  getCharacteristic(uuid: string): Promise<FakeCharacteristic> {
    return this.server.op('characteristics', async () => {
      const c = this.characteristics.find((x) => x.uuid === normaliseUuid(uuid));
      if (!c) throw domError('NotFoundError', `No Characteristics matching UUID ${uuid} found in Service.`);
      return c;
    });
  }
  getCharacteristics(uuid?: string): Promise<FakeCharacteristic[]> {
    return this.server.op('characteristics', async () =>
      this.characteristics.filter((c) => uuid === undefined || c.uuid === normaliseUuid(uuid)),
    );
  }
}

export class FakeServer implements BluetoothRemoteGATTServerLike {
  connected = false;
  current: GattPeripheral | null = null;
  services: FakeService[] = [];
  inFlight = 0;
  maxInFlight = 0;
  rejectedBusy = 0;
  ops = 0;
  disconnectCalls = 0;

  constructor(readonly device: FakeDevice) {}

  /** One GATT operation: fails if another is in flight (as Chrome does), takes a little while. */
  async op<T>(kind: Op, f: (dev: GattPeripheral) => Promise<T>): Promise<T> {
    if (kind !== 'connect' && (!this.connected || !this.current))
      throw domError('NetworkError', 'GATT Server is disconnected. Cannot perform GATT operations.');
    if (this.inFlight > 0) {
      this.rejectedBusy++;
      throw domError('NetworkError', 'GATT operation already in progress.');
    }
    this.inFlight++;
    this.ops++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.device.spec.hang?.includes(kind)) await new Promise(() => undefined);
      await new Promise((r) => setTimeout(r, 1));
      return await f(this.current!);
    } finally {
      this.inFlight--;
    }
  }

  async connect(): Promise<FakeServer> {
    if (this.connected) return this;
    await this.op('connect', async () => undefined);
    const dev = this.device.spec.create();
    this.current = dev;
    this.connected = true;
    this.services = [];
    const allowed = this.device.allowed;
    for (const s of dev.services) if (allowed.has(s)) this.services.push(new FakeService(this, s));
    for (const c of dev.characteristics)
      this.services.find((s) => s.uuid === serviceOf(c, dev.services))?.characteristics.push(new FakeCharacteristic(this, c));
    dev.onDisconnect(() => {
      if (this.current !== dev) return;
      this.current = null;
      this.connected = false;
      this.device.dispatchEvent(new Event('gattserverdisconnected'));
    });
    return this;
  }

  disconnect(): void {
    this.disconnectCalls++;
    void this.current?.disconnect();
  }

  getPrimaryService(uuid: string): Promise<FakeService> {
    return this.op('services', async () => {
      const u = normaliseUuid(uuid);
      if (!this.device.allowed.has(u))
        throw domError('SecurityError', `Origin is not allowed to access the service. Tip: Add the service UUID to 'optionalServices'.`);
      const s = this.services.find((x) => x.uuid === u);
      if (!s) throw domError('NotFoundError', `No Services matching UUID ${uuid} found in Device.`);
      return s;
    });
  }

  getPrimaryServices(uuid?: string): Promise<FakeService[]> {
    return this.op('services', async () => {
      const list = this.services.filter((s) => uuid === undefined || s.uuid === normaliseUuid(uuid));
      if (list.length === 0) throw domError('NotFoundError', 'No Services found in device.');
      return list;
    });
  }

  /** The characteristic object handed out for `u`. */
  characteristic(u: Uuid): FakeCharacteristic {
    for (const s of this.services) for (const c of s.characteristics) if (c.uuid === u) return c;
    throw new Error(`no characteristic ${u}`);
  }
}

export class FakeDevice extends EventTarget implements BluetoothDeviceLike {
  readonly id: string;
  readonly name: string;
  readonly gatt: FakeServer;
  /** Services the origin was granted (filters + optionalServices). */
  allowed = new Set<Uuid>();
  constructor(readonly spec: FakeWebDeviceSpec) {
    super();
    this.id = spec.id;
    this.name = spec.name;
    this.gatt = new FakeServer(this);
  }
}

export class FakeBluetooth implements BluetoothLike {
  readonly requests: RequestDeviceOptionsLike[] = [];
  readonly devices: FakeDevice[];
  available = true;
  /** Makes requestDevice reject with this DOMException name. */
  failWith: string | null = null;

  constructor(specs: FakeWebDeviceSpec[]) {
    this.devices = specs.map((s) => new FakeDevice(s));
  }

  async getAvailability(): Promise<boolean> {
    return this.available;
  }

  async requestDevice(options: RequestDeviceOptionsLike): Promise<FakeDevice> {
    this.requests.push(options);
    if (this.failWith)
      throw domError(
        this.failWith,
        this.failWith === 'NotFoundError'
          ? 'User cancelled the requestDevice() chooser.'
          : 'Must be handling a user gesture to show a permission request.',
      );
    if (!options.acceptAllDevices && !options.filters?.length)
      throw new TypeError("Either 'filters' should be present or 'acceptAllDevices' should be true, but not both.");
    const filterServices = (options.filters ?? []).flatMap((f) => f.services ?? []).map((u) => normaliseUuid(u));
    const matches = (d: FakeDevice) =>
      options.acceptAllDevices ||
      (options.filters ?? []).some(
        (f) =>
          (!f.services || f.services.every((u) => d.spec.advertised.includes(normaliseUuid(u)))) &&
          (!f.namePrefix || d.name.startsWith(f.namePrefix)) &&
          (!f.name || d.name === f.name),
      );
    // The user picks the first device the chooser lists.
    const d = this.devices.find(matches);
    if (!d) throw domError('NotFoundError', 'User cancelled the requestDevice() chooser.');
    d.allowed = new Set([...filterServices, ...(options.optionalServices ?? []).map((u) => normaliseUuid(u))]);
    return d;
  }
}
