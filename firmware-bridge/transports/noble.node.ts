// size: the noble adapter with its adapter-state, permission and timeout handling in one place (issue 21)
/**
 * The noble transport (Node: Raspberry Pi, Linux, macOS, Windows) over `@stoprocent/noble`, the maintained
 * noble fork with prebuilt binaries for linux-arm64/arm/x64. The package is an optional dependency and is
 * loaded here only, with a dynamic import, the first time the radio is used: nothing else needs it installed.
 *
 * Every radio operation has a timeout (connects to absent devices hang forever on BlueZ/raw HCI). A missing
 * library, a missing or powered-off adapter, or a process without permission to open the HCI socket becomes a
 * TransportError whose message says what to do. Tests inject a noble-like object (`{ noble }`); the types below
 * are the subset of @stoprocent/noble's API this file uses, and the checks at the end of the file make the
 * compiler prove the real package satisfies them.
 */
import type * as NobleApi from '@stoprocent/noble';
import { identifyAdvertisement } from '../devices.js';
import { normaliseUuid, type GattPeripheral, type NotifyListener, type Uuid } from '../gatt.js';
import { BATTERY_SERVICE } from '../protocols/battery.js';
import {
  TransportError,
  errorMessage,
  formatMs,
  registryScanServices,
  registryServices,
  resolveTimeouts,
  sleep,
  withTimeout,
  type BleTransport,
  type ConnectOptions,
  type ScanOptions,
  type ScanResult,
  type TransportTimeouts,
} from './transport.js';

// ----- the part of @stoprocent/noble's API used here (structural, so tests can provide their own)

export type NobleDisconnectReason = number | string;

export interface NobleCharacteristicLike {
  readonly uuid: string;
  readonly properties: readonly string[];
  readAsync(): Promise<Uint8Array>;
  writeAsync(data: Buffer, withoutResponse: boolean): Promise<void>;
  subscribeAsync(): Promise<void>;
  unsubscribeAsync(): Promise<void>;
  on(event: 'data', listener: (data: Buffer, isNotification: boolean) => void): unknown;
  removeListener(event: 'data', listener: (data: Buffer, isNotification: boolean) => void): unknown;
}

export interface NobleServiceLike {
  readonly uuid: string;
  readonly characteristics: readonly NobleCharacteristicLike[];
}

export interface NobleAdvertisementLike {
  localName?: string;
  serviceUuids?: string[];
  serviceData?: { uuid: string; data: Buffer }[];
}

export interface NoblePeripheralLike {
  readonly id: string;
  readonly address: string;
  readonly rssi: number;
  readonly state: string;
  readonly advertisement: NobleAdvertisementLike;
  connectAsync(): Promise<void>;
  disconnectAsync(): Promise<void>;
  cancelConnect(options?: object): void;
  discoverSomeServicesAndCharacteristicsAsync(
    serviceUUIDs: string[],
    characteristicUUIDs: string[],
  ): Promise<{ services: NobleServiceLike[]; characteristics: NobleCharacteristicLike[] }>;
  on(event: 'disconnect', listener: (reason: NobleDisconnectReason) => void): unknown;
  removeListener(event: 'disconnect', listener: (reason: NobleDisconnectReason) => void): unknown;
}

export interface NobleLike {
  readonly state: string;
  startScanningAsync(serviceUUIDs?: string[], allowDuplicates?: boolean): Promise<void>;
  stopScanningAsync(): Promise<void>;
  on(event: 'stateChange', listener: (state: string) => void): unknown;
  on(event: 'discover', listener: (peripheral: NoblePeripheralLike) => void): unknown;
  removeListener(event: 'stateChange', listener: (state: string) => void): unknown;
  removeListener(event: 'discover', listener: (peripheral: NoblePeripheralLike) => void): unknown;
  /** Release the adapter (noble's bindings hold the HCI socket open until then). */
  stop?(): void;
}

/** What `import('@stoprocent/noble')` yields. */
export interface NobleModuleLike {
  default: NobleLike;
  withBindings(bindingType?: string, options?: object): NobleLike;
  hciStatusMessage?(reason: NobleDisconnectReason): string;
}

export type NobleBindings = 'default' | 'hci' | 'dbus' | 'mac' | 'win';

