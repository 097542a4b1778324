import { describe, expect, it } from 'vitest';
import { DeviceDecoder, type DecodedRecord } from '../../../firmware-bridge/decoder.js';
import { DEVICE_KINDS, deviceProfile, identifyPeripheral } from '../../../firmware-bridge/devices.js';
import { startStream } from '../../../firmware-bridge/drivers.js';
import { normaliseUuid, type GattPeripheral } from '../../../firmware-bridge/gatt.js';
import { BATTERY_SERVICE } from '../../../firmware-bridge/protocols/battery.js';
import { GANGLION } from '../../../firmware-bridge/protocols/ganglion.js';
import { MUSE, decodeMuseCommand } from '../../../firmware-bridge/protocols/muse.js';
import { OPEN_EEG } from '../../../firmware-bridge/protocols/open-eeg.js';
import type { VirtualPeripheral } from '../../../firmware-bridge/sim/base.js';
import { VirtualGanglion } from '../../../firmware-bridge/sim/virtual-ganglion.js';
import { VirtualMuse } from '../../../firmware-bridge/sim/virtual-muse.js';
import { VirtualOpenEeg } from '../../../firmware-bridge/sim/virtual-open-eeg.js';
import { probeDevice } from '../../../firmware-bridge/transports/probe.js';
import { TransportError } from '../../../firmware-bridge/transports/transport.js';
import {
  connectWebBluetoothDevice,
  requestHeadband,
  webBluetoothRequestOptions,
} from '../../../firmware-bridge/transports/web-bluetooth.js';
import { FakeBluetooth, type FakeWebDeviceSpec } from './fake-web-bluetooth.js';

function setup(first: 'muse' | 'open' | 'ganglion' = 'muse', extra: Partial<FakeWebDeviceSpec> = {}) {
  const made: VirtualPeripheral[] = [];
  const mk = (f: () => VirtualPeripheral) => () => {
    const d = f();
    made.push(d);
    return d;
  };
  const specs: Record<string, FakeWebDeviceSpec> = {
    muse: {
      id: 'bt-muse-1',
      name: 'Muse-1A2B',
      advertised: [MUSE.service],
      create: mk(() => new VirtualMuse({ clock: 'manual', seed: 11, batteryPercent: 80 })),
    },
    open: {
      id: 'bt-open-1',
      name: 'CMCRD-0C12',
      advertised: [OPEN_EEG.service],
      create: mk(() => new VirtualOpenEeg({ clock: 'manual', seed: 4, batteryPercent: 12 })),
    },
    // This Ganglion advertises no service UUID: only the name prefix filter finds it.
    ganglion: {
      id: 'bt-gang-1',
      name: 'Ganglion-4E5F',
      advertised: [],
      create: mk(() => new VirtualGanglion({ clock: 'manual', seed: 3 })),
    },
  };
  const bluetooth = new FakeBluetooth([
    { ...specs[first]!, ...extra },
    ...Object.entries(specs)
      .filter(([k]) => k !== first)
      .map(([, s]) => s),
  ]);
  return { bluetooth, made };
}

