/**
 * Running a commander program with the CLI's error rules, shared by `cmcrd` (src/cli/main.ts) and the benchmark
 * entry (bench/main.ts): user errors exit 2 with a message and no stack trace, --help and --version exit 0.
 */
import { CommanderError, type Command } from 'commander';
import { CliError } from './errors.js';

/**
 * The arguments as commander should see them. An unknown command word wins over --help: commander would print the
 * help of the level above and exit 0 (`cmcrd run --help`, `cmcrd help nosuch`), which reads as if the command
 * existed. Here the words up to the unknown one are kept, so commander reports it (with a "did you mean" hint).
 * Only levels that have subcommands are checked; they take no option with a value, so every word that does not
 * start with "-" is a command name there.
 */
export function argsForParse(program: Command, argv: readonly string[]): string[] {
  const head = argv.slice(0, 2);
  const args = argv.slice(2);
  let cmd = program;
  const path: string[] = [];
  for (const a of args) {
    if (!cmd.commands.length) break;
    if (a.startsWith('-')) continue;
    if (a === 'help' && cmd.commands.some((c) => c.name() === 'help') === false) {
      path.push(a); // commander's implicit help command: the next word must name a command of this level
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) return [...head, ...path.filter((p) => p !== 'help'), a];
    path.push(a);
    cmd = sub;
  }
  return [...argv];
}

export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  try {
    await program.parseAsync(argsForParse(program, argv));
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version exit with code 0 through this path; commander has already printed its message for a
      // missing or unknown option or command, which is a user error like any other (exit 2, as the README says).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`${program.name()}: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`${program.name()}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
