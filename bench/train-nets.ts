/**
 * Training speed of the two other networks, EEGNet-mini and DGCNN (62 channels × 5 bands → 4 classes, method.md
 * sizes), through the trainer's own `Stepper` (what `fit` runs: EEGNet-mini on tfjs-wasm; DGCNN on its
 * onnxruntime-node engine by default, and on the tfjs-wasm path it falls back to, rows `train.dgcnn.tfjs-wasm.*`),
 * next to the same networks trained by PyTorch on the CPU in the same run: EEGNet-mini with real Conv2d layers
 * (grouped depthwise convolution, BatchNorm2d, ELU, dropout 0.5) and DGCNN with a trainable adjacency, Chebyshev
 * K = 2. Samples/s over epochs of 4096 random samples at batch 32 and 256, AdamW; each side keeps its best of a
 * few alternating rounds; ratio = PyTorch samples/s ÷ ours. The MLP's figures are in the `train` suite.
 */
import * as tf from '../src/train/tf.js';
import type { ArchName } from '../src/train/nets/index.js';
import type { EngineChoice } from '../src/train/trainer.js';
import type { BenchResult, BenchSuite } from './harness.js';
import { CLASSES, IN, stepRate } from './train.js';
import { PY_TIMED, runTorchTwin, type TorchRates } from './torch-twin.js';

const BATCHES = [32, 256];
const ARCHS: readonly ArchName[] = ['eegnet', 'dgcnn'];
/** Our rows: each network on the trainer's default, and DGCNN also on the tfjs-wasm path (its engine's fallback). */
const ROWS: ReadonlyArray<{ arch: ArchName; engine: EngineChoice; tag: string }> = [
  { arch: 'eegnet', engine: 'auto', tag: 'eegnet' },
  { arch: 'dgcnn', engine: 'auto', tag: 'dgcnn' },
  { arch: 'dgcnn', engine: 'tfjs', tag: 'dgcnn.tfjs-wasm' },
];
const TORCH_THREADS = [1, 2];

const PY = String.raw`
import json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
cfg = json.loads(sys.argv[1])
CH, BANDS, C = cfg['channels'], cfg['bands'], cfg['classes']

class EegNetMini(nn.Module):
    def __init__(self, F1=8, D=2, F2=16, p=0.5):
        super().__init__()
        self.body1 = nn.Sequential(nn.Conv2d(1, F1, 1, bias=False), nn.BatchNorm2d(F1),
                                   nn.Conv2d(F1, F1 * D, (CH, 1), groups=F1, bias=False), nn.BatchNorm2d(F1 * D),
                                   nn.ELU(), nn.Dropout(p))
        self.body2 = nn.Sequential(nn.Conv2d(F1 * D, F1 * D, 1, groups=F1 * D, bias=False), nn.BatchNorm2d(F1 * D),
                                   nn.Conv2d(F1 * D, F2, 1, bias=False), nn.BatchNorm2d(F2), nn.ELU(), nn.Dropout(p))
        self.head = nn.Linear(F2 * BANDS, C)
    def forward(self, x):
        return self.head(self.body2(self.body1(x.reshape(-1, 1, CH, BANDS))).flatten(1))

class Dgcnn(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.bn = nn.BatchNorm1d(BANDS)
        self.A = nn.Parameter(torch.empty(CH, CH).uniform_(0.01, 0.5))
        self.W0 = nn.Parameter(torch.empty(BANDS, hidden).uniform_(-0.5, 0.5))
        self.W1 = nn.Parameter(torch.empty(BANDS, hidden).uniform_(-0.5, 0.5))
        self.head = nn.Linear(CH * hidden, C)
    def forward(self, x):
        a = F.relu(self.A)
        a = (a + a.T) / 2 * (1 - torch.eye(CH))
        d = (a.sum(1) + 1e-10) ** -0.5
        lap = d[:, None] * a * d[None, :]
        x = self.bn(x.reshape(-1, CH, BANDS).transpose(1, 2)).transpose(1, 2)
        return self.head(F.relu(x @ self.W0 + lap @ x @ self.W1).flatten(1))

${PY_TIMED}
threads = cfg['threads']
torch.set_num_threads(threads)
torch.manual_seed(0)
n = cfg['n']
x = torch.randn(n, CH * BANDS); y = torch.randint(0, C, (n,))
out = {}
for arch in cfg['archs']:
    for bs in cfg['batches']:
        net = EegNetMini() if arch == 'eegnet' else Dgcnn()
        net.train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
        def epoch():
            for s in range(0, n - bs + 1, bs):
                opt.zero_grad()
                F.cross_entropy(net(x[s:s + bs]), y[s:s + bs]).backward()
                opt.step()
        out[f'{threads}.{arch}.{bs}'] = (n // bs) * bs / timed(epoch)
print(json.dumps(out))
`;

/** The PyTorch twin, one process per thread count. */
function runTorch(n: number, minSeconds: number): TorchRates {
  return runTorchTwin(PY, TORCH_THREADS, (threads) => ({
    n,
    ...IN,
    classes: CLASSES,
    archs: ARCHS,
    batches: BATCHES,
    threads,
    minSeconds,
  }));
}

export const trainNetsSuite: BenchSuite = {
  name: 'train-nets',
  async run(ctx) {
    const n = ctx.quick ? 1024 : 4096;
    const minMs = ctx.quick ? 300 : 2000;
    const rounds = ctx.quick ? 1 : 2;
    const previous = tf.getBackend();
    const ours: Record<string, { rate: number; engine: string }> = {};
    const torch: Record<string, number> = {};
    let note: string | undefined;
    for (let round = 1; round <= rounds; round++) {
      await tf.setBackend('wasm');
      await tf.ready();
      try {
        for (const row of ROWS) {
          for (const b of BATCHES) {
            const r = await stepRate(row.arch, n, b, minMs, row.engine);
            const key = `${row.tag}.${b}`;
            if (!ours[key] || r.rate > ours[key].rate) ours[key] = r;
          }
        }
      } finally {
        if (previous && previous !== 'wasm') await tf.setBackend(previous);
      }
      ctx.log(`round ${round}/${rounds}: running the PyTorch twin with /usr/bin/python3 …`);
      const r = runTorch(n, minMs / 1000);
      if ('note' in r) note = r.note;
      else for (const [k, v] of Object.entries(r.rates)) torch[k] = Math.max(torch[k] ?? 0, v);
    }
    const results: BenchResult[] = [];
    for (const { arch, tag } of ROWS) {
      for (const b of BATCHES) {
        const { rate, engine } = ours[`${tag}.${b}`]!;
        const detail: Record<string, string | number | boolean> = {
          engine,
          backend: 'wasm',
          model: arch === 'eegnet' ? 'EEGNet-mini F1 8, D 2, F2 16, dropout 0.5' : 'DGCNN 62 nodes, K 2, hidden 16',
          samples: n,
          bestOfRounds: rounds,
          optimiser: 'AdamW lr 1e-3 wd 1e-3',
        };
        if (note !== undefined) detail.note = note;
        for (const th of TORCH_THREADS) {
          const t = torch[`${th}.${arch}.${b}`];
          if (t === undefined) continue;
          detail[`torch${th}tSamplesPerS`] = Math.round(t);
          detail[`torch${th}tOverOurs`] = Number((t / rate).toFixed(2));
        }
        results.push({ name: `train.${tag}.b${b}`, value: Math.round(rate), unit: 'samples/s', detail });
      }
    }
    return results;
  },
};
