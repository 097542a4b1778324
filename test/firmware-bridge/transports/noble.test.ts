import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeviceDecoder, type DecodedRecord } from '../../../firmware-bridge/decoder.js';
import { identifyPeripheral } from '../../../firmware-bridge/devices.js';
import { startStream } from '../../../firmware-bridge/drivers.js';
import { uuid16, type GattPeripheral } from '../../../firmware-bridge/gatt.js';
import { BATTERY_SERVICE } from '../../../firmware-bridge/protocols/battery.js';
import { GANGLION } from '../../../firmware-bridge/protocols/ganglion.js';
import { MUSE, decodeMuseCommand } from '../../../firmware-bridge/protocols/muse.js';
import { OPEN_EEG } from '../../../firmware-bridge/protocols/open-eeg.js';
import { VirtualAthena } from '../../../firmware-bridge/sim/virtual-athena.js';
import { VirtualGanglion } from '../../../firmware-bridge/sim/virtual-ganglion.js';
import { VirtualMuse } from '../../../firmware-bridge/sim/virtual-muse.js';
import { VirtualOpenEeg } from '../../../firmware-bridge/sim/virtual-open-eeg.js';
import type { VirtualPeripheral } from '../../../firmware-bridge/sim/base.js';
import {
  NobleTransport,
  createNobleTransport,
  loadError,
  toNobleUuid,
  type NobleTransportOptions,
} from '../../../firmware-bridge/transports/noble.node.js';
import { probeDevice } from '../../../firmware-bridge/transports/probe.js';
import { TransportError } from '../../../firmware-bridge/transports/transport.js';
import { FakeNoble, fakeNobleModule, nobleIdOf, type FakeDeviceSpec, type FakePeripheral } from './fake-noble.js';

const MUSE_ADDR = '00:55:da:b0:1a:2b';
const ATHENA_ADDR = '00:55:da:b3:7c:3d';
const GANGLION_ADDR = 'd2:b4:11:8a:4e:5f';
const OPEN_ADDR = 'c0:ff:ee:00:0c:12';
const HRM_ADDR = 'e1:22:33:44:47:11';

/** A room with four headbands and a heart-rate strap; `made` collects the virtual devices behind each connection. */
function room(opts: { states?: string[]; muse?: Partial<FakeDeviceSpec>; scanError?: Error } = {}) {
  const noble = new FakeNoble({
    ...(opts.states ? { states: opts.states } : {}),
    ...(opts.scanError ? { scanError: opts.scanError } : {}),
  });
  const made: VirtualPeripheral[] = [];
  const mk =
    <T extends VirtualPeripheral>(f: () => T) =>
    () => {
      const d = f();
      made.push(d);
      return d;
    };
  const muse = noble.add({
    address: MUSE_ADDR,
    name: 'Muse-1A2B',
    rssi: -55,
    advertisedServices: [MUSE.service],
    create: mk(() => new VirtualMuse({ clock: 'manual', seed: 7, batteryPercent: 80 })),
    ...opts.muse,
  });
  const athena = noble.add({
    address: ATHENA_ADDR,
    name: 'MuseS-7C3D',
    rssi: -66,
    advertisedServices: [MUSE.service],
    create: mk(() => new VirtualAthena({ clock: 'manual', seed: 2, batteryPercent: 35 })),
  });
  const ganglion = noble.add({
    address: GANGLION_ADDR,
    name: 'Ganglion-4E5F',
    rssi: -70,
    advertisedServices: [GANGLION.service],
    create: mk(() => new VirtualGanglion({ clock: 'manual', seed: 3 })),
  });
  const open = noble.add({
    address: OPEN_ADDR,
    name: 'CMCRD-0C12',
    rssi: -80,
    advertisedServices: [OPEN_EEG.service],
    advertisedBattery: 42,
    create: mk(() => new VirtualOpenEeg({ clock: 'manual', seed: 4, batteryPercent: 12 })),
  });
  noble.add({
    address: HRM_ADDR,
    name: 'HRM-Pro:4711',
    rssi: -60,
    advertisedServices: [uuid16(0x180d)],
    create: () => new VirtualMuse({ clock: 'manual' }),
  });
  return { noble, made, muse, athena, ganglion, open };
}

