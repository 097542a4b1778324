/**
 * Host battery on Linux: /sys/class/power_supply/<name>/{type,capacity,status,online} (laptops, phones, some UPS
 * HATs). A mains-powered Pi usually has no Battery supply at all: then there is nothing to read and nothing
 * constrains the run. The root is injectable for tests and for boards that expose their gauge elsewhere.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatteryReading } from './monitor.js';

export const POWER_SUPPLY_ROOT = '/sys/class/power_supply';

async function text(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return null;
  }
}

/** charging: true when on external power (Charging, Full, Not charging), false when Discharging, else null (unless mains is online). */
export function chargingFromStatus(status: string | null, mainsOnline: boolean | null): boolean | null {
  const s = (status ?? '').toLowerCase();
  if (s === 'charging' || s === 'full' || s === 'not charging') return true;
  if (s === 'discharging') return false;
  return mainsOnline;
}

/** One reading per battery under `root`; [] when the host has none (or the folder is missing). */
export async function readPowerSupplies(root = POWER_SUPPLY_ROOT): Promise<BatteryReading[]> {
  let names: string[];
  try {
    names = (await readdir(root)).sort();
  } catch {
    return [];
  }
  const batteries: { name: string; dir: string }[] = [];
  let mains: boolean | null = null;
  for (const name of names) {
    const dir = join(root, name);
    const type = (await text(join(dir, 'type')))?.toLowerCase();
    if (type === 'battery') batteries.push({ name, dir });
    else if (type === 'mains' || type === 'usb' || type === 'usb_c' || type === 'ups') {
      const online = await text(join(dir, 'online'));
      if (online === '1') mains = true;
      else if (online === '0' && mains === null) mains = false;
    }
  }
  const out: BatteryReading[] = [];
  for (const b of batteries) {
    const cap = await text(join(b.dir, 'capacity'));
    const n = cap === null ? NaN : Number(cap);
    const status = await text(join(b.dir, 'status'));
    out.push({
      source: `host:${b.name}`,
      percent: Number.isFinite(n) && n >= 0 && n <= 100 ? n : null,
      charging: chargingFromStatus(status, mains),
      ...(status !== null ? { status } : {}),
    });
  }
  return out;
}

/** A poller for the run supervisor. */
export function sysfsBattery(root = POWER_SUPPLY_ROOT): { read(): Promise<BatteryReading[]> } {
  return { read: () => readPowerSupplies(root) };
}
