/** The cmcrd open EEG profile for custom boards (docs/open-eeg-profile.md; protocol in ../protocols/open-eeg.ts). */
import { BATTERY_SERVICE, decodeBatteryLevel } from '../protocols/battery.js';
import { OPEN_EEG, OPEN_EEG_COMMANDS, decodeOpenEegInfo, decodeOpenEegPacket } from '../protocols/open-eeg.js';
import { BlockAssembler } from '../streams/blocks.js';
import { errorRecord } from '../records.js';
import { advertises, webBluetoothRequest } from './common.js';
import type { DeviceCommand, HeadbandDriver } from './types.js';

const command = (label: keyof typeof OPEN_EEG_COMMANDS): DeviceCommand => ({
  label,
  characteristic: OPEN_EEG.control,
  bytes: Uint8Array.of(OPEN_EEG_COMMANDS[label]),
  delayMs: 0,
});
const DEFAULT_NAMES = ['CH1', 'CH2', 'CH3', 'CH4', 'CH5', 'CH6', 'CH7', 'CH8'];
/** Nominal rate of the profile until packets say otherwise (every packet carries its rate). */
const DEFAULT_RATE = 250;

export const openEegDriver: HeadbandDriver<'open-eeg'> = {
  kind: 'open-eeg',
  aliases: ['open'],
  label: 'cmcrd open EEG profile (custom firmware)',
  experimental: false,
  presets: [],
  defaultPreset: null,
  battery: 'battery-service',
  characteristics: [OPEN_EEG.data, OPEN_EEG.control, OPEN_EEG.info, BATTERY_SERVICE.level],
  webBluetooth: webBluetoothRequest(
    [{ services: [OPEN_EEG.service] }, { namePrefix: OPEN_EEG.namePrefix }],
    [OPEN_EEG.service, BATTERY_SERVICE.service],
  ),

  profile(setup = {}) {
    const names = setup.channelNames ?? DEFAULT_NAMES;
    return {
      kind: 'open-eeg',
      label: this.label,
      experimental: false,
      scan: { services: [OPEN_EEG.service], namePrefixes: [OPEN_EEG.namePrefix] },
      services: [OPEN_EEG.service, BATTERY_SERVICE.service],
      channels: names.map((n) => ({ name: n, position: /^CH\d+$/.test(n) || n === '' ? null : n })),
      sampleRate: DEFAULT_RATE,
      scaleUv: 'per-packet',
      battery: 'battery-service',
      notify: [OPEN_EEG.data, BATTERY_SERVICE.level],
      start: [command('start')],
      stop: [command('stop')],
      keepAlive: { command: command('keepAlive'), intervalS: 10 },
    };
  },

  matchAdvertisement(ad) {
    if (advertises(ad, OPEN_EEG.service)) return 'service';
    return (ad.name ?? '').startsWith(OPEN_EEG.namePrefix) ? 'name' : null;
  },
  matchPeripheral: (p) => p.services.includes(OPEN_EEG.service),

  /** The board describes its channel labels on the info characteristic (optional in the profile). */
  async prepare(p) {
    if (!p.characteristics.includes(OPEN_EEG.info)) return {};
    try {
      const r = decodeOpenEegInfo(await p.read(OPEN_EEG.info));
      return r.ok ? { channelNames: r.value.channels } : { warnings: [`${p.name}: ${r.error}; channels are named CH1…`] };
    } catch (e) {
      return {
        warnings: [`${p.name}: could not read the open-EEG info (${e instanceof Error ? e.message : String(e)}); channels are named CH1…`],
      };
    }
  },

  decoderOptions: (setup) => (setup.channelNames ? { channelNames: setup.channelNames } : {}),

  setupDecoder(ctx, options) {
    const preset = options.channelNames;
    let asm: BlockAssembler | null = null;
    let shape = '';
    let names: string[] = preset ? [...preset] : [];
    let lastBattery: number | null = null;
    let restartPacket: Uint8Array | null = null;
    ctx.handle(OPEN_EEG.data, (b, t, out) => {
      const r = decodeOpenEegPacket(b);
      if (!r.ok) return void out.push(errorRecord(t, OPEN_EEG.data, r.error, b));
      const p = r.value;
      const s = `${p.channels}/${p.frames}/${p.sampleRate}`;
      // A duplicated restart packet is not a second restart: it goes to the assembler, which drops it.
      const restart = p.restart && !(restartPacket && restartPacket.length === b.length && restartPacket.every((x, i) => x === b[i]));
      if (restart) restartPacket = b.slice();
      if (!asm || s !== shape || restart) {
        if (asm) ctx.removeStream(asm, out);
        names = preset && preset.length === p.channels ? [...preset] : Array.from({ length: p.channels }, (_, i) => `CH${i + 1}`);
        const nm = names;
        asm = ctx.addStream(
          new BlockAssembler({ stream: 'eeg', channels: nm, samplesPerBlock: p.frames, sampleRate: p.sampleRate, indexModulus: 0x10000 }),
          (e, o) => o.push({ kind: 'eeg', firstSample: e.firstSample, t: e.t, names: nm, channels: e.channels }),
        );
        shape = s;
      }
      const uv = p.counts.map((c) => Float64Array.from(c, (x) => x * p.scaleUv));
      ctx.emit(asm, asm.pushAll(p.sequence, uv, t), out);
      if (p.batteryPercent !== null && p.batteryPercent !== lastBattery)
        out.push({ kind: 'telemetry', t, battery: p.batteryPercent, source: 'open-eeg-header' });
      lastBattery = p.batteryPercent;
    });
    ctx.handle(BATTERY_SERVICE.level, (b, t, out) => {
      const r = decodeBatteryLevel(b);
      out.push(
        r.ok ? { kind: 'telemetry', t, battery: r.value, source: 'battery-service' } : errorRecord(t, BATTERY_SERVICE.level, r.error, b),
      );
    });
    return names;
  },

  captureFields: (_setup, profile) => ({ channels: profile.channels.map((c) => c.name) }),
};
