import { describe, expect, it } from 'vitest';
import { DeviceDecoder, type DecodedRecord } from '../../../firmware-bridge/decoder.js';
import { identifyPeripheral } from '../../../firmware-bridge/devices.js';
import { startStream } from '../../../firmware-bridge/drivers.js';
import { uuid16 } from '../../../firmware-bridge/gatt.js';
import type { VirtualPeripheral } from '../../../firmware-bridge/sim/base.js';
import { DEFAULT_SIM_FLEET, createSimTransport, simDeviceId } from '../../../firmware-bridge/sim/scanner.js';
import { createSimDevice, isVirtualDevice } from '../../../firmware-bridge/sim/uri.js';
import { VirtualAthena } from '../../../firmware-bridge/sim/virtual-athena.js';
import { VirtualGanglion } from '../../../firmware-bridge/sim/virtual-ganglion.js';
import { VirtualMuse } from '../../../firmware-bridge/sim/virtual-muse.js';
import { VirtualOpenEeg } from '../../../firmware-bridge/sim/virtual-open-eeg.js';
import { probeDevice } from '../../../firmware-bridge/transports/probe.js';
import { TransportError } from '../../../firmware-bridge/transports/transport.js';

describe('simulated scanner', () => {
  it('advertises a Muse (80 %), a Muse S Athena (35 %), a Ganglion and an open-EEG board (12 %), never the heart-rate strap', async () => {
    const t = createSimTransport();
    const found = await t.scan({ durationMs: 5000 });
    expect(found.map((r) => [r.name, r.kind, r.battery])).toEqual([
      ['Muse-1A2B', 'muse', null],
      ['MuseS-7C3D', 'muse', null], // an Athena advertises like a Muse 2
      ['Ganglion-4E5F', 'ganglion', null],
      ['CMCRD-0C12', 'open-eeg', 12], // this board puts its battery in the advertisement
    ]);
    expect(found.every((r) => r.transport === 'sim' && r.id === simDeviceId(r.name) && typeof r.rssi === 'number')).toBe(true);
    const all = await t.scan({ durationMs: 5000, includeUnknown: true });
    expect(all.find((r) => r.name === 'HRM-Pro:4711')).toMatchObject({ kind: null, services: [uuid16(0x180d)] });
  });

  it('a short scan hears only the devices that advertised within it; onResult sees each as it is heard', async () => {
    const heard: string[] = [];
    const found = await createSimTransport().scan({ durationMs: 200, onResult: (r) => heard.push(r.name) });
    expect(found.map((r) => r.name)).toEqual(['Muse-1A2B', 'MuseS-7C3D']);
    expect(heard).toEqual(['Muse-1A2B', 'MuseS-7C3D']);
  });

  it('with a time scale the scan takes (scaled) real time and can be aborted', async () => {
    const t = createSimTransport({ timeScale: 0.5 });
    const t0 = performance.now();
    await t.scan({ durationMs: 200 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const t1 = performance.now();
    const partial = await createSimTransport({ timeScale: 1 }).scan({ durationMs: 60_000, signal: ac.signal });
    expect(performance.now() - t1).toBeLessThan(5000);
    expect(partial.length).toBeLessThan(4);
  });

  it('each device connects as the existing virtual headband of its kind, with its battery level', async () => {
    const t = createSimTransport();
    const classes = {
      'Muse-1A2B': VirtualMuse,
      'MuseS-7C3D': VirtualAthena,
      'Ganglion-4E5F': VirtualGanglion,
      'CMCRD-0C12': VirtualOpenEeg,
    };
    const probes: Record<string, unknown> = {};
    for (const a of DEFAULT_SIM_FLEET) {
      const dev = await t.connect(simDeviceId(a.name));
      expect(dev).toBeInstanceOf(classes[a.name as keyof typeof classes]);
      expect(dev.id).toBe(simDeviceId(a.name));
      expect(identifyPeripheral(dev)).toBe(a.kind);
      expect((dev as VirtualPeripheral).batteryPercent).toBe(a.batteryPercent);
      probes[a.name] = await probeDevice(dev);
      await dev.disconnect();
    }
    expect(probes).toEqual({
      'Muse-1A2B': { kind: 'muse', battery: 80, batterySource: 'muse-status' },
      'MuseS-7C3D': { kind: 'muse-athena', battery: 35, batterySource: 'muse-status' },
      'Ganglion-4E5F': { kind: 'ganglion', battery: null, batterySource: null },
      'CMCRD-0C12': { kind: 'open-eeg', battery: 12, batterySource: 'battery-service' },
    });
  });

  it('a connected simulated Muse streams real, decodable EEG', async () => {
    const t = createSimTransport({ deviceDefaults: { clock: 'manual' } });
    const dev = await t.connect('sim-Muse-1A2B');
    expect(isVirtualDevice(dev)).toBe(true);
    const v = dev as VirtualPeripheral;
    const dec = new DeviceDecoder('muse');
    const recs: DecodedRecord[] = [];
    const s = await startStream(dev, (c, b, tm) => recs.push(...dec.push(c, b, tm)), {
      wait: async (ms) => v.advance(ms),
      keepAlive: false,
    });
    for (let i = 0; i < 10; i++) v.advance(100);
    await s.stop();
    const rows = recs.reduce((n, r) => n + (r.kind === 'eeg' ? r.t.length : 0), 0);
    expect(rows).toBeGreaterThanOrEqual(256 - 12);
    expect(recs.filter((r) => r.kind === 'error')).toEqual([]);
    // Same device as its sim: URI (same seed): the scanner adds nothing of its own to the signal.
    expect(t.deviceUri(DEFAULT_SIM_FLEET[0]!)).toMatch(/^sim:muse\?name=Muse-1A2B&battery=80&seed=\d+&clock=manual$/);
    const twin = createSimDevice(t.deviceUri(DEFAULT_SIM_FLEET[0]!)) as VirtualPeripheral;
    const dec2 = new DeviceDecoder('muse');
    const recs2: DecodedRecord[] = [];
    const s2 = await startStream(twin, (c, b, tm) => recs2.push(...dec2.push(c, b, tm)), {
      wait: async (ms) => twin.advance(ms),
      keepAlive: false,
    });
    for (let i = 0; i < 10; i++) twin.advance(100);
    await s2.stop();
    const firstEeg = (rs: DecodedRecord[]) => rs.find((r) => r.kind === 'eeg');
    expect(firstEeg(recs2)).toEqual(firstEeg(recs));
  });

  it('unknown ids are not-found, strangers are refused, unreachable devices time out', async () => {
    const t = createSimTransport({
      fleet: [...DEFAULT_SIM_FLEET, { kind: 'muse', name: 'Muse-FAR0', batteryPercent: 50, rssi: -95, unreachable: true }],
      timeouts: { connectMs: 40 },
    });
    await expect(t.connect('sim-Nope')).rejects.toMatchObject({ code: 'not-found', message: expect.stringMatching(/sim-Muse-1A2B/) });
    await expect(t.connect('sim-HRM-Pro:4711')).rejects.toMatchObject({
      code: 'not-found',
      message: expect.stringMatching(/not a headband/),
    });
    const t0 = performance.now();
    await expect(t.connect('sim-Muse-FAR0')).rejects.toBeInstanceOf(TransportError);
    await expect(t.connect('sim-Muse-FAR0')).rejects.toMatchObject({ code: 'timeout' });
    expect(performance.now() - t0).toBeLessThan(2000);
    await t.close();
    await expect(t.scan({ durationMs: 10 })).rejects.toMatchObject({ code: 'disconnected' });
  });

  it('a later connect reaches the same headband again (its clock and wearer go on); while out of reach it times out', async () => {
    const t = createSimTransport({ fleet: [{ ...DEFAULT_SIM_FLEET[0]!, options: { down: '5' } }], deviceDefaults: { clock: 'manual' } });
    const a = (await t.connect('sim-Muse-1A2B')) as VirtualPeripheral;
    a.advance(2000);
    a.drop('out of range');
    await expect(t.connect('sim-Muse-1A2B')).rejects.toMatchObject({
      name: 'TransportError',
      code: 'timeout',
      message: expect.stringMatching(/connecting to Muse-1A2B \(sim-Muse-1A2B\) timed out: .*out of reach/),
    });
    a.advance(5000);
    const b = await t.connect('sim-Muse-1A2B');
    expect(b).toBe(a);
    expect(a.isConnected).toBe(true);
    expect(a.now()).toBe(7000);
    await b.disconnect();
    a.advance(5000);
    expect(await t.connect('sim-Muse-1A2B')).toBe(a); // after a host disconnect too
  });

  it('refuses a fleet in which two devices share an id', () => {
    expect(() => createSimTransport({ fleet: [DEFAULT_SIM_FLEET[0]!, DEFAULT_SIM_FLEET[0]!] })).toThrow(/share the id sim-Muse-1A2B/);
  });
});

describe('probe', () => {
  it('never throws: a Muse that never answers the status command gives a null battery with the reason', async () => {
    const muse = new VirtualMuse({ clock: 'manual' });
    const silent = Object.create(muse) as VirtualMuse;
    silent.write = async () => undefined; // swallows the command
    const r = await probeDevice(silent, { timeoutMs: 30 });
    expect(r).toMatchObject({ kind: 'muse', battery: null, batterySource: null });
    expect(r.note).toMatch(/status reply timed out after 30 ms/);
  });
});