async function streamMuse(dev: GattPeripheral, virtual: VirtualPeripheral, seconds: number) {
  const seen: string[] = [];
  const recs: DecodedRecord[] = [];
  const dec = new DeviceDecoder('muse');
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

describe('Web Bluetooth: requestDevice options from the registry', () => {
  it('filters on every advertised service and name prefix; optionalServices list every service a headband needs, as full lowercase UUIDs', () => {
    const o = webBluetoothRequestOptions();
    const filterServices = o.filters!.flatMap((f) => f.services ?? []);
    const prefixes = o.filters!.flatMap((f) => (f.namePrefix ? [f.namePrefix] : []));
    for (const k of DEVICE_KINDS) {
      const p = deviceProfile(k);
      for (const s of p.scan.services) expect(filterServices).toContain(normaliseUuid(s));
      for (const s of p.services) expect(o.optionalServices).toContain(normaliseUuid(s));
      for (const n of p.scan.namePrefixes) expect(prefixes).toContain(n);
    }
    expect(o.optionalServices).toContain(BATTERY_SERVICE.service);
    expect(o.optionalServices).toContain(GANGLION.deviceInfoService);
    for (const u of [...filterServices, ...o.optionalServices!])
      expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // Each filter has one condition: a device matching any filter is offered.
    for (const f of o.filters!) expect(Object.keys(f)).toHaveLength(1);
    expect(webBluetoothRequestOptions(['muse']).filters).toEqual([
      { services: [MUSE.service] },
      { namePrefix: 'Muse-' },
      { namePrefix: 'MuseS-' },
      { namePrefix: 'Muse' },
    ]);
  });
});

describe('Web Bluetooth: a Muse session', () => {
  it('requests, connects, discovers, and streams exactly the bytes the headband sends, with serialised GATT operations', async () => {
    const { bluetooth, made } = setup('muse');
    const p = await requestHeadband(bluetooth, { now: () => 1234 });
    expect(bluetooth.requests).toHaveLength(1);
    const virtual = made[0]!;
    expect(p.id).toBe('bt-muse-1');
    expect(p.name).toBe('Muse-1A2B');
    expect(new Set(p.characteristics)).toEqual(new Set(virtual.characteristics));
    expect(identifyPeripheral(p)).toBe('muse');
    const via = await streamMuse(p, virtual, 2);
    const direct = new VirtualMuse({ clock: 'manual', seed: 11, batteryPercent: 80 });
    const ref = await streamMuse(direct, direct, 2);
    expect(via.seen.length).toBeGreaterThan(200);
    expect(via.seen).toEqual(ref.seen);
    expect(via.recs.filter((r) => r.kind === 'error')).toEqual([]);
    expect(via.recs.filter((r) => r.kind === 'eeg').reduce((n, r) => n + (r.kind === 'eeg' ? r.t.length : 0), 0)).toBeGreaterThanOrEqual(
      500,
    );
    const server = bluetooth.devices[0]!.gatt;
    // startStream subscribes to 11 characteristics and writes 5 commands; none overlapped.
    expect(server.maxInFlight).toBe(1);
    expect(server.rejectedBusy).toBe(0);
    const control = server.characteristic(MUSE.control);
    expect(control.writes.map((w) => (decodeMuseCommand(w.bytes) as { value: string }).value)).toEqual(['h', 'p21', 's', 'd', 'h']);
    expect(control.writes.every((w) => w.how === 'withoutResponse')).toBe(true);
    expect(server.characteristic(MUSE.eeg.AF7).notifying).toBe(false); // stopped when the last listener left
    await p.disconnect();
  });

  it('many operations issued at once all succeed, one at a time (Chrome rejects overlapping ones)', async () => {
    const { bluetooth } = setup('open');
    const p = await requestHeadband(bluetooth);
    const server = bluetooth.devices[0]!.gatt;
    const results = await Promise.all([
      p.read(BATTERY_SERVICE.level),
      p.read(OPEN_EEG.info),
      p.write(OPEN_EEG.control, Uint8Array.of(1)),
      p.read(BATTERY_SERVICE.level),
      p.subscribe(OPEN_EEG.data, () => undefined),
    ]);
    expect(Array.from(results[0] as Uint8Array)).toEqual([12]);
    expect(JSON.parse(new TextDecoder().decode(results[1] as Uint8Array))).toMatchObject({ name: 'CMCRD-SIM1' });
    expect(server.maxInFlight).toBe(1);
    expect(server.rejectedBusy).toBe(0);
    // Bypassing the queue, the fake does reject overlaps: the check has teeth.
    const c = server.characteristic(BATTERY_SERVICE.level);
    const raw = await Promise.allSettled([c.readValue(), c.readValue()]);
    expect(raw.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    // The open board's control characteristic takes writes with response.
    expect(server.characteristic(OPEN_EEG.control).writes).toEqual([{ bytes: Uint8Array.of(1), how: 'withResponse' }]);
    await p.disconnect();
  });

  it('probes battery over Web Bluetooth: Battery Service on the open board, the status reply on a Muse', async () => {
    const a = setup('open');
    const open = await requestHeadband(a.bluetooth);
    expect(await probeDevice(open)).toEqual({ kind: 'open-eeg', battery: 12, batterySource: 'battery-service' });
    const b = setup('muse');
    const muse = await requestHeadband(b.bluetooth);
    expect(await probeDevice(muse)).toEqual({ kind: 'muse', battery: 80, batterySource: 'muse-status' });
  });

  it('finds a Ganglion that advertises only its name, with Device Information granted through optionalServices', async () => {
    const { bluetooth } = setup('ganglion');
    const p = await requestHeadband(bluetooth);
    expect(identifyPeripheral(p)).toBe('ganglion');
    expect(new TextDecoder().decode(await p.read(GANGLION.firmwareRevision))).toBe('3.0.2');
  });
});

describe('Web Bluetooth: disconnects and reconnects', () => {
  it("'gattserverdisconnected' reaches onDisconnect once; operations then fail as disconnected; the same device reconnects with fresh services", async () => {
    const { bluetooth, made } = setup('muse');
    const p = await requestHeadband(bluetooth);
    const reasons: string[] = [];
    p.onDisconnect((r) => reasons.push(r));
    made[0]!.drop('out of range');
    expect(reasons).toEqual(['the device disconnected (gattserverdisconnected)']);
    await expect(p.write(MUSE.control, Uint8Array.of(2, 0x68, 0x0a))).rejects.toMatchObject({ code: 'disconnected' });
    await p.disconnect();
    expect(reasons).toHaveLength(1);
    const again = await connectWebBluetoothDevice(bluetooth.devices[0]!);
    expect(made).toHaveLength(2);
    const { recs } = await streamMuse(again, made[1]!, 1);
    expect(recs.some((r) => r.kind === 'eeg')).toBe(true);
    await again.disconnect();
  });

  it('a host disconnect reports "host disconnected" once and disconnects the GATT server', async () => {
    const { bluetooth } = setup('muse');
    const p = await requestHeadband(bluetooth);
    const reasons: string[] = [];
    p.onDisconnect((r) => reasons.push(r));
    await p.disconnect();
    expect(reasons).toEqual(['host disconnected']);
    expect(bluetooth.devices[0]!.gatt.disconnectCalls).toBe(1);
    expect(bluetooth.devices[0]!.gatt.connected).toBe(false);
  });
});

describe('Web Bluetooth: timeouts and errors', () => {
  it('a connect that never completes times out and the server is disconnected', async () => {
    const { bluetooth } = setup('muse', { hang: ['connect'] });
    const t0 = performance.now();
    await expect(requestHeadband(bluetooth, { timeouts: { connectMs: 50 } })).rejects.toMatchObject({
      code: 'timeout',
      message: expect.stringMatching(/connecting to Muse-1A2B timed out after 50 ms/),
    });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(bluetooth.devices[0]!.gatt.disconnectCalls).toBeGreaterThanOrEqual(1);
  });

  it('a GATT write that never completes times out, and the queue moves on', async () => {
    const { bluetooth } = setup('open', { hang: ['write'] });
    const p = await requestHeadband(bluetooth, { timeouts: { operationMs: 40 } });
    await expect(p.write(OPEN_EEG.control, Uint8Array.of(1))).rejects.toMatchObject({ code: 'timeout' });
    // The fake still counts the wedged write in flight, so the next operation gets Chrome's "in progress" error — as a typed error, not a hang.
    await expect(p.read(BATTERY_SERVICE.level)).rejects.toBeInstanceOf(TransportError);
  });

  it('no Web Bluetooth → unsupported; Bluetooth off → no-adapter; chooser closed → cancelled; no user gesture → no-permission', async () => {
    await expect(requestHeadband(undefined)).rejects.toMatchObject({
      code: 'unsupported',
      message: expect.stringMatching(/Chrome.*not Safari on iOS/),
    });
    const off = setup('muse').bluetooth;
    off.available = false;
    await expect(requestHeadband(off)).rejects.toMatchObject({ code: 'no-adapter' });
    const cancel = setup('muse').bluetooth;
    cancel.failWith = 'NotFoundError';
    await expect(requestHeadband(cancel)).rejects.toMatchObject({ code: 'cancelled' });
    const gesture = setup('muse').bluetooth;
    gesture.failWith = 'SecurityError';
    await expect(requestHeadband(gesture)).rejects.toMatchObject({ code: 'no-permission', message: expect.stringMatching(/click or tap/) });
  });

  it('only the granted services are visible (a service left out of the options would be missing)', async () => {
    const { bluetooth } = setup('open');
    const dev = await bluetooth.requestDevice({ filters: [{ services: [OPEN_EEG.service] }] });
    const p = await connectWebBluetoothDevice(dev);
    expect(p.services).toEqual([OPEN_EEG.service]);
    await expect(p.read(BATTERY_SERVICE.level)).rejects.toMatchObject({ code: 'gatt', message: expect.stringMatching(/optionalServices/) });
  });
});
