/**
 * The architecture rules of DEVELOPERS.md, checked mechanically:
 * - dependency-cruiser with .dependency-cruiser.cjs (through test/depcruise.ts): the layer order
 *   src → export → runtime → firmware-bridge, no imports of bench/, test/ or scripts/ from the four roots, no import
 *   cycles, no tfjs in runtime/, firmware-bridge/ or export/, Node built-ins and Node-only packages in runtime/ and
 *   firmware-bridge/ only in *.node.ts files; and a planted tree shows that each rule does report;
 * - what an import graph cannot show: Node globals (process, Buffer, __dirname, require) in browser-safe files;
 * - no source file over 500 lines without a one-line reason at its top: `// size: …` (`# size: …` in Python).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRUISED, cruiseTree, formatViolation, keepTypeImports, REPO } from './depcruise.js';

function files(dir: string, match: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (/^(node_modules|dist|fixtures|vendor)$/.test(name)) continue;
    if (statSync(p).isDirectory()) out.push(...files(p, match));
    else if (match.test(name) && !/\.d\.[cm]?ts$/.test(name)) out.push(p);
  }
  return out;
}

describe('dependency-cruiser', () => {
  it('the repository has no violation of .dependency-cruiser.cjs', async () => {
    const r = await cruiseTree(REPO);
    expect(r.violations.map(formatViolation)).toEqual([]);
    // It did see the tree: every root, and the imports between them.
    expect(r.modules).toBeGreaterThan(150);
    expect(r.dependencies).toBeGreaterThan(500);
  });

  it('reports each rule on a planted tree (type-only, re-export, dynamic import and require forms too)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cmcrd-planted-'));
    const plant = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    try {
      plant('src/a.ts', "import { r } from '../runtime/ok.js';\nexport const a = r;\n");
      plant('src/uses-bench.ts', "import '../bench/b.js';\n");
      plant('src/cycle-a.ts', "import { b } from './cycle-b.js';\nexport const a = () => b;\n");
      plant('src/cycle-b.ts', "import { a } from './cycle-a.js';\nexport const b = () => a;\n");
      plant('export/up.ts', "import type { A } from '../src/types.js';\nexport type B = A;\n");
      plant('src/types.ts', 'export type A = number;\n');
      plant('export/tf.ts', "export { tensor } from '@tensorflow/tfjs-core';\n");
      plant('runtime/ok.ts', "import { f } from '../firmware-bridge/f.js';\nexport const r = f;\n");
      plant('runtime/tf-type.ts', "import type { Tensor } from '@tensorflow/tfjs-core';\nexport type T = Tensor;\n");
      plant(
        'runtime/fs.ts',
        "import { readFileSync } from 'node:fs';\nimport { join } from 'path';\nexport const g = [readFileSync, join];\n",
      );
      plant(
        'runtime/ok.node.ts',
        "import { readFileSync } from 'node:fs';\nimport * as ort from 'onnxruntime-node';\nexport const g = [readFileSync, ort];\n",
      );
      plant('runtime/ort.ts', "import * as ort from 'onnxruntime-node';\nexport const o = ort;\n");
      plant('firmware-bridge/f.ts', 'export const f = 1;\n');
      plant('firmware-bridge/up.ts', "export const load = () => import('../runtime/ok.js');\n");
      plant('firmware-bridge/req.js', "const tf = require('@tensorflow/tfjs');\nmodule.exports = { tf };\n");
      plant('firmware-bridge/missing.ts', "export { x } from './nowhere.js';\n");
      plant('src/uses-web.ts', "import '../web/w.js';\n");
      plant(
        'web/w.ts',
        "import type { A } from '../src/types.js';\nimport { readFileSync } from 'node:fs';\nexport type W = A;\nexport const w = readFileSync;\n",
      );
      plant('bench/b.ts', "import { a } from '../src/a.js';\nexport const b = a;\n");
      plant(
        'test/t.ts',
        "import { a } from '../src/a.js';\nimport { b } from '../bench/b.js';\nimport * as tf from '@tensorflow/tfjs-core';\nexport const t = [a, b, tf];\n",
      );
      const r = await cruiseTree(root);
      const got = r.violations
        .filter((v) => v.rule !== 'no-circular')
        .map((v) => `${v.rule}: ${v.from} → ${v.to}`)
        .sort();
      // A cycle is reported once, from whichever of its files comes first.
      const cycles = r.violations.filter((v) => v.rule === 'no-circular');
      expect(cycles).toHaveLength(1);
      expect([cycles[0]!.from, ...cycles[0]!.cycle!].sort()).toEqual(['src/cycle-a.ts', 'src/cycle-b.ts', 'src/cycle-a.ts'].sort());
      expect(got).toEqual(
        [
          'browser-safe-no-tfjs: firmware-bridge/req.js → @tensorflow/tfjs',
          'browser-safe-no-tfjs: runtime/tf-type.ts → @tensorflow/tfjs-core',
          'browser-safe-node-builtins: runtime/fs.ts → fs',
          'browser-safe-node-builtins: runtime/fs.ts → path',
          'browser-safe-node-packages: runtime/ort.ts → onnxruntime-node',
          'export-no-tfjs: export/tf.ts → @tensorflow/tfjs-core',
          'layer-export: export/up.ts → src/types.ts',
          'layer-firmware-bridge: firmware-bridge/up.ts → runtime/ok.ts',
          'no-tooling-imports: src/uses-bench.ts → bench/b.ts',
          'no-app-imports: src/uses-web.ts → web/w.ts',
          'web-app-browser-only: web/w.ts → src/types.ts',
          'web-app-no-node-builtins: web/w.ts → fs',
          'no-unresolvable-relative: firmware-bridge/missing.ts → ./nowhere.js',
        ].sort(),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('type-only imports and re-exports are kept as imports; type declarations are left alone', () => {
    expect(
      keepTypeImports(
        "import type { A } from './a.js';\nimport type * as B from 'b';\nexport type { C } from './c.js';\nexport type * from './d.js';",
      ),
    ).toBe("import { A } from './a.js';\nimport * as B from 'b';\nexport { C } from './c.js';\nexport * from './d.js';");
    const decls = 'export type E = { a: number };\nexport type { E as F };\ntype G = import("x").Y;';
    expect(keepTypeImports(decls)).toBe(decls);
  });
});

describe('browser-safe code', () => {
  // An import graph does not show globals; comments are stripped so prose may mention them.
  for (const root of ['runtime', 'firmware-bridge']) {
    it(`${root}/ uses Node globals only in *.node.ts files`, () => {
      const scanned = files(join(REPO, root), /\.[cm]?[jt]sx?$/);
      expect(scanned.length).toBeGreaterThan(0);
      const bad = scanned.filter(
        (f) =>
          !/\.node\.[cm]?[jt]s$/.test(f) &&
          /\b(process\.|Buffer\.|__dirname|require\()/.test(readFileSync(f, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')),
      );
      expect(bad.map((f) => relative(REPO, f))).toEqual([]);
    });
  }
});

/** Files of `texts` over `limit` lines whose first line gives no reason (`// size: …` or `# size: …`, ≥ 10 characters). */
export function oversized(texts: ReadonlyMap<string, string>, limit = 500): string[] {
  const out: string[] = [];
  for (const [path, text] of texts) {
    const lines = text.split('\n');
    const n = lines.length - (lines.at(-1) === '' ? 1 : 0);
    if (n > limit && !/^(\/\/|#) size: \S.{9,}/.test(lines[0]!)) out.push(`${path}: ${n} lines`);
  }
  return out;
}

describe('file size', () => {
  it('no source file over 500 lines without a reason on its first line', () => {
    const texts = new Map<string, string>();
    for (const d of [...CRUISED, 'bin']) {
      try {
        for (const f of files(join(REPO, d), /\.([cm]?[jt]sx?|py)$/)) texts.set(relative(REPO, f), readFileSync(f, 'utf8'));
      } catch {
        /* no such folder */
      }
    }
    expect(texts.size).toBeGreaterThan(150);
    expect(oversized(texts)).toEqual([]);
  });

  it('the size check counts lines and accepts only a reason on the first line', () => {
    const long = (first: string, n = 501) => [first, ...Array.from({ length: n - 1 }, (_, i) => `const x${i} = ${i};`)].join('\n') + '\n';
    const r = oversized(
      new Map([
        ['a.ts', long('/** no reason */')],
        ['b.ts', long('// size: a generated table of coefficients')],
        ['c.py', long('# size: one reference implementation, kept whole')],
        ['d.ts', long('/** exactly the limit */', 500)],
        ['e.ts', long('// size: ok')], // too short to be a reason
        ['f.ts', '/** x */\n' + long('// size: on the second line, not the first')],
      ]),
    );
    expect(r).toEqual(['a.ts: 501 lines', 'e.ts: 501 lines', 'f.ts: 502 lines']);
  });
});