export interface NobleTransportOptions {
  /** A noble instance to use instead of loading the package (tests, or a caller's own withBindings()). */
  noble?: NobleLike;
  /** How to load the package (default: a dynamic import of @stoprocent/noble). */
  load?: () => Promise<NobleModuleLike>;
  /** noble bindings: raw HCI ('hci', the Linux default), BlueZ D-Bus ('dbus', no capabilities, needs dbus-next). */
  bindings?: NobleBindings;
  /** Options for withBindings (e.g. { deviceId: 1 } for hci1). */
  bindingOptions?: object;
  timeouts?: Partial<TransportTimeouts>;
  /** A 'poweredOff' state this long after start-up is final (adapters pass through it while coming up). Default 1500 ms. */
  poweredOffGraceMs?: number;
  /** Host clock for notification timestamps (ms; default Date.now). */
  now?: () => number;
  /** Stop noble on close() (default true; false when the caller shares its noble instance). */
  stopOnClose?: boolean;
  /** noble prints its own adapter warnings with console.log (stdout); they go here instead (default: dropped, the TransportError says it better). */
  warn?: (line: string) => void;
}

const SETCAP = 'sudo setcap cap_net_raw,cap_net_admin+eip $(eval readlink -f $(which node))';

/** The message for an adapter state that stops the radio. */
export function adapterStateError(state: string): TransportError {
  switch (state) {
    case 'unsupported':
      return new TransportError(
        'no-adapter',
        'no Bluetooth LE adapter is available (noble reports "unsupported"). Check that the machine has one and the kernel sees it ' +
          '(`bluetoothctl list` or `hciconfig -a`), that BlueZ is installed and running (`sudo apt install bluez && sudo systemctl enable --now bluetooth`), ' +
          'and, if the adapter is not hci0, set NOBLE_HCI_DEVICE_ID=<n>.',
      );
    case 'poweredOff':
      return new TransportError(
        'adapter-off',
        'the Bluetooth adapter is powered off: power it on (`bluetoothctl power on`; if rfkill blocks it: `sudo rfkill unblock bluetooth`) and try again.',
      );
    case 'unauthorized':
      return permissionError('noble reports "unauthorized"');
    default:
      return new TransportError(
        'no-adapter',
        `the Bluetooth adapter is not usable (state "${state}"): check \`bluetoothctl show\` and \`systemctl status bluetooth\`.`,
      );
  }
}

function permissionError(detail: string): TransportError {
  return new TransportError(
    'no-permission',
    `no permission to use the Bluetooth adapter (${detail}): noble opens a raw HCI socket, which needs the network capabilities. ` +
      `Grant them to node once with \`${SETCAP}\` (or run as root), or use the BlueZ D-Bus bindings (NOBLE_BINDINGS=dbus, needs the dbus-next package).`,
  );
}

const isPermissionError = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'EPERM' || code === 'EACCES' || /\b(EPERM|EACCES)\b|operation not permitted|permission denied/i.test(errorMessage(e));
};

/** Why @stoprocent/noble (or its native binding) failed to load, and what to do. */
export function loadError(e: unknown): TransportError {
  if (isPermissionError(e)) return permissionError(errorMessage(e));
  const msg = errorMessage(e);
  const code = (e as { code?: unknown } | null)?.code;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /dbus-next/.test(msg)) {
    return new TransportError(
      'not-installed',
      'the BlueZ D-Bus bindings need the dbus-next package: `npm install dbus-next` (or use the raw HCI bindings).',
      { cause: e },
    );
  }
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /@stoprocent\/noble['"\s]/.test(msg + ' ')) {
    return new TransportError(
      'not-installed',
      'the Bluetooth library @stoprocent/noble is not installed (an optional dependency of cmcrd-edge): install it with `npm install @stoprocent/noble` ' +
        '(prebuilt for Linux x64/arm64/arm; elsewhere it builds from source and needs python3, make, g++ and libbluetooth-dev).',
      { cause: e },
    );
  }
  return new TransportError(
    'not-installed',
    `cannot load the native Bluetooth binding of @stoprocent/noble (${msg}): reinstall it for this Node and CPU (\`npm rebuild @stoprocent/noble\`), ` +
      'or use the BlueZ D-Bus bindings (NOBLE_BINDINGS=dbus).',
    { cause: e },
  );
}

