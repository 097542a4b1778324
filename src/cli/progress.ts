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
 * Ctrl-C handling: the first SIGINT sets `interrupted` so loops can finish their current step and keep
 * what is done; a second SIGINT exits at once.
 */
export class Interrupt {
  interrupted = false;
  private readonly handler = () => {
    if (this.interrupted) process.exit(130);
    this.interrupted = true;
    process.stderr.write('\ninterrupt: finishing the current step (Ctrl-C again to abort)\n');
  };
  constructor() {
    process.on('SIGINT', this.handler);
  }
  dispose(): void {
    process.off('SIGINT', this.handler);
  }
}
