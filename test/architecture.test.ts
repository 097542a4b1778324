/**
 * The layering rule of DEVELOPERS.md: src → export → runtime → firmware-bridge (a root imports only roots to
 * its right); runtime/ and firmware-bridge/ never import tfjs, and use Node built-ins only in *.node.ts files;
 * export/ consumes framework-neutral checkpoints and never imports tfjs either (with the layering rule, nothing
 * it imports can: export/ may only reach runtime/ and firmware-bridge/).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const ORDER = ['src', 'export', 'runtime', 'firmware-bridge'] as const;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (/\.[cm]?[jt]sx?$/.test(name)) out.push(p); // every TypeScript / JavaScript module, not only *.ts
  }
  return out;
}

/** Module specifiers of static imports and re-exports, side-effect imports, import() and require() calls. */
function importsOf(text: string): string[] {
  const re = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;
  const out: string[] = [];
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  return out;
}

function imports(file: string): string[] {
  return importsOf(readFileSync(file, 'utf8'));
}

/** Any TensorFlow.js package (@tensorflow/tfjs, -core, -backend-wasm, …); relative paths are the layering test's job. */
const isTfjs = (spec: string) => !spec.startsWith('.') && (spec.startsWith('@tensorflow/') || /(^|[/-])tfjs([/-]|$)/.test(spec));

function rootOf(absPath: string): string | null {
  const rel = relative(ROOT, absPath).split(/[\\/]/)[0]!;
  return (ORDER as readonly string[]).includes(rel) ? rel : null;
}

describe('architecture', () => {
  for (const root of ORDER) {
    it(`${root}/ imports only ${root} and the roots to its right`, () => {
      const allowed = new Set<string>(ORDER.slice(ORDER.indexOf(root)));
      const bad: string[] = [];
      for (const f of files(join(ROOT, root))) {
        for (const spec of imports(f)) {
          if (!spec.startsWith('.')) continue;
          const target = rootOf(resolve(dirname(f), spec));
          if (target && !allowed.has(target)) bad.push(`${relative(ROOT, f)} → ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }

  for (const root of ['runtime', 'firmware-bridge']) {
    it(`${root}/ never imports tfjs and uses Node built-ins only in *.node.ts files`, () => {
      const bad: string[] = [];
      for (const f of files(join(ROOT, root))) {
        for (const spec of imports(f)) {
          if (isTfjs(spec)) bad.push(`${relative(ROOT, f)} imports ${spec}`);
          const nodeOnly = spec.startsWith('node:') || ['fs', 'path', 'os', 'child_process', 'crypto', 'fs/promises', 'onnxruntime-node', '@stoprocent/noble'].includes(spec);
          if (nodeOnly && !f.endsWith('.node.ts')) bad.push(`${relative(ROOT, f)} imports ${spec} outside a *.node.ts file`);
        }
        if (!f.endsWith('.node.ts') && /\b(process\.|Buffer\.|__dirname|require\()/.test(readFileSync(f, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''))) {
          bad.push(`${relative(ROOT, f)} uses a Node global`);
        }
      }
      expect(bad).toEqual([]);
    });
  }

  it('export/ never imports tfjs (no file is exempt)', () => {
    const scanned = files(join(ROOT, 'export'));
    expect(scanned.length).toBeGreaterThan(0);
    const bad: string[] = [];
    for (const f of scanned) for (const spec of imports(f)) if (isTfjs(spec)) bad.push(`${relative(ROOT, f)} imports ${spec}`);
    expect(bad).toEqual([]);
  });

  it('the import scanner sees tfjs imports in every form (so the checks above can fail)', () => {
    const text = [
      "import * as tf from '@tensorflow/tfjs';",
      "import '@tensorflow/tfjs-backend-wasm';",
      "import type { Tensor } from '@tensorflow/tfjs-core';",
      'import {\n  a,\n  b,\n} from "@tensorflow/tfjs-layers";',
      "export { d } from '@tensorflow/tfjs-converter';",
      "const m = await import( '@tensorflow/tfjs-node' );",
      "const r = require('@tensorflow/tfjs-data');",
      "import { x } from './not-tfjs.js'; import onnx from 'onnx-proto';",
    ].join('\n');
    const specs = importsOf(text);
    expect(specs.filter(isTfjs)).toEqual([
      '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers',
      '@tensorflow/tfjs-converter', '@tensorflow/tfjs-node', '@tensorflow/tfjs-data',
    ]);
    expect(specs.filter((s) => !isTfjs(s))).toEqual(['./not-tfjs.js', 'onnx-proto']);
    // And on real files: src/ does import tfjs.
    expect(files(join(ROOT, 'src')).some((f) => imports(f).some(isTfjs))).toBe(true);
  });
});
