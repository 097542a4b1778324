/**
 * The headband registry: every driver is complete and self-consistent (profile per preset ↔ decoder channels,
 * Web Bluetooth request ↔ services touched, scan and GATT recognition of its own virtual device), and the old
 * entry points answer from it.
 */
import { describe, expect, it } from 'vitest';
import { DeviceDecoder } from '../../firmware-bridge/decoder.js';
import { deviceProfile, museProfile } from '../../firmware-bridge/devices.js';
import { normaliseUuid } from '../../firmware-bridge/gatt.js';
import { MUSE, MUSE_PRESETS } from '../../firmware-bridge/protocols/muse.js';
import {
  DEVICE_KINDS,
  findDriver,
  getDriver,
  identifyAdvertisement,
  identifyPeripheral,
  listDrivers,
  webBluetoothRequestFor,
} from '../../firmware-bridge/registry.js';
import { museStreamsAux } from '../../firmware-bridge/drivers/muse.js';
import type { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import { createSimDevice } from '../../firmware-bridge/sim/uri.js';
import { decoderOptionsFromHeader, parseCaptureHeader } from '../../firmware-bridge/capture.js';

describe('headband registry', () => {
  it('lists one driver per kind, found by kind and by alias; all four come with a virtual headband', () => {
    for (const k of DEVICE_KINDS) expect(() => createSimDevice(`sim:${k}?clock=manual`)).not.toThrow();
    expect(listDrivers().map((d) => d.kind)).toEqual([...DEVICE_KINDS]);
    expect(new Set(DEVICE_KINDS).size).toBe(DEVICE_KINDS.length);
    for (const d of listDrivers()) {
      expect(getDriver(d.kind)).toBe(d);
      expect(findDriver(d.kind.toUpperCase())).toBe(d);
      for (const a of d.aliases) expect(findDriver(a)).toBe(d);
    }
    expect(findDriver('athena')?.kind).toBe('muse-athena');
    expect(findDriver('toaster')).toBeNull();
    expect(() => getDriver('toaster' as never)).toThrow(/unknown device kind "toaster" \(known: muse, muse-athena, ganglion, open-eeg\)/);
  });

  for (const d of listDrivers()) {
    describe(d.kind, () => {
      const presets = d.presets.length ? d.presets : [undefined];

      it('has a profile for every preset whose EEG channels are the ones its decoder emits', () => {
        if (d.defaultPreset !== null) expect(d.presets).toContain(d.defaultPreset);
        else expect(d.presets).toEqual([]);
        for (const preset of presets) {
          const setup = preset === undefined ? {} : { preset };
          const p = d.profile(setup);
          expect(p.kind).toBe(d.kind);
          expect(p.battery).toBe(d.battery);
          expect(p.experimental).toBe(d.experimental);
          const decoder = new DeviceDecoder(d.kind, d.decoderOptions(setup));
          // The profile's channels lead the decoder's names (Athena's 4-channel preset streams the first four of
          // eight); an open-EEG board's packets say how many channels it has, so unnamed ones are named from them.
          if (d.kind === 'open-eeg') expect(decoder.eegNames).toEqual([]);
          else expect(decoder.eegNames.slice(0, p.channels.length), `${d.kind} ${preset ?? ''}`).toEqual(p.channels.map((c) => c.name));
          if (d.kind !== 'muse-athena' && d.kind !== 'open-eeg') expect(decoder.eegNames).toHaveLength(p.channels.length);
          // Everything the profile subscribes to or writes is a characteristic of the kind, and the decoder knows every notifying one.
          for (const c of [...p.notify, ...p.start.map((x) => x.characteristic), ...p.stop.map((x) => x.characteristic)])
            expect(d.characteristics).toContain(c);
          for (const c of p.notify)
            expect(decoder.push(c, new Uint8Array(0), 0).every((r) => r.kind !== 'error' || !/not part of the/.test(r.error))).toBe(true);
        }
      });

      it('names channels as the setup says, in the profile and the decoder alike (sites, board labels)', () => {
        if (d.kind !== 'ganglion' && d.kind !== 'open-eeg') return;
        const setup = { channelNames: ['FP1', 'FP2', 'T7', 'T8'] };
        expect(d.profile(setup).channels).toEqual(setup.channelNames.map((n) => ({ name: n, position: n })));
        expect(new DeviceDecoder(d.kind, d.decoderOptions(setup)).eegNames).toEqual(setup.channelNames);
      });

      it('asks Web Bluetooth for every service it touches, as full lowercase UUIDs', () => {
        const w = d.webBluetooth;
        expect(w.filters.length).toBeGreaterThan(0);
        for (const s of d.profile().services) expect(w.optionalServices).toContain(s);
        for (const u of [...w.optionalServices, ...w.filters.flatMap((f) => f.services ?? [])]) expect(normaliseUuid(u)).toBe(u);
        for (const f of w.filters) expect(Boolean(f.services?.length || f.namePrefix || f.name)).toBe(true);
      });

      it('recognises its own (virtual) device from the GATT table and from the advertisement', () => {
        let dev: VirtualPeripheral;
        try {
          dev = createSimDevice(`sim:${d.kind}?clock=manual`);
        } catch (e) {
          // A driver need not come with a virtual headband (the four here all do).
          expect(String(e)).toMatch(/there is no virtual/);
          return;
        }
        expect(identifyPeripheral(dev)).toBe(d.kind);
        expect(d.matchPeripheral(dev)).toBe(true);
        for (const other of listDrivers()) if (other !== d) expect(other.matchPeripheral(dev), other.kind).toBe(false);
        // Athena advertises as a Muse: the scan says muse, the GATT table refines it.
        const byScan = identifyAdvertisement({ name: dev.name, services: dev.services });
        expect(byScan).toBe(d.kind === 'muse-athena' ? 'muse' : d.kind);
        void dev.disconnect();
      });
    });
  }

  it('writes the Muse preset → AUX rule once: profile, decoder options and capture headers agree with MUSE_PRESETS', () => {
    for (const [preset, p] of Object.entries(MUSE_PRESETS)) {
      expect(museStreamsAux(preset)).toBe(p.aux);
      expect(museProfile(preset).notify.includes(MUSE.eeg.AUX)).toBe(p.aux);
      expect(museProfile(preset).notify.includes(MUSE.ppg[0]!)).toBe(p.ppg);
      const fromHeader = decoderOptionsFromHeader(
        parseCaptureHeader(JSON.stringify({ format: 'cmcrd-capture', version: 1, device: 'muse', preset })),
      );
      expect(fromHeader.aux === true).toBe(p.aux);
    }
    expect(() => museProfile('p99')).toThrow(/unknown Muse preset "p99" \(known: p20, p21, p50, p51, p60, p61\)/);
    // A capture from another tool with a preset we do not know still decodes (as 4 channels).
    expect(decoderOptionsFromHeader(parseCaptureHeader('{"format":"cmcrd-capture","version":1,"device":"muse","preset":"p22"}'))).toEqual(
      {},
    );
  });

  it('merges the Web Bluetooth requests of several kinds without duplicates', () => {
    const all = webBluetoothRequestFor();
    expect(new Set(all.filters.map((f) => JSON.stringify(f))).size).toBe(all.filters.length);
    expect(new Set(all.optionalServices).size).toBe(all.optionalServices.length);
    // Muse and Athena share a filter: one entry.
    expect(webBluetoothRequestFor(['muse', 'muse-athena']).filters).toEqual([
      { services: [MUSE.service] },
      { namePrefix: 'Muse-' },
      { namePrefix: 'MuseS-' },
      { namePrefix: 'Muse' },
    ]);
    for (const k of DEVICE_KINDS) for (const s of deviceProfile(k).services) expect(all.optionalServices).toContain(s);
  });
});
