/**
 * A stand-in for @stoprocent/noble with its real API surface (index.d.ts: Noble, Peripheral, Service,
 * Characteristic; Buffers, noble-format UUIDs, 'stateChange' / 'discover' / 'disconnect' / 'data' events,
 * numeric HCI disconnect reasons) and its observable behaviour (bindings start when a 'stateChange' listener
 * is added or `state` is read; startScanning fails unless powered on; the scan filter matches advertised
 * service UUIDs; reads also emit 'data' with isNotification = false; cancelConnect rejects a pending connect).
 * Behind each fake peripheral is a virtual headband (firmware-bridge/sim), so everything above the radio
 * sees the real byte protocols.
 */
import { EventEmitter } from 'node:events';
import { normaliseUuid, type GattPeripheral, type Uuid } from '../../../firmware-bridge/gatt.js';
import { GANGLION } from '../../../firmware-bridge/protocols/ganglion.js';
import { MUSE } from '../../../firmware-bridge/protocols/muse.js';
import { OPEN_EEG } from '../../../firmware-bridge/protocols/open-eeg.js';
import { BATTERY_SERVICE } from '../../../firmware-bridge/protocols/battery.js';
import type {
  NobleAdvertisementLike,
  NobleCharacteristicLike,
  NobleDisconnectReason,
  NobleLike,
  NobleModuleLike,
  NoblePeripheralLike,
  NobleServiceLike,
} from '../../../firmware-bridge/transports/noble.node.js';
import { toNobleUuid } from '../../../firmware-bridge/transports/noble.node.js';

type Op = 'connect' | 'discover' | 'read' | 'write' | 'subscribe' | 'disconnect';

export interface FakeDeviceSpec {
  /** MAC address; noble's id on Linux is the address without colons, lower case. */
  address: string;
  name: string;
  rssi: number;
  advertisedServices: Uuid[];
  /** Battery Service data in the advertisement. */
  advertisedBattery?: number;
  /** Builds the headband behind the radio, once per connection. */
  create: () => GattPeripheral;
  /** Operations that never complete (an absent device, a wedged link). */
  hang?: Op[];
  /** Operations that fail with an error. */
  fail?: Partial<Record<Op, Error>>;
}

const HCI_LOCAL_HOST_TERMINATED = 0x16;
const HCI_CONNECTION_TIMEOUT = 0x08;

/** GATT properties of the characteristics the virtual headbands offer (as the real devices declare them). */
function propertiesOf(u: Uuid): string[] {
  if (u === MUSE.control) return ['writeWithoutResponse', 'notify'];
  if (u === GANGLION.write) return ['write', 'writeWithoutResponse'];
  if (u === GANGLION.disconnect) return ['write', 'writeWithoutResponse'];
  if (u === OPEN_EEG.control) return ['write'];
  if (u === BATTERY_SERVICE.level) return ['read', 'notify'];
  if (u === GANGLION.firmwareRevision || u === OPEN_EEG.info) return ['read'];
  return ['notify'];
}

/** SIG characteristics live in their standard service; the vendor ones in the device's first service. */
function serviceOf(u: Uuid, services: readonly Uuid[]): Uuid {
  if (u === BATTERY_SERVICE.level) return BATTERY_SERVICE.service;
  if (u === GANGLION.firmwareRevision) return GANGLION.deviceInfoService;
  return services[0]!;
}

const never = <T>() => new Promise<T>(() => undefined);

export class FakeCharacteristic extends EventEmitter implements NobleCharacteristicLike {
  readonly name = null;
  readonly type = null;
  readonly descriptors = [];
  readonly uuid: string;
  readonly properties: string[];
  readonly writes: { bytes: Uint8Array; withoutResponse: boolean }[] = [];
  subscribeCalls = 0;
  unsubscribeCalls = 0;
  private unsub: (() => Promise<void>) | null = null;

  constructor(
    private readonly owner: FakePeripheral,
    readonly full: Uuid,
  ) {
    super();
    this.uuid = toNobleUuid(full);
    this.properties = propertiesOf(full);
  }

  async readAsync(): Promise<Buffer> {
    await this.owner.gate('read');
    const b = Buffer.from(await this.owner.device().read(this.full));
    this.emit('data', b, false);
    this.emit('read', b, false);
    return b;
  }

  async writeAsync(data: Buffer, withoutResponse: boolean): Promise<void> {
    if (!Buffer.isBuffer(data)) throw new TypeError('data must be a Buffer');
    await this.owner.gate('write');
    this.writes.push({ bytes: new Uint8Array(data), withoutResponse });
    await this.owner.device().write(this.full, new Uint8Array(data));
  }

