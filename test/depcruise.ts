/**
 * Runs dependency-cruiser with the rules of .dependency-cruiser.cjs over a source tree (the repository, or a planted
 * example in a test). dependency-cruiser 17 reads TypeScript only through the `typescript` package's JavaScript API,
 * which TypeScript 7 (this repository's compiler) does not have; so each file is first transpiled with esbuild into a
 * mirror tree (x.ts → x.js, which is what the relative `.js` specifiers name) and the mirror is cruised. Type-only
 * imports are turned into plain imports before transpiling and esbuild keeps every import as written
 * (verbatimModuleSyntax), so type-only dependencies obey the rules too.
 *
 * `npm run deps:check` runs this file and prints the violations of the repository (exit 1 if any).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cruise, type ICruiseResult, type IForbiddenRuleType, type IViolation } from 'dependency-cruiser';
import { transformSync } from 'esbuild';

export const REPO = resolve(import.meta.dirname, '..');
/** What is cruised: the four source roots and the folders that may import them. */
export const CRUISED = ['src', 'export', 'runtime', 'firmware-bridge', 'web', 'deploy', 'bench', 'test', 'scripts'];
const SKIP = /(^|\/)(node_modules|dist|fixtures)(\/|$)|\.d\.[cm]?ts$/;
const SOURCE = /\.([cm]?[jt]s|tsx|jsx)$/;

export interface Violation {
  rule: string;
  /** Repository-relative source paths (the original extension, not the mirror's). */
  from: string;
  to: string;
  /** For a cycle: the files around it. */
  cycle?: string[];
}

export interface CruiseReport {
  violations: Violation[];
  /** Modules and dependencies seen: a check that the cruise saw the tree at all. */
  modules: number;
  dependencies: number;
}

function walk(dir: string, root: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const rel = relative(root, p).split('\\').join('/');
    if (SKIP.test(rel)) continue;
    if (statSync(p).isDirectory()) walk(p, root, out);
    else if (SOURCE.test(name)) out.push(rel);
  }
}

/** `import type …` and `export type {…} from …` as value imports, so that esbuild keeps them. */
export function keepTypeImports(text: string): string {
  return text
    .replace(/\bimport\s+type\s+(?=[\w{*])/g, 'import ')
    .replace(/\bexport\s+type\s+(?=(\{[^}]*\}|\*(\s+as\s+\w+)?)\s*from\b)/g, 'export ');
}

/** The file names of `rels` (repository-relative) in the mirror, and back. */
function mirrorName(rel: string): string {
  return rel.replace(/\.(m|c)?tsx?$/, (_m, k: string | undefined) => `.${k ?? ''}js`);
}

/** Cruise the folders `dirs` of `root` with the rules of `configPath`. */
export async function cruiseTree(
  root: string,
  dirs: readonly string[] = CRUISED,
  configPath = join(REPO, '.dependency-cruiser.cjs'),
): Promise<CruiseReport> {
  const files: string[] = [];
  for (const d of dirs) {
    try {
      if (statSync(join(root, d)).isDirectory()) walk(join(root, d), root, files);
    } catch {
      /* a folder the tree does not have */
    }
  }
  const mirror = mkdtempSync(join(tmpdir(), 'cmcrd-depcruise-'));
  const back = new Map<string, string>();
  try {
    for (const rel of files) {
      const dest = join(mirror, mirrorName(rel));
      mkdirSync(dirname(dest), { recursive: true });
      back.set(mirrorName(rel), rel);
      if (!/\.([cm]?ts|tsx)$/.test(rel)) {
        copyFileSync(join(root, rel), dest);
        continue;
      }
      const code = transformSync(keepTypeImports(readFileSync(join(root, rel), 'utf8')), {
        loader: rel.endsWith('x') ? 'tsx' : 'ts',
        format: 'esm',
        target: 'esnext',
        sourcefile: rel,
        tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
      }).code;
      writeFileSync(dest, code);
    }
    const config = createRequire(import.meta.url)(configPath) as { forbidden: IForbiddenRuleType[]; options: Record<string, unknown> };
    const cwd = process.cwd();
    // dependency-cruiser names modules relative to the working folder.
    process.chdir(mirror);
    let result: ICruiseResult;
    try {
      const reported = await cruise(
        dirs.filter((d) => files.some((f) => f.startsWith(d + '/'))),
        { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden } },
      );
      result = reported.output as ICruiseResult;
    } finally {
      process.chdir(cwd);
    }
    const name = (m: string) => back.get(m) ?? m;
    const violations = result.summary.violations.map((v: IViolation) => ({
      rule: v.rule.name,
      from: name(v.from),
      to: name(v.to),
      ...(v.cycle ? { cycle: v.cycle.map((c) => name(c.name)) } : {}),
    }));
    return { violations, modules: result.modules.length, dependencies: result.modules.reduce((n, m) => n + m.dependencies.length, 0) };
  } finally {
    rmSync(mirror, { recursive: true, force: true });
  }
}

export function formatViolation(v: Violation): string {
  return `${v.rule}: ${v.from} → ${v.to}${v.cycle ? ` (cycle: ${v.cycle.join(' → ')})` : ''}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await cruiseTree(REPO);
  for (const v of r.violations) process.stdout.write(formatViolation(v) + '\n');
  process.stdout.write(`dependency-cruiser: ${r.violations.length} violation(s) in ${r.modules} modules, ${r.dependencies} dependencies\n`);
  process.exitCode = r.violations.length ? 1 : 0;
}