const transports: NobleTransport[] = [];
function transport(noble: FakeNoble, opts: NobleTransportOptions = {}): NobleTransport {
  const mod = fakeNobleModule(noble);
  const t = createNobleTransport({
    load: async () => mod,
    timeouts: { connectMs: 500, operationMs: 500, powerOnMs: 500, discoverMs: 500 },
    ...opts,
  });
  transports.push(t);
  return t;
}
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
});

/** Every notification of a stream, as (characteristic, hex) pairs in arrival order. */
async function streamBytes(dev: GattPeripheral, virtual: VirtualPeripheral, seconds: number) {
  const seen: string[] = [];
  const dec = new DeviceDecoder('muse');
  const recs: DecodedRecord[] = [];
  const s = await startStream(
    dev,
    (c, b, t) => {
      seen.push(`${c} ${Buffer.from(b).toString('hex')}`);
      recs.push(...dec.push(c, b, t));
    },
    { wait: async (ms) => virtual.advance(ms), keepAlive: false },
  );
  for (let i = 0; i < seconds * 10; i++) virtual.advance(100);
  await s.stop();
  recs.push(...dec.flush());
  return { seen, recs };
}

describe('noble transport: scan', () => {
  it('scans with the registry service UUIDs in noble form and reports name, id, address, RSSI, services, kind and advertised battery', async () => {
    const { noble } = room();
    const t = transport(noble);
    const heard: string[] = [];
    const found = await t.scan({ durationMs: 80, onResult: (r) => heard.push(r.name) });
    expect(noble.scanCalls).toHaveLength(1);
    expect(noble.scanCalls[0]!.allowDuplicates).toBe(true);
    expect(new Set(noble.scanCalls[0]!.uuids)).toEqual(new Set(['fe8d', 'fe84', toNobleUuid(OPEN_EEG.service)]));
    expect(noble.scanCalls[0]!.uuids).toContain(OPEN_EEG.service.replace(/-/g, ''));
    expect(noble.stopScanCalls).toBe(1);
    // Repeated advertisements (allowDuplicates) still give one result per device and one onResult call.
    expect(heard.sort()).toEqual(['CMCRD-0C12', 'Ganglion-4E5F', 'Muse-1A2B', 'MuseS-7C3D']);
    const byName = new Map(found.map((r) => [r.name, r]));
    expect(byName.get('Muse-1A2B')).toEqual({
      transport: 'noble',
      id: nobleIdOf(MUSE_ADDR),
      name: 'Muse-1A2B',
      address: MUSE_ADDR,
      rssi: -55,
      services: [MUSE.service],
      kind: 'muse',
      battery: null,
    });
    // Athena advertises like a Muse 2: the scan cannot tell them apart.
    expect(byName.get('MuseS-7C3D')!.kind).toBe('muse');
    expect(byName.get('Ganglion-4E5F')!.kind).toBe('ganglion');
    expect(byName.get('CMCRD-0C12')).toMatchObject({ kind: 'open-eeg', battery: 42 });
    expect(byName.has('HRM-Pro:4711')).toBe(false);
  });

  it('with includeUnknown it scans unfiltered and keeps devices the registry does not know (kind null)', async () => {
    const { noble } = room();
    const found = await transport(noble).scan({ durationMs: 50, includeUnknown: true });
    expect(noble.scanCalls[0]!.uuids).toEqual([]);
    expect(found.find((r) => r.name === 'HRM-Pro:4711')).toMatchObject({ kind: null, services: [uuid16(0x180d)] });
  });

  it('stops early when the signal aborts', async () => {
    const { noble } = room();
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 30);
    await transport(noble).scan({ durationMs: 10_000, signal: ac.signal });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(noble.scanning).toBe(false);
  });
});

