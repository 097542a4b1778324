/**
 * Demo mode's virtual headband, run the way `cmcrd run --device sim:… --speed X` runs one: a manual-clock virtual
 * headband moved by the run's virtual clock, so every timer of the run (classify stride, halts between windows in
 * saver, the battery watch in critical, backoff after a simulated link loss) keeps simulated time, paced at the URI's
 * `speed` (virtual seconds per real second, default 1). The virtual wearer moves to the next emotion every segment.
 */
import type { VirtualPeripheral } from '../../firmware-bridge/sim/base.js';
import { createSimDevice, parseSimUri } from '../../firmware-bridge/sim/uri.js';
import { VirtualClock, type PaceOptions } from '../../runtime/run/clock.js';
import { virtualLink, type DeviceLink } from '../../runtime/run/links.js';
import type { DemoConfig } from '../protocol.js';

/**
 * A virtual clock that first runs as fast as it can (`lead`), then at the run's speed: the virtual headband has
 * "already streamed" when the demo starts, so the first window is there at once (a real headband needs a full
 * window first). The supervisor paces it without knowing.
 */
export class DemoClock extends VirtualClock {
  private leadOver: () => boolean = () => true;

  lead(over: () => boolean): void {
    this.leadOver = over;
  }

  override async pace(o: PaceOptions): Promise<void> {
    await super.pace({ ...o, speed: Infinity, until: () => o.until() || this.leadOver() });
    if (!o.until()) await super.pace(o);
  }
}

/** The demo URI with a manual clock (the run's virtual clock moves the headband). */
export function demoUri(uri: string): string {
  const spec = parseSimUri(uri); // throws a DeviceUriError naming what is wrong
  const params = new URLSearchParams();
  for (const [k, v] of spec.params) if (k !== 'clock') params.set(k, v);
  params.set('clock', 'manual');
  return `sim:${spec.kind}?${params.toString()}`;
}

export interface DemoDevice {
  link: DeviceLink;
  clock: DemoClock;
  /** Virtual seconds per real second. */
  speed: number;
  /** Virtual clock step: longer when faster, so a fast demo is not all timer and message overhead. */
  stepMs: number;
  /** The virtual wearer's emotion at run-clock time `ms`, when the source models a wearer. */
  truthAt(ms: number): string | null;
  /** The first window was classified: the lead is over. */
  firstWindow(): void;
  dispose(): void;
}

const EMOTIONS = ['neutral', 'sad', 'fear', 'happy'];

export function openDemo(uri: string, cfg: DemoConfig): DemoDevice {
  const sim = createSimDevice(demoUri(uri)) as VirtualPeripheral;
  const params = parseSimUri(uri).params;
  const speed = Number(params.get('speed') ?? 1); // createSimDevice checked it (a number > 0)
  const t0 = sim.now();
  const clock = new DemoClock(t0);
  let classified = false;
  // The lead covers the preroll and the start sequence; a mode that classifies nothing (critical) ends it too.
  const leadUntil = t0 + (cfg.prerollSec + 1) * 1000;
  clock.lead(() => classified || clock.now() >= leadUntil);

  const schedule = sim.emotion === undefined ? [] : [{ at: t0, emotion: String(sim.emotion) }];
  const ctl = new AbortController();
  if (schedule.length) {
    const first = Math.max(0, EMOTIONS.indexOf(String(sim.emotion)));
    void (async () => {
      for (let k = 1; ; k++) {
        await clock.sleep(cfg.segmentSec * 1000, ctl.signal);
        if (ctl.signal.aborted) return;
        try {
          sim.setEmotion((first + k) % EMOTIONS.length);
        } catch {
          return; // a source that does not model a wearer
        }
        schedule.push({ at: clock.now(), emotion: String(sim.emotion) });
      }
    })();
  }

  return {
    link: virtualLink(sim, uri, params.get('preset')),
    clock,
    speed,
    stepMs: Math.round(100 * Math.max(1, speed / 5)),
    truthAt(ms) {
      let e: string | null = null;
      for (const s of schedule) if (s.at <= ms) e = s.emotion;
      return e;
    },
    firstWindow() {
      classified = true;
    },
    dispose() {
      ctl.abort();
    },
  };
}
