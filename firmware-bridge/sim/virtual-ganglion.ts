/**
 * A virtual OpenBCI Ganglion, firmware 2 or 3, speaking the real byte protocol: `b` starts streaming (FW2 sends
 * a raw packet first, then 18/19-bit deltas; FW3 sends truncated absolute values), `s` stops, `n`/`N` switch
 * the accelerometer on (18-bit packets with an axis byte) / off (19-bit), `z`/`Z` run the impedance test
 * (packets 201–205), `v` soft-resets and answers with a multi-packet ASCII message (206/207), `1`–`4` / `!@#$`
 * switch channels off / on. The firmware version is readable from Device Information 0x2A28. 200 Hz, two
 * samples per notification. The Ganglion reports no battery; the simulated one still drains.
 */
import type { Uuid } from '../gatt.js';
import {
  GANGLION,
  encodeGanglionImpedance,
  encodeGanglionMessage,
  encodeGanglionRaw,
  encodeGanglionSamples,
  ganglionQuantiseDelta,
  ganglionTruncate,
  type GanglionFirmware,
} from '../protocols/ganglion.js';
import { VirtualPeripheral, type SignalSource, type VirtualDeviceOptions } from './base.js';
import { WearerSource } from './sources.js';

export interface VirtualGanglionOptions extends VirtualDeviceOptions {
  firmware?: GanglionFirmware;
  /** Electrode sites of the four channels (for the default wearer; default Fp1, Fp2, T7, T8). */
  sites?: readonly string[];
  /** Samples for the four channels (µV); default the synthetic wearer at `sites`. */
  source?: SignalSource;
  emotion?: number | string;
  subject?: number;
  /** Accelerometer on at power-on (18-bit packets); default true. */
  accel?: boolean;
}

export class VirtualGanglion extends VirtualPeripheral {
  readonly services: readonly Uuid[] = [GANGLION.service, GANGLION.deviceInfoService];
  readonly characteristics: readonly Uuid[] = [GANGLION.notify, GANGLION.write, GANGLION.disconnect, GANGLION.firmwareRevision];
  readonly firmware: GanglionFirmware;
  readonly sites: readonly string[];
  private readonly source: SignalSource;
  private accel: boolean;
  private readonly channelOn = [true, true, true, true];
  private cycle = 0;
  private sentRaw = false;
  /** FW2: the decoder's reconstruction, so quantised deltas never drift. */
  private last = new Float64Array(4);
  private impedance = false;
  private impedanceChannel = 0;

  constructor(opts: VirtualGanglionOptions = {}) {
    super(opts, 'Ganglion-SIM1');
    this.firmware = opts.firmware ?? 3;
    if (this.firmware !== 2 && this.firmware !== 3) throw new RangeError(`Ganglion firmware must be 2 or 3, got ${String(opts.firmware)}`);
    this.sites = opts.sites ?? ['FP1', 'FP2', 'T7', 'T8'];
    if (this.sites.length !== 4) throw new RangeError(`a Ganglion has 4 channels, got ${this.sites.length} sites`);
    this.source =
      opts.source ??
      new WearerSource({
        sites: this.sites,
        sampleRate: GANGLION.sampleRate,
        emotion: opts.emotion ?? 0,
        subject: opts.subject ?? 0,
        seed: opts.seed ?? 1,
      });
    this.accel = opts.accel ?? true;
  }

  protected signalSource(): SignalSource {
    return this.source;
  }
  protected isDataCharacteristic(ch: Uuid): boolean {
    return ch === GANGLION.notify;
  }

  protected onRead(characteristic: Uuid): Uint8Array {
    if (characteristic === GANGLION.firmwareRevision)
      return Uint8Array.from(this.firmware === 3 ? '3.0.2' : '2.0.0', (c) => c.charCodeAt(0));
    throw new Error(`characteristic ${characteristic} is not readable on ${this.name}`);
  }

  protected onWrite(characteristic: Uuid, data: Uint8Array): void {
    if (characteristic === GANGLION.disconnect) return this.drop('host wrote the disconnect characteristic');
    if (characteristic !== GANGLION.write) throw new Error(`characteristic ${characteristic} is not writable on ${this.name}`);
    for (const byte of data) this.command(String.fromCharCode(byte));
  }

