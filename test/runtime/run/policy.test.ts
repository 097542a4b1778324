/**
 * Battery policy, drain estimation and the battery sources: thresholds with hysteresis on noisy readings, charging,
 * the target policy from measured drain, least-squares drain rates, Linux sysfs (charging states, a mains-only Pi,
 * several batteries) through an injected root, and the browser Battery API.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { browserBattery } from '../../../runtime/battery/browser.js';
import { BatteryMonitor, DrainEstimator } from '../../../runtime/battery/monitor.js';
import { chargingFromStatus, readPowerSupplies } from '../../../runtime/battery/sysfs.node.js';
import { MODES, resolveModes, type Mode } from '../../../runtime/run/modes.js';
import { checkThresholds, ModePolicy, parsePolicy } from '../../../runtime/run/policy.js';

/** Feed `levels` (one reading a second) and return the mode changes. */
function drive(policy: ModePolicy, levels: number[], charging: (i: number) => boolean | null = () => null) {
  const mon = new BatteryMonitor(policy.mode);
  const changes: { i: number; to: Mode }[] = [];
  levels.forEach((p, i) => {
    mon.update({ source: 'headband', percent: p, charging: charging(i) }, i * 1000);
    const d = policy.decide(mon, i * 1000);
    if (d) {
      mon.setMode(d.to);
      changes.push({ i, to: d.to });
    }
  });
  return changes;
}

describe('mode policy', () => {
  it('auto: a noisy falling battery crosses each threshold once, in order (hysteresis holds off flapping)', () => {
    let seed = 12345;
    const noise = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 2.8; // ±1.4 points, less than the 3-point hysteresis
    const levels = Array.from({ length: 900 }, (_, i) => 80 - i * 0.085 + noise());
    const changes = drive(new ModePolicy({ kind: 'auto' }, 0), levels);
    expect(changes.map((c) => c.to)).toEqual(['balanced', 'saver', 'critical']);
    // Without hysteresis the same readings flap at every threshold.
    const flappy = drive(
      new ModePolicy({ kind: 'auto' }, 0, { thresholds: { balanced: 50, saver: 25, critical: 10, hysteresis: 0 } }),
      levels,
    );
    expect(flappy.length).toBeGreaterThan(6);
  });

  it('auto: a richer mode returns only hysteresis points above the threshold; charging lifts the constraint', () => {
    const p = new ModePolicy({ kind: 'auto' }, 0);
    const up = [60, 49, 49.5, 50.5, 52, 52.9, 53.1];
    expect(drive(p, up)).toEqual([
      { i: 1, to: 'balanced' },
      { i: 6, to: 'performance' },
    ]);
    const q = new ModePolicy({ kind: 'auto' }, 0);
    expect(drive(q, [30, 20, 20, 20], (i) => (i === 3 ? true : false))).toEqual([
      { i: 0, to: 'balanced' },
      { i: 1, to: 'saver' },
      { i: 3, to: 'performance' },
    ]);
  });

  it('fixed never changes; parsePolicy and checkThresholds name bad values', () => {
    const p = new ModePolicy(parsePolicy('fixed:critical'), 0);
    expect(p.mode).toBe('critical');
    expect(drive(p, [100, 50, 5])).toEqual([]);
    expect(parsePolicy('auto')).toEqual({ kind: 'auto' });
    expect(() => parsePolicy('fixed:turbo')).toThrow(/fixed:<performance\|balanced\|saver\|critical>, got "fixed:turbo"/);
    expect(() => checkThresholds({ balanced: 20, saver: 25, critical: 10, hysteresis: 3 })).toThrow(/must fall/);
    expect(() => checkThresholds({ balanced: 50, saver: 25, critical: 10, hysteresis: 60 })).toThrow(/hysteresis/);
  });

  it('target: the richest mode predicted to last the rest of the target, from the measured rate and the modes’ loads', () => {
    const load = (_s: string, m: string) => ({ performance: 1, balanced: 1, saver: 0.25, critical: 0.05 })[m as Mode];
    const mon = new BatteryMonitor('performance', { load });
    const p = new ModePolicy({ kind: 'target', hours: 2 }, 0);
    // 60 % falling 40 %/h: 1.5 h continuously, 6 h in saver.
    let d = null;
    for (let s = 0; s <= 120; s += 10) {
      mon.update({ source: 'headband', percent: 60 - (40 * s) / 3600, charging: false }, s * 1000);
      d = p.decide(mon, s * 1000) ?? d;
    }
    expect(d).not.toBeNull();
    expect(d!.to).toBe('saver');
    expect(d!.predictedHours!.performance!).toBeCloseTo(d!.level! / 40, 6);
    expect(d!.predictedHours!.saver!).toBeCloseTo(d!.level! / 10, 6);
    // With a shorter target the richest mode that lasts is performance.
    const q = new ModePolicy({ kind: 'target', hours: 1 }, 0);
    expect(q.decide(mon, 120_000)).toBeNull();
    expect(q.mode).toBe('performance');
  });
});

