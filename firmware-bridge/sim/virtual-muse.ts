/**
 * A virtual Muse 2 that speaks the real GATT protocol: it answers control commands (h, d, s, v1, presets, k,
 * L0/L1) with JSON replies split into real control notifications, and while streaming emits 20-byte EEG
 * notifications per electrode (12 samples per block at 256 Hz), accelerometer and gyroscope at 52 Hz, PPG at
 * 64 Hz when the preset enables it, and telemetry once a second with a draining battery. Time is virtual:
 * with `speed` > 1 the device produces signal faster than real time (host timestamps stay on the virtual
 * clock); with `clock: 'manual'` nothing happens until advance() is called.
 */
import type { Uuid } from '../gatt.js';
import {
  MUSE,
  MUSE_EEG_CHANNELS,
  MUSE_PRESETS,
  decodeMuseCommand,
  encodeMuseAccelerometer,
  encodeMuseControlReply,
  encodeMuseEeg,
  encodeMuseGyroscope,
  encodeMusePpg,
  encodeMuseTelemetry,
  type Xyz,
} from '../protocols/muse.js';
import { VirtualPeripheral, type SignalSource, type VirtualDeviceOptions } from './base.js';
import { PaddedSource, WearerSource } from './sources.js';

export type { SignalSource } from './base.js';

export interface VirtualMuseOptions extends VirtualDeviceOptions {
  /** Samples for TP9, AF7, AF8, TP10 (µV); default the synthetic wearer. */
  source?: SignalSource;
  /** Default wearer's emotion, subject and seed (ignored with `source`). */
  emotion?: number | string;
  subject?: number;
  /** Preset in force at power-on (default p21). */
  preset?: string;
}

export class VirtualMuse extends VirtualPeripheral {
  readonly services: readonly Uuid[] = [MUSE.service];
  readonly characteristics: readonly Uuid[] = [
    MUSE.control,
    ...MUSE_EEG_CHANNELS.map((c) => MUSE.eeg[c]),
    MUSE.eeg.AUX,
    MUSE.gyroscope,
    MUSE.accelerometer,
    MUSE.telemetry,
    ...MUSE.ppg,
  ];
  private readonly source: PaddedSource;
  private preset: string;
  private blockIndex = 0;
  private imuIndex = 0;
  private ppgIndex = 0;
  private telemetryIndex = 0;
  private ppgPhase = 0;

  constructor(opts: VirtualMuseOptions = {}) {
    super(opts, 'Muse-SIM1');
    const seed = opts.seed ?? 1;
    const inner =
      opts.source ??
      new WearerSource({
        sites: MUSE_EEG_CHANNELS,
        sampleRate: MUSE.sampleRate,
        emotion: opts.emotion ?? 0,
        subject: opts.subject ?? 0,
        seed,
      });
    // The right AUX input (p20/p50) is usually unconnected: low-level noise.
    this.source = new PaddedSource(inner, 1, seed);
    this.preset = opts.preset ?? 'p21';
    if (!MUSE_PRESETS[this.preset])
      throw new RangeError(`unknown Muse preset "${this.preset}" (known: ${Object.keys(MUSE_PRESETS).join(', ')})`);
  }

  get currentPreset(): string {
    return this.preset;
  }

  protected signalSource(): SignalSource {
    return this.source;
  }

  protected isDataCharacteristic(ch: Uuid): boolean {
    return ch !== MUSE.control;
  }

  protected onRead(characteristic: Uuid): Uint8Array {
    throw new Error(`characteristic ${characteristic} is not readable on ${this.name}`);
  }

  protected onWrite(characteristic: Uuid, data: Uint8Array): void {
    if (characteristic !== MUSE.control) throw new Error(`characteristic ${characteristic} is not writable on ${this.name}`);
    const cmd = decodeMuseCommand(data);
    if (!cmd.ok) return; // a real Muse ignores malformed writes
    this.handleCommand(cmd.value);
  }

