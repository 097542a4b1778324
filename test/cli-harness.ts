/** Run the `cmcrd` CLI (or another entry with the same shape) in-process, capturing stdout/stderr and the exit code. */
import { vi } from 'vitest';
import { main } from '../src/cli/main.js';

export type Output = { out: string; err: string; code: number };

/** Call `entry` with process.argv-style arguments (node, script, …args) and capture what it prints. */
export async function runEntry(entry: (argv: string[]) => Promise<void>, script: string, ...args: string[]): Promise<Output> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  process.exitCode = 0;
  try {
    await entry(['node', script, ...args]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out, err, code };
}

export function runCli(...args: string[]): Promise<Output> {
  return runEntry(main, 'cmcrd', ...args);
}
