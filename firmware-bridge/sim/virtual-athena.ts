/**
 * A virtual Muse S Athena (gen 3) — EXPERIMENTAL, like the protocol it speaks (protocols/athena.ts). It
 * answers v6, s, h, presets (p1041 → 8-channel EEG packets 0x12, p1035 → 4-channel 0x11), L0/L1, k, and starts
 * streaming on the second `dc001` (public reports say the command must be sent twice). Each notification on
 * 273e0013 carries two packets; EEG packets carry an accelerometer/gyroscope subpacket (0x47) every 3/52 s and
 * a battery subpacket (0x88) once a second. Device time counts 256 kHz ticks from the first sample.
 */
import type { Uuid } from '../gatt.js';
import { ATHENA, encodeAthenaAccGyro, encodeAthenaBattery, encodeAthenaEeg, encodeAthenaPacket } from '../protocols/athena.js';
import { MUSE, decodeMuseCommand, encodeMuseControlReply } from '../protocols/muse.js';
import { VirtualPeripheral, type SignalSource, type VirtualDeviceOptions } from './base.js';
import { PaddedSource, WearerSource } from './sources.js';

export interface VirtualAthenaOptions extends VirtualDeviceOptions {
  /** Samples for TP9, AF7, AF8, TP10 (µV); the four AUX channels get low-level noise. */
  source?: SignalSource;
  emotion?: number | string;
  subject?: number;
  preset?: string;
}

const PRESETS: Record<string, 0x11 | 0x12> = {
  p1041: 0x12,
  p1042: 0x12,
  p1043: 0x12,
  p1044: 0x12,
  p1045: 0x12,
  p1034: 0x11,
  p1035: 0x11,
  p21: 0x11,
};

export class VirtualAthena extends VirtualPeripheral {
  readonly services: readonly Uuid[] = [MUSE.service];
  readonly characteristics: readonly Uuid[] = [ATHENA.control, ATHENA.data, ATHENA.data2];
  private readonly source: PaddedSource;
  private preset: string;
  private armed = false;
  private packetIndex = 0;
  private sample = 0;
  private imuIndex = 0;
  private batteryIndex = 0;
  private nextImuSample = 0;
  private nextBatterySample = 0;
  private pendingPacket: Uint8Array | null = null;

  constructor(opts: VirtualAthenaOptions = {}) {
    super(opts, 'MuseS-SIM3');
    const seed = opts.seed ?? 1;
    const inner =
      opts.source ??
      new WearerSource({
        sites: ['TP9', 'AF7', 'AF8', 'TP10'],
        sampleRate: ATHENA.sampleRate,
        emotion: opts.emotion ?? 0,
        subject: opts.subject ?? 0,
        seed,
      });
    this.source = new PaddedSource(inner, 4, seed);
    this.preset = opts.preset ?? 'p1041';
    if (!PRESETS[this.preset])
      throw new RangeError(`unsupported Athena preset "${this.preset}" (simulated: ${Object.keys(PRESETS).join(', ')})`);
  }

  protected signalSource(): SignalSource {
    return this.source;
  }
  protected isDataCharacteristic(ch: Uuid): boolean {
    return ch !== ATHENA.control;
  }
  protected onRead(characteristic: Uuid): Uint8Array {
    throw new Error(`characteristic ${characteristic} is not readable on ${this.name}`);
  }

  protected onWrite(characteristic: Uuid, data: Uint8Array): void {
    if (characteristic !== ATHENA.control) throw new Error(`characteristic ${characteristic} is not writable on ${this.name}`);
    const cmd = decodeMuseCommand(data);
    if (!cmd.ok) return;
    const c = cmd.value;
    if (c === 'h') {
      this.armed = false;
      this.stopStreaming();
      this.reply({ rc: 0 });
    } else if (c === 'dc001') {
      if (this.armed) this.startStreaming();
      this.armed = true;
      this.reply({ rc: 0 });
    } else if (c === 's')
      this.reply({ hn: this.name, sn: '0000-SIM3', bp: Math.round(this.battery), ps: Number(this.preset.slice(1)), rc: 0 });
    else if (c === 'v6') this.reply({ ap: 'headset', sp: 'Athena_sim', tp: 'consumer', hw: '4.0', fw: '4.0.0-sim', pv: 6, rc: 0 });
    else if (/^p\d+$/.test(c)) {
      if (!PRESETS[c]) return this.reply({ rc: 69 });
      this.preset = c;
      this.reply({ rc: 0 });
    } else if (c === 'k' || c === 'L0' || c === 'L1') {
      /* no reply */
    } else this.reply({ rc: 69 });
  }

  private reply(obj: Record<string, unknown>): void {
    for (const pkt of encodeMuseControlReply(obj)) this.emitControl(ATHENA.control, pkt);
  }

  protected setupStreams(): void {
    const tag = PRESETS[this.preset]!;
    const perPacket = tag === 0x12 ? 2 : 4;
    const nCh = tag === 0x12 ? 8 : 4;
    this.nextImuSample = 0;
    this.nextBatterySample = 0;
    this.every((perPacket / ATHENA.sampleRate) * 1000, (t) => {
      const block = this.source.read(perPacket).slice(0, nCh);
      const first = this.sample;
      this.sample += perPacket;
      const extra: { tag: number; index: number; data: Uint8Array }[] = [];
      // IMU is due every 3/52 s; express it in EEG samples.
      if (first >= this.nextImuSample) {
        this.nextImuSample += (3 / 52) * ATHENA.sampleRate;
        const acc = [0, 1, 2].map(() => ({ x: 0.02 * this.rng.normal(), y: 0.02 * this.rng.normal(), z: 1 + 0.02 * this.rng.normal() }));
        const gyr = [0, 1, 2].map(() => ({ x: 2 * this.rng.normal(), y: 2 * this.rng.normal(), z: 2 * this.rng.normal() }));
        extra.push({ tag: 0x47, index: this.imuIndex++ & 0xff, data: encodeAthenaAccGyro({ accelerometer: acc, gyroscope: gyr }) });
      }
      if (first >= this.nextBatterySample) {
        this.nextBatterySample += ATHENA.sampleRate;
        extra.push({ tag: 0x88, index: this.batteryIndex++ & 0xff, data: encodeAthenaBattery(this.battery) });
      }
      const pkt = encodeAthenaPacket({
        packetIndex: this.packetIndex,
        deviceTicks: first * (ATHENA.deviceClockHz / ATHENA.sampleRate),
        type: tag,
        data: encodeAthenaEeg(block, tag),
        extra,
      });
      this.packetIndex = (this.packetIndex + 1) & 0xff;
      // Two packets per notification, as the real device bundles them.
      if (!this.pendingPacket) this.pendingPacket = pkt;
      else {
        const n = new Uint8Array(this.pendingPacket.length + pkt.length);
        n.set(this.pendingPacket);
        n.set(pkt, this.pendingPacket.length);
        this.pendingPacket = null;
        this.emit(ATHENA.data, n, t);
      }
    });
  }
}
