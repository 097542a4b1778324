/** Muse S Athena (gen 3) — EXPERIMENTAL: protocol in ../protocols/athena.ts (reverse-engineered, see README). */
import {
  ATHENA,
  ATHENA_EEG_CHANNELS,
  decodeAthenaAccGyro,
  decodeAthenaBattery,
  decodeAthenaEeg,
  parseAthenaNotification,
} from '../protocols/athena.js';
import { MUSE, MuseControlAssembler, type Xyz } from '../protocols/muse.js';
import type { Uuid } from '../gatt.js';
import { errorRecord, type DecodedRecord } from '../records.js';
import { DeviceTimeBlocks } from '../streams/device-time.js';
import { checkPreset, webBluetoothRequest } from './common.js';
import { museCommand } from './muse.js';
import type { HeadbandDriver } from './types.js';

/** p1041: 8-channel EEG (4 + 4 AUX) in 0x12 subpackets; p1035: the 4 scalp channels in 0x11. */
const PRESETS = ['p1041', 'p1035'];

export const museAthenaDriver: HeadbandDriver<'muse-athena'> = {
  kind: 'muse-athena',
  aliases: ['athena'],
  label: 'Muse S Athena (gen 3)',
  experimental: true,
  presets: PRESETS,
  defaultPreset: 'p1041',
  battery: 'athena-subpacket',
  characteristics: [ATHENA.control, ATHENA.data, ATHENA.data2],
  webBluetooth: webBluetoothRequest([{ services: [MUSE.service] }, { namePrefix: 'MuseS-' }, { namePrefix: 'Muse' }], [MUSE.service]),

  profile(setup = {}) {
    const preset = checkPreset('Muse S Athena', PRESETS, setup.preset ?? 'p1041');
    const names = preset === 'p1035' ? ATHENA_EEG_CHANNELS.slice(0, 4) : ATHENA_EEG_CHANNELS;
    return {
      kind: 'muse-athena',
      label: `${this.label} — experimental`,
      experimental: true,
      scan: { services: [MUSE.service], namePrefixes: ['MuseS-', 'Muse'] },
      services: [MUSE.service],
      channels: names.map((n) => ({ name: n, position: n.startsWith('AUX') ? null : n })),
      sampleRate: ATHENA.sampleRate,
      scaleUv: ATHENA.eegScale,
      battery: 'athena-subpacket',
      notify: [ATHENA.control, ATHENA.data, ATHENA.data2],
      start: [
        ...['v6', 's', 'h', preset, 's'].map((c) => museCommand(c, 200)),
        museCommand('dc001', 50),
        museCommand('dc001', 100),
        museCommand('s', 100),
      ],
      stop: [museCommand('h')],
      keepAlive: { command: museCommand('k', 0), intervalS: 10 },
    };
  },

  // It advertises like a gen-2 Muse (the scan says 'muse'); only the connected GATT table tells it apart.
  matchAdvertisement: () => null,
  matchPeripheral: (p) => p.services.includes(MUSE.service) && p.characteristics.includes(ATHENA.data),

  decoderOptions: () => ({}),

  setupDecoder(ctx) {
    const names = [...ATHENA_EEG_CHANNELS];
    // Athena packets carry device time, not a per-stream counter we trust: EEG blocks are numbered from it
    // (streams/device-time.ts), so duplicates and reordered packets find their place and a corrupted time does
    // not become lost samples. IMU subpackets carry their own 8-bit index.
    const eeg8 = ctx.rowsStream('eeg', names, 2, ATHENA.sampleRate, 2 ** 48);
    const eeg4 = ctx.rowsStream('eeg', names.slice(0, 4), 4, ATHENA.sampleRate, 2 ** 48);
    const imuA = ctx.motionStream('accelerometer', 3, 52, 256);
    const imuG = ctx.motionStream('gyroscope', 3, 52, 256);
    const clocks = new Map<number, DeviceTimeBlocks>();
    const eegBlock = (tag: number, ticksPerBlock: number, ticks: number): number => {
      let c = clocks.get(tag);
      if (!c) clocks.set(tag, (c = new DeviceTimeBlocks(ticksPerBlock)));
      return ((c.block(ticks) % 2 ** 48) + 2 ** 48) % 2 ** 48;
    };
    const handler = (uuid: Uuid) => (b: Uint8Array, t: number, out: DecodedRecord[]) => {
      const parsed = parseAthenaNotification(b);
      for (const e of parsed.errors) out.push(errorRecord(t, uuid, e, b));
      for (const sp of parsed.subpackets) {
        const s = sp.sensor;
        if (s.type === 'eeg') {
          const blk = eegBlock(sp.tag, (ATHENA.deviceClockHz / ATHENA.sampleRate) * s.samples, sp.deviceTicks);
          const asm = s.channels === 8 ? eeg8 : eeg4;
          ctx.emit(asm, asm.pushAll(blk, decodeAthenaEeg(sp), t), out);
        } else if (s.type === 'accgyro') {
          const blk = sp.index ?? sp.packetIndex;
          const imu = decodeAthenaAccGyro(sp);
          const axes = (v: Xyz[]) => [Float64Array.from(v, (q) => q.x), Float64Array.from(v, (q) => q.y), Float64Array.from(v, (q) => q.z)];
          ctx.emit(imuA, imuA.pushAll(blk, axes(imu.accelerometer), t), out);
          ctx.emit(imuG, imuG.pushAll(blk, axes(imu.gyroscope), t), out);
        } else if (s.type === 'battery') {
          const r = decodeAthenaBattery(sp);
          out.push(r.ok ? { kind: 'telemetry', t, battery: r.value, source: 'athena-subpacket' } : errorRecord(t, uuid, r.error, b));
        }
        // optics and unknown tags are parsed (for framing) but not decoded further.
      }
    };
    ctx.handle(ATHENA.data, handler(ATHENA.data));
    ctx.handle(ATHENA.data2, handler(ATHENA.data2));
    const control = new MuseControlAssembler();
    ctx.handle(ATHENA.control, (b, t, out) => {
      for (const r of control.push(b)) out.push(r.ok ? { kind: 'control', t, json: r.value } : errorRecord(t, ATHENA.control, r.error, b));
    });
    return names;
  },

  captureFields: (setup) => (setup.preset !== undefined ? { preset: setup.preset } : {}),
};
