/**
 * Progress reporting and clean interruption for long CLI work.
 * A TTY gets a cli-progress bar; logs and CI get a periodic plain line (at most one every `minIntervalMs`).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

export function progress(label: string, total: number, opts: { stream?: NodeJS.WriteStream; minIntervalMs?: number } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} {info}`, stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (done, info) => bar.update(done, { info: formatInfo(info) }),
      stop: () => bar.stop(),
    };
  }
  const minInterval = opts.minIntervalMs ?? 2000;
  let last = 0;
  let lastDone = -1;
  return {
    update(done, info) {
      const now = Date.now();
      if (done === total || now - last >= minInterval) {
        if (done === lastDone) return;
        last = now;
        lastDone = done;
        stream.write(`${label} ${done}/${total} ${formatInfo(info)}\n`);
      }
    },
    stop() {},
  };
}

function formatInfo(info?: Record<string, string | number>): string {
  if (!info) return '';
  return Object.entries(info)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(4)) : v}`)
    .join(' ');
}

/**
 * Ctrl-C and SIGTERM handling: the first signal sets `interrupted` so loops can finish their current step and
 * keep what is done; a second one exits at once. SIGTERM counts too because that is how job schedulers,
 * `timeout`, `docker stop` and systemd end a long run. `exitCode` follows the shell convention 128 + signal.
 */
export class Interrupt {
  interrupted = false;
  signal: 'SIGINT' | 'SIGTERM' | null = null;
  private readonly onInt = () => this.handle('SIGINT');
  private readonly onTerm = () => this.handle('SIGTERM');
  constructor() {
    process.on('SIGINT', this.onInt);
    process.on('SIGTERM', this.onTerm);
  }
  /** 130 after SIGINT, 143 after SIGTERM. */
  get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : 130;
  }
  private readonly listeners: Array<() => void> = [];
  /** Called once, at the first signal (e.g. to pass the stop on to child processes). */
  onInterrupt(listener: () => void): void {
    this.listeners.push(listener);
  }
  private handle(signal: 'SIGINT' | 'SIGTERM'): void {
    if (this.interrupted) process.exit(signal === 'SIGTERM' ? 143 : 130);
    this.interrupted = true;
    this.signal = signal;
    process.stderr.write(
      `\n${signal === 'SIGINT' ? 'interrupt' : 'terminate'}: finishing the current step (${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to abort)\n`,
    );
    for (const l of this.listeners) l();
  }
  dispose(): void {
    process.off('SIGINT', this.onInt);
    process.off('SIGTERM', this.onTerm);
  }
}
