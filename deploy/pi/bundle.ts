/**
 * esbuild: the Pi runtime as one ESM file (main.js). Native packages stay outside (onnxruntime-node, noble, and
 * onnxruntime-web for 32-bit ARM) and are installed from the bundle's lock; onnxruntime-node's import is redirected
 * to ./ort.ts, which picks the engine at run time. tfjs or training code reaching the bundle fails the build.
 */
import { existsSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BakedRunOptions } from './argv.js';

/** Packages main.js imports at run time from the bundle's node_modules. */
export const NATIVE_EXTERNALS = ['onnxruntime-node', '@stoprocent/noble', 'onnxruntime-web'] as const;

export interface BundleResult {
  bytes: number;
  /** Source files in the bundle, relative to the package root. */
  inputs: string[];
}

export class BundleError extends Error {}

/**
 * This folder's modules in the form this one runs as: sources in a checkout (tsx, vitest), compiled in dist/deploy/pi/
 * (an installed package, or a checkout's `npm run build`), as src/cli/jobs.ts picks its child's bin.
 */
function sibling(name: string): string {
  const self = fileURLToPath(import.meta.url);
  const file = join(dirname(self), `${name}${extname(self)}`);
  if (!existsSync(file)) throw new BundleError(`${file} is missing: this installation of cmcrd-edge is incomplete (reinstall it)`);
  return file;
}

// Anything from these places in main.js means the layering broke somewhere: the Pi carries no trainer.
const FORBIDDEN = [/(^|[\\/])@tensorflow[\\/]/, /(^|[\\/])src[\\/]train[\\/]/, /(^|[\\/])tfjs/];

/** `entry` is for tests of the guard; the Pi's main.js always comes from ./entry.ts. */
export async function bundleRuntime(outFile: string, baked: BakedRunOptions, entry = sibling('entry')): Promise<BundleResult> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new BundleError(
      `esbuild, which bundles the runtime, could not be loaded (${(e as Error).message.split('\n')[0]}): reinstall cmcrd-edge (esbuild is one of its dependencies)`,
    );
  }
  const ortShim = sibling('ort');
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const plugin: import('esbuild').Plugin = {
    name: 'cmcrd-pi',
    setup(b) {
      b.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: ortShim }));
      b.onResolve({ filter: /^@tensorflow\// }, (a) => ({
        errors: [{ text: `${a.path} imported by ${relative(root, a.importer)}: tfjs must not reach the Pi runtime` }],
      }));
      // The version module reads the toolkit's package.json through the package's own name, which a bundle lacks.
      b.onLoad({ filter: /[\\/]src[\\/]version\.[jt]s$/ }, () => ({
        contents: `export const TOOLKIT_VERSION = ${JSON.stringify(baked.toolkit)};`,
        loader: 'js',
      }));
    },
  };
  let result: import('esbuild').BuildResult<{ metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      outfile: outFile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: [...NATIVE_EXTERNALS],
      define: { __CMCRD_PI_BAKED__: JSON.stringify(baked) },
      // Bundled CommonJS packages (commander, cli-progress) call require() for Node built-ins.
      banner: { js: "import { createRequire as __cmcrdRequire } from 'node:module';\nconst require = __cmcrdRequire(import.meta.url);" },
      legalComments: 'none',
      minifySyntax: true,
      metafile: true,
      logLevel: 'silent',
      plugins: [plugin],
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string }[] }).errors;
    throw new BundleError(`bundling the runtime failed: ${errors?.map((x) => x.text).join('; ') ?? (e as Error).message}`);
  }
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(root, join(process.cwd(), p)).split(sep).join('/'));
  const bad = inputs.filter((p) => FORBIDDEN.some((r) => r.test(p)));
  if (bad.length)
    throw new BundleError(`the Pi runtime must not contain tfjs or training code, but the bundle pulled in ${bad.slice(0, 5).join(', ')}`);
  const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
  return { bytes, inputs };
}
