import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hexToBytes, bytesToHex } from '../../firmware-bridge/bytes.js';
import {
  MUSE,
  MuseControlAssembler,
  decodeMuseAccelerometer,
  decodeMuseCommand,
  decodeMuseEeg,
  decodeMuseEegInto,
  decodeMuseGyroscope,
  decodeMusePpg,
  decodeMuseTelemetry,
  encodeMuseAccelerometer,
  encodeMuseCommand,
  encodeMuseControlReply,
  encodeMuseEeg,
  encodeMusePpg,
  encodeMuseTelemetry,
  musePresetCharacteristics,
} from '../../firmware-bridge/protocols/muse.js';
import {
  GANGLION,
  encodeGanglionImpedance,
  encodeGanglionMessage,
  encodeGanglionRaw,
  encodeGanglionSamples,
  ganglionFirmwareFromRevision,
  ganglionTruncate,
  parseGanglionPacket,
  GanglionMessageAssembler,
} from '../../firmware-bridge/protocols/ganglion.js';
import {
  decodeAthenaAccGyro,
  decodeAthenaBattery,
  decodeAthenaEeg,
  encodeAthenaEeg,
  encodeAthenaPacket,
  parseAthenaNotification,
  encodeAthenaAccGyro,
  encodeAthenaBattery,
} from '../../firmware-bridge/protocols/athena.js';
import {
  decodeOpenEegPacket,
  encodeOpenEegPacket,
  decodeOpenEegInfo,
  encodeOpenEegInfo,
} from '../../firmware-bridge/protocols/open-eeg.js';
import { decodeBatteryLevel, encodeBatteryLevel } from '../../firmware-bridge/protocols/battery.js';
import { DeviceDecoder } from '../../firmware-bridge/decoder.js';
import { identifyAdvertisement, museProfile } from '../../firmware-bridge/devices.js';
import { normaliseUuid, uuid16 } from '../../firmware-bridge/gatt.js';

// Reference vectors computed independently by scripts/fixtures/firmware_vectors.py.
const V = JSON.parse(readFileSync(new URL('../fixtures/firmware/vectors.json', import.meta.url), 'utf8'));
const hex = (h: string): Uint8Array => hexToBytes(h)!;

