/**
 * Does a model fit a headband, and which of the headband's presets serve it: the card is checked against the
 * driver's profile (electrodes, sampling rate) before anything is written to the device, and the lean preset is
 * the one streaming the fewest characteristics and channels that still carry the model's electrodes (the AUX,
 * PPG and motion streams the model does not use are dropped where a preset allows it). All from the registry.
 */
import type { DeviceProfile, DeviceSetup, HeadbandDriver, PreparedDevice } from '../../firmware-bridge/drivers/types.js';
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import type { ModelCard } from '../model-card.js';

export class RunSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunSetupError';
  }
}

/** The device electrodes a model reads, in its input order. */
export function modelSites(card: ModelCard): string[] {
  return card.montage?.sites ?? card.channels;
}

const has = (profile: DeviceProfile, site: string) => profile.channels.some((c) => c.name.toUpperCase() === site.toUpperCase());

function tryProfile(driver: HeadbandDriver, setup: DeviceSetup): DeviceProfile | null {
  try {
    return driver.profile(setup);
  } catch {
    return null;
  }
}

/** Why the model cannot run on this device under `setup`, or null when it can. */
export function cardMismatch(card: ModelCard, driver: HeadbandDriver, setup: DeviceSetup, source: string): string | null {
  if (card.modality !== 'eeg') return `${source} is an ${card.modality} model; a headband streams EEG (run an EEG student)`;
  const sites = modelSites(card);
  if (sites.length !== card.channels.length)
    return `${source}: the card's montage names ${sites.length} sites for ${card.channels.length} channels`;
  const profile = driver.profile(setup);
  const where = `${driver.label}${setup.preset ? ` (preset ${setup.preset})` : ''}`;
  const missing = sites.filter((s) => !has(profile, s));
  if (missing.length) {
    const other = driver.presets.find((p) => {
      const pr = tryProfile(driver, { ...setup, preset: p });
      return pr !== null && sites.every((s) => has(pr, s));
    });
    const names = profile.channels.map((c) => c.name).join(', ');
    return `${source} needs the electrode${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, but the ${where} streams ${names}${other ? `; preset ${other} has them` : ''}`;
  }
  const fs = profile.sampleRate;
  if (!Number.isInteger(fs) || !Number.isInteger(card.fs))
    return `${source}: the model's rate (${card.fs} Hz) and the ${where}'s (${fs} Hz) must be whole numbers of Hz to resample`;
  if (card.fs > fs)
    return `${source} was trained at ${card.fs} Hz, but the ${where} samples at ${fs} Hz (features cannot be made at a higher rate than the device's)`;
  const top = Math.max(...card.bands.map((b) => b.hi));
  if (top >= fs / 2) return `${source}'s highest band reaches ${top} Hz, at or above the ${where}'s Nyquist frequency (${fs / 2} Hz)`;
  const win = card.windowSec * card.fs;
  if (Math.abs(win - Math.round(win)) > 1e-6)
    return `${source}: a ${card.windowSec}-s window is not a whole number of samples at ${card.fs} Hz`;
  return null;
}

/**
 * The lean preset for a model: among the driver's presets that carry every site, the one with the fewest notified
 * characteristics, then the fewest channels; the full preset wins ties. null for devices without presets.
 */
export function leanPreset(driver: HeadbandDriver, sites: readonly string[], full: string | null, setup: DeviceSetup = {}): string | null {
  if (!driver.presets.length) return null;
  let best: { preset: string; cost: [number, number] } | null = null;
  const order = full ? [full, ...driver.presets.filter((p) => p !== full)] : [...driver.presets];
  for (const p of order) {
    const pr = tryProfile(driver, { ...setup, preset: p });
    if (!pr || !sites.every((s) => has(pr, s))) continue;
    const cost: [number, number] = [pr.notify.length, pr.channels.length];
    if (!best || cost[0] < best.cost[0] || (cost[0] === best.cost[0] && cost[1] < best.cost[1])) best = { preset: p, cost };
  }
  return best?.preset ?? full;
}

/**
 * The setup to check a card against: the preset asked for (or the default) and the channel labels the link knows,
 * else those the device reports about itself (the driver's one-time reads, e.g. the open EEG profile's info).
 */
export async function deviceSetup(
  driver: HeadbandDriver,
  p: GattPeripheral,
  preset: string | null,
  channelNames?: readonly string[],
): Promise<DeviceSetup> {
  let names = channelNames;
  if (!names && driver.prepare) names = (await driver.prepare(p).catch(() => ({}) as PreparedDevice)).channelNames;
  return { ...(preset ? { preset } : {}), ...(names && names.length ? { channelNames: names } : {}) };
}
