/** Muse 2016 / Muse 2 / Muse S (gen 1–2): protocol in ../protocols/muse.ts, facts in devices.md. */
import { ATHENA } from '../protocols/athena.js';
import {
  MUSE,
  MUSE_EEG_CHANNELS,
  MUSE_PPG_CHANNELS,
  MUSE_PRESETS,
  MuseControlAssembler,
  decodeMuseAccelerometer,
  decodeMuseEeg,
  decodeMuseGyroscope,
  decodeMusePpg,
  decodeMuseTelemetry,
  encodeMuseCommand,
} from '../protocols/muse.js';
import { errorRecord } from '../records.js';
import { advertises, checkPreset, webBluetoothRequest } from './common.js';
import type { ChannelInfo, DeviceCommand, HeadbandDriver } from './types.js';

/** A Muse control command (Athena shares the framing). */
export const museCommand = (label: string, delayMs = 50): DeviceCommand => ({
  label,
  characteristic: MUSE.control,
  bytes: encodeMuseCommand(label),
  delayMs,
});

const PRESETS = Object.keys(MUSE_PRESETS);

/** The preset → AUX rule, written once: does this preset stream the right AUX electrode as a fifth channel? */
export function museStreamsAux(preset: string): boolean {
  return MUSE_PRESETS[preset]?.aux ?? false;
}

export const museDriver: HeadbandDriver<'muse'> = {
  kind: 'muse',
  aliases: [],
  label: 'Muse 2016 / Muse 2 / Muse S (gen 1–2)',
  experimental: false,
  presets: PRESETS,
  defaultPreset: 'p21',
  battery: 'muse-telemetry',
  characteristics: [MUSE.control, MUSE.telemetry, ...Object.values(MUSE.eeg), MUSE.accelerometer, MUSE.gyroscope, ...MUSE.ppg],
  webBluetooth: webBluetoothRequest(
    [{ services: [MUSE.service] }, { namePrefix: 'Muse-' }, { namePrefix: 'MuseS-' }, { namePrefix: 'Muse' }],
    [MUSE.service],
  ),

  profile(setup = {}) {
    const preset = checkPreset('Muse', PRESETS, setup.preset ?? 'p21');
    const { aux, ppg } = MUSE_PRESETS[preset]!;
    const channels: ChannelInfo[] = MUSE_EEG_CHANNELS.map((c) => ({ name: c, position: c }));
    if (aux) channels.push({ name: 'AUX', position: null });
    return {
      kind: 'muse',
      label: this.label,
      experimental: false,
      scan: { services: [MUSE.service], namePrefixes: ['Muse-', 'MuseS-', 'Muse'] },
      services: [MUSE.service],
      channels,
      sampleRate: MUSE.sampleRate,
      scaleUv: MUSE.eegScale,
      battery: 'muse-telemetry',
      notify: [
        MUSE.control,
        MUSE.telemetry,
        ...MUSE_EEG_CHANNELS.map((c) => MUSE.eeg[c]),
        ...(aux ? [MUSE.eeg.AUX] : []),
        MUSE.accelerometer,
        MUSE.gyroscope,
        ...(ppg ? MUSE.ppg : []),
      ],
      start: [museCommand('h'), museCommand(preset), museCommand('s'), museCommand('d')],
      stop: [museCommand('h')],
      keepAlive: { command: museCommand('k', 0), intervalS: MUSE.keepAliveSeconds },
    };
  },

  // Muse gen 2 and Athena advertise the same service and names: the scan says 'muse'; once connected, Athena's
  // data characteristic (273e0013) tells them apart.
  matchAdvertisement(ad) {
    if (advertises(ad, MUSE.service)) return 'service';
    return /^Muse/i.test(ad.name ?? '') ? 'name' : null;
  },
  matchPeripheral: (p) => p.services.includes(MUSE.service) && !p.characteristics.includes(ATHENA.data),

  decoderOptions: (setup) => (setup.preset !== undefined && museStreamsAux(setup.preset) ? { aux: true } : {}),

  setupDecoder(ctx, options) {
    const names = [...MUSE_EEG_CHANNELS, ...(options.aux ? ['AUX'] : [])];
    const eeg = ctx.rowsStream('eeg', names, MUSE.samplesPerPacket, MUSE.sampleRate, 0x10000);
    const eegChars = [MUSE.eeg.TP9, MUSE.eeg.AF7, MUSE.eeg.AF8, MUSE.eeg.TP10, MUSE.eeg.AUX];
    eegChars.forEach((uuid, c) => {
      ctx.handle(uuid, (b, t, out) => {
        if (c >= names.length)
          return void out.push(
            errorRecord(t, uuid, 'AUX EEG packet, but the decoder was not set up for the AUX channel (preset p20/p50/p60)', b),
          );
        const p = decodeMuseEeg(b);
        if (!p.ok) return void out.push(errorRecord(t, uuid, `${names[c]}: ${p.error}`, b));
        ctx.emit(eeg, eeg.push(c, p.value.index, p.value.samples, t), out);
      });
    });
    const control = new MuseControlAssembler();
    ctx.handle(MUSE.control, (b, t, out) => {
      for (const r of control.push(b)) out.push(r.ok ? { kind: 'control', t, json: r.value } : errorRecord(t, MUSE.control, r.error, b));
    });
    ctx.handle(MUSE.telemetry, (b, t, out) => {
      const r = decodeMuseTelemetry(b);
      if (!r.ok) return void out.push(errorRecord(t, MUSE.telemetry, r.error, b));
      out.push({
        kind: 'telemetry',
        t,
        battery: r.value.batteryPercent,
        fuelGaugeMv: r.value.fuelGaugeMv,
        temperature: r.value.temperature,
        source: 'muse-telemetry',
      });
    });
    for (const [kind, uuid, dec] of [
      ['accelerometer', MUSE.accelerometer, decodeMuseAccelerometer],
      ['gyroscope', MUSE.gyroscope, decodeMuseGyroscope],
    ] as const) {
      const asm = ctx.motionStream(kind, 3, MUSE.imuRate, 0x10000);
      ctx.handle(uuid, (b, t, out) => {
        const r = dec(b);
        if (!r.ok) return void out.push(errorRecord(t, uuid, r.error, b));
        const s = r.value.samples;
        const axes = [Float64Array.from(s, (v) => v.x), Float64Array.from(s, (v) => v.y), Float64Array.from(s, (v) => v.z)];
        ctx.emit(asm, asm.pushAll(r.value.index, axes, t), out);
      });
    }
    const ppg = ctx.rowsStream('ppg', MUSE_PPG_CHANNELS, MUSE.ppgSamplesPerPacket, MUSE.ppgRate, 0x10000);
    MUSE.ppg.forEach((uuid, c) => {
      ctx.handle(uuid, (b, t, out) => {
        const r = decodeMusePpg(b);
        if (!r.ok) return void out.push(errorRecord(t, uuid, r.error, b));
        ctx.emit(ppg, ppg.push(c, r.value.index, r.value.samples, t), out);
      });
    });
    return names;
  },

  captureFields: (setup) => (setup.preset !== undefined ? { preset: setup.preset } : {}),
};
