import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from '../../firmware-bridge/bytes.js';
import { decodeOpenEegPacket, encodeOpenEegPacket, type OpenEegFormat } from '../../firmware-bridge/protocols/open-eeg.js';
import { Rng } from '../../firmware-bridge/sim/rng.js';

const HEADER = new URL('../../firmware-bridge/c/cmcrd_open_eeg.h', import.meta.url).pathname;
const V = JSON.parse(readFileSync(new URL('../fixtures/firmware/vectors.json', import.meta.url), 'utf8'));
const V2 = JSON.parse(readFileSync(new URL('../fixtures/firmware/open-eeg-v2.json', import.meta.url), 'utf8'));
const hasGcc = spawnSync('gcc', ['--version']).status === 0;
if (!hasGcc) console.warn('SKIPPED: the C reference encoder test needs gcc on PATH (apt-get install gcc)');

interface Spec {
  format: OpenEegFormat;
  channels: number;
  frames: number;
  sampleRate: number;
  sequence: number;
  battery: number;
  restart: boolean;
  scaleUv: number;
  counts: number[][];
}

/** One encode call per spec: the C program gets its inputs from the same JSON the Python scripts wrote. */
function cCalls(specs: Spec[], version: 1 | 2, tag: string): string {
  return specs
    .map((v, i) => {
      const frameMajor: number[] = [];
      for (let f = 0; f < v.frames; f++) for (let c = 0; c < v.channels; c++) frameMajor.push(v.counts[c]![f]!);
      return `  {
    static const int32_t ${tag}${i}[] = {${frameMajor.join(', ')}};
    cmcrd_oe_stream st;
    if (!cmcrd_oe_init(&st, ${v.channels}, ${v.sampleRate}, ${v.format === 'int24' ? 'CMCRD_OE_INT24' : 'CMCRD_OE_INT16'}, ${v.scaleUv.toPrecision(9)}f)) return 1;
    if (st.version != 2) return 5;
    st.version = ${version};
    st.sequence = ${v.sequence};
    st.restart = ${v.restart ? 1 : 0};
    n = cmcrd_oe_encode(&st, ${tag}${i}, ${v.frames}, ${v.battery}, buf, sizeof buf);
    if (n == 0 || n != cmcrd_oe_packet_size(&st, ${v.frames}) || st.sequence != (uint16_t)(${v.sequence} + 1)) return 2;
    for (k = 0; k < n; k++) printf("%02x", buf[k]);
    printf("\\n");
  }`;
    })
    .join('\n');
}

describe.skipIf(!hasGcc)('C reference encoder (firmware-bridge/c/cmcrd_open_eeg.h)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cmcrd-c-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function runC(body: string): string[] {
    const src = `#include <stdio.h>
#include "${HEADER}"
int main(void) {
  uint8_t buf[CMCRD_OE_MAX_PACKET];
  size_t n, k;
  cmcrd_oe_stream bad;
  if (cmcrd_oe_init(&bad, 0, 250, CMCRD_OE_INT24, 1.0f)) return 3;
  if (cmcrd_oe_init(&bad, 2, 250, CMCRD_OE_INT16, 1.0f) && cmcrd_oe_encode(&bad, (const int32_t[]){1, 2}, 1, 50, buf, 10) != 0) return 4;
  if (cmcrd_oe_crc16((const uint8_t *)"123456789", 9) != ${V2.crcCheck.crc}) return 6;
${body}
  return 0;
}
`;
    writeFileSync(join(dir, 't.c'), src);
    execFileSync('gcc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-O2', '-o', join(dir, 't'), join(dir, 't.c')]);
    return execFileSync(join(dir, 't'), { encoding: 'utf8' }).trim().split('\n');
  }

  it('compiles as strict C99 and produces the shared version-1 test vectors byte for byte, which TS decodes to the same samples', () => {
    const out = runC(cCalls(V.openEeg, 1, 'a'));
    expect(out).toEqual(V.openEeg.map((v: { hex: string }) => v.hex));
    out.forEach((h, i) => {
      const r = decodeOpenEegPacket(hexToBytes(h)!);
      if (!r.ok) throw new Error(r.error);
      expect(r.value.counts.map((c) => Array.from(c))).toEqual(V.openEeg[i].counts);
    });
  });

  it('version 2 (CRC): C and TS both produce the Python reference packets, and TS decodes them', () => {
    const out = runC(cCalls(V2.openEegV2, 2, 'b'));
    expect(out).toEqual(V2.openEegV2.map((v: { hex: string }) => v.hex));
    for (const v of V2.openEegV2 as (Spec & { hex: string })[]) {
      const ts = encodeOpenEegPacket(v.counts, {
        format: v.format,
        sequence: v.sequence,
        sampleRate: v.sampleRate,
        scaleUv: v.scaleUv,
        batteryPercent: v.battery === 255 ? null : v.battery,
        restart: v.restart,
      });
      expect(bytesToHex(ts)).toBe(v.hex);
      const r = decodeOpenEegPacket(hexToBytes(v.hex)!);
      if (!r.ok) throw new Error(r.error);
      expect(r.value.version).toBe(2);
      expect(r.value.counts.map((c) => Array.from(c))).toEqual(v.counts);
    }
  });

  it('C and TS produce the same bytes for 60 random packets of either version', () => {
    const rng = new Rng(24);
    const specs: (Spec & { version: 1 | 2 })[] = [];
    for (let i = 0; i < 60; i++) {
      const format: OpenEegFormat = rng.next() < 0.5 ? 'int16' : 'int24';
      const channels = 1 + rng.int(16);
      const bps = format === 'int24' ? 3 : 2;
      const frames = 1 + rng.int(Math.min(255, Math.floor((512 - 16) / (channels * bps))));
      const lim = format === 'int24' ? 8388608 : 32768;
      // Some values beyond the format's range: both encoders clamp them the same way.
      const counts = Array.from({ length: channels }, () =>
        Array.from({ length: frames }, () => Math.round((rng.next() * 2.2 - 1.1) * lim)),
      );
      specs.push({
        format,
        channels,
        frames,
        sampleRate: 1 + rng.int(65535),
        sequence: rng.int(65536),
        battery: rng.int(256),
        restart: rng.next() < 0.5,
        scaleUv: Math.fround(0.001 + rng.next()),
        counts,
        version: rng.next() < 0.5 ? 1 : 2,
      });
    }
    const out = runC(specs.map((s, i) => cCalls([s], s.version, `r${i}_`)).join('\n'));
    expect(out).toHaveLength(specs.length);
    specs.forEach((s, i) => {
      const ts = encodeOpenEegPacket(s.counts, {
        format: s.format,
        sequence: s.sequence,
        sampleRate: s.sampleRate,
        scaleUv: s.scaleUv,
        batteryPercent: s.battery > 100 ? null : s.battery,
        restart: s.restart,
        version: s.version,
      });
      expect(out[i]).toBe(bytesToHex(ts));
    });
  });
});
