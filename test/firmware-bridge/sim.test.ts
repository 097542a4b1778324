import { describe, expect, it } from 'vitest';
import { DeviceDecoder, type DecodedRecord } from '../../firmware-bridge/decoder.js';
import { startStream } from '../../firmware-bridge/drivers.js';
import { formatCaptureHeader, formatCaptureLine, parseCapture } from '../../firmware-bridge/capture.js';
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import { identifyPeripheral } from '../../firmware-bridge/devices.js';
import { MUSE } from '../../firmware-bridge/protocols/muse.js';
import { GANGLION } from '../../firmware-bridge/protocols/ganglion.js';
import { ArraySource } from '../../firmware-bridge/sim/sources.js';
import type { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import { VirtualMuse } from '../../firmware-bridge/sim/virtual-muse.js';
import { VirtualGanglion } from '../../firmware-bridge/sim/virtual-ganglion.js';
import { VirtualOpenEeg } from '../../firmware-bridge/sim/virtual-open-eeg.js';
import { VirtualAthena } from '../../firmware-bridge/sim/virtual-athena.js';
import { ReplayPeripheral } from '../../firmware-bridge/sim/replay.js';
import { createSimDevice, openDevice, isVirtualDevice } from '../../firmware-bridge/sim/uri.js';

/** Stream a virtual device on its manual clock and decode everything. */
async function run(dev: VirtualPeripheral, dec: DeviceDecoder, seconds: number, opts: { preset?: string } = {}) {
  const recs: DecodedRecord[] = [];
  const raw: { c: string; b: Uint8Array; t: number }[] = [];
  const s = await startStream(
    dev,
    (c, b, t) => {
      raw.push({ c, b, t });
      recs.push(...dec.push(c, b, t));
    },
    { wait: async (ms) => dev.advance(ms), keepAlive: false, ...opts },
  );
  for (let i = 0; i < seconds * 10 && dev.isConnected; i++) dev.advance(100);
  if (dev.isConnected) await s.stop();
  recs.push(...dec.flush());
  return { recs, raw };
}

/** Per-channel value table by absolute sample index, and gap totals per channel. */
function tabulate(recs: DecodedRecord[], names: readonly string[]) {
  const rows = new Map<number, number[]>();
  const lost = names.map(() => 0);
  for (const r of recs) {
    if (r.kind === 'eeg' && r.firstSample >= 0)
      for (let j = 0; j < r.t.length; j++)
        rows.set(
          r.firstSample + j,
          r.channels.map((c) => c[j]!),
        );
    if (r.kind === 'gap' && r.stream === 'eeg')
      names.forEach((n, c) => (r.channels ? r.channels.includes(n) : true) && (lost[c]! += r.lostSamples));
  }
  return { rows, lost };
}

// A ramp that is exactly representable in each format; each channel offset so swaps are caught.
const ramp = (n: number, ch: number, f: (i: number, c: number) => number) =>
  Array.from({ length: ch }, (_, c) => Float64Array.from({ length: n }, (_, i) => f(i, c)));

describe('virtual Muse', () => {
  it('delivers every sample exactly; lost samples are NaN and exactly accounted for in gap events (drop, dup, reorder, jitter)', async () => {
    const n = 256 * 30;
    const src = new ArraySource(ramp(n, 4, (i, c) => (((i * 7 + c * 500) % 4000) - 2000) * MUSE.eegScale));
    const dev = new VirtualMuse({ source: src, clock: 'manual', seed: 3, faults: { drop: 0.03, dup: 0.03, reorder: 0.05, jitterMs: 15 } });
    const dec = new DeviceDecoder('muse');
    const { recs } = await run(dev, dec, 12);
    const { rows, lost } = tabulate(recs, dec.eegNames);
    const first = Math.min(...rows.keys());
    const nan = [0, 0, 0, 0];
    for (const [k, r] of rows)
      r.forEach((v, c) => {
        if (Number.isNaN(v)) nan[c]!++;
        else expect(v).toBe(((((k - first) * 7 + c * 500) % 4000) - 2000) * MUSE.eegScale);
      });
    expect(nan).toEqual(lost);
    expect(nan.reduce((a, b) => a + b)).toBeGreaterThan(100);
    expect(dev.faultCounts.dropped).toBeGreaterThan(20);
    expect(rows.size).toBe(Math.max(...rows.keys()) - first + 1); // contiguous grid
    expect(dec.stats().eeg!.duplicates + dec.stats().eeg!.late).toBeGreaterThan(0);
  });

  it('answers the real control commands and drains its battery', async () => {
    const dev = new VirtualMuse({ clock: 'manual', batteryPercent: 80, drainPerHour: 3600 });
    const dec = new DeviceDecoder('muse');
    const { recs } = await run(dev, dec, 10);
    const control = recs.filter((r) => r.kind === 'control').map((r) => (r.kind === 'control' ? r.json : null));
    expect(control).toContainEqual(expect.objectContaining({ hn: 'Muse-SIM1', ps: 21, rc: 0 }));
    const tel = recs.flatMap((r) => (r.kind === 'telemetry' ? [r] : []));
    expect(tel.length).toBeGreaterThan(8);
    expect(tel[0]!.battery).toBeCloseTo(80, 1);
    // 3600 %/h = 1 % per virtual second of streaming; telemetry quantises to 1/512 %
    for (const r of tel) expect(Math.abs(r.battery - (80 - (r.t - tel[0]!.t) / 1000))).toBeLessThan(0.01);
    expect(recs.some((r) => r.kind === 'accelerometer' && Math.abs(r.samples[0]!.z - 1) < 0.2)).toBe(true);
  });

  it('streams AUX and PPG under p50 and switches emotion at run time', async () => {
    const dev = new VirtualMuse({ clock: 'manual', preset: 'p21' });
    const dec = new DeviceDecoder('muse', { aux: true });
    const { recs } = await run(dev, dec, 3, { preset: 'p50' });
    expect(recs.some((r) => r.kind === 'ppg')).toBe(true);
    const eeg = recs.find((r) => r.kind === 'eeg');
    expect(eeg?.kind === 'eeg' && eeg.names).toEqual(['TP9', 'AF7', 'AF8', 'TP10', 'AUX']);
    expect(recs.some((r) => r.kind === 'gap')).toBe(false);
    expect(dev.emotion).toBe('neutral');
    dev.setEmotion('happy');
    expect(dev.emotion).toBe('happy');
    expect(() => dev.setEmotion('bored')).toThrow(/unknown emotion/);
  });

  it('keeps sample times on the grid through a stall, and reports a disconnect', async () => {
    const dev = createSimDevice('sim:muse?clock=manual&stall=1.5&stall-at=3&disconnect-after=8');
    const reasons: string[] = [];
    dev.onDisconnect((r) => reasons.push(r));
    const dec = new DeviceDecoder('muse');
    const { recs, raw } = await run(dev, dec, 12);
    expect(reasons).toEqual(['simulated link loss (disconnect-after)']);
    expect(dev.now()).toBe(8000 + 3 * 50 + 0); // h, p21, s pauses before d; link drops 8 s after streaming starts
    // a burst: many EEG notifications share one arrival time
    const arrivals = raw.filter((x) => x.c === MUSE.eeg.TP9).map((x) => x.t);
    expect(arrivals.length - new Set(arrivals).size).toBeGreaterThan(20);
    const t = recs.flatMap((r) => (r.kind === 'eeg' ? Array.from(r.t) : []));
    const d = t.slice(1).map((x, i) => x - t[i]!);
    // the 1.5 s burst moves the grid by at most a couple of sample periods
    expect(Math.max(...d)).toBeLessThan(10);
    expect(Math.min(...d)).toBeGreaterThan(1);
    expect(recs.filter((r) => r.kind === 'gap')).toEqual([]);
  });
});

describe('virtual Ganglion', () => {
  for (const firmware of [2, 3] as const)
    it(`firmware ${firmware}: exact samples, accelerometer, loss accounting`, async () => {
      const k = GANGLION.scaleUv;
      // FW3 keeps 18 bits of 24: use counts that are multiples of 64 so truncation is exact.
      // FW3 keeps 18 of 24 bits and stores the sign in the lowest kept bit: exact for even multiples of 64
      // when positive and odd multiples when negative.
      const m = (i: number, c: number) => {
        const x = ((i * 13 + c * 977) % 2000) - 1000;
        return 64 * (x >= 0 ? x & ~1 : x | 1);
      };
      const src = new ArraySource(ramp(2000, 4, (i, c) => m(i, c) * k));
      const dev = new VirtualGanglion({
        firmware,
        source: src,
        clock: 'manual',
        seed: 4,
        faults: firmware === 3 ? { drop: 0.03, reorder: 0.03 } : {},
      });
      expect(identifyPeripheral(dev)).toBe('ganglion');
      const dec = new DeviceDecoder('ganglion', { firmware });
      const { recs } = await run(dev, dec, 5);
      const { rows, lost } = tabulate(recs, dec.eegNames);
      const keys = [...rows.keys()].sort((a, b) => a - b);
      // FW2: the raw packet carries sample 0 (firstSample −1 in records); rows continue with sample 1
      const offset = firmware === 2 ? 1 : 0;
      let nan = 0;
      for (const key of keys)
        rows.get(key)!.forEach((v, c) => {
          if (Number.isNaN(v)) nan++;
          // FW2 deltas obey the LSB sign rule, so a sample may be off by one count (never drifting)
          else expect(Math.abs(v / k - m(key - keys[0]! + offset, c))).toBeLessThanOrEqual(firmware === 2 ? 1 + 1e-6 : 1e-6);
        });
      expect(nan).toBe(lost.reduce((a, b) => a + b));
      if (firmware === 3) expect(nan).toBeGreaterThan(0);
      expect(recs.filter((r) => r.kind === 'accelerometer').length).toBeGreaterThan(40);
    });

  it('runs the impedance test and soft reset message', async () => {
    const dev = new VirtualGanglion({ clock: 'manual' });
    const dec = new DeviceDecoder('ganglion', { firmware: 3 });
    const out: DecodedRecord[] = [];
    await dev.subscribe(GANGLION.notify, (b, t) => out.push(...dec.push(GANGLION.notify, b, t)));
    await dev.write(GANGLION.write, Uint8Array.of('z'.charCodeAt(0)));
    dev.advance(2100);
    await dev.write(GANGLION.write, Uint8Array.of('Z'.charCodeAt(0), 'v'.charCodeAt(0)));
    const imp = out.filter((r) => r.kind === 'impedance').map((r) => (r.kind === 'impedance' ? r.channel : ''));
    expect(imp).toEqual(['CH1', 'CH2', 'CH3', 'CH4', 'REF']);
    expect(out.find((r) => r.kind === 'message')).toMatchObject({ text: expect.stringContaining('OpenBCI Ganglion v3.0.2') });
    expect(new TextDecoder().decode(await dev.read(GANGLION.firmwareRevision))).toBe('3.0.2');
  });
});

describe('virtual open-EEG board and Athena', () => {
  it('open profile: exact int24 samples with drops and duplicates; battery via the Battery Service', async () => {
    const dev = new VirtualOpenEeg({
      clock: 'manual',
      source: new ArraySource(ramp(3000, 8, (i, c) => (i * 31 + c) * 0.5)),
      scaleUv: 0.5,
      seed: 2,
      faults: { drop: 0.05, dup: 0.05 },
    });
    const dec = new DeviceDecoder('open-eeg');
    const { recs } = await run(dev, dec, 6);
    const { rows, lost } = tabulate(recs, ['CH1', 'CH2', 'CH3', 'CH4', 'CH5', 'CH6', 'CH7', 'CH8']);
    const keys = [...rows.keys()].sort((a, b) => a - b);
    let nan = 0;
    for (const key of keys) rows.get(key)!.forEach((v, c) => (Number.isNaN(v) ? nan++ : expect(v).toBe(((key - keys[0]!) * 31 + c) * 0.5)));
    expect(nan).toBe(lost.reduce((a, b) => a + b));
    expect(nan).toBeGreaterThan(0);
    expect(recs.some((r) => r.kind === 'telemetry' && r.source === 'battery-service')).toBe(true);
  });

  it('Athena: starts on the second dc001, decodes 8-channel EEG, IMU and battery, counts lost packets from device time', async () => {
    const src = new ArraySource(ramp(5000, 4, (i, c) => (((i * 3 + c * 100) % 8000) - 4000) * (1450 / 16383)));
    const dev = new VirtualAthena({ clock: 'manual', source: src, seed: 5, faults: { drop: 0.05 } });
    expect(identifyPeripheral(dev)).toBe('muse-athena');
    const dec = new DeviceDecoder('muse-athena');
    const { recs } = await run(dev, dec, 5);
    const { rows, lost } = tabulate(recs, dec.eegNames);
    const keys = [...rows.keys()].sort((a, b) => a - b);
    let nan = 0;
    for (const key of keys)
      rows
        .get(key)!
        .slice(0, 4)
        .forEach((v, c) =>
          Number.isNaN(v)
            ? nan++
            : expect(v).toBeCloseTo(
                (((key - keys[0]!) * 3 + c * 100) % 8000) - 4000 ? ((((key - keys[0]!) * 3 + c * 100) % 8000) - 4000) * (1450 / 16383) : 0,
                9,
              ),
        );
    expect(nan).toBe(lost.slice(0, 4).reduce((a, b) => a + b));
    expect(nan).toBeGreaterThan(0);
    expect(recs.some((r) => r.kind === 'telemetry' && r.source === 'athena-subpacket')).toBe(true);
    expect(recs.some((r) => r.kind === 'gyroscope')).toBe(true);
  });
});

describe('device URIs and replay', () => {
  it('parses sim: options and rejects bad ones by name', async () => {
    const d = await openDevice('sim:ganglion?firmware=2&clock=manual&battery=50&emotion=fear');
    expect(isVirtualDevice(d)).toBe(true);
    expect((d as VirtualGanglion).firmware).toBe(2);
    expect((d as VirtualGanglion).batteryPercent).toBe(50);
    expect((d as VirtualGanglion).emotion).toBe('fear');
    expect(() => createSimDevice('sim:muse?dropp=0.1')).toThrow(/unknown option "dropp"/);
    expect(() => createSimDevice('sim:muse?drop=2')).toThrow(/drop=.*probability/);
    expect(() => createSimDevice('sim:toaster')).toThrow(/unknown simulated device/);
    expect(() => createSimDevice('sim:muse?emotion=bored')).toThrow(/unknown emotion/);
    await expect(openDevice('replay:/nope.jsonl')).rejects.toThrow(/loader/);
    await expect(openDevice('ble:xx')).rejects.toThrow(/unsupported/);
  });

  it('the same seed gives the same bytes (deterministic manual clock)', async () => {
    const a = await run(createSimDevice('sim:muse?clock=manual&seed=7&drop=0.1'), new DeviceDecoder('muse'), 2);
    const b = await run(createSimDevice('sim:muse?clock=manual&seed=7&drop=0.1'), new DeviceDecoder('muse'), 2);
    expect(a.raw.map((x) => x.t + x.c + Buffer.from(x.b).toString('hex'))).toEqual(
      b.raw.map((x) => x.t + x.c + Buffer.from(x.b).toString('hex')),
    );
  });

  it('a capture replays as a device and decodes to the same records', async () => {
    const dev = createSimDevice('sim:ganglion?clock=manual&firmware=2&drop=0.02');
    const direct = await run(dev, new DeviceDecoder('ganglion', { firmware: 2 }), 3);
    const text = [
      formatCaptureHeader({ device: 'ganglion', firmware: '2.x' }),
      ...direct.raw.map((x) => formatCaptureLine(x.t, x.c, x.b)),
    ].join('\n');
    const replay: GattPeripheral = new ReplayPeripheral(parseCapture(text), { clock: 'manual' });
    const dec = new DeviceDecoder('ganglion', { firmware: 2 });
    const got: DecodedRecord[] = [];
    let ended = '';
    replay.onDisconnect((r) => (ended = r));
    await replay.subscribe(GANGLION.notify, (b, t) => got.push(...dec.push(GANGLION.notify, b, t)));
    await replay.write(GANGLION.write, Uint8Array.of(98));
    (replay as ReplayPeripheral).advance(10_000);
    got.push(...dec.flush());
    expect(ended).toBe('end of capture');
    const eeg = (rs: DecodedRecord[]) => rs.flatMap((r) => (r.kind === 'eeg' ? r.channels.flatMap((c) => Array.from(c)) : []));
    expect(eeg(got)).toEqual(eeg(direct.recs));
  });

  it('real-time mode runs faster than real time with speed', async () => {
    const dev = createSimDevice('sim:muse?speed=20');
    let n = 0;
    await dev.subscribe(MUSE.eeg.TP9, () => n++);
    await dev.write(MUSE.control, Uint8Array.of(2, 100, 10));
    await new Promise((r) => setTimeout(r, 300));
    await dev.disconnect();
    // 0.3 s × 20 = 6 virtual s ≈ 128 blocks (timer granularity on a busy machine: wide bounds)
    expect(n).toBeGreaterThan(60);
    expect(n).toBeLessThan(200);
  });
});
