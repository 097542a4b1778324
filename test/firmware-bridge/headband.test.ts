/**
 * openHeadband: identify, check the preset, read what decoding depends on once, build the profile and a decoder
 * for exactly that setup, start / keep alive / stop, through virtual headbands speaking the real byte protocols.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DecodedRecord } from '../../firmware-bridge/decoder.js';
import type { GattPeripheral, Uuid } from '../../firmware-bridge/gatt.js';
import { openHeadband } from '../../firmware-bridge/headband.js';
import { GANGLION } from '../../firmware-bridge/protocols/ganglion.js';
import { MUSE, encodeMuseCommand } from '../../firmware-bridge/protocols/muse.js';
import type { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import { VirtualAthena } from '../../firmware-bridge/sim/virtual-athena.js';
import { VirtualGanglion } from '../../firmware-bridge/sim/virtual-ganglion.js';
import { VirtualMuse } from '../../firmware-bridge/sim/virtual-muse.js';
import { VirtualOpenEeg } from '../../firmware-bridge/sim/virtual-open-eeg.js';

/** A peripheral in front of `dev` that logs reads and writes (and can fail reads or writes). */
function watched(dev: GattPeripheral, fail: { read?: boolean; write?: boolean } = {}) {
  const reads: Uuid[] = [];
  const writes: string[] = [];
  let subscribed = 0;
  const p: GattPeripheral = {
    id: dev.id,
    name: dev.name,
    services: dev.services,
    characteristics: dev.characteristics,
    async read(c) {
      reads.push(c);
      if (fail.read) throw new Error('GATT read failed');
      return dev.read(c);
    },
    async write(c, d) {
      writes.push(`${c.slice(4, 8)}:${Array.from(d).join(',')}`);
      if (fail.write) throw new Error('GATT write failed');
      return dev.write(c, d);
    },
    async subscribe(c, l) {
      subscribed++;
      const u = await dev.subscribe(c, l);
      return async () => {
        subscribed--;
        await u();
      };
    },
    onDisconnect: (l) => dev.onDisconnect(l),
    disconnect: () => dev.disconnect(),
  };
  return { p, reads, writes, subscribed: () => subscribed };
}

