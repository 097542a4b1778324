/**
 * Device registry: per supported headband, how to recognise it in a scan, its channels and 10-20 positions,
 * sampling rate and scale, where its battery level comes from, and the command sequences that start, stop and
 * keep its stream alive. Transports and drivers read this table instead of hard-coding device facts.
 */
import type { GattPeripheral, Uuid } from './gatt.js';
import { ATHENA } from './protocols/athena.js';
import { BATTERY_SERVICE } from './protocols/battery.js';
import { GANGLION } from './protocols/ganglion.js';
import { MUSE, encodeMuseCommand } from './protocols/muse.js';
import { OPEN_EEG, OPEN_EEG_COMMANDS } from './protocols/open-eeg.js';

export type DeviceKind = 'muse' | 'muse-athena' | 'ganglion' | 'open-eeg';
export const DEVICE_KINDS: readonly DeviceKind[] = ['muse', 'muse-athena', 'ganglion', 'open-eeg'];

export interface DeviceCommand {
  /** Human-readable form, e.g. "p21". */
  label: string;
  characteristic: Uuid;
  bytes: Uint8Array;
  /** Pause after writing it (ms), as the device needs. */
  delayMs: number;
}

export interface ChannelInfo {
  name: string;
  /** 10-20/10-10 position, or null when user-placed or unknown. */
  position: string | null;
}

export interface DeviceProfile {
  kind: DeviceKind;
  label: string;
  /** Protocol not published by the vendor and only partly understood. */
  experimental: boolean;
  scan: { services: Uuid[]; namePrefixes: string[] };
  /** Services a Web Bluetooth requestDevice must list (filters + optionalServices). */
  services: Uuid[];
  channels: ChannelInfo[];
  sampleRate: number;
  /** µV per count, or 'per-packet' when the packets carry it. */
  scaleUv: number | 'per-packet';
  battery: 'muse-telemetry' | 'athena-subpacket' | 'battery-service' | 'none';
  /** Characteristics to subscribe to for streaming. */
  notify: Uuid[];
  start: DeviceCommand[];
  stop: DeviceCommand[];
  keepAlive?: { command: DeviceCommand; intervalS: number };
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const museCmd = (label: string, delayMs = 50): DeviceCommand => ({ label, characteristic: MUSE.control, bytes: encodeMuseCommand(label), delayMs });
const ganglionCmd = (label: string, delayMs = 20): DeviceCommand => ({ label, characteristic: GANGLION.write, bytes: ascii(label), delayMs });
const openCmd = (label: keyof typeof OPEN_EEG_COMMANDS): DeviceCommand => ({ label, characteristic: OPEN_EEG.control, bytes: Uint8Array.of(OPEN_EEG_COMMANDS[label]), delayMs: 0 });

export function museProfile(preset = 'p21'): DeviceProfile {
  const aux = preset === 'p20' || preset === 'p50' || preset === 'p60';
  const ppg = /^p[56]/.test(preset);
  const channels: ChannelInfo[] = [
    { name: 'TP9', position: 'TP9' },
    { name: 'AF7', position: 'AF7' },
    { name: 'AF8', position: 'AF8' },
    { name: 'TP10', position: 'TP10' },
  ];
  if (aux) channels.push({ name: 'AUX', position: null });
  return {
    kind: 'muse',
    label: 'Muse 2016 / Muse 2 / Muse S (gen 1–2)',
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
      MUSE.eeg.TP9,
      MUSE.eeg.AF7,
      MUSE.eeg.AF8,
      MUSE.eeg.TP10,
      ...(aux ? [MUSE.eeg.AUX] : []),
      MUSE.accelerometer,
      MUSE.gyroscope,
      ...(ppg ? MUSE.ppg : []),
    ],
    start: [museCmd('h'), museCmd(preset), museCmd('s'), museCmd('d')],
    stop: [museCmd('h')],
    keepAlive: { command: museCmd('k', 0), intervalS: MUSE.keepAliveSeconds },
  };
}