/** noble writes 16-bit SIG UUIDs as 4 hex digits and 128-bit ones without dashes, all lower case. */
export function toNobleUuid(u: Uuid): string {
  const n = normaliseUuid(u);
  return n.endsWith('-0000-1000-8000-00805f9b34fb') && n.startsWith('0000') ? n.slice(4, 8) : n.replace(/-/g, '');
}

const toUint8 = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

// noble's bindings print adapter warnings with console.log, i.e. on stdout, where they would corrupt `--json`
// output, and they do so whenever the adapter changes state, for as long as the process runs (noble's default
// instance is a process-wide singleton). Once noble is in use, those lines go to the open transports' `warn`
// hooks instead (or nowhere); every other console.log passes through unchanged.
const warnHooks = new Set<(line: string) => void>();
let consoleFiltered = false;
function routeNobleWarnings(warn: (line: string) => void): () => void {
  warnHooks.add(warn);
  if (!consoleFiltered) {
    consoleFiltered = true;
    const orig = console.log.bind(console);
    let continuing = false;
    console.log = (...args: unknown[]) => {
      const first = args[0];
      if (typeof first === 'string' && (first.startsWith('noble warning') || (continuing && /^\s{8,}/.test(first)))) {
        continuing = true;
        for (const w of warnHooks) w(args.map(String).join(' '));
        return;
      }
      continuing = false;
      orig(...args);
    };
  }
  return () => void warnHooks.delete(warn);
}

export class NobleTransport implements BleTransport {
  readonly name = 'noble' as const;
  readonly timeouts: TransportTimeouts;
  private readonly opts: NobleTransportOptions;
  private module: NobleModuleLike | null = null;
  private noble: NobleLike | null = null;
  private ready: Promise<NobleLike> | null = null;
  private readonly seen = new Map<string, NoblePeripheralLike>();
  private releaseConsole: (() => void) | null = null;
  private scanning = false;

  constructor(opts: NobleTransportOptions = {}) {
    this.opts = opts;
    this.timeouts = resolveTimeouts(opts.timeouts);
  }

  /** The noble instance once its adapter is powered on; TransportError when it cannot be. */
  adapter(): Promise<NobleLike> {
    if (!this.ready) {
      this.ready = this.open();
      this.ready.catch(() => (this.ready = null));
    }
    return this.ready;
  }

  private async open(): Promise<NobleLike> {
    this.releaseConsole ??= routeNobleWarnings(this.opts.warn ?? (() => undefined));
    let noble = this.opts.noble;
    if (!noble) {
      let mod: NobleModuleLike;
      try {
        mod = await (this.opts.load ?? (() => import('@stoprocent/noble') as Promise<unknown> as Promise<NobleModuleLike>))();
      } catch (e) {
        throw loadError(e);
      }
      this.module = mod;
      const bindings = this.opts.bindings ?? 'default';
      try {
        noble =
          bindings === 'default' && !this.opts.bindingOptions ? mod.default : mod.withBindings(bindings, this.opts.bindingOptions ?? {});
      } catch (e) {
        throw loadError(e);
      }
    }
    this.noble = noble;
    await this.waitPoweredOn(noble);
    return noble;
  }

  private waitPoweredOn(noble: NobleLike): Promise<void> {
    const grace = this.opts.poweredOffGraceMs ?? 1500;
    const ms = this.timeouts.powerOnMs;
    return new Promise<void>((resolve, reject) => {
      let offTimer: ReturnType<typeof setTimeout> | null = null;
      let settled = false;
      const finish = (err?: TransportError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (offTimer) clearTimeout(offTimer);
        noble.removeListener('stateChange', onState);
        if (err) reject(err);
        else resolve();
      };
      const onState = (state: string) => {
        if (state === 'poweredOn') return finish();
        if (state === 'unsupported' || state === 'unauthorized') return finish(adapterStateError(state));
        if (state === 'poweredOff') offTimer ??= setTimeout(() => finish(adapterStateError('poweredOff')), grace);
        else if (offTimer) {
          clearTimeout(offTimer);
          offTimer = null;
        }
      };
      const timer = setTimeout(() => {
        let state = 'unknown';
        try {
          state = noble.state;
        } catch {
          /* keep unknown */
        }
        finish(
          state === 'poweredOff'
            ? adapterStateError(state)
            : new TransportError(
                'timeout',
                `the Bluetooth adapter did not become ready within ${formatMs(ms)} (state "${state}"): check that BlueZ runs (\`systemctl status bluetooth\`) and the adapter is up (\`bluetoothctl power on\`).`,
              ),
        );
      }, ms);
      try {
        // Listen first: reading `state` (or adding the listener) starts noble's bindings, which may report at once.
        noble.on('stateChange', onState);
        onState(noble.state);
      } catch (e) {
        finish(isPermissionError(e) ? permissionError(errorMessage(e)) : loadError(e));
      }
    });
  }