  private handleCommand(cmd: string): void {
    if (cmd === 'h') {
      this.stopStreaming();
      this.reply({ rc: 0 });
    } else if (cmd === 'd') {
      this.startStreaming();
      this.reply({ rc: 0 });
    } else if (cmd === 's')
      this.reply({
        hn: this.name,
        sn: '0000-SIM',
        ma: '00:55:da:b0:00:01',
        id: '5d3d3a3a',
        bp: Math.round(this.battery),
        ts: 0,
        ps: Number(this.preset.slice(1)),
        rc: 0,
      });
    else if (cmd === 'v1')
      this.reply({ ap: 'headset', sp: 'Blackcomb_revE', tp: 'consumer', hw: '03.1', bn: 27, fw: '3.4.5', bl: '2.0.0', pv: 1, rc: 0 });
    else if (/^p\d+$/.test(cmd)) {
      if (!MUSE_PRESETS[cmd]) return this.reply({ rc: 69 });
      if (this.streaming) this.stopStreaming();
      this.preset = cmd;
      this.reply({ rc: 0 });
    } else if (cmd === 'k' || cmd === 'L0' || cmd === 'L1') {
      /* keep-alive / LEDs: no reply */
    } else this.reply({ rc: 69 });
  }

  private reply(obj: Record<string, unknown>): void {
    for (const pkt of encodeMuseControlReply(obj)) this.emitControl(MUSE.control, pkt);
  }

  protected setupStreams(): void {
    const p = MUSE_PRESETS[this.preset]!;
    const blockMs = (MUSE.samplesPerPacket / MUSE.sampleRate) * 1000;
    const eegChars = [...MUSE_EEG_CHANNELS.map((c) => MUSE.eeg[c]), ...(p.aux ? [MUSE.eeg.AUX] : [])];
    this.every(blockMs, (t) => {
      const block = this.source.read(MUSE.samplesPerPacket);
      eegChars.forEach((ch, i) => this.emit(ch, encodeMuseEeg(this.blockIndex, block[i]!), t));
      this.blockIndex = (this.blockIndex + 1) & 0xffff;
    });
    if (p.imu) {
      this.every((3 / MUSE.imuRate) * 1000, (t) => {
        const acc: Xyz[] = [];
        const gyr: Xyz[] = [];
        for (let i = 0; i < 3; i++) {
          acc.push({ x: 0.02 * this.rng.normal(), y: 0.02 * this.rng.normal(), z: 1 + 0.02 * this.rng.normal() });
          gyr.push({ x: 2 * this.rng.normal(), y: 2 * this.rng.normal(), z: 2 * this.rng.normal() });
        }
        this.emit(MUSE.accelerometer, encodeMuseAccelerometer(this.imuIndex, acc), t);
        this.emit(MUSE.gyroscope, encodeMuseGyroscope(this.imuIndex, gyr), t);
        this.imuIndex = (this.imuIndex + 1) & 0xffff;
      });
    }
    if (p.ppg) {
      this.every((MUSE.ppgSamplesPerPacket / MUSE.ppgRate) * 1000, (t) => {
        const chans = [0, 1, 2].map((c) =>
          Float64Array.from({ length: MUSE.ppgSamplesPerPacket }, (_, i) => {
            const ph = this.ppgPhase + (2 * Math.PI * 1.2 * i) / MUSE.ppgRate; // 72 bpm
            return c === 0 ? 2000 + 50 * this.rng.normal() : 200000 + 5000 * Math.sin(ph) + 200 * this.rng.normal();
          }),
        );
        this.ppgPhase += (2 * Math.PI * 1.2 * MUSE.ppgSamplesPerPacket) / MUSE.ppgRate;
        MUSE.ppg.forEach((ch, c) => this.emit(ch, encodeMusePpg(this.ppgIndex, chans[c]!), t));
        this.ppgIndex = (this.ppgIndex + 1) & 0xffff;
      });
    }
    this.every(
      1000,
      (t) => {
        this.emit(
          MUSE.telemetry,
          encodeMuseTelemetry({
            index: this.telemetryIndex,
            batteryPercent: this.battery,
            fuelGaugeMv: 3700 + this.battery * 5,
            adcMv: 0,
            temperature: 30,
          }),
          t,
        );
        this.telemetryIndex = (this.telemetryIndex + 1) & 0xffff;
      },
      0,
    );
  }
}
