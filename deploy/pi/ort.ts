/**
 * Stands in for `onnxruntime-node` inside a Pi bundle (the bundler redirects runtime/infer/onnx.node.ts's import
 * here): onnxruntime-node by default; onnxruntime-web's wasm build in Node when CMCRD_ORT=web, or on 32-bit ARM
 * (process.arch "arm"), where onnxruntime-node ships no binary. Both packages stay external to the bundle.
 */
import type * as OrtNode from 'onnxruntime-node';

export type Engine = 'node' | 'web';

export function chooseEngine(env: Readonly<Record<string, string | undefined>>, arch: string): Engine {
  const v = env.CMCRD_ORT?.trim().toLowerCase();
  if (v === 'web' || v === 'wasm') return 'web';
  if (v === 'node' || v === 'native') return 'node';
  if (v) throw new Error(`CMCRD_ORT must be node or web, got ${JSON.stringify(env.CMCRD_ORT)}`);
  return arch === 'arm' ? 'web' : 'node';
}

async function load(): Promise<typeof OrtNode> {
  let engine: Engine;
  try {
    engine = chooseEngine(process.env, process.arch);
  } catch (e) {
    process.stderr.write(`main.js: ${(e as Error).message}\n`);
    process.exit(2);
  }
  // Module names held in variables so that no bundler or type checker tries to resolve them here.
  const names: Record<Engine, string> = { node: 'onnxruntime-node', web: 'onnxruntime-web' };
  try {
    const m = (await import(names[engine])) as typeof OrtNode & { default?: typeof OrtNode };
    const ort = m.InferenceSession ? m : m.default!;
    // One wasm thread: no worker threads for a model this small (edge.md: one thread, no spinning, for native too).
    if (engine === 'web') (ort.env as { wasm: { numThreads: number } }).wasm.numThreads = 1;
    return ort;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    const hint =
      engine === 'node'
        ? `onnxruntime-node has no build for ${process.platform}/${process.arch} or is not installed (run install.sh); on 32-bit Pi OS use CMCRD_ORT=web (README.md)`
        : 'install it next to main.js (install.sh does so on 32-bit ARM, or: npm install --no-save onnxruntime-web@<version in package.json "cmcrd">)';
    process.stderr.write(`main.js: cannot load ${names[engine]} (${why}): ${hint}\n`);
    process.exit(2);
  }
}

const ort = await load();
export const InferenceSession = ort.InferenceSession;
export const Tensor = ort.Tensor;
export const env = ort.env;
