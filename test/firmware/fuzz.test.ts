import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hexToBytes } from '../../firmware-bridge/bytes.js';
import { DeviceDecoder } from '../../firmware-bridge/decoder.js';
import { deviceProfile, DEVICE_KINDS } from '../../firmware-bridge/devices.js';
import { parseAthenaNotification } from '../../firmware-bridge/protocols/athena.js';
import { parseGanglionPacket } from '../../firmware-bridge/protocols/ganglion.js';
import { MuseControlAssembler, decodeMuseAccelerometer, decodeMuseCommand, decodeMuseEeg, decodeMusePpg, decodeMuseTelemetry } from '../../firmware-bridge/protocols/muse.js';
import { decodeOpenEegInfo, decodeOpenEegPacket } from '../../firmware-bridge/protocols/open-eeg.js';
import { decodeBatteryLevel } from '../../firmware-bridge/protocols/battery.js';
import { parseCaptureLine, CaptureError } from '../../firmware-bridge/capture.js';

const V = JSON.parse(readFileSync(new URL('../fixtures/firmware/vectors.json', import.meta.url), 'utf8'));
const bytes = fc.uint8Array({ minLength: 0, maxLength: 300 });
const RUNS = { numRuns: 400 };

describe('decoders never throw on arbitrary bytes', () => {
  it('pure codecs return a result object for any input', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        for (const r of [decodeMuseEeg(b), decodeMuseTelemetry(b), decodeMuseAccelerometer(b), decodeMusePpg(b), decodeMuseCommand(b), decodeOpenEegPacket(b), decodeOpenEegInfo(b), decodeBatteryLevel(b), parseGanglionPacket(b, 2), parseGanglionPacket(b, 3)])
          expect(typeof r.ok).toBe('boolean');
        const a = parseAthenaNotification(b);
        expect(a.errors.length + a.subpackets.length).toBeGreaterThanOrEqual(b.length === 0 ? 1 : 0);
        new MuseControlAssembler().push(b);
      }),
      RUNS,
    );
  });

  it('every device decoder turns random notifications on any of its characteristics into records, never an exception', () => {
    for (const kind of DEVICE_KINDS) {
      const chars = deviceProfile(kind).notify;
      const dec = new DeviceDecoder(kind, kind === 'ganglion' ? { firmware: 2 } : {});
      let t = 0;
      fc.assert(
        fc.property(fc.constantFrom(...chars), bytes, (c, b) => {
          const out = dec.push(c, b, (t += 5));
          for (const r of out) expect(typeof r.kind).toBe('string');
        }),
        { numRuns: 300 },
      );
      expect(() => dec.flush()).not.toThrow();
    }
  });

  it('a truncated valid packet always yields an error record', () => {
    const cases: [ConstructorParameters<typeof DeviceDecoder>[0], string, string][] = [
      ...V.museEeg.map((v: { hex: string }) => ['muse', '273e0003-4c4d-454d-96be-f03bac821358', v.hex]),
      ...V.museTelemetry.map((v: { hex: string }) => ['muse', '273e000b-4c4d-454d-96be-f03bac821358', v.hex]),
      ...V.ganglionFw3.map((v: { hex: string }) => ['ganglion', '2d30c082-f39f-4ce6-923f-3484ea480596', v.hex]),
      ...V.athena.map((v: { hex: string }) => ['muse-athena', '273e0013-4c4d-454d-96be-f03bac821358', v.hex]),
      ...V.openEeg.map((v: { hex: string }) => ['open-eeg', 'c3d00002-5e1f-4b7a-9a36-2f1c0e0e0ee9', v.hex]),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.nat(), ([kind, char, hex], cut) => {
        const full = hexToBytes(hex)!;
        const len = cut % full.length; // strictly shorter
        const dec = new DeviceDecoder(kind);
        const out = dec.push(char, full.slice(0, len), 0);
        expect(out.some((r) => r.kind === 'error')).toBe(true);
      }),
      RUNS,
    );
  });

  it('malformed capture lines raise CaptureError naming the line', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 2, max: 10_000 }), (s, line) => {
        try {
          parseCaptureLine(s, line);
        } catch (e) {
          expect(e).toBeInstanceOf(CaptureError);
          expect((e as Error).message).toContain(`line ${line}`);
        }
      }),
      RUNS,
    );
  });
});