  async scan(opts: ScanOptions): Promise<ScanResult[]> {
    const noble = await this.adapter();
    if (this.scanning) throw new TransportError('gatt', 'a scan is already running on this transport');
    this.scanning = true;
    const found = new Map<string, ScanResult>();
    const onDiscover = (p: NoblePeripheralLike) => {
      this.seen.set(p.id, p);
      const r = scanResultOf(p);
      if (r.kind === null && !opts.includeUnknown) return;
      const prev = found.get(p.id);
      // Scan responses add the name or service data later: keep what earlier advertisements said.
      found.set(
        p.id,
        prev
          ? {
              ...r,
              name: r.name || prev.name,
              battery: r.battery ?? prev.battery,
              services: r.services.length ? r.services : prev.services,
            }
          : r,
      );
      if (!prev) opts.onResult?.(r);
    };
    noble.on('discover', onDiscover);
    try {
      const filter = opts.includeUnknown ? [] : registryScanServices().map(toNobleUuid);
      try {
        await withTimeout(noble.startScanningAsync(filter, true), this.timeouts.scanControlMs, 'starting a Bluetooth LE scan');
      } catch (e) {
        throw this.radioError(e, 'starting a Bluetooth LE scan');
      }
      await sleep(opts.durationMs, opts.signal);
    } finally {
      noble.removeListener('discover', onDiscover);
      await withTimeout(noble.stopScanningAsync(), this.timeouts.scanControlMs, 'stopping the scan').catch(() => undefined);
      this.scanning = false;
    }
    return [...found.values()];
  }

  async connect(id: string, opts: ConnectOptions = {}): Promise<GattPeripheral> {
    const noble = await this.adapter();
    const connectMs = opts.timeoutMs ?? this.timeouts.connectMs;
    const p = this.seen.get(id) ?? (await this.find(noble, id, connectMs));
    const what = `connecting to ${p.advertisement.localName || id}`;
    try {
      await withTimeout(p.connectAsync(), connectMs, what, () => p.cancelConnect());
    } catch (e) {
      if (e instanceof TransportError && e.code === 'timeout') {
        throw new TransportError(
          'timeout',
          `${e.message}: is the headband switched on, in range, and not connected to another app or device?`,
        );
      }
      throw this.radioError(e, what);
    }
    const peripheral = new NoblePeripheral(p, {
      timeouts: this.timeouts,
      now: this.opts.now ?? Date.now,
      reasonText: (r) => this.reasonText(r),
    });
    try {
      await peripheral.discover();
    } catch (e) {
      await withTimeout(p.disconnectAsync(), this.timeouts.disconnectMs, 'disconnecting').catch(() => undefined);
      throw this.radioError(e, `discovering the services of ${p.advertisement.localName || id}`);
    }
    return peripheral;
  }

  /** Scan until `id` advertises (a device never seen in this process cannot be connected by id on raw HCI). */
  private async find(noble: NobleLike, id: string, ms: number): Promise<NoblePeripheralLike> {
    const ac = new AbortController();
    let hit: NoblePeripheralLike | undefined;
    const onDiscover = (p: NoblePeripheralLike) => {
      if (p.id === id || p.address === id) {
        hit = p;
        ac.abort();
      }
    };
    noble.on('discover', onDiscover);
    try {
      await this.scan({ durationMs: ms, signal: ac.signal, includeUnknown: true });
    } finally {
      noble.removeListener('discover', onDiscover);
    }
    if (!hit)
      throw new TransportError(
        'not-found',
        `${id} did not advertise within ${formatMs(ms)}: is it switched on, charged, in range, and not connected to another app or device?`,
      );
    return hit;
  }

