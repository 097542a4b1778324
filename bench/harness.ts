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
export async function timeIt(
  fn: () => unknown | Promise<unknown>,
  minMs = 500,
  minIters = 3,
): Promise<{ msPerCall: number; iters: number }> {
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

/** One measurement as stored in bench/results.json: which suite made it and when. */
export interface StoredResult extends BenchResult {
  suite?: string;
  /** ISO time the run that made this result started */
  measured?: string;
  /** made by a `--quick` run (smaller sizes) */
  quick?: boolean;
}

export interface ResultsFile {
  started: string;
  node: string;
  cpus: number;
  quick: boolean;
  results: StoredResult[];
}

/**
 * Results file after a run of some suites: the fresh results, plus every earlier result that this run did not
 * replace, so `cmcrd bench --only train` refreshes the training figures without dropping the others. An earlier
 * result is replaced when its suite ran again, or (files written before results named their suite) when a fresh
 * result has the same name.
 */
export function mergeResults(
  previous: ResultsFile | null,
  suitesRun: string[],
  fresh: StoredResult[],
  meta: Omit<ResultsFile, 'results'>,
): ResultsFile {
  const ran = new Set(suitesRun);
  const names = new Set(fresh.map((r) => r.name));
  const kept = (previous?.results ?? [])
    .filter((r) => !(r.suite !== undefined ? ran.has(r.suite) : names.has(r.name)))
    .map((r) => (r.measured || !previous ? r : { ...r, measured: previous.started }));
  return { ...meta, results: [...kept, ...fresh] };
}

/** Parse an existing results file; throws an Error naming the file and what is wrong with it. */
export function parseResultsFile(text: string, file: string): ResultsFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message}); move it away or pass --out another file`);
  }
  const o = v as Partial<ResultsFile> | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.results))
    throw new Error(`${file}: no "results" array; move it away or pass --out another file`);
  o.results.forEach((r, i) => {
    if (!r || typeof r.name !== 'string' || typeof r.value !== 'number' || typeof r.unit !== 'string') {
      throw new Error(`${file}: results[${i}] needs a string "name", a number "value" and a string "unit"`);
    }
  });
  return { started: String(o.started ?? ''), node: String(o.node ?? ''), cpus: Number(o.cpus ?? 0), quick: !!o.quick, results: o.results };
}
