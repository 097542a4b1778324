/**
 * A virtual Muse 2 that speaks the real GATT protocol: it answers control commands (h, d, s, v1, presets, k),
 * and while streaming emits 20-byte EEG notifications per electrode (12 samples per block at 256 Hz) and
 * telemetry once a second, from a pluggable signal source, with a draining battery. Time is virtual: with
 * `speed` > 1 the device produces signal faster than real time (host timestamps stay on the virtual clock).
 */
import type { GattPeripheral, NotifyListener, Uuid } from '../gatt.js';
import { MUSE, MUSE_EEG_CHANNELS, decodeMuseCommand, encodeMuseControlReply, encodeMuseEeg, encodeMuseTelemetry } from '../protocols/muse.js';

/** Where a virtual headband's samples come from: n samples (µV) per channel, in the device's channel order. */
export interface SignalSource {
  read(n: number): Float64Array[];
}

export interface VirtualMuseOptions {
  source: SignalSource;
  /** Virtual seconds per real second (default 1). */
  speed?: number;
  /** Virtual epoch (ms) of the first sample; default the real clock at construction. */
  startTimeMs?: number;
  batteryPercent?: number;
  /** Battery drain while streaming, % per hour of virtual time. */
  drainPerHour?: number;
  name?: string;
}

const TICK_MS = 10;

export class VirtualMuse implements GattPeripheral {
  readonly id: string;
  readonly name: string;
  readonly services: readonly Uuid[] = [MUSE.service];
  readonly characteristics: readonly Uuid[] = [MUSE.control, ...MUSE_EEG_CHANNELS.map((c) => MUSE.eeg[c]), MUSE.telemetry, MUSE.accelerometer, MUSE.gyroscope];
  private readonly listeners = new Map<Uuid, Set<NotifyListener>>();
  private readonly disconnectListeners = new Set<(reason: string) => void>();
  private readonly speed: number;
  private readonly drainPerHour: number;
  private battery: number;
  private preset = 'p21';
  private streaming = false;
  private connected = true;
  private timer: ReturnType<typeof setInterval> | null = null;
  private realAtStart = 0;
  private virtualAtStart = 0;
  private virtualNow: number;
  private blockIndex = 0;
  private samplesSent = 0;
  private telemetryIndex = 0;
  private nextTelemetryMs = 0;
  /** Notifications emitted so far per characteristic (for tests and diagnostics). */
  readonly sent = new Map<Uuid, number>();

  constructor(private readonly opts: VirtualMuseOptions) {
    this.speed = opts.speed ?? 1;
    if (!(this.speed > 0)) throw new RangeError(`speed must be > 0, got ${this.speed}`);
    this.battery = opts.batteryPercent ?? 87.5;
    this.drainPerHour = opts.drainPerHour ?? 20;
    this.name = opts.name ?? 'Muse-SIM1';
    this.id = `sim-${this.name}`;
    this.virtualNow = opts.startTimeMs ?? Date.now();
  }

  async write(characteristic: Uuid, data: Uint8Array): Promise<void> {
    this.assertConnected();
    if (characteristic !== MUSE.control) throw new Error(`characteristic ${characteristic} is not writable on ${this.name}`);
    const cmd = decodeMuseCommand(data);
    if (!cmd.ok) return; // a real Muse ignores malformed writes
    this.handleCommand(cmd.value);
  }

  async read(characteristic: Uuid): Promise<Uint8Array> {
    this.assertConnected();
    throw new Error(`characteristic ${characteristic} is not readable on ${this.name}`);
  }

  async subscribe(characteristic: Uuid, listener: NotifyListener): Promise<() => Promise<void>> {
    this.assertConnected();
    if (!this.characteristics.includes(characteristic)) throw new Error(`${this.name} has no characteristic ${characteristic}`);
    let set = this.listeners.get(characteristic);
    if (!set) this.listeners.set(characteristic, (set = new Set()));
    set.add(listener);
    return async () => {
      set.delete(listener);
    };
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async disconnect(): Promise<void> {
    this.drop('host disconnected');
  }

  /** Simulate the link dropping (e.g. out of range). */
  drop(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.stopStreaming();
    for (const l of this.disconnectListeners) l(reason);
  }

  get batteryPercent(): number {
    return this.battery;
  }
  get isStreaming(): boolean {
    return this.streaming;
  }

  private assertConnected(): void {
    if (!this.connected) throw new Error(`${this.name} is disconnected`);
  }

  private handleCommand(cmd: string): void {
    if (cmd === 'h') this.stopStreaming();
    else if (cmd === 'd') this.startStreaming();
    else if (cmd === 's') this.reply({ hn: this.name, sn: '0000-SIM', ma: '00:55:da:b0:00:01', id: '5d3d3a3a', bp: Math.round(this.battery), ts: 0, ps: Number(this.preset.slice(1)), rc: 0 });
    else if (cmd === 'v1') this.reply({ ap: 'headset', sp: 'Blackcomb_revE', tp: 'consumer', hw: '03.1', bn: 27, fw: '3.4.5', bl: '2.0.0', pv: 1, rc: 0 });
    else if (/^p\d+$/.test(cmd)) {
      this.preset = cmd;
      this.reply({ rc: 0 });
    } else if (cmd === 'k' || cmd === 'L0' || cmd === 'L1') {
      /* keep-alive / LEDs: no reply */
    } else this.reply({ rc: 69 });
  }

  private reply(obj: Record<string, unknown>): void {
    for (const pkt of encodeMuseControlReply(obj)) this.emit(MUSE.control, pkt, this.virtualNow);
  }

  private emit(ch: Uuid, data: Uint8Array, t: number): void {
    this.sent.set(ch, (this.sent.get(ch) ?? 0) + 1);
    const set = this.listeners.get(ch);
    if (set) for (const l of set) l(data, t);
  }

  private startStreaming(): void {
    if (this.streaming) return;
    this.streaming = true;
    this.realAtStart = performance.now();
    this.virtualAtStart = this.virtualNow;
    this.nextTelemetryMs = this.virtualNow;
    this.timer = setInterval(() => this.pump(), TICK_MS);
  }

  private stopStreaming(): void {
    this.streaming = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Emit every block due by the current virtual time. */
  private pump(): void {
    if (!this.streaming) return;
    const target = this.virtualAtStart + (performance.now() - this.realAtStart) * this.speed;
    const blockMs = (MUSE.samplesPerPacket / MUSE.sampleRate) * 1000;
    while (this.streaming && this.virtualNow + blockMs <= target) {
      const block = this.opts.source.read(MUSE.samplesPerPacket);
      this.virtualNow += blockMs;
      this.samplesSent += MUSE.samplesPerPacket;
      MUSE_EEG_CHANNELS.forEach((c, i) => this.emit(MUSE.eeg[c], encodeMuseEeg(this.blockIndex, block[i]!), this.virtualNow));
      this.blockIndex = (this.blockIndex + 1) & 0xffff;
      this.battery = Math.max(0, this.battery - (this.drainPerHour * blockMs) / 3_600_000);
      if (this.virtualNow >= this.nextTelemetryMs) {
        this.emit(MUSE.telemetry, encodeMuseTelemetry({ index: this.telemetryIndex++, batteryPercent: this.battery, fuelGaugeMv: 3700, adcMv: 0, temperature: 30 }), this.virtualNow);
        this.nextTelemetryMs += 1000;
      }
    }
  }
}
