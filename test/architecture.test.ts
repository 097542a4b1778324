/**
 * The layering rule of DEVELOPERS.md: src → export → runtime → firmware-bridge (a root imports only roots to
 * its right); runtime/ and firmware-bridge/ never import tfjs, and use Node built-ins only in *.node.ts files.
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
    else if (/\.ts$/.test(name)) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const re = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;
  const out: string[] = [];
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

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
          if (spec.startsWith('@tensorflow/')) bad.push(`${relative(ROOT, f)} imports ${spec}`);
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
});
