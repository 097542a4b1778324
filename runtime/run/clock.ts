/**
 * Time for the supervisor, injectable: the real clock on a device, or a virtual clock that moves simulated
 * headbands (manual-clock virtual devices, replays) and every timer of the run together, paced at any speed.
 * On the virtual clock a run is deterministic: timers fire in order at their exact times, each woken task runs
 * before time moves on, and pending inference is awaited before the next step.
 */
import { sleep } from '../../firmware-bridge/transports/transport.js';

export interface RunClock {
  /** Milliseconds (epoch-based on the real clock; wherever the virtual clock was started). Monotonic. */
  now(): number;
  /** Resolves after `ms` of this clock's time, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Something driven by a virtual clock: a manual-clock virtual headband or a replay. */
export interface Advanceable {
  advance(ms: number): void;
  /** The device's own time (ms); when present the clock advances the device to its own time, not by steps. */
  now?(): number;
}

/** The real clock: epoch ms, made monotonic (host clock steps back are not followed). */
export class RealClock implements RunClock {
  private readonly epoch = Date.now() - performance.now();
  now(): number {
    return this.epoch + performance.now();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleep(Math.max(0, ms), signal);
  }
}

/** Yield to the host's event loop (a macrotask, so I/O and timers get through; no 1-ms clamp where avoidable). */
export function yieldToHost(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return new Promise((r) => g.setImmediate!(r));
  if (typeof MessageChannel === 'function') {
    return new Promise((r) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        r();
      };
      ch.port2.postMessage(null);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

export interface PaceOptions {
  /** Virtual ms per real ms (Infinity: as fast as the CPU allows). */
  speed: number;
  /** Largest virtual step between yields (ms); default 100. */
  stepMs?: number;
  /** Stop pacing once this returns true. */
  until: () => boolean;
  /** Awaited after each step (e.g. inference still running), so simulated time never outruns the host's work. */
  idle?: () => Promise<void>;
}

export class VirtualClock implements RunClock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];
  /** Driven devices: the clock time each was last advanced to, and its own time's offset from the clock's. */
  private readonly driven = new Map<Advanceable, { last: number; offset: number }>();
  private paceWake: (() => void) | null = null;

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        fire: () => {
          signal?.removeEventListener('abort', cancel);
          resolve();
        },
      };
      const cancel = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        resolve();
      };
      this.insert(timer);
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Move `d` along with the clock (until the returned function detaches it). */
  drive(d: Advanceable): () => void {
    this.driven.set(d, { last: this.t, offset: d.now ? d.now() - this.t : 0 });
    return () => void this.driven.delete(d);
  }

  /** Next timer due, or null. */
  get nextTimerAt(): number | null {
    return this.timers[0]?.at ?? null;
  }

  /**
   * Advance by `ms`: devices produce what falls due and every timer fires at its time, in order; after each
   * timer the woken code runs (a host yield) before time moves on.
   */
  async advance(ms: number): Promise<void> {
    const target = this.t + Math.max(0, ms);
    for (;;) {
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.moveTo(next.at);
      // Moving devices runs their listeners, which may cancel timers: take this one out by identity.
      const i = this.timers.indexOf(next);
      if (i >= 0) {
        this.timers.splice(i, 1);
        next.fire();
      }
      await yieldToHost();
    }
    this.moveTo(target);
  }

  /**
   * Run the clock until `until()`: steps of at most `stepMs`, each followed by `idle()` and, at a finite speed,
   * a real wait that keeps simulated time at `speed` × real time.
   */
  async pace(o: PaceOptions): Promise<void> {
    const step = o.stepMs ?? 100;
    const real0 = performance.now();
    const v0 = this.t;
    for (;;) {
      // Let everything woken so far run (connections, start sequences) before time moves on.
      await yieldToHost();
      if (o.until()) break;
      const next = this.nextTimerAt;
      // Step to the next timer when it is sooner, so a woken task runs at its own time.
      const d = next !== null && next - this.t < step ? Math.max(0, next - this.t) : step;
      await this.advance(d);
      if (o.idle) await o.idle();
      if (Number.isFinite(o.speed)) {
        const ahead = (this.t - v0) / o.speed - (performance.now() - real0);
        if (ahead > 1) {
          await new Promise<void>((r) => {
            const timer = setTimeout(r, ahead);
            this.paceWake = () => {
              clearTimeout(timer);
              r();
            };
          });
          this.paceWake = null;
        }
      }
    }
  }

  /** Cut a real-time wait of pace() short (e.g. a stop request on a slow-speed run). */
  interruptPace(): void {
    this.paceWake?.();
  }

  private moveTo(t: number): void {
    if (t < this.t) return;
    this.t = t;
    for (const [d, s] of this.driven) {
      // A virtual headband's time stops when its link drops inside advance(): advancing it by its own lag behind
      // the clock (not by the step) keeps the two in line.
      const lag = d.now ? this.t + s.offset - d.now() : this.t - s.last;
      if (lag > 0) d.advance(lag);
      s.last = this.t;
    }
  }

  private insert(timer: Timer): void {
    let i = this.timers.length;
    while (i > 0 && (this.timers[i - 1]!.at > timer.at || (this.timers[i - 1]!.at === timer.at && this.timers[i - 1]!.seq > timer.seq)))
      i--;
    this.timers.splice(i, 0, timer);
  }
}

/** Is this a virtual clock (which somebody must pace)? */
export function isVirtualClock(c: RunClock): c is VirtualClock {
  return c instanceof VirtualClock;
}
