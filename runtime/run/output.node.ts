/**
 * JSON Lines output of a run: one line per event, to a file (opened at the first event, so a run refused before
 * it starts leaves no file behind) or to a stream such as stdout. close() ends the file and waits until every line
 * is on disk; a write error is kept and reported, never thrown into the run.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { formatEventLine, type RunEvent } from './events.js';
import type { EventHub } from './hub.js';

export interface JsonLinesOutput {
  /** The first write error (e.g. disk full), if any. */
  readonly error: NodeJS.ErrnoException | null;
  readonly lines: number;
  close(): Promise<void>;
}

export function writeJsonLines(hub: EventHub, target: { path: string } | { stream: NodeJS.WritableStream }): JsonLinesOutput {
  let file: WriteStream | null = null;
  let error: NodeJS.ErrnoException | null = null;
  let lines = 0;
  const out = (): NodeJS.WritableStream => {
    if ('stream' in target) return target.stream;
    if (!file) {
      file = createWriteStream(target.path, { encoding: 'utf8', flags: 'w' });
      file.on('error', (e) => (error ??= e));
    }
    return file;
  };
  const off = hub.subscribe((e: RunEvent) => {
    if (error) return;
    out().write(formatEventLine(e) + '\n');
    lines++;
  });
  return {
    get error() {
      return error;
    },
    get lines() {
      return lines;
    },
    async close() {
      off();
      const f = file as WriteStream | null;
      if (f) {
        f.end();
        await finished(f).catch((e: NodeJS.ErrnoException) => (error ??= e));
      }
    },
  };
}
