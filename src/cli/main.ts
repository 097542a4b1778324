/**
 * The `cmcrd` command line. Each command lives in its own module under ./commands and registers itself
 * on the shared commander program; add new commands by adding one `register…` line below. Commands import the
 * error type from ./errors.ts and shared options from ./options.ts, never this module. The benchmarks are not a
 * command: they have their own entry, bench/main.ts (`npm run bench`), since src/ never imports bench/.
 */
import { Command } from 'commander';
import { registerDemo } from './commands/demo.js';
import { registerDecode } from './commands/decode.js';
import { registerRecord } from './commands/record.js';
import { registerFeatures } from './commands/features.js';
import { registerDataset } from './commands/dataset.js';
import { registerTrain } from './commands/train.js';
import { registerCompare } from './commands/compare.js';
import { registerExport } from './commands/export.js';
import { registerInspect } from './commands/inspect.js';
import { registerRun } from './commands/run.js';
import { registerCalibrate } from './commands/calibrate.js';
import { registerDeploy } from './commands/deploy.js';
import { registerServe } from './commands/serve.js';
import { registerWorker } from './commands/worker.js';
import { registerFleet } from './commands/fleet.js';
import { runProgram } from './program.js';
import { registerPair } from './commands/pair.js';
import { registerDevices } from './commands/devices.js';
import { TOOLKIT_VERSION } from '../version.js';

export { CliError } from './errors.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('cmcrd')
    .description('CMCRD edge toolkit: train an EEG student with an eye-movement teacher, export it, run it on a headband.')
    .version(TOOLKIT_VERSION)
    .showHelpAfterError()
    // Before the commands are registered, so every command and subcommand inherits it: commander then throws
    // instead of calling process.exit(1), and runProgram maps its errors to exit code 2 like our own.
    .exitOverride();
  registerDemo(program);
  registerDecode(program);
  registerRecord(program);
  registerFeatures(program);
  registerDataset(program);
  registerTrain(program);
  registerCompare(program);
  registerExport(program);
  registerInspect(program);
  registerPair(program);
  registerDevices(program);
  registerRun(program);
  registerCalibrate(program);
  registerDeploy(program);
  registerServe(program);
  registerWorker(program);
  registerFleet(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await runProgram(buildProgram(), argv);
}
