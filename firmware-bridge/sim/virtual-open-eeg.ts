/**
 * A virtual board implementing the cmcrd open EEG profile (docs/open-eeg-profile.md): write 0x01 to start,
 * 0x00 to stop, 0x02 keep-alive; read the info characteristic for a JSON description; data packets with the
 * 14-byte header at the configured rate, channel count, sample format and frames per packet, in packet format
 * version 2 (with CRC) unless told to speak version 1; Battery Service level readable and notified every 10 s.
 */
import type { Uuid } from '../gatt.js';
import { BATTERY_SERVICE, encodeBatteryLevel } from '../protocols/battery.js';
import {
  OPEN_EEG,
  OPEN_EEG_COMMANDS,
  encodeOpenEegInfo,
  encodeOpenEegPacket,
  openEegFramesPerPacket,
  type OpenEegFormat,
  type OpenEegVersion,
} from '../protocols/open-eeg.js';
import { VirtualPeripheral, type SignalSource, type VirtualDeviceOptions } from './base.js';
import { WearerSource } from './sources.js';

export interface VirtualOpenEegOptions extends VirtualDeviceOptions {
  /** Electrode sites (10-10 names), default F3 F4 F7 F8 T7 T8 P7 P8. */
  sites?: readonly string[];
  sampleRate?: number;
  format?: OpenEegFormat;
  /** Frames per packet (default: as many as fit an ATT MTU of 247). */
  frames?: number;
  /** µV per count (default ADS1299 at gain 24: 4.5 V / 24 / (2^23 − 1)). */
  scaleUv?: number;
  /** Packet format version: 2 (default, CRC-protected) or 1 (older boards). */
  version?: OpenEegVersion;
  source?: SignalSource;
  emotion?: number | string;
  subject?: number;
}

export class VirtualOpenEeg extends VirtualPeripheral {
  readonly services: readonly Uuid[] = [OPEN_EEG.service, BATTERY_SERVICE.service];
  readonly characteristics: readonly Uuid[] = [OPEN_EEG.data, OPEN_EEG.control, OPEN_EEG.info, BATTERY_SERVICE.level];
  readonly sites: readonly string[];
  readonly sampleRate: number;
  readonly format: OpenEegFormat;
  readonly frames: number;
  readonly scaleUv: number;
  readonly version: OpenEegVersion;
  private readonly source: SignalSource;
  private seq = 0;
  private first = true;

  constructor(opts: VirtualOpenEegOptions = {}) {
    super(opts, 'CMCRD-SIM1');
    this.sites = opts.sites ?? ['F3', 'F4', 'F7', 'F8', 'T7', 'T8', 'P7', 'P8'];
    this.sampleRate = opts.sampleRate ?? 250;
    this.format = opts.format ?? 'int24';
    this.scaleUv = opts.scaleUv ?? (4.5 / 24 / 8388607) * 1e6;
    this.version = opts.version ?? OPEN_EEG.version;
    if (this.version !== 1 && this.version !== 2)
      throw new RangeError(`open-EEG packet version must be 1 or 2, got ${String(opts.version)}`);
    this.frames = opts.frames ?? openEegFramesPerPacket(this.sites.length, this.format, 244, this.version);
    if (!(this.frames >= 1 && this.frames <= 255)) throw new RangeError(`frames per packet must be 1–255, got ${this.frames}`);
    if (!(this.sampleRate >= 101 && this.sampleRate <= 16000 && Number.isInteger(this.sampleRate)))
      throw new RangeError(`sample rate must be an integer 101–16000 Hz, got ${this.sampleRate}`);
    this.source =
      opts.source ??
      new WearerSource({
        sites: this.sites,
        sampleRate: this.sampleRate,
        emotion: opts.emotion ?? 0,
        subject: opts.subject ?? 0,
        seed: opts.seed ?? 1,
      });
  }

  protected signalSource(): SignalSource {
    return this.source;
  }
  protected isDataCharacteristic(ch: Uuid): boolean {
    return ch === OPEN_EEG.data || ch === BATTERY_SERVICE.level;
  }

  protected onRead(characteristic: Uuid): Uint8Array {
    if (characteristic === OPEN_EEG.info)
      return encodeOpenEegInfo({ name: this.name, channels: [...this.sites], firmware: `sim-${this.version}.0`, reference: 'linked ears' });
    if (characteristic === BATTERY_SERVICE.level) return encodeBatteryLevel(this.battery);
    throw new Error(`characteristic ${characteristic} is not readable on ${this.name}`);
  }

  protected onWrite(characteristic: Uuid, data: Uint8Array): void {
    if (characteristic !== OPEN_EEG.control) throw new Error(`characteristic ${characteristic} is not writable on ${this.name}`);
    const op = data[0];
    if (op === OPEN_EEG_COMMANDS.start) this.startStreaming();
    else if (op === OPEN_EEG_COMMANDS.stop) this.stopStreaming();
    // keep-alive and unknown opcodes: ignored
  }

  protected setupStreams(): void {
    this.first = true;
    this.every((this.frames / this.sampleRate) * 1000, (t) => {
      const uv = this.source.read(this.frames);
      const counts = uv.map((ch) => Array.from(ch, (v) => Math.round(v / this.scaleUv)));
      this.emit(
        OPEN_EEG.data,
        encodeOpenEegPacket(counts, {
          format: this.format,
          sequence: this.seq,
          sampleRate: this.sampleRate,
          scaleUv: this.scaleUv,
          batteryPercent: this.battery,
          restart: this.first,
          version: this.version,
        }),
        t,
      );
      this.seq = (this.seq + 1) & 0xffff;
      this.first = false;
    });
    this.every(10_000, (t) => this.emit(BATTERY_SERVICE.level, encodeBatteryLevel(this.battery), t), 0);
  }
}
