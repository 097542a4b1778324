/**
 * The battery-aware mode the page shows, from the headband's and the phone's battery. A stand-in: the run policy
 * (runtime/run/policy.ts with the modes of runtime/run/modes.ts, being written in another branch) decides with
 * hysteresis and a time-to-empty target, and runtime/battery/browser.ts reads navigator.getBattery(). Coordinator:
 * once they land, `decideMode` below is the one hook to replace (feed the policy a BatteryMonitor of the two
 * readings); the page only renders the {mode, reason} it returns. Thresholds are the policy's defaults.
 */

export type Mode = 'performance' | 'balanced' | 'saver' | 'critical';

export interface BatteryReading {
  /** Percent 0–100, or null when unknown. */
  percent: number | null;
  /** Charging batteries do not count (null: unknown, counts). */
  charging: boolean | null;
}

export const THRESHOLDS = { balanced: 50, saver: 25, critical: 10 } as const;

/** What each mode would change, in words for the page. */
export const MODE_TEXT: Record<Mode, string> = {
  performance: 'every window classified',
  balanced: 'every window, faster model variant',
  saver: 'fewer windows, headband paused between them',
  critical: 'classification paused, battery watch only',
};

/** The mode for the lowest discharging battery (no reading: performance). */
export function decideMode(readings: Record<'headband' | 'phone', BatteryReading>): { mode: Mode; reason: string } {
  let low: { who: string; percent: number } | null = null;
  for (const [who, r] of Object.entries(readings)) {
    if (r.percent === null || r.charging === true) continue;
    if (!low || r.percent < low.percent) low = { who, percent: r.percent };
  }
  if (!low) return { mode: 'performance', reason: 'no discharging battery reported' };
  const at = `${low.who} battery ${Math.round(low.percent)} %`;
  if (low.percent < THRESHOLDS.critical) return { mode: 'critical', reason: `${at} < ${THRESHOLDS.critical} %` };
  if (low.percent < THRESHOLDS.saver) return { mode: 'saver', reason: `${at} < ${THRESHOLDS.saver} %` };
  if (low.percent < THRESHOLDS.balanced) return { mode: 'balanced', reason: `${at} < ${THRESHOLDS.balanced} %` };
  return { mode: 'performance', reason: `${at} ≥ ${THRESHOLDS.balanced} %` };
}

/** The part of navigator.getBattery()'s BatteryManager read here. */
interface BatteryManagerLike extends EventTarget {
  readonly level: number;
  readonly charging: boolean;
}

/** Watch the phone's battery (Chromium, secure contexts); null when the browser has no Battery API. */
export async function watchPhoneBattery(nav: Navigator, onChange: (r: BatteryReading) => void): Promise<boolean> {
  const getBattery = (nav as Navigator & { getBattery?: () => Promise<BatteryManagerLike> }).getBattery;
  if (typeof getBattery !== 'function') return false;
  try {
    const m = await getBattery.call(nav);
    const read = () =>
      onChange({ percent: Number.isFinite(m.level) ? m.level * 100 : null, charging: typeof m.charging === 'boolean' ? m.charging : null });
    m.addEventListener('levelchange', read);
    m.addEventListener('chargingchange', read);
    read();
    return true;
  } catch {
    return false;
  }
}
