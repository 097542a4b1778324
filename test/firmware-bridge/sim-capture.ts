/**
 * Test helpers: record a virtual headband on its manual clock (the notifications a host would capture) and
 * decode a list of notifications into a table of sample rows, so a faulty capture can be checked against a
 * clean capture of the same seed (same signal, same bytes but for the faults).
 */
import { DeviceDecoder, type DecodedRecord, type DeviceDecoderOptions } from '../../firmware-bridge/decoder.js';
import type { DeviceKind } from '../../firmware-bridge/devices.js';
import { startStream } from '../../firmware-bridge/drivers.js';
import { createSimDevice } from '../../firmware-bridge/sim/uri.js';

export interface Note {
  c: string;
  b: Uint8Array;
  t: number;
}

/** All notifications of `seconds` of streaming from a `sim:` URI (manual clock added). */
export async function simCapture(uri: string, seconds: number): Promise<Note[]> {
  const dev = createSimDevice(uri + (uri.includes('?') ? '&' : '?') + 'clock=manual');
  const notes: Note[] = [];
  const s = await startStream(dev, (c, b, t) => notes.push({ c, b: b.slice(), t }), {
    wait: async (ms) => dev.advance(ms),
    keepAlive: false,
  });
  for (let i = 0; i < seconds * 10 && dev.isConnected; i++) dev.advance(100);
  if (dev.isConnected) await s.stop();
  return notes;
}

export interface Decoded {
  recs: DecodedRecord[];
  /** EEG rows by absolute sample index (rows with firstSample −1, Ganglion FW2's raw sample, are left out). */
  rows: Map<number, number[]>;
  names: readonly string[];
  /** EEG channel-samples lost according to gap records, in total and per channel. */
  lost: number;
  lostByChannel: Record<string, number>;
  /** NaN values in EEG rows. */
  nan: number;
  decoder: DeviceDecoder;
  ms: number;
}

export function decodeNotes(kind: DeviceKind, notes: readonly Note[], opts: DeviceDecoderOptions = {}): Decoded {
  const decoder = new DeviceDecoder(kind, opts);
  const recs: DecodedRecord[] = [];
  const t0 = performance.now();
  for (const n of notes) recs.push(...decoder.push(n.c, n.b, n.t));
  recs.push(...decoder.flush());
  const ms = performance.now() - t0;
  const rows = new Map<number, number[]>();
  let names: readonly string[] = decoder.eegNames;
  for (const r of recs)
    if (r.kind === 'eeg') {
      names = r.names;
      if (r.firstSample >= 0)
        for (let j = 0; j < r.t.length; j++)
          rows.set(
            r.firstSample + j,
            r.channels.map((c) => c[j]!),
          );
    }
  const lostByChannel: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  let lost = 0;
  for (const r of recs)
    if (r.kind === 'gap' && r.stream === 'eeg')
      for (const n of r.channels ?? names) {
        lostByChannel[n] = (lostByChannel[n] ?? 0) + r.lostSamples;
        lost += r.lostSamples;
      }
  let nan = 0;
  for (const v of rows.values()) for (const x of v) if (Number.isNaN(x)) nan++;
  return { recs, rows, names, lost, lostByChannel, nan, decoder, ms };
}

/** Channel-samples of the clean table that are missing (absent or NaN) or different in `got`. */
export function against(clean: Map<number, number[]>, got: Map<number, number[]>): { missing: number; wrong: number; ok: number } {
  let missing = 0;
  let wrong = 0;
  let ok = 0;
  for (const [k, v] of clean) {
    const g = got.get(k);
    v.forEach((x, c) => {
      const y = g?.[c];
      if (y === undefined || Number.isNaN(y)) missing++;
      else if (Math.abs(y - x) > 1e-9 * Math.max(1, Math.abs(x))) wrong++;
      else ok++;
    });
  }
  return { missing, wrong, ok };
}

/** Same rows at the same indices, with the same values (NaN where the other has NaN). */
export function sameRows(a: Map<number, number[]>, b: Map<number, number[]>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.length !== v.length) return false;
    for (let c = 0; c < v.length; c++) if (!Object.is(v[c], w[c])) return false;
  }
  return true;
}