describe('Muse gen 1–2', () => {
  it('decodes EEG vectors to the reference µV and index', () => {
    for (const v of V.museEeg) {
      const r = decodeMuseEeg(hex(v.hex));
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.value.index).toBe(v.index);
      expect(Array.from(r.value.samples)).toEqual(v.uv);
      const into = new Float64Array(12);
      expect(decodeMuseEegInto(hex(v.hex), into)).toBe(v.index);
      expect(Array.from(into)).toEqual(v.uv);
      // encode is the exact inverse on representable values
      expect(bytesToHex(encodeMuseEeg(v.index, v.uv))).toBe(v.hex);
    }
  });
  it('rejects EEG packets that are not 20 bytes', () => {
    expect(decodeMuseEeg(new Uint8Array(19)).ok).toBe(false);
    expect(decodeMuseEegInto(new Uint8Array(21), new Float64Array(12))).toBe(-1);
  });
  it('decodes telemetry, IMU and PPG vectors, and encodes them back', () => {
    for (const v of V.museTelemetry) {
      const r = decodeMuseTelemetry(hex(v.hex));
      if (!r.ok) throw new Error(r.error);
      expect(r.value).toEqual({
        index: v.index,
        batteryPercent: v.battery,
        fuelGaugeMv: v.fuelGaugeMv,
        adcMv: v.adcMv,
        temperature: v.temperature,
      });
      expect(bytesToHex(encodeMuseTelemetry(r.value))).toBe(v.hex);
    }
    for (const v of V.museImu) {
      const a = decodeMuseAccelerometer(hex(v.hex));
      const g = decodeMuseGyroscope(hex(v.hex));
      if (!a.ok || !g.ok) throw new Error('imu');
      expect(a.value.index).toBe(v.index);
      a.value.samples.forEach((s, i) => expect([s.x, s.y, s.z]).toEqual(v.acc[i].map((x: number) => expect.closeTo(x, 12))));
      g.value.samples.forEach((s, i) => expect([s.x, s.y, s.z]).toEqual(v.gyro[i].map((x: number) => expect.closeTo(x, 12))));
      expect(bytesToHex(encodeMuseAccelerometer(v.index, a.value.samples))).toBe(v.hex);
    }
    for (const v of V.musePpg) {
      const r = decodeMusePpg(hex(v.hex));
      if (!r.ok) throw new Error(r.error);
      expect(r.value.index).toBe(v.index);
      expect(Array.from(r.value.samples)).toEqual(v.values);
      expect(bytesToHex(encodeMusePpg(v.index, v.values))).toBe(v.hex);
    }
  });
  it('encodes commands as [len+1, ascii, \\n] and parses them back', () => {
    for (const [cmd, h] of Object.entries(V.museCommands as Record<string, string>)) {
      expect(bytesToHex(encodeMuseCommand(cmd))).toBe(h);
      expect(decodeMuseCommand(hex(h))).toEqual({ ok: true, value: cmd });
    }
    expect(() => encodeMuseCommand('')).toThrow();
    expect(decodeMuseCommand(Uint8Array.of(3, 0x68, 0x0a)).ok).toBe(false);
  });
  it('reassembles control replies split across notifications, with stale padding', () => {
    const a = new MuseControlAssembler();
    const got = V.museControl.packets.flatMap((h: string) => a.push(hex(h)));
    expect(got).toEqual(V.museControl.objects.map((value: unknown) => ({ ok: true, value })));
  });
  it('keeps a "}" inside a string inside the object and reports junk outside objects', () => {
    const a = new MuseControlAssembler();
    const out = [...encodeMuseControlReply({ note: 'a}b', rc: 0 }), Uint8Array.of(3, 0x78, 0x79, 0x7a)].flatMap((p) => a.push(p));
    expect(out[0]).toEqual({ ok: true, value: { note: 'a}b', rc: 0 } });
    expect(out[1]!.ok).toBe(false);
    expect(a.push(Uint8Array.of(30, 1, 2)).map((r) => r.ok)).toEqual([false]);
  });
  it('knows which characteristics each preset enables', () => {
    expect(musePresetCharacteristics('p21')).not.toContain(MUSE.eeg.AUX);
    expect(musePresetCharacteristics('p20')).toContain(MUSE.eeg.AUX);
    expect(musePresetCharacteristics('p50')).toEqual(expect.arrayContaining([...MUSE.ppg, MUSE.eeg.AUX]));
    expect(musePresetCharacteristics('p51')).not.toContain(MUSE.eeg.AUX);
    expect(() => musePresetCharacteristics('p99')).toThrow(/unknown Muse preset/);
    expect(museProfile('p20').channels.map((c) => c.name)).toEqual(['TP9', 'AF7', 'AF8', 'TP10', 'AUX']);
  });
});