/** Open, stream `seconds` of virtual time on the device's manual clock, stop; every record decoded. */
async function stream(dev: VirtualPeripheral, p: GattPeripheral, seconds: number, preset?: string) {
  const h = await openHeadband(p, { ...(preset ? { preset } : {}), keepAlive: false, wait: async (ms) => dev.advance(ms) });
  const recs: DecodedRecord[] = [];
  await h.start((c, b, t) => recs.push(...h.decoder.push(c, b, t)));
  for (let i = 0; i < seconds * 10; i++) dev.advance(100);
  await h.stop();
  recs.push(...h.decoder.flush());
  return { h, recs };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('openHeadband', () => {
  it('Ganglion: reads the firmware revision once, and the decoder it builds decodes that firmware', async () => {
    const dev = new VirtualGanglion({ clock: 'manual', firmware: 2, seed: 4 });
    const w = watched(dev);
    const { h, recs } = await stream(dev, w.p, 2);
    expect(w.reads).toEqual([GANGLION.firmwareRevision]);
    expect(h.firmware).toBe(2);
    expect(h.decoder.options.firmware).toBe(2);
    expect(h.warnings).toEqual([]);
    expect(recs.filter((r) => r.kind === 'error')).toEqual([]);
    const values = recs.flatMap((r) => (r.kind === 'eeg' && r.firstSample >= 0 ? Array.from(r.channels[0]!) : []));
    expect(values.length).toBeGreaterThan(300);
    expect(values.every(Number.isFinite)).toBe(true);
    expect(h.captureFields()).toEqual({ firmware: '2.x', channels: ['CH1', 'CH2', 'CH3', 'CH4'] });
    // b to start, s to stop; nothing after stop.
    expect(w.writes).toEqual([`${GANGLION.write.slice(4, 8)}:98`, `${GANGLION.write.slice(4, 8)}:115`]);
    expect(w.subscribed()).toBe(0);
  });

  it('Ganglion: an unreadable firmware revision is a warning, not a failure (firmware 3 assumed)', async () => {
    const dev = new VirtualGanglion({ clock: 'manual', firmware: 3 });
    const w = watched(dev, { read: true });
    const h = await openHeadband(w.p, { keepAlive: false });
    expect(w.reads).toEqual([GANGLION.firmwareRevision]);
    expect(h.firmware).toBeNull();
    expect(h.decoder.options.firmware).toBe(3);
    expect(h.warnings).toEqual([`${dev.name}: could not read the Ganglion firmware revision (GATT read failed); assuming firmware 3`]);
  });

  it('Muse under an AUX preset: profile, start sequence and decoder all carry the fifth channel', async () => {
    const dev = new VirtualMuse({ clock: 'manual', preset: 'p21', seed: 2 });
    const w = watched(dev);
    const { h, recs } = await stream(dev, w.p, 2, 'p20');
    expect(h.preset).toBe('p20');
    expect(h.profile.channels.map((c) => c.name)).toEqual(['TP9', 'AF7', 'AF8', 'TP10', 'AUX']);
    expect(h.decoder.eegNames).toEqual(['TP9', 'AF7', 'AF8', 'TP10', 'AUX']);
    expect(w.writes).toContain(`${MUSE.control.slice(4, 8)}:${Array.from(encodeMuseCommand('p20')).join(',')}`);
    expect(dev.currentPreset).toBe('p20');
    expect(recs.filter((r) => r.kind === 'error')).toEqual([]);
    const aux = recs.flatMap((r) => (r.kind === 'eeg' ? Array.from(r.channels[4]!) : []));
    expect(aux.length).toBeGreaterThan(256);
    expect(aux.every(Number.isFinite)).toBe(true);
    expect(h.captureFields()).toEqual({ preset: 'p20' });
  });

  it('uses the default preset when none is asked for, and records none in a capture header', async () => {
    const dev = new VirtualMuse({ clock: 'manual' });
    const h = await openHeadband(dev);
    expect(h.preset).toBe('p21');
    expect(h.profile.start.map((c) => c.label)).toEqual(['h', 'p21', 's', 'd']);
    expect(h.captureFields()).toEqual({});
    const athena = await openHeadband(new VirtualAthena({ clock: 'manual' }), { preset: 'p1041' });
    expect(athena.kind).toBe('muse-athena');
    expect(athena.captureFields()).toEqual({ preset: 'p1041', experimental: true });
  });

  it('open-EEG board: channel labels come from its info characteristic, for the profile, the decoder and the header', async () => {
    const sites = ['C3', 'CZ', 'C4', 'PZ'];
    const dev = new VirtualOpenEeg({ clock: 'manual', sites, seed: 3 });
    const w = watched(dev);
    const { h, recs } = await stream(dev, w.p, 1);
    expect(h.profile.channels.map((c) => c.name)).toEqual(sites);
    expect(h.decoder.eegNames).toEqual(sites);
    expect(recs.find((r) => r.kind === 'eeg')).toMatchObject({ names: sites });
    expect(h.captureFields()).toEqual({ channels: sites });
  });

  it('refuses a preset the device does not take, or a peripheral that is no headband, before writing anything', async () => {
    const g = watched(new VirtualGanglion({ clock: 'manual' }));
    await expect(openHeadband(g.p, { preset: 'p50' })).rejects.toThrow(/\(OpenBCI Ganglion\) has no presets \(got "p50"\)/);
    const m = watched(new VirtualMuse({ clock: 'manual' }));
    await expect(openHeadband(m.p, { preset: 'p99' })).rejects.toThrow(/unknown Muse preset "p99" \(known: p20, p21, p50, p51, p60, p61\)/);
    const a = watched(new VirtualAthena({ clock: 'manual' }));
    await expect(openHeadband(a.p, { preset: 'p21' })).rejects.toThrow(/unknown Muse S Athena preset "p21" \(known: p1041, p1035\)/);
    const toaster: GattPeripheral = { ...m.p, name: 'Toaster', services: ['0000180f-0000-1000-8000-00805f9b34fb'], characteristics: [] };
    await expect(openHeadband(toaster)).rejects.toThrow(/Toaster: not a supported headband \(services 0000180f-/);
    expect([...g.writes, ...m.writes, ...a.writes, ...g.reads]).toEqual([]);
  });

  it('a failing start undoes its subscriptions; start twice is an error', async () => {
    const w = watched(new VirtualMuse({ clock: 'manual' }), { write: true });
    const h = await openHeadband(w.p, { keepAlive: false, wait: async () => undefined });
    await expect(h.start(() => undefined)).rejects.toThrow(/GATT write failed/);
    expect(h.streaming).toBe(false);
    expect(w.subscribed()).toBe(0);
    const ok = await openHeadband(new VirtualMuse({ clock: 'manual' }), { keepAlive: false, wait: async () => undefined });
    await ok.start(() => undefined);
    await expect(ok.start(() => undefined)).rejects.toThrow(/already streaming/);
    await ok.stop();
    await ok.stop(); // idempotent
  });

  it('keeps the link alive with the profile command at its interval while streaming, and stops with it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const w = watched(new VirtualMuse({ clock: 'manual' }));
    const h = await openHeadband(w.p, { wait: async () => undefined });
    await h.start(() => undefined);
    const k = `${MUSE.control.slice(4, 8)}:${Array.from(encodeMuseCommand('k')).join(',')}`;
    await vi.advanceTimersByTimeAsync(35_000);
    expect(w.writes.filter((x) => x === k)).toHaveLength(3);
    await h.stop();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(w.writes.filter((x) => x === k)).toHaveLength(3);
  });
});
