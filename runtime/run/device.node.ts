/**
 * From the `--device` of `cmcrd run` / `cmcrd calibrate` to a DeviceLink (Node: replays are read from disk).
 */
import { openDevice } from '../../firmware-bridge/open.node.js';
import { DeviceUriError, parseSimUri } from '../../firmware-bridge/sim/uri.js';
import { RunSetupError } from './device-fit.js';
import { linkFor } from './links.js';
import type { DeviceLink } from './supervisor.js';

export interface ResolveRunDeviceOptions {
  /** Virtual epoch (ms) for `sim:` devices on the run's virtual clock (default 0). */
  startMs?: number;
  /** Preset asked for on the command line (a sim: URI's own preset= must agree). */
  preset?: string;
}

export interface ResolvedRunDevice {
  link: DeviceLink;
  /** True when the device runs on a manual clock, so the run needs a virtual clock (and --speed applies). */
  virtual: boolean;
}

/**
 * ▶ THE place where `--device` is resolved. Today: `sim:` and `replay:` URIs. Saved headband names and ids
 * (the allow-list that `cmcrd pair` writes) will be resolved here through runtime/pairing's
 * `resolveDevice(spec, { allowList })`, which returns a real radio's DeviceLink; until it lands they are refused.
 */
export async function resolveRunDevice(spec: string, opts: ResolveRunDeviceOptions = {}): Promise<ResolvedRunDevice> {
  const s = spec.trim();
  if (!s.startsWith('sim:') && !s.startsWith('replay:')) {
    throw new RunSetupError(`--device ${JSON.stringify(spec)} is not a device URI (sim:… or replay:…), and saved headbands are not available yet: pair it first (cmcrd pair)`);
  }
  let preset = opts.preset;
  let uri = s;
  try {
    if (s.startsWith('sim:')) {
      const inUri = parseSimUri(s).params.get('preset');
      if (inUri !== undefined && preset !== undefined && inUri !== preset) throw new RunSetupError(`--preset ${preset} conflicts with preset=${inUri} in --device ${spec}; give the preset once`);
      preset = inUri ?? preset;
    } else if (!/[?&]clock=/.test(s)) uri = `${s}${s.includes('?') ? '&' : '?'}clock=manual`;
    const device = await openDevice(uri, { simDefaults: { clock: 'manual', start: String(Math.max(0, Math.round(opts.startMs ?? 0))), ...(preset !== undefined ? { preset } : {}) } });
    const link = linkFor(device, spec, preset);
    if (s.startsWith('replay:') && opts.preset !== undefined && link.preset !== opts.preset) {
      await link.close().catch(() => undefined);
      throw new RunSetupError(`--preset ${opts.preset}: ${spec} re-sends notifications recorded ${link.preset ? `with preset ${link.preset}` : 'without a preset'}; a replay cannot change it`);
    }
    return { link, virtual: link.advanceable !== undefined };
  } catch (e) {
    if (e instanceof RunSetupError) throw e;
    if (e instanceof DeviceUriError) throw new RunSetupError(e.message);
    throw new RunSetupError(`cannot open ${spec}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