describe('Ganglion', () => {
  it('decodes firmware-3 vectors (truncated absolute values) and encodes them back', () => {
    for (const v of V.ganglionFw3) {
      const r = parseGanglionPacket(hex(v.hex), 3);
      if (!r.ok || r.value.kind !== 'samples') throw new Error(JSON.stringify(r));
      expect(r.value.bits).toBe(v.bits);
      expect(Array.from(r.value.values)).toEqual(v.counts);
      if (v.accel) expect(r.value.accel).toEqual({ axis: v.accel.axis, g: expect.closeTo(v.accel.g, 12) });
      else expect(r.value.accel).toBeUndefined();
      const fields = v.inputCounts.map((c: number) => ganglionTruncate(c, v.bits));
      const re = encodeGanglionSamples(v.id, fields, v.bits, v.bits === 18 ? hex(v.hex)[19] : undefined);
      expect(bytesToHex(re)).toBe(v.hex);
    }
  });
  it('decodes a firmware-2 raw + delta sequence to the reference samples', () => {
    const dec = new DeviceDecoder('ganglion', { firmware: 2 });
    const rows: number[][] = [];
    V.ganglionFw2.packets.forEach((h: string, i: number) => {
      for (const r of dec.push(GANGLION.notify, hex(h), 10 * i))
        if (r.kind === 'eeg') for (let k = 0; k < r.t.length; k++) rows.push(r.channels.map((c) => c[k]!));
    });
    for (const r of dec.flush()) if (r.kind === 'eeg') for (let k = 0; k < r.t.length; k++) rows.push(r.channels.map((c) => c[k]!));
    const want = V.ganglionFw2.samples.map((s: number[]) => s.map((x) => x * V.ganglionFw2.scaleUv));
    expect(rows.length).toBe(want.length);
    rows.forEach((r, i) => r.forEach((x, c) => expect(x).toBeCloseTo(want[i][c], 9)));
  });
  it('selects firmware from the revision string and encodes raw, impedance and message packets', () => {
    expect(ganglionFirmwareFromRevision('3.0.2')).toBe(3);
    expect(ganglionFirmwareFromRevision('2.0.1')).toBe(2);
    expect(ganglionFirmwareFromRevision('')).toBe(2);
    const raw = parseGanglionPacket(encodeGanglionRaw([-8388608, 8388607, -1, 12345]), 2);
    expect(raw.ok && raw.value.kind === 'raw' && Array.from(raw.value.counts)).toEqual([-8388608, 8388607, -1, 12345]);
    const z = parseGanglionPacket(encodeGanglionImpedance(3, 27), 3);
    expect(z.ok && z.value).toEqual({ kind: 'impedance', id: 203, channel: 3, kOhm: 27 });
    const zr = parseGanglionPacket(encodeGanglionImpedance('reference', 8), 2);
    expect(zr.ok && zr.value.kind === 'impedance' && zr.value.channel).toBe('reference');
    expect(parseGanglionPacket(Uint8Array.of(202, 0x31, 0x32), 3).ok).toBe(false);
    const text = 'OpenBCI Ganglion v3.0.2 says hello, this spans several packets $$$';
    const asm = new GanglionMessageAssembler();
    let got: string | null = null;
    for (const p of encodeGanglionMessage(text)) {
      const r = parseGanglionPacket(p, 3);
      if (r.ok && r.value.kind === 'message') got = asm.push(r.value) ?? got;
    }
    expect(got).toBe(text);
    expect(parseGanglionPacket(Uint8Array.of(150, 1, 2), 2).ok).toBe(false);
    expect(parseGanglionPacket(Uint8Array.of(250), 3).ok).toBe(false);
    expect(() => encodeGanglionSamples(1, [1, 0, 0, 0, 0, 0, 0, 0], 18)).toThrow(/not a valid/);
  });
});

describe('Muse S Athena (experimental)', () => {
  it('parses packets and tagged subpackets of the reference vectors', () => {
    for (const v of V.athena) {
      const p = parseAthenaNotification(hex(v.hex));
      expect(p.errors).toEqual([]);
      expect(p.subpackets.map((s) => s.tag)).toEqual([0x12, 0x47, 0x88]);
      expect(p.subpackets[0]!.deviceTicks).toBe(v.ticks);
      expect(p.subpackets[0]!.packetIndex).toBe(v.packetIndex);
      const eeg = decodeAthenaEeg(p.subpackets[0]!);
      eeg.forEach((ch, c) => Array.from(ch).forEach((x, s) => expect(x).toBeCloseTo(v.eegUv[c][s], 10)));
      const imu = decodeAthenaAccGyro(p.subpackets[1]!);
      imu.accelerometer.forEach((a, s) =>
        expect([a.x, a.y, a.z].map((x) => +x.toFixed(9))).toEqual(v.acc[s].map((x: number) => +x.toFixed(9))),
      );
      imu.gyroscope.forEach((a, s) =>
        expect([a.x, a.y, a.z].map((x) => +x.toFixed(9))).toEqual(v.gyro[s].map((x: number) => +x.toFixed(9))),
      );
      const b = decodeAthenaBattery(p.subpackets[2]!);
      expect(b).toEqual({ ok: true, value: v.battery });
      // Re-encode from the decoded values: identical bytes.
      const re = encodeAthenaPacket({
        packetIndex: v.packetIndex,
        deviceTicks: v.ticks,
        type: 0x12,
        data: encodeAthenaEeg(eeg),
        extra: [
          { tag: 0x47, index: 7, data: encodeAthenaAccGyro(imu) },
          { tag: 0x88, index: 3, data: encodeAthenaBattery(v.battery) },
        ],
      });
      expect(bytesToHex(re)).toBe(v.hex);
    }
  });
  it('reports framing errors and keeps parsing later packets', () => {
    const good = hex(V.athena[0].hex);
    const bad = good.slice();
    bad[9] = 0xee; // unknown packet type
    const both = new Uint8Array(bad.length + good.length);
    both.set(bad);
    both.set(good, bad.length);
    const p = parseAthenaNotification(both);
    expect(p.errors.length).toBe(1);
    expect(p.subpackets.length).toBe(3);
    expect(parseAthenaNotification(good.slice(0, 20)).errors[0]).toMatch(/runs past/);
  });
});