describe('noble transport: a Muse session', () => {
  it('connects, discovers, subscribes and streams exactly the bytes the headband sends; commands reach the device', async () => {
    const { noble, made, muse } = room();
    const t = transport(noble);
    await t.scan({ durationMs: 30 });
    const dev = await t.connect(nobleIdOf(MUSE_ADDR));
    const virtual = made[0] as VirtualMuse;
    expect(dev.id).toBe(nobleIdOf(MUSE_ADDR));
    expect(dev.name).toBe('Muse-1A2B');
    expect(dev.services).toEqual([MUSE.service]);
    expect(new Set(dev.characteristics)).toEqual(new Set(virtual.characteristics));
    expect(identifyPeripheral(dev)).toBe('muse');

    const viaNoble = await streamBytes(dev, virtual, 2);
    // The same headband (same seed) streamed directly, with no radio in between.
    const direct = new VirtualMuse({ clock: 'manual', seed: 7, batteryPercent: 80 });
    const reference = await streamBytes(direct, direct, 2);
    expect(viaNoble.seen.length).toBeGreaterThan(200);
    expect(viaNoble.seen).toEqual(reference.seen);
    const eeg = viaNoble.recs.filter((r) => r.kind === 'eeg');
    const rows = eeg.reduce((n, r) => n + (r.kind === 'eeg' ? r.t.length : 0), 0);
    expect(rows).toBe(reference.recs.reduce((n, r) => n + (r.kind === 'eeg' ? r.t.length : 0), 0));
    expect(rows).toBeGreaterThanOrEqual(2 * 256 - 12);
    expect(viaNoble.recs.filter((r) => r.kind === 'error')).toEqual([]);
    expect(viaNoble.recs.some((r) => r.kind === 'telemetry' && Math.abs(r.battery - 80) < 1)).toBe(true);

    // Start (h, p21, s, d) and stop (h) went through noble's writeAsync, without response: the Muse control
    // characteristic offers only write-without-response.
    const control = muse.characteristic(MUSE.control);
    expect(control.writes.map((w) => (decodeMuseCommand(w.bytes) as { value: string }).value)).toEqual(['h', 'p21', 's', 'd', 'h']);
    expect(control.writes.every((w) => w.withoutResponse)).toBe(true);
    expect(virtual.isStreaming).toBe(false);
    // Unsubscribing the last listener unsubscribes on the radio too.
    expect(muse.characteristic(MUSE.eeg.TP9).subscribeCalls).toBe(1);
    expect(muse.characteristic(MUSE.eeg.TP9).unsubscribeCalls).toBe(1);
    await dev.disconnect();
  });

  it('tells a Muse S Athena from a Muse 2 once connected and reads its battery from the status reply', async () => {
    const { noble } = room();
    const t = transport(noble);
    await t.scan({ durationMs: 30 });
    const dev = await t.connect(nobleIdOf(ATHENA_ADDR));
    expect(await probeDevice(dev, { kindHint: 'muse' })).toEqual({ kind: 'muse-athena', battery: 35, batterySource: 'muse-status' });
    await dev.disconnect();
  });

  it('reads the Battery Level characteristic with response-type writes where offered; a read is not taken for a notification', async () => {
    const { noble, made, open } = room();
    const t = transport(noble);
    await t.scan({ durationMs: 30 });
    const dev = await t.connect(nobleIdOf(OPEN_ADDR));
    expect(dev.services).toEqual(expect.arrayContaining([OPEN_EEG.service, BATTERY_SERVICE.service]));
    const notified: number[] = [];
    const unsub = await dev.subscribe(BATTERY_SERVICE.level, (b) => notified.push(b[0]!));
    expect(Array.from(await dev.read(BATTERY_SERVICE.level))).toEqual([12]);
    expect(notified).toEqual([]); // noble emitted 'data' with isNotification = false for the read
    await dev.write(OPEN_EEG.control, Uint8Array.of(0x01));
    expect(open.characteristic(OPEN_EEG.control).writes).toEqual([{ bytes: Uint8Array.of(0x01), withoutResponse: false }]);
    expect((made[0] as VirtualOpenEeg).isStreaming).toBe(true);
    (made[0] as VirtualOpenEeg).advance(10); // the board notifies its battery level as streaming starts
    expect(notified).toEqual([12]);
    await unsub();
    await dev.disconnect();
  });

  it('connects by id without a prior scan by scanning until the device advertises', async () => {
    const { noble } = room();
    const dev = await transport(noble).connect(nobleIdOf(GANGLION_ADDR));
    expect(identifyPeripheral(dev)).toBe('ganglion');
    expect(noble.scanCalls).toHaveLength(1);
    expect(noble.scanning).toBe(false);
    await dev.disconnect();
  });
});

