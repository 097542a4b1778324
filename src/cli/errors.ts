/**
 * The CLI's user error, in a module of its own so that commands, helpers and the `cmcrd` entry can all import it
 * without importing each other.
 */

/** A user error: the CLI prints its message without a stack trace and exits with `exitCode` (2 unless said). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
