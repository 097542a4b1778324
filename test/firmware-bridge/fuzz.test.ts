import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hexToBytes } from '../../firmware-bridge/bytes.js';
import { DeviceDecoder } from '../../firmware-bridge/decoder.js';
import { deviceProfile, DEVICE_KINDS } from '../../firmware-bridge/devices.js';
import { parseAthenaNotification } from '../../firmware-bridge/protocols/athena.js';
import { parseGanglionPacket } from '../../firmware-bridge/protocols/ganglion.js';
import {
  MuseControlAssembler,
  decodeMuseAccelerometer,
  decodeMuseCommand,
  decodeMuseEeg,
  decodeMusePpg,
  decodeMuseTelemetry,
} from '../../firmware-bridge/protocols/muse.js';
import { decodeOpenEegInfo, decodeOpenEegPacket } from '../../firmware-bridge/protocols/open-eeg.js';
import { decodeBatteryLevel } from '../../firmware-bridge/protocols/battery.js';
import { parseCaptureLine, CaptureError } from '../../firmware-bridge/capture.js';
import type { DeviceKind } from '../../firmware-bridge/devices.js';
import { decodeNotes, sameRows, simCapture, type Decoded, type Note } from './sim-capture.js';

const V = JSON.parse(readFileSync(new URL('../fixtures/firmware/vectors.json', import.meta.url), 'utf8'));
const bytes = fc.uint8Array({ minLength: 0, maxLength: 300 });
const RUNS = { numRuns: 400 };

describe('decoders never throw on arbitrary bytes', () => {
  it('pure codecs return a result object for any input', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        for (const r of [
          decodeMuseEeg(b),
          decodeMuseTelemetry(b),
          decodeMuseAccelerometer(b),
          decodeMusePpg(b),
          decodeMuseCommand(b),
          decodeOpenEegPacket(b),
          decodeOpenEegInfo(b),
          decodeBatteryLevel(b),
          parseGanglionPacket(b, 2),
          parseGanglionPacket(b, 3),
        ])
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

/**
 * Whole captures with hostile host timestamps. Host time may only move row times and produce clock records:
 * which samples the rows hold, and how many are counted lost, come from packet counters. So a clean capture
 * must decode to the same rows with 0 lost whatever its timestamps, and a lossy one to exactly the loss it has
 * with its true timestamps (what the counters allow) — each within a time bound, whatever the values.
 */
describe('whole captures with fuzzed host timestamps', () => {
  const TIME_RUNS = 40;
  // A bound against hangs (the old code never returned on such input); typical captures decode in tens of ms.
  const BOUND_MS = 1000;
  const DEVICES: [string, DeviceKind, string, { firmware?: 2 | 3 }][] = [
    ['Muse', 'muse', 'sim:muse?seed=9', {}],
    ['Muse S Athena', 'muse-athena', 'sim:muse-athena?seed=9', {}],
    ['Ganglion FW2', 'ganglion', 'sim:ganglion?seed=9&firmware=2', { firmware: 2 }],
    ['Ganglion FW3', 'ganglion', 'sim:ganglion?seed=9&firmware=3', { firmware: 3 }],
    ['open EEG', 'open-eeg', 'sim:open-eeg?seed=9', {}],
  ];
  const WILD = [Number.NaN, Infinity, -Infinity, 1e308, -1e308, 1e14, -1e14, 0, -1, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2];
  type Edit = { at: number; what: 'value' | 'step' | 'jump'; value: number };
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    // one notification gets a wild or arbitrary time
    fc.record({
      at: fc.nat(),
      what: fc.constant('value' as const),
      value: fc.oneof(fc.constantFrom(...WILD), fc.double({ noNaN: false })),
    }),
    // the host clock steps from here on, forwards or backwards, by up to ±1e15 ms
    fc.record({
      at: fc.nat(),
      what: fc.constant('step' as const),
      value: fc.oneof(fc.constantFrom(3_600_000, -3_600_000, 1e15, -1e15), fc.double({ min: -1e15, max: 1e15, noNaN: true })),
    }),
    // one notification's time moves a little (jitter, small backward steps)
    fc.record({ at: fc.nat(), what: fc.constant('jump' as const), value: fc.double({ min: -2000, max: 2000, noNaN: true }) }),
  );
  function apply(notes: readonly Note[], edits: readonly Edit[]): Note[] {
    const out = notes.map((n) => ({ ...n }));
    for (const e of edits) {
      const i = e.at % out.length;
      if (e.what === 'value') out[i]!.t = e.value;
      else if (e.what === 'jump') out[i]!.t += e.value;
      else for (let k = i; k < out.length; k++) out[k]!.t += e.value;
    }
    return out;
  }

  for (const [label, kind, uri, opts] of DEVICES) {
    const caps: { notes: Note[]; truth: Decoded }[] = [];
    beforeAll(async () => {
      for (const u of [uri, `${uri}&drop=0.05&dup=0.02`]) {
        const notes = await simCapture(u, 4);
        caps.push({ notes, truth: decodeNotes(kind, notes, opts) });
      }
    });

    it(`${label}: ${TIME_RUNS} clean + ${TIME_RUNS} lossy captures with fuzzed timestamps each decode in < ${BOUND_MS} ms, to the same rows and the same loss`, () => {
      expect(caps[0]!.truth.lost).toBe(0);
      expect(caps[1]!.truth.lost).toBeGreaterThan(0);
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 8 }), (edits) => {
          for (const { notes, truth } of caps) {
            const got = decodeNotes(kind, apply(notes, edits), opts);
            expect(got.ms).toBeLessThan(BOUND_MS);
            // Never more than the counters allow (and never less: the loss is what the counters say).
            expect(got.lost).toBe(truth.lost);
            expect(got.nan).toBe(truth.nan);
            expect(sameRows(got.rows, truth.rows)).toBe(true);
            for (const r of got.recs) if (r.kind === 'eeg') for (const t of r.t) expect(Number.isNaN(t) || Number.isFinite(t)).toBe(true);
          }
        }),
        { numRuns: TIME_RUNS },
      );
    });
  }
});
