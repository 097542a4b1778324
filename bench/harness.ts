/**
 * Benchmark harness for `npm run bench`. Each suite returns named measurements; the command prints them and
 * writes bench/results.json. Suites that compare against a reference (scipy, PyTorch) run both in the same
 * process run and report the ratio, since these machines are shared and noisy.
 */
export interface BenchResult {
  /** e.g. "dsp.seed-de.4ch" */
  name: string;
  value: number;
  /** e.g. "µs/window", "samples/s", "x" (ratio) */
  unit: string;
  /** free-form details: sizes, reference value, ratio, notes */
  detail?: Record<string, string | number | boolean>;
}

export interface BenchContext {
  /** True when the user asked for a quick run (`cmcrd bench --quick`): smaller sizes, fewer repetitions. */
  quick: boolean;
  log(line: string): void;
}

export interface BenchSuite {
  name: string;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

/** Time `fn` repeatedly for at least `minMs` (after one warm-up call); returns mean ms per call. */
export async function timeIt(fn: () => unknown | Promise<unknown>, minMs = 500, minIters = 3): Promise<{ msPerCall: number; iters: number }> {
  await fn();
  let iters = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minMs || iters < minIters) {
    await fn();
    iters++;
    elapsed = performance.now() - t0;
  }
  return { msPerCall: elapsed / iters, iters };
}
