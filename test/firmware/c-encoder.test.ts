import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hexToBytes } from '../../firmware-bridge/bytes.js';
import { decodeOpenEegPacket } from '../../firmware-bridge/protocols/open-eeg.js';

const HEADER = new URL('../../firmware-bridge/c/cmcrd_open_eeg.h', import.meta.url).pathname;
const V = JSON.parse(readFileSync(new URL('../fixtures/firmware/vectors.json', import.meta.url), 'utf8'));
const hasGcc = spawnSync('gcc', ['--version']).status === 0;
if (!hasGcc) console.warn('SKIPPED: the C reference encoder test needs gcc on PATH (apt-get install gcc)');

describe.skipIf(!hasGcc)('C reference encoder (firmware-bridge/c/cmcrd_open_eeg.h)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cmcrd-c-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles as strict C99 and produces the shared test vectors byte for byte, which TS decodes to the same samples', () => {
    // One encode call per vector: the C program gets its inputs from the same JSON the Python script wrote.
    const calls = V.openEeg
      .map((v: { format: string; channels: number; frames: number; sampleRate: number; sequence: number; battery: number; restart: boolean; scaleUv: number; counts: number[][] }, i: number) => {
        const frameMajor: number[] = [];
        for (let f = 0; f < v.frames; f++) for (let c = 0; c < v.channels; c++) frameMajor.push(v.counts[c]![f]!);
        return `  {
    static const int32_t s${i}[] = {${frameMajor.join(', ')}};
    cmcrd_oe_stream st;
    if (!cmcrd_oe_init(&st, ${v.channels}, ${v.sampleRate}, ${v.format === 'int24' ? 'CMCRD_OE_INT24' : 'CMCRD_OE_INT16'}, ${v.scaleUv.toPrecision(9)}f)) return 1;
    st.sequence = ${v.sequence};
    st.restart = ${v.restart ? 1 : 0};
    n = cmcrd_oe_encode(&st, s${i}, ${v.frames}, ${v.battery}, buf, sizeof buf);
    if (n == 0 || st.sequence != (uint16_t)(${v.sequence} + 1)) return 2;
    for (k = 0; k < n; k++) printf("%02x", buf[k]);
    printf("\\n");
  }`;
      })
      .join('\n');
    const src = `#include <stdio.h>
#include "${HEADER}"
int main(void) {
  uint8_t buf[CMCRD_OE_MAX_PACKET];
  size_t n, k;
  cmcrd_oe_stream bad;
  if (cmcrd_oe_init(&bad, 0, 250, CMCRD_OE_INT24, 1.0f)) return 3;
  if (cmcrd_oe_init(&bad, 2, 250, CMCRD_OE_INT16, 1.0f) && cmcrd_oe_encode(&bad, (const int32_t[]){1, 2}, 1, 50, buf, 10) != 0) return 4;
${calls}
  return 0;
}
`;
    writeFileSync(join(dir, 't.c'), src);
    execFileSync('gcc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-O2', '-o', join(dir, 't'), join(dir, 't.c')]);
    const out = execFileSync(join(dir, 't'), { encoding: 'utf8' }).trim().split('\n');
    expect(out).toEqual(V.openEeg.map((v: { hex: string }) => v.hex));
    out.forEach((h, i) => {
      const r = decodeOpenEegPacket(hexToBytes(h)!);
      if (!r.ok) throw new Error(r.error);
      expect(r.value.counts.map((c) => Array.from(c))).toEqual(V.openEeg[i].counts);
    });
  });
});