  async subscribeAsync(): Promise<void> {
    await this.owner.gate('subscribe');
    this.subscribeCalls++;
    this.unsub ??= await this.owner.device().subscribe(this.full, (bytes) => this.emit('data', Buffer.from(bytes), true));
  }

  async unsubscribeAsync(): Promise<void> {
    this.unsubscribeCalls++;
    const u = this.unsub;
    this.unsub = null;
    await u?.();
  }
}

export class FakeService extends EventEmitter implements NobleServiceLike {
  readonly uuid: string;
  readonly characteristics: FakeCharacteristic[] = [];
  constructor(readonly full: Uuid) {
    super();
    this.uuid = toNobleUuid(full);
  }
}

export class FakePeripheral extends EventEmitter implements NoblePeripheralLike {
  readonly id: string;
  readonly address: string;
  readonly addressType = 'public';
  readonly connectable = true;
  readonly advertisement: NobleAdvertisementLike & { txPowerLevel: number; manufacturerData: Buffer; serviceSolicitationUuids: string[] };
  rssi: number;
  mtu: number | null = null;
  state: 'error' | 'connecting' | 'connected' | 'disconnecting' | 'disconnected' = 'disconnected';
  services: FakeService[] = [];
  /** The headband behind the current connection. */
  current: GattPeripheral | null = null;
  connections = 0;
  cancelConnectCalls = 0;
  disconnectCalls = 0;
  readonly characteristicsByUuid = new Map<Uuid, FakeCharacteristic>();
  private pendingConnect: ((e: Error) => void) | null = null;

  constructor(readonly spec: FakeDeviceSpec) {
    super();
    this.address = spec.address;
    this.id = spec.address.replace(/:/g, '').toLowerCase();
    this.rssi = spec.rssi;
    this.advertisement = {
      localName: spec.name,
      serviceUuids: spec.advertisedServices.map(toNobleUuid),
      serviceData: spec.advertisedBattery === undefined ? [] : [{ uuid: '180f', data: Buffer.from([spec.advertisedBattery]) }],
      txPowerLevel: -8,
      manufacturerData: Buffer.alloc(0),
      serviceSolicitationUuids: [],
    };
  }

  device(): GattPeripheral {
    if (!this.current || this.state !== 'connected') throw new Error('Peripheral not connected');
    return this.current;
  }

  async gate(op: Op): Promise<void> {
    if (this.spec.hang?.includes(op)) await never();
    const f = this.spec.fail?.[op];
    if (f) throw f;
    await new Promise((r) => setImmediate(r));
  }

  async connectAsync(): Promise<void> {
    if (this.state === 'connected') throw new Error('Peripheral already connected');
    this.state = 'connecting';
    const cancelled = new Promise<never>((_, reject) => (this.pendingConnect = reject));
    await Promise.race([this.gate('connect'), cancelled]);
    this.pendingConnect = null;
    const dev = this.spec.create();
    this.current = dev;
    this.connections++;
    this.state = 'connected';
    dev.onDisconnect((reason) => {
      if (this.current !== dev) return;
      this.current = null;
      this.state = 'disconnected';
      this.services = [];
      this.characteristicsByUuid.clear();
      this.emit('disconnect', reason === 'host disconnected' ? HCI_LOCAL_HOST_TERMINATED : HCI_CONNECTION_TIMEOUT);
    });
  }

  cancelConnect(): void {
    if (this.state !== 'connecting') return;
    this.cancelConnectCalls++;
    this.state = 'disconnected';
    this.pendingConnect?.(new Error('connection canceled!'));
    this.pendingConnect = null;
  }

  async disconnectAsync(): Promise<void> {
    this.disconnectCalls++;
    this.state = 'disconnecting';
    await this.gate('disconnect');
    await this.current?.disconnect();
  }

  async discoverSomeServicesAndCharacteristicsAsync(
    serviceUUIDs: string[],
    characteristicUUIDs: string[],
  ): Promise<{ services: FakeService[]; characteristics: FakeCharacteristic[] }> {
    await this.gate('discover');
    const dev = this.device();
    const wantS = new Set(serviceUUIDs.map((u) => normaliseUuid(u)));
    const wantC = new Set(characteristicUUIDs.map((u) => normaliseUuid(u)));
    const services = new Map<Uuid, FakeService>();
    for (const s of dev.services) if (wantS.size === 0 || wantS.has(s)) services.set(s, new FakeService(s));
    const chars: FakeCharacteristic[] = [];
    for (const c of dev.characteristics) {
      const svc = services.get(serviceOf(c, dev.services));
      if (!svc || (wantC.size > 0 && !wantC.has(c))) continue;
      const fc = new FakeCharacteristic(this, c);
      svc.characteristics.push(fc);
      chars.push(fc);
      this.characteristicsByUuid.set(c, fc);
    }
    this.services = [...services.values()];
    return { services: this.services, characteristics: chars };
  }

