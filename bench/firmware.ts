/**
 * Decode throughput per codec (notifications per second on one core), plus the full per-device decoder
 * (reassembly + timestamps). Target: ≥ 1,000,000 Muse EEG notifications/s for the bare codec.
 */
import type { BenchResult, BenchSuite } from './harness.js';
import { DeviceDecoder } from '../firmware-bridge/decoder.js';
import { decodeAthenaEeg, encodeAthenaEeg, encodeAthenaPacket, parseAthenaNotification } from '../firmware-bridge/protocols/athena.js';
import { encodeGanglionSamples, ganglionTruncate, parseGanglionPacket } from '../firmware-bridge/protocols/ganglion.js';
import { MUSE, decodeMuseEeg, decodeMuseEegInto, encodeMuseEeg } from '../firmware-bridge/protocols/muse.js';
import { decodeOpenEegPacket, encodeOpenEegPacket } from '../firmware-bridge/protocols/open-eeg.js';

function rate(packets: Uint8Array[], minMs: number, fn: (p: Uint8Array) => unknown): number {
  let n = 0;
  for (let i = 0; i < 2000; i++) fn(packets[i % packets.length]!); // warm-up
  const t0 = performance.now();
  let el = 0;
  while (el < minMs) {
    for (let i = 0; i < packets.length; i++) fn(packets[i]!);
    n += packets.length;
    el = performance.now() - t0;
  }
  return (n / el) * 1000;
}

export const firmwareSuite: BenchSuite = {
  name: 'firmware',
  async run(ctx) {
    const ms = ctx.quick ? 200 : 1000;
    const out: BenchResult[] = [];
    const museEeg = Array.from({ length: 1024 }, (_, i) =>
      encodeMuseEeg(
        i,
        Array.from({ length: 12 }, (_, k) => Math.sin(i + k) * 200),
      ),
    );
    const buf = new Float64Array(12);
    const add = (name: string, v: number, detail: Record<string, string | number | boolean> = {}) => {
      out.push({ name, value: Math.round(v), unit: 'notifications/s', detail });
      ctx.log(`${name}: ${(v / 1e6).toFixed(2)} M notifications/s`);
    };
    add(
      'firmware.muse-eeg.decodeInto',
      rate(museEeg, ms, (p) => decodeMuseEegInto(p, buf)),
      { target: 1_000_000, allocationFree: true },
    );
    add(
      'firmware.muse-eeg.decode',
      rate(museEeg, ms, (p) => decodeMuseEeg(p)),
      { target: 1_000_000 },
    );
    const ganglion = Array.from({ length: 100 }, (_, i) =>
      encodeGanglionSamples(
        i,
        Array.from({ length: 8 }, (_, k) => ganglionTruncate(Math.sin(i * 8 + k) * 4e6, 18)),
        18,
        3,
      ),
    );
    add(
      'firmware.ganglion-fw3.parse',
      rate(ganglion, ms, (p) => parseGanglionPacket(p, 3)),
    );
    const athena = Array.from({ length: 64 }, (_, i) =>
      encodeAthenaPacket({
        packetIndex: i,
        deviceTicks: i * 2000,
        type: 0x12,
        data: encodeAthenaEeg(Array.from({ length: 8 }, (_, c) => [c * 10 + i, -c * 10])),
      }),
    );
    add(
      'firmware.athena-eeg.parse+decode',
      rate(athena, ms, (p) => {
        const r = parseAthenaNotification(p);
        return decodeAthenaEeg(r.subpackets[0]!);
      }),
    );
    const open = Array.from({ length: 64 }, (_, i) =>
      encodeOpenEegPacket(
        Array.from({ length: 8 }, (_, c) => Array.from({ length: 9 }, (_, f) => (i * 97 + c * 13 + f) * 1000)),
        { format: 'int24', sequence: i, sampleRate: 250, scaleUv: 0.0224 },
      ),
    );
    add(
      'firmware.open-eeg.decode',
      rate(open, ms, (p) => decodeOpenEegPacket(p)),
      { channels: 8, frames: 9 },
    );
    // Full pipeline: decoder with reassembly and timestamps (4 electrode notifications per block).
    const dec = new DeviceDecoder('muse');
    const chars = [MUSE.eeg.TP9, MUSE.eeg.AF7, MUSE.eeg.AF8, MUSE.eeg.TP10];
    let k = 0;
    let t = 0;
    const full = rate(museEeg, ms, (p) => {
      const idx = Math.floor(k / 4);
      p[0] = (idx >> 8) & 0xff;
      p[1] = idx & 0xff;
      if (k % 4 === 0) t += 46.875;
      dec.push(chars[k++ % 4]!, p, t);
    });
    add('firmware.muse.device-decoder', full, { note: 'decode + reassembly + timestamps; packets re-indexed in place' });
    return out;
  },
};
