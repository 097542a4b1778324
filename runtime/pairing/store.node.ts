/**
 * The per-user allow-list file, `$XDG_CONFIG_HOME/cmcrd/devices.json` (default ~/.config/cmcrd/devices.json).
 * Written atomically (a temporary file in the same folder, flushed, then renamed over the old one), readable by
 * its owner only. A damaged file is reported with its path and left exactly as it is: it is never replaced
 * by an empty list behind the user's back.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { AllowListError, emptyAllowList, formatAllowList, parseAllowList, type AllowList } from './allow-list.js';

/** cmcrd's config folder: $XDG_CONFIG_HOME/cmcrd, or ~/.config/cmcrd (a relative XDG_CONFIG_HOME is ignored, as the XDG spec says). */
export function configDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.config');
  return join(base, 'cmcrd');
}

export function defaultAllowListPath(env?: Record<string, string | undefined>): string {
  return join(configDir(env), 'devices.json');
}

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));

export class AllowListStore {
  constructor(readonly path: string = defaultAllowListPath()) {}

  /** The saved list; an empty one when the file does not exist yet. */
  load(): AllowList {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyAllowList();
      throw new AllowListError(`cannot read the paired-device list ${this.path} (${code(e)})`, this.path);
    }
    try {
      return parseAllowList(text, this.path);
    } catch (e) {
      if (e instanceof AllowListError)
        throw new AllowListError(`${e.message}. The file was left as it is: fix it, or move it away to start a new list.`, this.path);
      throw e;
    }
  }

  /** Replace the file atomically with `list`. */
  save(list: AllowList): void {
    const dir = dirname(this.path);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new AllowListError(`cannot create the config folder ${dir} (${code(e)})`, this.path);
    }
    const tmp = join(dir, `.devices.json.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
    let fd: number | null = null;
    try {
      fd = openSync(tmp, 'wx', 0o600);
      writeSync(fd, formatAllowList(list));
      fsyncSync(fd);
      closeSync(fd);
      fd = null;
      renameSync(tmp, this.path);
    } catch (e) {
      if (fd !== null) closeSync(fd);
      rmSync(tmp, { force: true });
      throw new AllowListError(`cannot write the paired-device list ${this.path} (${code(e)})`, this.path);
    }
    // Make the rename itself durable (best effort: not every file system lets a folder be fsynced).
    try {
      const dfd = openSync(dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      /* ignore */
    }
  }

  /** Load, change, save; returns the saved list. */
  update(change: (list: AllowList) => AllowList): AllowList {
    const next = change(this.load());
    this.save(next);
    return next;
  }
}