  /** The characteristic object the last discovery handed out. */
  characteristic(u: Uuid): FakeCharacteristic {
    const c = this.characteristicsByUuid.get(u);
    if (!c) throw new Error(`not discovered: ${u}`);
    return c;
  }
}

export interface FakeNobleOptions {
  /** States the adapter reports after start-up, in order (default ['poweredOn']; [] = never ready). */
  states?: string[];
  /** Thrown when the bindings start (e.g. an EPERM from the HCI socket). */
  startError?: Error;
  /** Error startScanningAsync rejects with. */
  scanError?: Error;
  /** Interval between repeated advertisements while scanning (ms). */
  advertiseEveryMs?: number;
}

export class FakeNoble extends EventEmitter implements NobleLike {
  readonly address = '00:00:00:00:00:00';
  readonly peripherals: FakePeripheral[] = [];
  readonly scanCalls: { uuids: string[] | undefined; allowDuplicates: boolean | undefined }[] = [];
  stopScanCalls = 0;
  stopCalls = 0;
  scanning = false;
  private _state = 'unknown';
  private started = false;
  private timers: ReturnType<typeof setInterval>[] = [];

  constructor(private readonly opts: FakeNobleOptions = {}) {
    super();
    this.on('newListener', (event: string) => {
      if (event === 'stateChange' && !this.started) process.nextTick(() => this.start());
    });
  }

  add(spec: FakeDeviceSpec): FakePeripheral {
    const p = new FakePeripheral(spec);
    this.peripherals.push(p);
    return p;
  }

  get state(): string {
    if (!this.started) this.start();
    return this._state;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    if (this.opts.startError) throw this.opts.startError;
    let delay = 0;
    for (const s of this.opts.states ?? ['poweredOn']) {
      delay += 5;
      setTimeout(() => {
        this._state = s;
        this.emit('stateChange', s);
      }, delay);
    }
  }

  async waitForPoweredOnAsync(timeout = 10000): Promise<void> {
    if (this.state === 'poweredOn') return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('Timeout waiting for Noble to be powered on')), timeout);
      const l = (s: string) => s === 'poweredOn' && (clearTimeout(t), this.removeListener('stateChange', l), resolve());
      this.on('stateChange', l);
    });
  }

  async startScanningAsync(serviceUUIDs?: string[], allowDuplicates?: boolean): Promise<void> {
    if (this.opts.scanError) throw this.opts.scanError;
    if (this._state !== 'poweredOn') throw new Error(`Could not start scanning, state is ${this._state} (not poweredOn)`);
    this.scanCalls.push({ uuids: serviceUUIDs, allowDuplicates });
    this.scanning = true;
    this.emit('scanStart', !allowDuplicates);
    const filter = (serviceUUIDs ?? []).map((u) => u.toLowerCase());
    const heard = () => {
      for (const p of this.peripherals) {
        if (filter.length && !(p.advertisement.serviceUuids ?? []).some((u) => filter.includes(u))) continue;
        this.emit('discover', p);
      }
    };
    this.timers.push(setTimeout(heard, 2));
    if (allowDuplicates) this.timers.push(setInterval(heard, this.opts.advertiseEveryMs ?? 20));
  }

  async stopScanningAsync(): Promise<void> {
    this.stopScanCalls++;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.scanning = false;
    this.emit('scanStop');
  }

  stop(): void {
    this.stopCalls++;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}

/** `import('@stoprocent/noble')` as the transport sees it, around a fake. */
export function fakeNobleModule(noble: FakeNoble): NobleModuleLike & { withBindingsCalls: unknown[][] } {
  const calls: unknown[][] = [];
  return {
    default: noble,
    withBindings: (...args: unknown[]) => (calls.push(args), noble),
    // The messages of the Bluetooth Core spec's error code table, as noble's hciStatusMessage gives them.
    hciStatusMessage: (r: NobleDisconnectReason) =>
      ({ 8: 'Connection Timeout', 22: 'Connection Terminated By Local Host' })[Number(r)] ?? `Unknown HCI status ${String(r)}`,
    withBindingsCalls: calls,
  };
}

export const nobleIdOf = (address: string): string => address.replace(/:/g, '').toLowerCase();
export type { NoblePeripheralLike };
