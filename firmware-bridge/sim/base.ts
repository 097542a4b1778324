/**
 * The shared machinery of virtual headbands: a GattPeripheral whose notifications are produced on a virtual
 * clock (real-time pumping at any `speed`, or a manual clock that tests advance explicitly), a simulated
 * battery, a pluggable signal source, and a fault layer between the device and the host that can drop,
 * duplicate, reorder, corrupt, stall and disconnect — the things real BLE links do.
 */
import { ListenerHub } from './listeners.js';
import type { GattPeripheral, NotifyListener, Uuid } from '../gatt.js';
import { Rng } from './rng.js';

/** Where a virtual headband's samples come from: n samples (µV) per channel, in the device's channel order. */
export interface SignalSource {
  read(n: number): Float64Array[];
  /** Sources that model a wearer can switch emotion (class index or name). */
  setEmotion?(label: number | string): void;
  readonly emotion?: number | string;
}

export interface FaultOptions {
  /** Probability each data notification is lost. */
  drop?: number;
  /** Probability it is delivered twice. */
  dup?: number;
  /** Probability it is held back and delivered after the next one. */
  reorder?: number;
  /** Probability one byte is overwritten (or, one time in four, the packet is truncated). */
  corrupt?: number;
  /** Extra random delivery latency, uniform in [0, jitterMs]. */
  jitterMs?: number;
  /** The link stalls for this many seconds (notifications queue, then arrive in a burst). */
  stallS?: number;
  /** …starting this many seconds after streaming starts (default 5). */
  stallAtS?: number;
  /** The link drops this many seconds after streaming starts. */
  disconnectAfterS?: number;
  /** After a link loss the device stays out of reach this many seconds: reconnect() fails until then. */
  downS?: number;
}

export interface VirtualDeviceOptions {
  /** Virtual seconds per real second in real-time mode (default 1). */
  speed?: number;
  /** 'real' pumps from a timer; 'manual' produces only when advance() is called (deterministic tests). */
  clock?: 'real' | 'manual';
  /** Virtual epoch (ms) at construction; default the real clock ('real') or 0 ('manual'). */
  startTimeMs?: number;
  batteryPercent?: number;
  /** Battery drain while streaming, % per hour of virtual time. */
  drainPerHour?: number;
  name?: string;
  /** Seed for faults and device noise. */
  seed?: number;
  faults?: FaultOptions;
}

const TICK_MS = 10;

interface Stream {
  periodMs: number;
  next: number;
  fn: (t: number) => void;
}

export abstract class VirtualPeripheral implements GattPeripheral {
  readonly id: string;
  readonly name: string;
  abstract readonly services: readonly Uuid[];
  abstract readonly characteristics: readonly Uuid[];
  /** Notifications emitted so far per characteristic, before faults (for tests and diagnostics). */
  readonly sent = new Map<Uuid, number>();
  /** Notifications the fault layer dropped, duplicated, reordered, corrupted. */
  readonly faultCounts = { dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, stalled: 0 };
  protected readonly rng: Rng;
  protected readonly faultRng: Rng;
  protected battery: number;
  protected streaming = false;
  private connected = true;
  private readonly hub = new ListenerHub();
  private readonly speed: number;
  private readonly manual: boolean;
  private readonly drainPerHour: number;
  private readonly faults: FaultOptions;
  private virtualNow: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private realAtStart = 0;
  private virtualAtStart = 0;
  private streamStartMs = 0;
  /** Stall and disconnect-after count from the first start: a host restarting the stream does not replay them. */
  private faultEpochMs: number | null = null;
  private droppedAtMs = -Infinity;
  private streams: Stream[] = [];
  private held: { ch: Uuid; data: Uint8Array } | null = null;
  private stallQueue: { ch: Uuid; data: Uint8Array }[] = [];
  private lastDelivered = -Infinity;
  private linkLossDone = false;
  private stallOver = false;