  private reasonText(reason: NobleDisconnectReason): string {
    if (typeof reason === 'number') {
      const text = this.module?.hciStatusMessage?.(reason);
      return `${text ?? 'HCI status'} (0x${reason.toString(16).padStart(2, '0')})`;
    }
    return String(reason);
  }

  private radioError(e: unknown, what: string): TransportError {
    if (e instanceof TransportError) return e;
    if (isPermissionError(e)) return permissionError(errorMessage(e));
    const state = (() => {
      try {
        return this.noble?.state;
      } catch {
        return undefined;
      }
    })();
    if (state && state !== 'poweredOn') return adapterStateError(state);
    return new TransportError('gatt', `${what}: ${errorMessage(e)}`, { cause: e });
  }

  async close(): Promise<void> {
    const ready = this.ready;
    this.ready = null;
    if (ready) await ready.catch(() => null);
    const noble = this.noble;
    this.noble = null;
    if (noble && this.scanning)
      await withTimeout(noble.stopScanningAsync(), this.timeouts.scanControlMs, 'stopping the scan').catch(() => undefined);
    // Releases the HCI socket, which otherwise keeps the process alive after the command is done.
    if (noble?.stop && this.opts.stopOnClose !== false) {
      try {
        noble.stop();
      } catch {
        /* already stopped */
      }
    }
    this.seen.clear();
    this.releaseConsole?.();
    this.releaseConsole = null;
  }
}

export function scanResultOf(p: NoblePeripheralLike): ScanResult {
  const ad = p.advertisement ?? {};
  const services: Uuid[] = [];
  for (const u of ad.serviceUuids ?? []) {
    try {
      services.push(normaliseUuid(u));
    } catch {
      /* a malformed UUID in an advertisement is skipped */
    }
  }
  let battery: number | null = null;
  for (const sd of ad.serviceData ?? []) {
    let uuid: Uuid;
    try {
      uuid = normaliseUuid(sd.uuid);
    } catch {
      continue;
    }
    if (uuid === BATTERY_SERVICE.service && sd.data.length >= 1 && sd.data[0]! <= 100) battery = sd.data[0]!;
  }
  const name = ad.localName ?? '';
  return {
    transport: 'noble',
    id: p.id,
    name,
    ...(p.address && p.address !== 'unknown' ? { address: p.address } : {}),
    rssi: Number.isFinite(p.rssi) && p.rssi !== 127 ? p.rssi : null,
    services,
    kind: identifyAdvertisement({ name, services }),
    battery,
  };
}

interface NoblePeripheralContext {
  timeouts: TransportTimeouts;
  now: () => number;
  reasonText: (r: NobleDisconnectReason) => string;
}

/** A connected noble peripheral presented as a GattPeripheral. */
export class NoblePeripheral implements GattPeripheral {
  readonly id: string;
  readonly name: string;
  services: readonly Uuid[] = [];
  characteristics: readonly Uuid[] = [];
  private readonly chars = new Map<Uuid, NobleCharacteristicLike>();
  private readonly listeners = new Map<Uuid, Set<NotifyListener>>();
  private readonly dataHandlers = new Map<Uuid, (data: Buffer, isNotification: boolean) => void>();
  private readonly disconnectListeners = new Set<(reason: string) => void>();
  private connected = true;
  /** Set while we disconnect: noble reports our own disconnect as HCI 0x16 before disconnectAsync resolves. */
  private closing = false;
  private readonly onNobleDisconnect = (reason: NobleDisconnectReason) =>
    this.lost(this.closing ? 'host disconnected' : this.ctx.reasonText(reason));

  constructor(
    private readonly p: NoblePeripheralLike,
    private readonly ctx: NoblePeripheralContext,
  ) {
    this.id = p.id;
    this.name = p.advertisement?.localName || p.id;
    p.on('disconnect', this.onNobleDisconnect);
  }

  /** Discover the registry's services and all their characteristics. */
  async discover(): Promise<void> {
    const wanted = registryServices().map(toNobleUuid);
    const r = await withTimeout(
      this.p.discoverSomeServicesAndCharacteristicsAsync(wanted, []),
      this.ctx.timeouts.discoverMs,
      `discovering the services of ${this.name}`,
    );
    const services: Uuid[] = [];
    for (const s of r.services) {
      try {
        services.push(normaliseUuid(s.uuid));
      } catch {
        /* skip */
      }
    }
    for (const c of r.characteristics) {
      try {
        const u = normaliseUuid(c.uuid);
        if (!this.chars.has(u)) this.chars.set(u, c);
      } catch {
        /* skip */
      }
    }
    this.services = [...new Set(services)];
    this.characteristics = [...this.chars.keys()];
  }

