/**
 * From the `--device` of `cmcrd run` / `cmcrd calibrate` to a DeviceLink (Node: replays are read from disk, the
 * allow-list from the per-user config, noble is the radio).
 */
import { openDevice } from '../../firmware-bridge/open.node.js';
import { createSimTransport } from '../../firmware-bridge/sim/scanner.js';
import { DeviceUriError, parseSimUri } from '../../firmware-bridge/sim/uri.js';
import { createNobleTransport } from '../../firmware-bridge/transports/noble.node.js';
import { errorMessage, TransportError, type BleTransport, type TransportName } from '../../firmware-bridge/transports/transport.js';
import { AllowListError, describeEntry } from '../pairing/allow-list.js';
import { DeviceNotAllowedError, resolveDevice } from '../pairing/resolve.js';
import { AllowListStore } from '../pairing/store.node.js';
import { RunSetupError } from './device-fit.js';
import { linkFor, openPairedLink } from './links.js';
import type { DeviceLink } from './supervisor.js';

export interface ResolveRunDeviceOptions {
  /** Virtual epoch (ms) for `sim:` devices on the run's virtual clock (default 0). */
  startMs?: number;
  /** Preset asked for on the command line (a sim: URI's own preset= must agree). */
  preset?: string;
  /** The allow-list file (default $XDG_CONFIG_HOME/cmcrd/devices.json). */
  allowListPath?: string;
  /**
   * Builds the transport a paired headband is reached through (default: noble → createNobleTransport(); sim → the
   * simulated radio, its headbands on the run's virtual clock). Tests pass a noble transport around a fake noble.
   */
  transport?: (name: TransportName, ctx: { startMs: number }) => BleTransport;
}

export interface ResolvedRunDevice {
  link: DeviceLink;
  /** True when the device runs on a manual clock, so the run needs a virtual clock (and --speed applies). */
  virtual: boolean;
}

/** The default transports: the real radio, or the simulated one whose headbands the run's virtual clock moves. */
export function defaultRunTransport(name: TransportName, ctx: { startMs: number }): BleTransport {
  switch (name) {
    case 'noble':
      return createNobleTransport();
    case 'sim':
      return createSimTransport({ deviceDefaults: { clock: 'manual', start: String(Math.max(0, Math.round(ctx.startMs))) } });
    case 'web-bluetooth':
      throw new RunSetupError(
        'Web Bluetooth runs in a browser only; on this machine pair the headband with `cmcrd pair --transport noble`',
      );
  }
}

/**
 * ▶ THE place where `--device` is resolved: `sim:` and `replay:` URIs open directly (no radio, no pairing); anything
 * else is looked up on the allow-list that `cmcrd pair` writes (id, alias or name; `noble:<id>` names the transport
 * too) and connected through its transport, which also carries every reconnection. A name that is not on the
 * list is refused with the reason, before any radio is touched.
 */
export async function resolveRunDevice(spec: string, opts: ResolveRunDeviceOptions = {}): Promise<ResolvedRunDevice> {
  const s = spec.trim();
  if (!s.startsWith('sim:') && !s.startsWith('replay:')) return resolvePaired(spec, opts);
  let preset = opts.preset;
  let uri = s;
  try {
    if (s.startsWith('sim:')) {
      const inUri = parseSimUri(s).params.get('preset');
      if (inUri !== undefined && preset !== undefined && inUri !== preset)
        throw new RunSetupError(`--preset ${preset} conflicts with preset=${inUri} in --device ${spec}; give the preset once`);
      preset = inUri ?? preset;
    } else if (!/[?&]clock=/.test(s)) uri = `${s}${s.includes('?') ? '&' : '?'}clock=manual`;
    const device = await openDevice(uri, {
      simDefaults: {
        clock: 'manual',
        start: String(Math.max(0, Math.round(opts.startMs ?? 0))),
        ...(preset !== undefined ? { preset } : {}),
      },
    });
    const link = linkFor(device, spec, preset);
    if (s.startsWith('replay:') && opts.preset !== undefined && link.preset !== opts.preset) {
      await link.close().catch(() => undefined);
      throw new RunSetupError(
        `--preset ${opts.preset}: ${spec} re-sends notifications recorded ${link.preset ? `with preset ${link.preset}` : 'without a preset'}; a replay cannot change it`,
      );
    }
    return { link, virtual: link.advanceable !== undefined };
  } catch (e) {
    if (e instanceof RunSetupError) throw e;
    if (e instanceof DeviceUriError) throw new RunSetupError(e.message);
    throw new RunSetupError(`cannot open ${spec}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function resolvePaired(spec: string, opts: ResolveRunDeviceOptions): Promise<ResolvedRunDevice> {
  const store = new AllowListStore(opts.allowListPath);
  let resolved;
  let allowList;
  try {
    allowList = store.load();
    resolved = resolveDevice(spec, { allowList, allowListPath: store.path });
  } catch (e) {
    if (e instanceof AllowListError || e instanceof DeviceNotAllowedError) throw new RunSetupError(`--device ${spec}: ${e.message}`);
    throw e;
  }
  // resolveDevice also takes URIs in other letter cases (SIM:…): open them as URIs.
  if (resolved.source === 'uri')
    return resolveRunDevice(
      resolved.uri.replace(/^(sim|replay):/i, (m) => m.toLowerCase()),
      opts,
    );
  const entry = resolved.entry;
  const startMs = opts.startMs ?? 0;
  const transport = (opts.transport ?? defaultRunTransport)(entry.transport, { startMs });
  try {
    const link = await openPairedLink(entry, allowList, transport, {
      label: spec,
      ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
    });
    return { link, virtual: link.advanceable !== undefined };
  } catch (e) {
    await transport.close().catch(() => undefined);
    if (e instanceof DeviceNotAllowedError) throw new RunSetupError(`--device ${spec}: ${e.message}`);
    // TransportError messages say what is wrong and what to do (no adapter, no permission, out of range).
    const why = e instanceof TransportError ? e.message : errorMessage(e);
    throw new RunSetupError(`cannot connect to ${describeEntry(entry)}: ${why}`);
  }
}