  constructor(opts: VirtualDeviceOptions, defaultName: string) {
    this.speed = opts.speed ?? 1;
    if (!(this.speed > 0)) throw new RangeError(`speed must be > 0, got ${this.speed}`);
    this.manual = opts.clock === 'manual';
    this.battery = opts.batteryPercent ?? 87.5;
    if (!(this.battery >= 0 && this.battery <= 100)) throw new RangeError(`battery must be 0–100 %, got ${opts.batteryPercent}`);
    this.drainPerHour = opts.drainPerHour ?? 20;
    this.name = opts.name ?? defaultName;
    this.id = `sim-${this.name}`;
    this.virtualNow = opts.startTimeMs ?? (this.manual ? 0 : Date.now());
    const seed = opts.seed ?? 1;
    this.rng = Rng.derive(seed, 100);
    this.faultRng = Rng.derive(seed, 101);
    this.faults = opts.faults ?? {};
    for (const k of ['drop', 'dup', 'reorder', 'corrupt'] as const) {
      const p = this.faults[k];
      if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError(`fault probability ${k} must be within 0–1, got ${p}`);
    }
  }

  // ----- GattPeripheral

  async write(characteristic: Uuid, data: Uint8Array): Promise<void> {
    this.assertConnected();
    this.onWrite(characteristic, data);
  }

  async read(characteristic: Uuid): Promise<Uint8Array> {
    this.assertConnected();
    return this.onRead(characteristic);
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
    this.drop('host disconnected');
  }

  // ----- simulation controls

  /** Simulate the link dropping (out of range, power loss). */
  drop(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.droppedAtMs = this.virtualNow;
    this.stopStreaming();
    // Packets held back on a dead link never arrive, and a new link does not inherit the stall.
    this.stallQueue = [];
    if (this.faultEpochMs !== null && this.virtualNow - this.faultEpochMs >= (this.faults.stallAtS ?? 5) * 1000) this.stallOver = true;
    this.hub.disconnected(reason);
  }

  /** Connect again after a link loss (the host then subscribes and starts the stream again); fails while the device is out of reach (`downS`). */
  reconnect(): void {
    if (this.connected) return;
    const downMs = (this.faults.downS ?? 0) * 1000;
    if (this.virtualNow < this.droppedAtMs + downMs) throw new Error(`${this.name} is out of reach (connect timed out)`);
    this.connected = true;
  }

  get isConnected(): boolean {
    return this.connected;
  }
  get batteryPercent(): number {
    return this.battery;
  }
  get isStreaming(): boolean {
    return this.streaming;
  }
  /** Current virtual time (ms). */
  now(): number {
    return this.virtualNow;
  }

  /** Manual clock: produce and deliver everything due in the next `ms` of virtual time. */
  advance(ms: number): void {
    if (!this.manual) throw new Error('advance() needs clock: "manual"');
    this.produceUntil(this.virtualNow + ms);
  }

  /** Switch the virtual wearer's emotion (class index or name) if the signal source models a wearer. */
  setEmotion(label: number | string): void {
    const src = this.signalSource();
    if (!src?.setEmotion) throw new Error(`${this.name}'s signal source does not model a wearer's emotion`);
    src.setEmotion(label);
  }

  get emotion(): number | string | undefined {
    return this.signalSource()?.emotion;
  }

  // ----- for subclasses

  protected abstract onWrite(characteristic: Uuid, data: Uint8Array): void;
  protected abstract onRead(characteristic: Uuid): Uint8Array;
  protected abstract signalSource(): SignalSource | undefined;
  /** Characteristics whose notifications the fault layer may touch (control replies always get through). */
  protected abstract isDataCharacteristic(characteristic: Uuid): boolean;

  protected assertConnected(): void {
    if (!this.connected) throw new Error(`${this.name} is disconnected`);
  }

  /** Register a periodic producer; fn(t) runs at t = start + k·period for every period that has elapsed. */
  protected every(periodMs: number, fn: (t: number) => void, phaseMs = periodMs): void {
    this.streams.push({ periodMs, next: this.virtualNow + phaseMs, fn });
  }

  protected startStreaming(): void {
    if (this.streaming) return;
    this.streaming = true;
    this.streamStartMs = this.virtualNow;
    this.faultEpochMs ??= this.virtualNow;
    this.streams = [];
    this.setupStreams();
    if (!this.manual) {
      this.realAtStart = performance.now();
      this.virtualAtStart = this.virtualNow;
      this.timer = setInterval(() => this.produceUntil(this.virtualAtStart + (performance.now() - this.realAtStart) * this.speed), TICK_MS);
    }
  }

