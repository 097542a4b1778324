/** OpenBCI Ganglion (4 channels, 200 Hz): protocol in ../protocols/ganglion.ts, facts in devices.md. */
import { GANGLION, GanglionMessageAssembler, ganglionFirmwareFromBytes, parseGanglionPacket } from '../protocols/ganglion.js';
import { BlockAssembler } from '../streams/blocks.js';
import { errorRecord } from '../records.js';
import { advertises, ascii, webBluetoothRequest } from './common.js';
import type { DeviceCommand, HeadbandDriver } from './types.js';

const command = (label: string, delayMs = 20): DeviceCommand => ({ label, characteristic: GANGLION.write, bytes: ascii(label), delayMs });
const DEFAULT_NAMES = ['CH1', 'CH2', 'CH3', 'CH4'];

export const ganglionDriver: HeadbandDriver<'ganglion'> = {
  kind: 'ganglion',
  aliases: [],
  label: 'OpenBCI Ganglion',
  experimental: false,
  presets: [],
  defaultPreset: null,
  battery: 'none',
  characteristics: [GANGLION.notify, GANGLION.write, GANGLION.disconnect, GANGLION.firmwareRevision],
  webBluetooth: webBluetoothRequest(
    [{ namePrefix: GANGLION.namePrefix }, { namePrefix: 'Simblee' }, { services: [GANGLION.service] }],
    [GANGLION.service, GANGLION.deviceInfoService],
  ),

  /** Channel labels are electrode sites the user placed (positions), else CH1–CH4 (no position). */
  profile(setup = {}) {
    const sites = setup.channelNames;
    if (sites && sites.length !== 4) throw new RangeError(`a Ganglion has 4 channels, got ${sites.length} names`);
    return {
      kind: 'ganglion',
      label: this.label,
      experimental: false,
      scan: { services: [GANGLION.service], namePrefixes: [GANGLION.namePrefix, 'Simblee'] },
      services: [GANGLION.service, GANGLION.deviceInfoService],
      channels: (sites ?? DEFAULT_NAMES).map((n) => ({ name: n, position: sites ? n : null })),
      sampleRate: GANGLION.sampleRate,
      scaleUv: GANGLION.scaleUv,
      battery: 'none',
      notify: [GANGLION.notify],
      start: [command(GANGLION.commands.start)],
      stop: [command(GANGLION.commands.stop)],
    };
  },

  matchAdvertisement(ad) {
    if (advertises(ad, GANGLION.service)) return 'service';
    return (ad.name ?? '').startsWith(GANGLION.namePrefix) ? 'name' : null;
  },
  matchPeripheral: (p) => p.services.includes(GANGLION.service),

  /** Packets differ between firmware 2 and 3: read the Software Revision String once, before decoding anything. */
  async prepare(p) {
    if (!p.characteristics.includes(GANGLION.firmwareRevision)) return {};
    try {
      return { firmware: ganglionFirmwareFromBytes(await p.read(GANGLION.firmwareRevision)) };
    } catch (e) {
      return {
        warnings: [
          `${p.name}: could not read the Ganglion firmware revision (${e instanceof Error ? e.message : String(e)}); assuming firmware 3`,
        ],
      };
    }
  },

  decoderOptions: (setup) => ({ firmware: setup.firmware ?? 3, ...(setup.channelNames ? { channelNames: setup.channelNames } : {}) }),

  setupDecoder(ctx, options) {
    const fw = options.firmware ?? 3;
    const names = [...(options.channelNames ?? DEFAULT_NAMES)];
    if (names.length !== 4) throw new RangeError(`a Ganglion has 4 channels, got ${names.length} names`);
    const k = GANGLION.scaleUv;
    // FW2 deltas are integrated after reassembly so reordered packets are applied in order.
    let last: Int32Array | null = null;
    const asm = new BlockAssembler({
      stream: 'eeg',
      channels: names,
      samplesPerBlock: 2,
      sampleRate: GANGLION.sampleRate,
      indexModulus: 100,
    });
    ctx.addStream(
      asm,
      (e, out) => {
        const n = e.t.length;
        const ch = names.map(() => new Float64Array(n));
        if (fw === 2 && !last) {
          // The raw packet that opens a firmware-2 stream was lost: integrate from zero, as after any gap.
          last = new Int32Array(4);
          out.push({
            kind: 'gap',
            t: e.t[0]!,
            stream: 'eeg',
            lostSamples: 1,
            fromSample: -1,
            note: 'firmware 2: the raw packet opening the stream was lost; values carry an unknown constant offset per channel (removed by any high-pass) until the next raw packet',
          });
        }
        for (let i = 0; i < n; i++) {
          if (fw === 3) {
            for (let c = 0; c < 4; c++) ch[c]![i] = k * e.channels[c]![i]!;
            continue;
          }
          const lost = e.channels.some((a) => Number.isNaN(a[i]!));
          if (lost || !last) {
            for (let c = 0; c < 4; c++) ch[c]![i] = NaN;
            continue;
          }
          for (let c = 0; c < 4; c++) {
            last[c] = last[c]! - e.channels[c]![i]!;
            ch[c]![i] = k * last[c]!;
          }
        }
        out.push({ kind: 'eeg', firstSample: e.firstSample, t: e.t, names, channels: ch });
      },
      () => {
        if (fw !== 2 || !last) return undefined;
        return 'firmware 2 sends deltas: values after this gap carry an unknown constant offset until the next raw packet';
      },
    );
    const accel: { x?: number; y?: number; z?: number } = {};
    const messages = new GanglionMessageAssembler();
    let lastRaw: Uint8Array | null = null;
    let samplesSinceRaw = false;
    ctx.handle(GANGLION.notify, (b, t, out) => {
      const r = parseGanglionPacket(b, fw);
      if (!r.ok) return void out.push(errorRecord(t, GANGLION.notify, r.error, b));
      const p = r.value;
      switch (p.kind) {
        case 'raw': {
          // The same raw packet again before any sample packet: a duplicated notification.
          if (lastRaw && !samplesSinceRaw && lastRaw.length === b.length && lastRaw.every((x, i) => x === b[i])) {
            asm.stats.duplicates++;
            return;
          }
          lastRaw = b.slice();
          samplesSinceRaw = false;
          // A raw packet (re)starts the FW2 delta chain and the packet counter.
          ctx.emit(asm, asm.restart(), out);
          last = Int32Array.from(p.counts);
          out.push({
            kind: 'eeg',
            firstSample: -1,
            t: Float64Array.of(t),
            names,
            channels: names.map((_, c) => Float64Array.of(k * p.counts[c]!)),
          });
          return;
        }
        case 'samples': {
          samplesSinceRaw = true;
          const ch = [0, 1, 2, 3].map((c) => Float64Array.of(p.values[c]!, p.values[c + 4]!));
          ctx.emit(asm, asm.pushAll(p.cyclePos, ch, t), out);
          if (p.accel) {
            accel[p.accel.axis] = p.accel.g;
            if (p.accel.axis === 'z' && accel.x !== undefined && accel.y !== undefined)
              out.push({ kind: 'accelerometer', t, samples: [{ t, x: accel.x, y: accel.y, z: p.accel.g }] });
          }
          return;
        }
        case 'impedance':
          out.push({ kind: 'impedance', t, channel: p.channel === 'reference' ? 'REF' : names[p.channel - 1]!, kOhm: p.kOhm });
          return;
        case 'message': {
          const text = messages.push(p);
          if (text !== null) out.push({ kind: 'message', t, text });
          return;
        }
      }
    });
    return names;
  },

  captureFields: (setup, profile) => ({ firmware: setup.firmware === 2 ? '2.x' : '3.x', channels: profile.channels.map((c) => c.name) }),
};
