/**
 * The command line a Pi bundle's main.js hands to `cmcrd run` (or calibrate): the options baked in at deploy time
 * (model path relative to the bundle, device, calibration), unless the environment or argv gives them. Precedence:
 * argv > environment (CMCRD_MODEL, CMCRD_DEVICE, CMCRD_CALIBRATION; an empty CMCRD_CALIBRATION drops the baked
 * one) > baked. Pure, so the precedence is tested without a bundle.
 */
import { isAbsolute, resolve } from 'node:path';

/** What `cmcrd deploy pi` bakes into main.js; paths are relative to the bundle folder. */
export interface BakedRunOptions {
  model: string;
  device?: string;
  calibration?: string;
  /** The toolkit version the bundle was built from. */
  toolkit: string;
}

/** The commands a bundle carries; the first is the default when argv names none. */
export const BUNDLE_COMMANDS = ['run', 'calibrate'] as const;

/** Environment variables main.js reads (also listed in the bundle's README and unit). */
export const BUNDLE_ENV = { model: 'CMCRD_MODEL', device: 'CMCRD_DEVICE', calibration: 'CMCRD_CALIBRATION', engine: 'CMCRD_ORT' } as const;

const has = (args: readonly string[], flag: string): boolean => args.some((a) => a === flag || a.startsWith(`${flag}=`));

/**
 * The arguments after `node main.js` → the arguments for the bundle's commander program (command first).
 * `bundleDir` anchors the baked relative paths; paths from the environment are taken as given (relative to the
 * working directory, like argv).
 */
export function bundleArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  baked: BakedRunOptions,
  bundleDir: string,
  commands: readonly string[] = BUNDLE_COMMANDS,
): string[] {
  const first = argv[0];
  // Help, version and commands not carried here (e.g. `help`) go to commander unchanged.
  if (first !== undefined && !first.startsWith('-') && !commands.includes(first)) return [...argv];
  if (first === '--version' || first === '-V' || ((first === '--help' || first === '-h') && argv.length === 1)) return [...argv];
  const command = first !== undefined && commands.includes(first) ? first : commands[0]!;
  const rest = first === command ? argv.slice(1) : [...argv];
  if (has(rest, '--help') || has(rest, '-h')) return [command, ...rest];
  const inBundle = (p: string) => (isAbsolute(p) ? p : resolve(bundleDir, p));
  const extra: string[] = [];
  const model = env[BUNDLE_ENV.model] || inBundle(baked.model);
  if (!has(rest, '--model')) extra.push('--model', model);
  const device = env[BUNDLE_ENV.device] || baked.device;
  if (!has(rest, '--device') && device) extra.push('--device', device);
  if (command === 'run' && !has(rest, '--calibration')) {
    const fromEnv = env[BUNDLE_ENV.calibration];
    const calibration = fromEnv !== undefined ? fromEnv : baked.calibration !== undefined ? inBundle(baked.calibration) : '';
    if (calibration) extra.push('--calibration', calibration);
  }
  return [command, ...extra, ...rest];
}