describe('open EEG profile', () => {
  it('decodes the reference packets and encodes them back byte-for-byte', () => {
    for (const v of V.openEeg) {
      const r = decodeOpenEegPacket(hex(v.hex));
      if (!r.ok) throw new Error(r.error);
      expect(r.value).toMatchObject({
        format: v.format,
        channels: v.channels,
        frames: v.frames,
        sampleRate: v.sampleRate,
        sequence: v.sequence,
        batteryPercent: v.battery,
        restart: v.restart,
        scaleUv: v.scaleUv,
      });
      expect(r.value.counts.map((c) => Array.from(c))).toEqual(v.counts);
      const re = encodeOpenEegPacket(v.counts, {
        format: v.format,
        sequence: v.sequence,
        sampleRate: v.sampleRate,
        scaleUv: v.scaleUv,
        batteryPercent: v.battery,
        restart: v.restart,
        version: 1,
      });
      expect(bytesToHex(re)).toBe(v.hex);
    }
  });
  it('rejects inconsistent packets with a reason', () => {
    const p = hex(V.openEeg[0].hex);
    expect(decodeOpenEegPacket(p.slice(0, p.length - 1))).toMatchObject({ ok: false, error: expect.stringMatching(/header says/) });
    const v2 = p.slice();
    v2[0] = 2;
    expect(decodeOpenEegPacket(v2)).toMatchObject({ ok: false, error: expect.stringMatching(/version 2/) });
    const f = p.slice();
    f[2] = 3;
    expect(decodeOpenEegPacket(f).ok).toBe(false);
    const info = { name: 'board', channels: ['F3', 'F4'], firmware: '1.2' };
    expect(decodeOpenEegInfo(encodeOpenEegInfo(info))).toEqual({ ok: true, value: info });
    expect(decodeOpenEegInfo(Uint8Array.of(0xff)).ok).toBe(false);
  });
});

describe('battery service, UUIDs, registry', () => {
  it('decodes Battery Level', () => {
    expect(decodeBatteryLevel(Uint8Array.of(57))).toEqual({ ok: true, value: 57 });
    expect(decodeBatteryLevel(Uint8Array.of(101)).ok).toBe(false);
    expect(decodeBatteryLevel(Uint8Array.of(1, 2)).ok).toBe(false);
    expect(encodeBatteryLevel(42.6)).toEqual(Uint8Array.of(43));
  });
  it('normalises UUIDs and recognises devices from advertisements', () => {
    expect(uuid16(0x180f)).toBe('0000180f-0000-1000-8000-00805f9b34fb');
    expect(normaliseUuid('273E00034C4D454D96BEF03BAC821358')).toBe(MUSE.eeg.TP9);
    expect(normaliseUuid('fe8d')).toBe(MUSE.service);
    expect(() => normaliseUuid('xyz')).toThrow();
    expect(identifyAdvertisement({ name: 'Muse-1A2B' })).toBe('muse');
    expect(identifyAdvertisement({ services: ['fe84'] })).toBe('ganglion');
    expect(identifyAdvertisement({ name: 'Ganglion-1234' })).toBe('ganglion');
    expect(identifyAdvertisement({ name: 'CMCRD-board' })).toBe('open-eeg');
    expect(identifyAdvertisement({ name: 'Fitbit' })).toBeNull();
  });
});
