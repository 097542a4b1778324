/**
 * The `cmcrd` command line. Each command lives in its own module under ./commands and registers itself
 * on the shared commander program; add new commands by adding one `register…` line below.
 */
import { Command, CommanderError } from 'commander';
import { registerDemo } from './commands/demo.js';
import { registerBench } from './commands/bench.js';
import { registerDecode } from './commands/decode.js';
import { registerRecord } from './commands/record.js';
import { registerFeatures } from './commands/features.js';
import { registerDataset } from './commands/dataset.js';
import { registerTrain } from './commands/train.js';
import { registerCompare } from './commands/compare.js';
import { registerExport } from './commands/export.js';
import { registerPair } from './commands/pair.js';
import { registerDevices } from './commands/devices.js';
import { TOOLKIT_VERSION } from '../version.js';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CliError';
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('cmcrd')
    .description('CMCRD edge toolkit: train an EEG student with an eye-movement teacher, export it, run it on a headband.')
    .version(TOOLKIT_VERSION)
    .showHelpAfterError()
    // Before the commands are registered, so every command and subcommand inherits it: commander then throws
    // instead of calling process.exit(1), and main() maps its errors to exit code 2 like our own.
    .exitOverride();
  registerDemo(program);
  registerBench(program);
  registerDecode(program);
  registerRecord(program);
  registerFeatures(program);
  registerDataset(program);
  registerTrain(program);
  registerCompare(program);
  registerExport(program);
  registerPair(program);
  registerDevices(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version exit with code 0 through this path; commander has already printed its message for a
      // missing or unknown option or command, which is a user error like any other (exit 2, as the README says).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`cmcrd: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`cmcrd: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
