/**
 * A recorded capture as a device: it offers the recorded device's GATT table and, once the host writes its
 * first command (every supported device is started by a write), re-emits every recorded notification with the
 * recorded spacing (divided by `speed`). Reads answer what the capture knows (Ganglion firmware version,
 * last battery level). At the end of the capture it reports a disconnect ("end of capture").
 */
import { ListenerHub } from './listeners.js';
import { firmwareMajor, type ParsedCapture } from '../capture.js';
import type { GattPeripheral, NotifyListener, Uuid } from '../gatt.js';
import { BATTERY_SERVICE } from '../protocols/battery.js';
import { GANGLION } from '../protocols/ganglion.js';
import { OPEN_EEG } from '../protocols/open-eeg.js';
import { getDriver } from '../registry.js';

export interface ReplayOptions {
  speed?: number;
  clock?: 'real' | 'manual';
  /** Start playing at construction instead of at the first write. */
  autoplay?: boolean;
  name?: string;
}

export class ReplayPeripheral implements GattPeripheral {
  readonly id: string;
  readonly name: string;
  readonly services: readonly Uuid[];
  readonly characteristics: readonly Uuid[];
  private readonly hub = new ListenerHub();
  private readonly speed: number;
  private readonly manual: boolean;
  private pos = 0;
  private playing = false;
  private connected = true;
  private virtualNow = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private realAt = 0;
  private virtualAt = 0;
  private lastBattery: number | null = null;

  constructor(
    readonly capture: ParsedCapture,
    opts: ReplayOptions = {},
  ) {
    this.speed = opts.speed ?? 1;
    if (!(this.speed > 0)) throw new RangeError(`speed must be > 0, got ${this.speed}`);
    this.manual = opts.clock === 'manual';
    const h = capture.header;
    this.name = opts.name ?? h.name ?? `replay-${h.device}`;
    this.id = `replay-${this.name}`;
    // The recorded kind's GATT table, plus whatever the capture saw.
    const driver = getDriver(h.device);
    const profile = driver.profile();
    this.services = profile.services;
    const chars = new Set<Uuid>([...profile.notify, ...driver.characteristics]);
    for (const c of profile.start) chars.add(c.characteristic);
    for (const n of capture.notifications) chars.add(n.char);
    this.characteristics = [...chars];
    this.virtualNow = capture.notifications[0]?.t ?? 0;
    if (opts.autoplay) this.play();
  }

  get isPlaying(): boolean {
    return this.playing;
  }
  get remaining(): number {
    return this.capture.notifications.length - this.pos;
  }

  async write(characteristic: Uuid, _data: Uint8Array): Promise<void> {
    this.assertConnected();
    if (!this.characteristics.includes(characteristic)) throw new Error(`${this.name} has no characteristic ${characteristic}`);
    this.play();
  }

  async read(characteristic: Uuid): Promise<Uint8Array> {
    this.assertConnected();
    const h = this.capture.header;
    if (characteristic === GANGLION.firmwareRevision && h.device === 'ganglion') {
      const rev = h.firmware && !/x/i.test(h.firmware) ? h.firmware.trim() : firmwareMajor(h.firmware) === 2 ? '2.0.0' : '3.0.0';
      return Uint8Array.from(rev, (c) => c.charCodeAt(0));
    }
    if (characteristic === BATTERY_SERVICE.level && this.lastBattery !== null) return Uint8Array.of(this.lastBattery);
    if (characteristic === OPEN_EEG.info && h.device === 'open-eeg')
      return new TextEncoder().encode(JSON.stringify({ name: this.name, channels: h.channels ?? [] }));
    throw new Error(`the capture does not record a value for ${characteristic}`);
  }

  async subscribe(characteristic: Uuid, listener: NotifyListener): Promise<() => Promise<void>> {
    this.assertConnected();
    if (!this.characteristics.includes(characteristic)) throw new Error(`${this.name} has no characteristic ${characteristic}`);
    return this.hub.subscribe(characteristic, listener);
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    return this.hub.onDisconnect(listener);
  }

  async disconnect(): Promise<void> {
    this.end('host disconnected');
  }

  /** Start playback now. */
  play(): void {
    if (this.playing || !this.connected) return;
    this.playing = true;
    if (!this.manual) {
      this.realAt = performance.now();
      this.virtualAt = this.virtualNow;
      this.timer = setInterval(() => this.pump(this.virtualAt + (performance.now() - this.realAt) * this.speed), 10);
    }
  }

  /** Manual clock: deliver everything recorded within the next `ms`. */
  advance(ms: number): void {
    if (!this.manual) throw new Error('advance() needs clock: "manual"');
    this.pump(this.virtualNow + ms);
  }

  private pump(until: number): void {
    if (!this.playing) return;
    const ns = this.capture.notifications;
    while (this.pos < ns.length && ns[this.pos]!.t <= until && this.connected) {
      const n = ns[this.pos++]!;
      if (n.char === BATTERY_SERVICE.level && n.bytes.length === 1) this.lastBattery = n.bytes[0]!;
      this.hub.emit(n.char, n.bytes, n.t);
    }
    this.virtualNow = Math.max(this.virtualNow, until);
    if (this.pos >= ns.length) this.end('end of capture');
  }

  private end(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.playing = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.hub.disconnected(reason);
  }

  private assertConnected(): void {
    if (!this.connected) throw new Error(`${this.name} is disconnected`);
  }
}