describe('noble transport: disconnects', () => {
  it('a link loss reaches onDisconnect once with the HCI reason, and later operations fail as disconnected', async () => {
    const { noble, made } = room();
    const t = transport(noble);
    await t.scan({ durationMs: 30 });
    const dev = await t.connect(nobleIdOf(MUSE_ADDR));
    const reasons: string[] = [];
    dev.onDisconnect((r) => reasons.push(r));
    const got: number[] = [];
    await dev.subscribe(MUSE.eeg.TP9, () => got.push(1));
    made[0]!.drop('out of range');
    expect(reasons).toEqual(['Connection Timeout (0x08)']);
    await expect(dev.write(MUSE.control, Uint8Array.of(2, 0x68, 0x0a))).rejects.toMatchObject({
      name: 'TransportError',
      code: 'disconnected',
    });
    await dev.disconnect(); // no second event
    expect(reasons).toHaveLength(1);
  });

  it('a host disconnect calls noble disconnectAsync and reports "host disconnected"', async () => {
    const { noble, muse } = room();
    const t = transport(noble);
    await t.scan({ durationMs: 30 });
    const dev = await t.connect(nobleIdOf(MUSE_ADDR));
    const reasons: string[] = [];
    dev.onDisconnect((r) => reasons.push(r));
    await dev.disconnect();
    expect(muse.disconnectCalls).toBe(1);
    expect(muse.state).toBe('disconnected');
    expect(reasons).toEqual(['host disconnected']);
  });

  it('reconnects to the same device after a drop (fresh discovery, fresh subscriptions)', async () => {
    const { noble, made } = room();
    const t = transport(noble);
    await t.scan({ durationMs: 30 });
    const a = await t.connect(nobleIdOf(MUSE_ADDR));
    made[0]!.drop('power glitch');
    const b = await t.connect(nobleIdOf(MUSE_ADDR));
    expect(made).toHaveLength(2);
    const { recs } = await streamBytes(b, made[1]!, 1);
    expect(recs.some((r) => r.kind === 'eeg')).toBe(true);
    expect(a).not.toBe(b);
    await b.disconnect();
  });
});

describe('noble transport: timeouts', () => {
  it('a connect that never completes times out, and the pending connect is cancelled', async () => {
    const { noble, muse } = room({ muse: { hang: ['connect'] } });
    const t = transport(noble, { timeouts: { connectMs: 60 } });
    await t.scan({ durationMs: 30 });
    const t0 = performance.now();
    const err = await t.connect(nobleIdOf(MUSE_ADDR)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ code: 'timeout' });
    expect((err as Error).message).toMatch(/connecting to Muse-1A2B timed out after 60 ms.*switched on, in range/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(muse.cancelConnectCalls).toBe(1);
  });

  it('a device that never advertises is "not-found" after the connect timeout', async () => {
    const { noble } = room();
    const err = await transport(noble, { timeouts: { connectMs: 80 } })
      .connect('001122334455')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'not-found' });
    expect((err as Error).message).toMatch(/did not advertise within 80 ms/);
  });

  it('discovery, writes, reads and subscribes that hang time out', async () => {
    for (const op of ['write', 'read', 'subscribe'] as const) {
      const { noble } = room({
        muse: { hang: [op], create: () => new VirtualOpenEeg({ clock: 'manual' }), advertisedServices: [MUSE.service] },
      });
      const t = transport(noble, { timeouts: { operationMs: 40 } });
      await t.scan({ durationMs: 30 });
      const dev = await t.connect(nobleIdOf(MUSE_ADDR));
      const call =
        op === 'write'
          ? dev.write(OPEN_EEG.control, Uint8Array.of(1))
          : op === 'read'
            ? dev.read(BATTERY_SERVICE.level)
            : dev.subscribe(OPEN_EEG.data, () => undefined);
      await expect(call).rejects.toMatchObject({ code: 'timeout', message: expect.stringMatching(/timed out after 40 ms/) });
      await dev.disconnect();
    }
    const { noble, muse } = room({ muse: { hang: ['discover'] } });
    const t = transport(noble, { timeouts: { discoverMs: 40 } });
    await t.scan({ durationMs: 30 });
    await expect(t.connect(nobleIdOf(MUSE_ADDR))).rejects.toMatchObject({
      code: 'timeout',
      message: expect.stringMatching(/discovering the services of Muse-1A2B/),
    });
    expect(muse.disconnectCalls).toBe(1); // the half-open link is closed
  });

  it('an adapter that never reports a state times out instead of hanging', async () => {
    const { noble } = room({ states: [] });
    const err = await transport(noble, { timeouts: { powerOnMs: 50 } })
      .scan({ durationMs: 10 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout' });
    expect((err as Error).message).toMatch(/did not become ready within 50 ms \(state "unknown"\).*systemctl status bluetooth/);
  });
});

