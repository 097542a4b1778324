/**
 * tfjs backend selection: tfjs-node when its native binding loads (optional dependency: its installer
 * downloads libtensorflow, which fails offline), else the wasm backend (binaries ship in the package),
 * else the pure-JS cpu backend.
 */
import * as tf from './tf.js';
import { ortEngineName } from './nets/ortEngine.node.js';
import { networkEnginesApply, type EngineChoice } from './trainer.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

let chosen: BackendName | null = null;

export async function initBackend(
  prefer?: BackendName,
  log: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Promise<BackendName> {
  if (chosen && (!prefer || prefer === chosen)) return chosen;
  const order: BackendName[] = prefer ? [prefer] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    try {
      if (name === 'tensorflow') {
        // A variable specifier keeps bundlers and tsc from requiring the optional package.
        const pkg = '@tensorflow/tfjs-node';
        await import(pkg);
      } else if (name === 'wasm') {
        await import('@tensorflow/tfjs-backend-wasm');
      }
      if (await tf.setBackend(name)) {
        await tf.ready();
        chosen = name;
        log(`tfjs backend: ${name}`);
        return name;
      }
    } catch {
      /* try the next backend */
    }
  }
  throw new Error(`no tfjs backend could be initialised (tried ${order.join(', ')})`);
}

/** One line saying what will run the networks' training steps under `choice` on `backend` (see FitOptions.engine). */
export async function trainingStepsLine(choice: EngineChoice, backend: BackendName): Promise<string> {
  if (!networkEnginesApply(choice, backend)) return `training steps: tfjs ${backend}`;
  const ort = await ortEngineName();
  return ort
    ? `training steps: MLP and DGCNN on ${ort}, EEGNet-mini on tfjs ${backend}`
    : `training steps: tfjs ${backend} (onnxruntime-node did not load)`;
}
