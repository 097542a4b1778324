/**
 * Which mode to run in. `auto`: by the lowest discharging battery level, with thresholds and hysteresis (a level
 * must rise `hysteresis` points above a threshold before a richer mode returns, so noisy readings near a threshold
 * do not flap). `fixed:<mode>`: always that mode. `target`: the richest mode whose predicted time to empty lasts
 * the rest of the target (hours from the start of the run); levels below the critical threshold still mean
 * critical. Browser-safe and pure: the supervisor feeds it a BatteryMonitor and the time.
 */
import type { BatteryMonitor } from '../battery/monitor.js';
import { MODES, modeRank, type Mode } from './modes.js';

export type PolicySpec = { kind: 'auto' } | { kind: 'fixed'; mode: Mode } | { kind: 'target'; hours: number };

export interface Thresholds {
  /** Below this level (%): balanced. */
  balanced: number;
  /** Below this: saver. */
  saver: number;
  /** Below this: critical. */
  critical: number;
  /** Points above a threshold a level must reach before the richer mode returns. */
  hysteresis: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { balanced: 50, saver: 25, critical: 10, hysteresis: 3 };

export function checkThresholds(t: Thresholds): Thresholds {
  const ok = (x: number) => Number.isFinite(x) && x >= 0 && x <= 100;
  if (![t.balanced, t.saver, t.critical].every(ok))
    throw new RangeError(`battery thresholds must be percentages 0–100, got ${t.balanced}, ${t.saver}, ${t.critical}`);
  if (!(t.balanced > t.saver && t.saver > t.critical))
    throw new RangeError(`battery thresholds must fall: balanced ${t.balanced} > saver ${t.saver} > critical ${t.critical}`);
  if (!(t.hysteresis >= 0 && t.hysteresis < 50)) throw new RangeError(`hysteresis must be 0–50 percentage points, got ${t.hysteresis}`);
  return t;
}

/** "fixed:saver" → { kind: 'fixed', mode: 'saver' }; "auto" → auto. Throws naming the value. */
export function parsePolicy(s: string): PolicySpec {
  if (s === 'auto') return { kind: 'auto' };
  const m = /^fixed:(.+)$/.exec(s);
  if (m && (MODES as readonly string[]).includes(m[1]!)) return { kind: 'fixed', mode: m[1] as Mode };
  throw new RangeError(`policy must be auto or fixed:<${MODES.join('|')}>, got ${JSON.stringify(s)}`);
}

export function describePolicy(p: PolicySpec): string {
  return p.kind === 'fixed' ? `fixed:${p.mode}` : p.kind === 'target' ? `battery-target:${p.hours}h` : 'auto';
}

export interface Decision {
  to: Mode;
  reason: string;
  level: number | null;
  predictedHours?: Partial<Record<Mode, number | null>>;
}

export interface PolicyOptions {
  thresholds?: Thresholds;
  /** Target policy: how often (ms) it re-decides (default 60 s); crossing the critical threshold is immediate. */
  targetIntervalMs?: number;
  /** Target policy: a richer mode must predict this much more than the remaining target (default 0.1 = 10 %). */
  targetMargin?: number;
}

const fmt = (x: number) => (Number.isFinite(x) ? String(Number(x.toPrecision(3))) : String(x));

export class ModePolicy {
  private current: Mode;
  private readonly th: Thresholds;
  private lastTargetAt = -Infinity;
  private readonly startMs: number;

  constructor(
    readonly spec: PolicySpec,
    startMs: number,
    private readonly opts: PolicyOptions = {},
  ) {
    this.th = checkThresholds(opts.thresholds ?? DEFAULT_THRESHOLDS);
    this.startMs = startMs;
    this.current = spec.kind === 'fixed' ? spec.mode : 'performance';
  }

  get mode(): Mode {
    return this.current;
  }

  get thresholds(): Thresholds {
    return this.th;
  }

  /** Mode for a level falling through the thresholds. */
  byLevel(level: number): Mode {
    const t = this.th;
    return level < t.critical ? 'critical' : level < t.saver ? 'saver' : level < t.balanced ? 'balanced' : 'performance';
  }

  private thresholdOf(m: Mode): number {
    return m === 'critical' ? this.th.critical : m === 'saver' ? this.th.saver : m === 'balanced' ? this.th.balanced : 100;
  }

  /** The next mode, or null to stay. Call after every battery update (and now and then). */
  decide(monitor: BatteryMonitor, now: number): Decision | null {
    if (this.spec.kind === 'fixed') return null;
    const lowest = monitor.constrainingLevel();
    const level = lowest?.percent ?? null;
    const d =
      this.spec.kind === 'target'
        ? this.decideTarget(monitor, now, level, lowest?.source ?? null, this.spec.hours)
        : this.decideLevel(level, lowest?.source ?? null);
    if (d && d.to !== this.current) {
      this.current = d.to;
      return d;
    }
    return null;
  }

  private decideLevel(level: number | null, source: string | null): Decision | null {
    const cur = this.current;
    if (level === null) {
      return cur === 'performance' ? null : { to: 'performance', reason: 'no discharging battery (mains power or charging)', level };
    }
    const down = this.byLevel(level);
    if (modeRank(down) > modeRank(cur))
      return { to: down, reason: `${source} battery ${fmt(level)} % is below ${this.thresholdOf(down)} %`, level };
    const up = this.byLevel(level - this.th.hysteresis);
    if (modeRank(up) < modeRank(cur))
      return {
        to: up,
        reason: `${source} battery ${fmt(level)} % is at least ${this.thresholdOf(cur)} % + ${this.th.hysteresis} (hysteresis)`,
        level,
      };
    return null;
  }

  private decideTarget(monitor: BatteryMonitor, now: number, level: number | null, source: string | null, hours: number): Decision | null {
    if (level !== null && level < this.th.critical) {
      return this.current === 'critical'
        ? null
        : { to: 'critical', reason: `${source} battery ${fmt(level)} % is below ${this.th.critical} %`, level };
    }
    const predicted: Partial<Record<Mode, number | null>> = {};
    for (const m of MODES) predicted[m] = monitor.predictHours(m);
    if (MODES.every((m) => predicted[m] === null)) {
      // No drain measured yet: decide by level meanwhile.
      const d = this.decideLevel(level, source);
      return d ? { ...d, reason: `${d.reason} (no drain measured yet for the battery target)` } : null;
    }
    if (now - this.lastTargetAt < (this.opts.targetIntervalMs ?? 60_000)) return null;
    this.lastTargetAt = now;
    const remaining = Math.max(0, hours - (now - this.startMs) / 3_600_000);
    const margin = 1 + (this.opts.targetMargin ?? 0.1);
    const lasts = (m: Mode) => {
      const h = predicted[m];
      if (h === null || h === undefined) return m === this.current; // unknown: only the current mode is given the benefit
      return h >= (modeRank(m) < modeRank(this.current) ? remaining * margin : remaining);
    };
    const running = MODES.filter((m) => m !== 'critical');
    let to = running.find(lasts);
    let reason: string;
    if (to)
      reason = `richest mode predicted to last the remaining ${fmt(remaining)} h of the ${hours} h target (${fmt(predicted[to] ?? NaN)} h)`;
    else {
      to = 'saver';
      reason = `no mode is predicted to last the remaining ${fmt(remaining)} h of the ${hours} h target; saver lasts longest while classifying`;
    }
    return to === this.current ? null : { to, reason, level, predictedHours: predicted };
  }
}
