/**
 * Fan-out of run events: listeners (the JSON Lines writer, the SSE server) are called synchronously in order;
 * async iterators each get their own queue. Once the hub ends (after the summary), iterators finish.
 */
import type { RunEvent } from './events.js';

export class EventHub {
  private readonly listeners = new Set<(e: RunEvent) => void>();
  private readonly iterators = new Set<IteratorQueue>();
  private ended = false;
  /** Events published so far, by type. */
  readonly counts = new Map<string, number>();
  /** The last event of each type (for /health and late subscribers). */
  readonly last = new Map<string, RunEvent>();

  publish(e: RunEvent): void {
    if (this.ended) return;
    this.counts.set(e.type, (this.counts.get(e.type) ?? 0) + 1);
    this.last.set(e.type, e);
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A failing consumer (e.g. a closed socket) must not stop the run or the other consumers.
      }
    }
    for (const q of this.iterators) q.push(e);
  }

  /** Listen until the returned function is called. */
  subscribe(listener: (e: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const q of this.iterators) q.close();
    this.iterators.clear();
  }

  /** An async iterator over the events from now on; it finishes after the hub ends. */
  iterate(): AsyncIterableIterator<RunEvent> {
    const q = new IteratorQueue(() => this.iterators.delete(q));
    if (this.ended) q.close();
    else this.iterators.add(q);
    return q;
  }
}

class IteratorQueue implements AsyncIterableIterator<RunEvent> {
  private items: RunEvent[] = [];
  private head = 0;
  private waiting: ((r: IteratorResult<RunEvent>) => void) | null = null;
  private closed = false;

  constructor(private readonly onReturn: () => void) {}

  push(e: RunEvent): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value: e, done: false });
    } else this.items.push(e);
  }

  close(): void {
    this.closed = true;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<RunEvent>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((r) => (this.waiting = r));
  }

  return(): Promise<IteratorResult<RunEvent>> {
    this.closed = true;
    this.items = [];
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<RunEvent> {
    return this;
  }
}