  get isConnected(): boolean {
    return this.connected;
  }

  private char(u: Uuid, what: string): NobleCharacteristicLike {
    if (!this.connected) throw new TransportError('disconnected', `${this.name} is disconnected (${what})`);
    const c = this.chars.get(normaliseUuid(u));
    if (!c) throw new TransportError('gatt', `${this.name} has no characteristic ${u} (${what})`);
    return c;
  }

  async write(characteristic: Uuid, data: Uint8Array): Promise<void> {
    const c = this.char(characteristic, 'write');
    // With response where the characteristic allows it (the device confirms), else without.
    const withoutResponse = !c.properties.includes('write') && c.properties.includes('writeWithoutResponse');
    await this.op(c.writeAsync(Buffer.from(data), withoutResponse), `writing ${characteristic}`);
  }

  async read(characteristic: Uuid): Promise<Uint8Array> {
    const c = this.char(characteristic, 'read');
    return toUint8(await this.op(c.readAsync(), `reading ${characteristic}`));
  }

  async subscribe(characteristic: Uuid, listener: NotifyListener): Promise<() => Promise<void>> {
    const u = normaliseUuid(characteristic);
    const c = this.char(u, 'subscribe');
    let set = this.listeners.get(u);
    if (!set) {
      set = new Set();
      this.listeners.set(u, set);
      const ls = set;
      const handler = (data: Buffer, isNotification: boolean) => {
        if (isNotification === false) return; // noble also emits 'data' for reads
        const t = this.ctx.now();
        const bytes = toUint8(data);
        for (const l of ls) l(bytes, t);
      };
      this.dataHandlers.set(u, handler);
      c.on('data', handler);
      try {
        await this.op(c.subscribeAsync(), `subscribing to ${u}`);
      } catch (e) {
        c.removeListener('data', handler);
        this.dataHandlers.delete(u);
        this.listeners.delete(u);
        throw e;
      }
    }
    set.add(listener);
    return async () => {
      const s = this.listeners.get(u);
      if (!s || !s.delete(listener) || s.size > 0) return;
      this.listeners.delete(u);
      const h = this.dataHandlers.get(u);
      this.dataHandlers.delete(u);
      if (h) c.removeListener('data', h);
      if (this.connected) await this.op(c.unsubscribeAsync(), `unsubscribing from ${u}`).catch(() => undefined);
    };
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.closing = true;
    try {
      await withTimeout(this.p.disconnectAsync(), this.ctx.timeouts.disconnectMs, `disconnecting from ${this.name}`);
    } catch {
      /* the link is given up either way */
    }
    this.lost('host disconnected');
  }

  private lost(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.p.removeListener('disconnect', this.onNobleDisconnect);
    for (const [u, h] of this.dataHandlers) this.chars.get(u)?.removeListener('data', h);
    this.dataHandlers.clear();
    this.listeners.clear();
    for (const l of [...this.disconnectListeners]) l(reason);
  }

  private async op<T>(p: Promise<T>, what: string): Promise<T> {
    try {
      return await withTimeout(p, this.ctx.timeouts.operationMs, `${this.name}: ${what}`);
    } catch (e) {
      if (e instanceof TransportError) throw e;
      if (!this.connected) throw new TransportError('disconnected', `${this.name} disconnected while ${what}`, { cause: e });
      throw new TransportError('gatt', `${this.name}: ${what} failed: ${errorMessage(e)}`, { cause: e });
    }
  }
}

export function createNobleTransport(opts: NobleTransportOptions = {}): NobleTransport {
  return new NobleTransport(opts);
}

// Compile-time proof that the real @stoprocent/noble satisfies the structural types above (not exported, so
// the published declarations do not need the optional package's types).
type Satisfies<T extends U, U> = T;
type NobleApiCheck = [
  Satisfies<NobleApi.Noble, NobleLike>,
  Satisfies<NobleApi.Peripheral, NoblePeripheralLike>,
  Satisfies<NobleApi.Service, NobleServiceLike>,
  Satisfies<NobleApi.Characteristic, NobleCharacteristicLike>,
];