describe('drain estimation', () => {
  it('least-squares rate over the window, once it spans the minimum', () => {
    const e = new DrainEstimator({ minSpanMs: 60_000, windowMs: 600_000 });
    for (let s = 0; s < 60; s += 10) e.push(s * 1000, 90 - s * (12 / 3600));
    expect(e.rate()).toBeNull();
    for (let s = 60; s <= 600; s += 10) e.push(s * 1000, 90 - s * (12 / 3600) + (s % 20 ? 0.05 : -0.05));
    expect(e.rate()!).toBeCloseTo(12, 0);
  });

  it('the monitor protects the lowest discharging battery and keeps a rate per mode', () => {
    const m = new BatteryMonitor('performance', { minSpanMs: 1000, minPoints: 2 });
    expect(m.update({ source: 'host:BAT0', percent: 30, charging: true }, 0)).toBe(true);
    expect(m.update({ source: 'headband', percent: 70, charging: null }, 0)).toBe(true);
    expect(m.constrainingLevel()).toEqual({ source: 'headband', percent: 70 });
    m.update({ source: 'host:BAT0', percent: 30, charging: false }, 1000);
    expect(m.constrainingLevel()).toEqual({ source: 'host:BAT0', percent: 30 });
    expect(m.update({ source: 'headband', percent: 69.5, charging: null }, 3_600_000)).toBe(true);
    expect(m.update({ source: 'headband', percent: 69.4, charging: null }, 3_700_000)).toBe(false);
    expect(m.estimate('headband')!.drainPerHour!).toBeGreaterThan(0);
  });
});

describe('host battery sources', () => {
  function supply(root: string, name: string, files: Record<string, string>) {
    mkdirSync(join(root, name), { recursive: true });
    for (const [k, v] of Object.entries(files)) writeFileSync(join(root, name, k), v + '\n');
  }

  it('sysfs: batteries with their charging state; a mains-only host reads nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cmcrd-ps-'));
    supply(root, 'AC', { type: 'Mains', online: '1' });
    supply(root, 'BAT0', { type: 'Battery', capacity: '57', status: 'Discharging' });
    supply(root, 'BAT1', { type: 'Battery', capacity: '91', status: 'Unknown' });
    supply(root, 'hid-mouse', { type: 'Battery', capacity: 'garbage', status: 'Full' });
    expect(await readPowerSupplies(root)).toEqual([
      { source: 'host:BAT0', percent: 57, charging: false, status: 'Discharging' },
      { source: 'host:BAT1', percent: 91, charging: true, status: 'Unknown' },
      { source: 'host:hid-mouse', percent: null, charging: true, status: 'Full' },
    ]);
    const pi = mkdtempSync(join(tmpdir(), 'cmcrd-ps-pi-'));
    supply(pi, 'usb', { type: 'USB', online: '1' });
    expect(await readPowerSupplies(pi)).toEqual([]);
    expect(await readPowerSupplies(join(pi, 'missing'))).toEqual([]);
    expect(chargingFromStatus('Not charging', false)).toBe(true);
    expect(chargingFromStatus('Unknown', null)).toBeNull();
  });

  it('navigator.getBattery, where the browser has it', async () => {
    expect(browserBattery({})).toBeNull();
    expect(browserBattery(undefined)).toBeNull();
    const b = browserBattery({ getBattery: async () => ({ level: 0.42, charging: false }) })!;
    expect(await b.read()).toEqual([{ source: 'browser', percent: 42, charging: false }]);
  });
});

describe('modes', () => {
  it('continuous modes share one feature stride; smoothing forbids duty cycling and fractional strides', () => {
    const r = resolveModes({ windowSec: 4, hopSec: 4, fs: 200, smoothing: 'none' });
    expect(r.baseStrideSec).toBe(1);
    expect(MODES.map((m) => r.table[m].dutyCycle)).toEqual([false, false, true, true]);
    const s = resolveModes({ windowSec: 4, hopSec: 2, fs: 200, smoothing: 'lds' }, { performance: { strideSec: 1 } });
    expect(s.baseStrideSec).toBe(2);
    expect(s.table.performance.strideSec).toBe(2);
    expect(s.table.saver.dutyCycle).toBe(false);
    expect(s.notes.join(' ')).toMatch(/smooths features/);
    expect(() => resolveModes({ windowSec: 4, hopSec: 4, fs: 200, smoothing: 'none' }, { saver: { strideSec: 0.0001 } })).toThrow(
      /whole number of samples/,
    );
  });
});
