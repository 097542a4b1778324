/**
 * The entry esbuild bundles into a Pi bundle's main.js: a commander program with only the commands a headband
 * host needs (run, calibrate, pair, devices), run with the options `cmcrd deploy pi` baked in (argv.ts). No training code, no
 * tfjs: the bundler fails the build if any reaches it (bundle.ts).
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerCalibrate } from '../../src/cli/commands/calibrate.js';
import { registerDevices } from '../../src/cli/commands/devices.js';
import { registerPair } from '../../src/cli/commands/pair.js';
import { registerRun } from '../../src/cli/commands/run.js';
import { runProgram } from '../../src/cli/program.js';
import { BUNDLE_COMMANDS, BUNDLE_ENV, bundleArgs, type BakedRunOptions } from './argv.js';

// Replaced by the bundler (esbuild `define`); absent when this module runs unbundled (tests of the entry itself).
declare const __CMCRD_PI_BAKED__: BakedRunOptions | undefined;

const baked: BakedRunOptions = typeof __CMCRD_PI_BAKED__ !== 'undefined' ? __CMCRD_PI_BAKED__ : { model: 'model', toolkit: 'unknown' };
const bundleDir = dirname(fileURLToPath(import.meta.url));

const program = new Command()
  .name('main.js')
  .description(`cmcrd run on this host with the model of ${bundleDir} (cmcrd-edge ${baked.toolkit})`)
  .version(baked.toolkit)
  .showHelpAfterError()
  .exitOverride();
registerRun(program);
registerCalibrate(program);
// Pairing on the Pi itself (the allow-list run connects from); their arguments pass through unchanged.
registerPair(program);
registerDevices(program);

const args = bundleArgs(process.argv.slice(2), process.env, baked, bundleDir, BUNDLE_COMMANDS);
if (
  BUNDLE_COMMANDS.includes(args[0] as (typeof BUNDLE_COMMANDS)[number]) &&
  !args.some((a) => a === '--help' || a === '-h') &&
  !args.some((a) => a === '--device' || a.startsWith('--device='))
) {
  process.stderr.write(
    `main.js: no headband: pass --device <sim:…|replay:…|saved name>, set ${BUNDLE_ENV.device}, or deploy with cmcrd deploy pi --device\n`,
  );
  process.exitCode = 2;
} else {
  await runProgram(program, [process.argv[0]!, process.argv[1]!, ...args]);
}
