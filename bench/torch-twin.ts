/**
 * Runs a benchmark's PyTorch twin: a Python source given inline, once per thread count, each run getting its config
 * as JSON in argv[1] and printing one JSON object of rates. Debian's torch does its matrix products in the system
 * OpenBLAS, whose own thread pool `torch.set_num_threads` does not reach; left alone it runs 2 threads even in the
 * "1 thread" row (and spins under load), so each process gets OMP/OpenBLAS/MKL thread counts in its environment.
 */
import { spawnSync } from 'node:child_process';

/**
 * Python helper for twin scripts (after `cfg` is parsed): seconds per call of `epoch`, after one warm-up call,
 * over whole calls for at least cfg['minSeconds'].
 */
export const PY_TIMED = String.raw`
def timed(epoch):
    epoch()
    t0 = time.perf_counter(); reps = 0
    while True:
        epoch(); reps += 1
        if time.perf_counter() - t0 >= cfg['minSeconds']:
            return (time.perf_counter() - t0) / reps
`;

export type TorchRates = { rates: Record<string, number> } | { note: string };

export function runTorchTwin(py: string, threadCounts: readonly number[], config: (threads: number) => object): TorchRates {
  const rates: Record<string, number> = {};
  for (const threads of threadCounts) {
    const t = String(threads);
    const env = { ...process.env, OMP_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, MKL_NUM_THREADS: t };
    const r = spawnSync('/usr/bin/python3', ['-c', py, JSON.stringify(config(threads))], { encoding: 'utf8', timeout: 900_000, env });
    if (r.error) return { note: `PyTorch comparison skipped: ${r.error.message}` };
    if (r.status !== 0) return { note: `PyTorch comparison skipped: ${(r.stderr || '').trim().split('\n').pop() ?? 'failed'}` };
    try {
      Object.assign(rates, JSON.parse(r.stdout) as Record<string, number>);
    } catch {
      return { note: 'PyTorch comparison skipped: unreadable output' };
    }
  }
  return { rates };
}