  private command(c: string): void {
    const on = '!@#$'.indexOf(c);
    const off = '1234'.indexOf(c);
    if (c === 'b') {
      this.impedance = false;
      this.startStreaming();
    } else if (c === 's') this.stopStreaming();
    else if (c === 'n') this.accel = true;
    else if (c === 'N') this.accel = false;
    else if (c === 'z') {
      this.stopStreaming();
      this.impedance = true;
      this.impedanceChannel = 0;
      this.startStreaming();
    } else if (c === 'Z') {
      this.impedance = false;
      this.stopStreaming();
    } else if (c === 'v') {
      this.stopStreaming();
      const text = `OpenBCI Ganglion v${this.firmware === 3 ? '3.0.2' : '2.0.0'} (simulated)\nLIS2DH ok\nMCP3912 ok\n$$$`;
      for (const p of encodeGanglionMessage(text)) this.emitControl(GANGLION.notify, p);
    } else if (on >= 0) this.channelOn[on] = true;
    else if (off >= 0) this.channelOn[off] = false;
  }

  protected setupStreams(): void {
    if (this.impedance) {
      // One reading every 400 ms, cycling channels 1–4 then the reference.
      this.every(400, (t) => {
        const ch = this.impedanceChannel;
        this.impedanceChannel = (ch + 1) % 5;
        const kOhm = 5 + 3 * ch + Math.abs(this.rng.normal());
        this.emit(GANGLION.notify, encodeGanglionImpedance(ch === 4 ? 'reference' : ((ch + 1) as 1 | 2 | 3 | 4), kOhm), t);
      });
      return;
    }
    this.sentRaw = false;
    this.pendingSecond = null;
    this.cycle = 0;
    const k = GANGLION.scaleUv;
    const counts = (): number[][] => {
      const s = this.source.read(2);
      return [0, 1].map((i) => [0, 1, 2, 3].map((c) => (this.channelOn[c] ? Math.round(s[c]![i]! / k) : 0)));
    };
    // Two samples per packet at 200 Hz → a packet every 10 ms.
    this.every(10, (t) => {
      const [s1, s2] = counts() as [number[], number[]];
      const bits = this.accel ? 18 : 19;
      if (this.firmware === 2) {
        if (!this.sentRaw) {
          // Firmware 2 opens with one uncompressed sample; the second sample of this read seeds the next delta.
          this.emit(GANGLION.notify, encodeGanglionRaw(s1), t);
          this.last = Float64Array.from(s1);
          this.sentRaw = true;
          this.pendingSecond = s2;
          return;
        }
        const a = this.pendingSecond ?? s1;
        const b = this.pendingSecond ? s1 : s2;
        this.pendingSecond = this.pendingSecond ? s2 : null;
        const fields: number[] = [];
        for (const sample of [a, b])
          for (let c = 0; c < 4; c++) {
            const d = ganglionQuantiseDelta(this.last[c]! - sample[c]!, bits);
            this.last[c] = this.last[c]! - d;
            fields.push(d);
          }
        const id = 1 + this.cycle + (bits === 19 ? 100 : 0);
        this.emit(GANGLION.notify, encodeGanglionSamples(id, fields, bits, this.accelByte(id)), t);
      } else {
        const fields = [...s1, ...s2].map((v) => ganglionTruncate(v, bits));
        const id = this.cycle + (bits === 19 ? 100 : 0);
        this.emit(GANGLION.notify, encodeGanglionSamples(id, fields, bits, this.accelByte(id)), t);
      }
      this.cycle = (this.cycle + 1) % 100;
    });
  }

  private pendingSecond: number[] | null = null;

  private accelByte(id: number): number | undefined {
    if (!this.accel) return undefined;
    const axis = id % 10;
    if (axis < 1 || axis > 3) return undefined;
    const g = axis === 3 ? 1 + 0.02 * this.rng.normal() : 0.02 * this.rng.normal();
    return Math.round(g / GANGLION.accelScale) & 0xff;
  }
}
