/**
 * Browser battery through `navigator.getBattery()` (Chromium, secure contexts only; elsewhere absent). Pass the
 * navigator (or any object with getBattery) so this stays testable and browser-safe.
 */
import type { BatteryReading } from './monitor.js';

/** The part of the Battery Status API's BatteryManager read here. */
export interface BatteryManagerLike {
  readonly level: number;
  readonly charging: boolean;
  readonly dischargingTime?: number;
}

export interface NavigatorWithBattery {
  getBattery?: () => Promise<BatteryManagerLike>;
}

/** A poller, or null when the browser has no Battery API. */
export function browserBattery(nav: NavigatorWithBattery | undefined): { read(): Promise<BatteryReading[]> } | null {
  if (!nav || typeof nav.getBattery !== 'function') return null;
  let manager: Promise<BatteryManagerLike> | null = null;
  return {
    async read() {
      manager ??= nav.getBattery!();
      const m = await manager;
      const level = Number(m.level);
      return [
        {
          source: 'browser',
          percent: Number.isFinite(level) ? Math.max(0, Math.min(100, level * 100)) : null,
          charging: typeof m.charging === 'boolean' ? m.charging : null,
        },
      ];
    },
  };
}
