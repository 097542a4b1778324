/**
 * The benchmark entry, `npm run bench [-- --quick] [-- --only suite,…]` (= `tsx bench/main.ts …`): runs the suites
 * of ./index.ts and writes bench/results.json. It is its own program rather than a `cmcrd` command because bench/
 * imports src/ (to measure it) and src/ never imports bench/.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { CliError } from '../src/cli/errors.js';
import { runProgram } from '../src/cli/program.js';
import { optionalSuites, suites } from './index.js';
import { mergeResults, parseResultsFile, type ResultsFile, type StoredResult } from './harness.js';

interface BenchFlags {
  quick?: boolean;
  only?: string;
  out: string;
}

async function runBench(o: BenchFlags): Promise<void> {
  // A repeated name runs its suite once; an empty entry (e.g. a trailing comma) is ignored.
  const wanted = o.only
    ? [
        ...new Set(
          o.only
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ]
    : null;
  const all = [...suites, ...optionalSuites];
  if (wanted && !wanted.length) throw new CliError('--only names no suite');
  const unknown = wanted ? wanted.filter((w) => !all.some((s) => s.name === w)) : [];
  if (unknown.length) throw new CliError(`unknown suite in --only: ${unknown.join(', ')} (have: ${all.map((s) => s.name).join(', ')})`);
  const chosen = wanted ? all.filter((s) => wanted.includes(s.name)) : suites;
  // Read the existing file first: results of suites not run now are kept, and a bad file stops us before
  // minutes of benchmarking rather than after.
  let previous: ResultsFile | null = null;
  const text = await readFile(o.out, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw new CliError(`cannot read ${o.out}: ${e.message}`);
  });
  if (text !== null) {
    try {
      previous = parseResultsFile(text, o.out);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  const collected: StoredResult[] = [];
  const started = new Date().toISOString();
  for (const suite of chosen) {
    process.stderr.write(`bench: ${suite.name}\n`);
    const results = await suite.run({ quick: !!o.quick, log: (l) => process.stderr.write(`  ${l}\n`) });
    for (const r of results) {
      process.stdout.write(
        `${r.name.padEnd(44)} ${formatValue(r.value).padStart(12)} ${r.unit}${r.detail ? '  ' + JSON.stringify(r.detail) : ''}\n`,
      );
    }
    collected.push(...results.map((r) => ({ ...r, suite: suite.name, measured: started, ...(o.quick ? { quick: true } : {}) })));
  }
  await mkdir(dirname(o.out), { recursive: true });
  const meta = { started, node: process.version, cpus: cpus().length, quick: !!o.quick };
  const merged = mergeResults(
    previous,
    chosen.map((s) => s.name),
    collected,
    meta,
  );
  await writeFile(o.out, JSON.stringify(merged, null, 2) + '\n');
  const kept = merged.results.length - collected.length;
  process.stderr.write(`bench: wrote ${o.out}${kept ? ` (${kept} earlier result${kept === 1 ? '' : 's'} of other suites kept)` : ''}\n`);
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

export function buildBenchProgram(): Command {
  return new Command()
    .name('bench')
    .description('run the benchmarks (speed and memory targets live here, not in the tests)')
    .option('--quick', 'smaller sizes and fewer repetitions')
    .option('--only <names>', 'comma-separated suite names (also runs optional long suites such as train-pipeline)')
    .option('--out <file>', 'results file', 'bench/results.json')
    .showHelpAfterError()
    .exitOverride()
    .action((o: BenchFlags) => runBench(o));
}

/** Run the benchmarks with `argv` as process.argv (node, script, options…); sets process.exitCode. */
export async function main(argv: readonly string[]): Promise<void> {
  await runProgram(buildBenchProgram(), argv);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv);