export function athenaProfile(preset = 'p1041'): DeviceProfile {
  return {
    kind: 'muse-athena',
    label: 'Muse S Athena (gen 3) — experimental',
    experimental: true,
    scan: { services: [MUSE.service], namePrefixes: ['MuseS-', 'Muse'] },
    services: [MUSE.service],
    channels: [
      { name: 'TP9', position: 'TP9' },
      { name: 'AF7', position: 'AF7' },
      { name: 'AF8', position: 'AF8' },
      { name: 'TP10', position: 'TP10' },
      { name: 'AUX1', position: null },
      { name: 'AUX2', position: null },
      { name: 'AUX3', position: null },
      { name: 'AUX4', position: null },
    ],
    sampleRate: ATHENA.sampleRate,
    scaleUv: ATHENA.eegScale,
    battery: 'athena-subpacket',
    notify: [ATHENA.control, ATHENA.data, ATHENA.data2],
    start: [...['v6', 's', 'h', preset, 's'].map((c) => museCmd(c, 200)), museCmd('dc001', 50), museCmd('dc001', 100), museCmd('s', 100)],
    stop: [museCmd('h')],
    keepAlive: { command: museCmd('k', 0), intervalS: 10 },
  };
}

export function ganglionProfile(sites?: readonly string[]): DeviceProfile {
  const names = sites ?? ['CH1', 'CH2', 'CH3', 'CH4'];
  return {
    kind: 'ganglion',
    label: 'OpenBCI Ganglion',
    experimental: false,
    scan: { services: [GANGLION.service], namePrefixes: [GANGLION.namePrefix, 'Simblee'] },
    services: [GANGLION.service, GANGLION.deviceInfoService],
    channels: names.map((n) => ({ name: n, position: sites ? n : null })),
    sampleRate: GANGLION.sampleRate,
    scaleUv: GANGLION.scaleUv,
    battery: 'none',
    notify: [GANGLION.notify],
    start: [ganglionCmd('b')],
    stop: [ganglionCmd('s')],
  };
}

export function openEegProfile(channels: readonly string[] = ['CH1', 'CH2', 'CH3', 'CH4', 'CH5', 'CH6', 'CH7', 'CH8'], sampleRate = 250): DeviceProfile {
  return {
    kind: 'open-eeg',
    label: 'cmcrd open EEG profile (custom firmware)',
    experimental: false,
    scan: { services: [OPEN_EEG.service], namePrefixes: [OPEN_EEG.namePrefix] },
    services: [OPEN_EEG.service, BATTERY_SERVICE.service],
    channels: channels.map((n) => ({ name: n, position: /^CH\d+$/.test(n) || n === '' ? null : n })),
    sampleRate,
    scaleUv: 'per-packet',
    battery: 'battery-service',
    notify: [OPEN_EEG.data, BATTERY_SERVICE.level],
    start: [openCmd('start')],
    stop: [openCmd('stop')],
    keepAlive: { command: openCmd('keepAlive'), intervalS: 10 },
  };
}

export function deviceProfile(kind: DeviceKind): DeviceProfile {
  switch (kind) {
    case 'muse':
      return museProfile();
    case 'muse-athena':
      return athenaProfile();
    case 'ganglion':
      return ganglionProfile();
    case 'open-eeg':
      return openEegProfile();
  }
}

export interface Advertisement {
  name?: string;
  services?: readonly string[];
}

/**
 * Which kind a scan result is. Muse gen 2 and Athena advertise the same service and names: the scan says
 * 'muse' and {@link identifyPeripheral} refines it once connected.
 */
export function identifyAdvertisement(ad: Advertisement): DeviceKind | null {
  const services = (ad.services ?? []).map((s) => s.toLowerCase());
  const has = (u: Uuid) => services.includes(u) || services.includes(u.replace(/-/g, '')) || services.includes(u.slice(4, 8));
  if (has(OPEN_EEG.service)) return 'open-eeg';
  if (has(GANGLION.service)) return 'ganglion';
  if (has(MUSE.service)) return 'muse';
  const name = ad.name ?? '';
  if (name.startsWith(OPEN_EEG.namePrefix)) return 'open-eeg';
  if (name.startsWith(GANGLION.namePrefix)) return 'ganglion';
  if (/^Muse/i.test(name)) return 'muse';
  return null;
}

/** Kind of a connected peripheral from its GATT table (Athena is told apart by 273e0013). */
export function identifyPeripheral(p: Pick<GattPeripheral, 'services' | 'characteristics'>): DeviceKind | null {
  if (p.services.includes(OPEN_EEG.service)) return 'open-eeg';
  if (p.services.includes(GANGLION.service)) return 'ganglion';
  if (p.services.includes(MUSE.service)) return p.characteristics.includes(ATHENA.data) ? 'muse-athena' : 'muse';
  return null;
}