describe('noble transport: no adapter, no permission, no library', () => {
  const expectError = async (opts: NobleTransportOptions & { states?: string[]; scanError?: Error }, code: string, text: RegExp) => {
    const { noble } = room({ ...(opts.states ? { states: opts.states } : {}), ...(opts.scanError ? { scanError: opts.scanError } : {}) });
    const err = await transport(noble, { poweredOffGraceMs: 30, ...opts })
      .scan({ durationMs: 10 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe(code);
    expect((err as Error).message).toMatch(text);
  };

  it('"unsupported" → no-adapter, saying to check the adapter and BlueZ', () =>
    expectError(
      { states: ['unsupported'] },
      'no-adapter',
      /no Bluetooth LE adapter.*bluetoothctl list.*BlueZ.*systemctl enable --now bluetooth.*NOBLE_HCI_DEVICE_ID/,
    ));
  it('"poweredOff" that stays → adapter-off, saying how to power it on', () =>
    expectError({ states: ['poweredOff'] }, 'adapter-off', /powered off.*bluetoothctl power on.*rfkill unblock bluetooth/));
  it('"unauthorized" → no-permission, with the setcap command', () =>
    expectError(
      { states: ['unauthorized'] },
      'no-permission',
      /sudo setcap cap_net_raw,cap_net_admin\+eip \$\(eval readlink -f \$\(which node\)\)/,
    ));
  it('EPERM from the HCI socket while scanning → no-permission', () =>
    expectError(
      { scanError: Object.assign(new Error('EPERM, Operation not permitted'), { code: 'EPERM' }) },
      'no-permission',
      /setcap cap_net_raw,cap_net_admin/,
    ));
  it('EACCES while loading the binding → no-permission', () =>
    expectError(
      { load: async () => Promise.reject(Object.assign(new Error('socket: permission denied'), { code: 'EACCES' })) },
      'no-permission',
      /setcap/,
    ));
  it('the package missing → not-installed, with the install command', () =>
    expectError(
      {
        load: async () =>
          Promise.reject(
            Object.assign(new Error("Cannot find package '@stoprocent/noble' imported from /app/dist/x.js"), {
              code: 'ERR_MODULE_NOT_FOUND',
            }),
          ),
      },
      'not-installed',
      /npm install @stoprocent\/noble/,
    ));
  it('the native binding failing to load → not-installed, with the rebuild command', () =>
    expectError(
      { load: async () => Promise.reject(new Error('No native build was found for platform=linux arch=riscv64')) },
      'not-installed',
      /No native build.*npm rebuild @stoprocent\/noble/,
    ));

  it('a transient "poweredOff" while the adapter comes up is not an error', async () => {
    const { noble } = room({ states: ['poweredOff', 'poweredOn'] });
    const found = await transport(noble, { poweredOffGraceMs: 200 }).scan({ durationMs: 30 });
    expect(found.length).toBe(4);
  });

  it('loadError is the same mapping the CLI sees (pure function)', () => {
    expect(loadError(Object.assign(new Error("Cannot find package 'dbus-next'"), { code: 'ERR_MODULE_NOT_FOUND' })).message).toMatch(
      /npm install dbus-next/,
    );
  });

  it('uses withBindings only when asked for other bindings, and stops noble on close (releasing the HCI socket)', async () => {
    const { noble } = room();
    const mod = fakeNobleModule(noble);
    const t = createNobleTransport({ load: async () => mod, bindings: 'dbus' });
    await t.scan({ durationMs: 10 });
    expect(mod.withBindingsCalls).toEqual([['dbus', {}]]);
    await t.close();
    expect(noble.stopCalls).toBe(1);
  });
});