  /** Subclasses register their periodic streams here (called at each start). */
  protected abstract setupStreams(): void;

  protected stopStreaming(): void {
    this.streaming = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.streams = [];
    if (this.held) {
      const h = this.held;
      this.held = null;
      this.deliver(h.ch, h.data, this.virtualNow);
    }
  }

  /** Emit a reply/notification that bypasses faults (control channel). */
  protected emitControl(ch: Uuid, data: Uint8Array): void {
    this.count(ch);
    this.deliver(ch, data, this.virtualNow);
  }

  /** Emit a data notification at virtual time t through the fault layer. */
  protected emit(ch: Uuid, data: Uint8Array, t: number): void {
    this.count(ch);
    if (!this.connected) return;
    const f = this.faults;
    const r = this.faultRng;
    if (!this.isDataCharacteristic(ch)) return this.deliver(ch, data, t);
    if (f.drop && r.next() < f.drop) {
      this.faultCounts.dropped++;
      return;
    }
    let d = data;
    if (f.corrupt && r.next() < f.corrupt) {
      this.faultCounts.corrupted++;
      d = data.slice();
      if (r.next() < 0.25 && d.length > 1) d = d.slice(0, r.int(d.length));
      else if (d.length > 0) d[r.int(d.length)] ^= 1 + r.int(255);
    }
    const rel = (t - (this.faultEpochMs ?? this.streamStartMs)) / 1000;
    if (f.stallS && !this.stallOver && rel >= (f.stallAtS ?? 5) && rel < (f.stallAtS ?? 5) + f.stallS) {
      this.faultCounts.stalled++;
      this.stallQueue.push({ ch, data: d });
      return;
    }
    if (this.stallQueue.length > 0) {
      // The stall is over: the backlog arrives in a burst just before this packet.
      for (const q of this.stallQueue.splice(0)) this.deliver(q.ch, q.data, t);
    }
    if (f.reorder && !this.held && r.next() < f.reorder) {
      this.faultCounts.reordered++;
      this.held = { ch, data: d };
      return;
    }
    const jitter = f.jitterMs ? r.next() * f.jitterMs : 0;
    this.deliver(ch, d, t + jitter);
    if (f.dup && r.next() < f.dup) {
      this.faultCounts.duplicated++;
      this.deliver(ch, d, t + jitter);
    }
    if (this.held) {
      const h = this.held;
      this.held = null;
      this.deliver(h.ch, h.data, t + jitter);
    }
  }

  protected drainBattery(ms: number): void {
    this.battery = Math.max(0, this.battery - (this.drainPerHour * ms) / 3_600_000);
  }

  private count(ch: Uuid): void {
    this.sent.set(ch, (this.sent.get(ch) ?? 0) + 1);
  }

  private deliver(ch: Uuid, data: Uint8Array, t: number): void {
    if (!this.connected) return;
    const at = Math.max(t, this.lastDelivered);
    this.lastDelivered = at;
    this.hub.emit(ch, data, at);
  }

  private produceUntil(target: number): void {
    const f = this.faults;
    while (this.streaming && this.connected) {
      let s: Stream | null = null;
      for (const x of this.streams) if (x.next <= target && (!s || x.next < s.next)) s = x;
      if (!s) break;
      const t = s.next;
      const epoch = this.faultEpochMs ?? this.streamStartMs;
      if (f.disconnectAfterS !== undefined && !this.linkLossDone && t - epoch >= f.disconnectAfterS * 1000) {
        this.linkLossDone = true;
        this.virtualNow = Math.max(this.virtualNow, epoch + f.disconnectAfterS * 1000);
        this.drop('simulated link loss (disconnect-after)');
        return;
      }
      this.drainBattery(t - this.virtualNow);
      this.virtualNow = t;
      s.next += s.periodMs;
      s.fn(t);
    }
    if (target > this.virtualNow) {
      if (this.streaming) this.drainBattery(target - this.virtualNow);
      this.virtualNow = target;
    }
  }
}
