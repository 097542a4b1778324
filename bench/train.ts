/**
 * Training speed: forward + backward + AdamW step of the MLP (310 → 128×4 → 4, BatchNorm), timed through the
 * trainer's own `Stepper` (what `fit` runs): by default the network's forward and backward on onnxruntime-node
 * with the loss and AdamW around them (train.mlp.bN), and the pure tfjs-wasm path it falls back to
 * (train.mlp.tfjs-wasm.bN). Samples/s over one epoch of 4096 samples at batch 32 and 256, next to the same MLP
 * trained by PyTorch (CPU, /usr/bin/python3, 1 and 2 threads) in the same run; ratio = PyTorch samples/s ÷ ours.
 * Each side reports its best of a few alternating rounds.
 * Also the same MLP student trained with CE + CMCRD (K = 1000 negatives, d = 128, memory update) at batch 32,
 * next to its PyTorch twin (same student, heads, banks, K other-class negatives, Z, weights, sign, stop-gradients
 * and memory update; teacher features and logits fixed random stand-ins on both sides).
 */
import * as tf from '../src/train/tf.js';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { CMCRD } from '../src/train/losses/index.js';
import { SeededRandom } from '../src/train/nets/layers.js';
import { buildNetwork, defaultSpec, type ArchName } from '../src/train/nets/index.js';
import { tensorFrom } from '../src/train/simd.js';
import { disposeStep, Stepper, type EngineChoice } from '../src/train/trainer.js';
import { timeIt, type BenchResult, type BenchSuite } from './harness.js';
import { PY_TIMED, runTorchTwin, type TorchRates } from './torch-twin.js';

export const IN = { channels: 62, bands: 5 };
export const CLASSES = 4;
const BATCHES = [32, 256];
const TORCH_THREADS = [1, 2];
/** The trainer's default (the MLP on onnxruntime-node where it loads), and the tfjs-wasm path it falls back to. */
const ENGINES: readonly EngineChoice[] = ['auto', 'tfjs'];

const PY = String.raw`
import json, math, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
cfg = json.loads(sys.argv[1])

${PY_TIMED}
def mlp(d, c):
    layers = []
    for i in range(4):
        layers += [nn.Linear(d if i == 0 else 128, 128), nn.BatchNorm1d(128), nn.ReLU()]
    return nn.Sequential(*layers), nn.Linear(128, c)

# Twin of cmcrdRate: the MLP student with CE + 0.02*CMCRD (method.md "Student: the CMCRD loss"): heads to d = 128
# + l2norm, two N x 128 banks, K = 1000 other-class negatives per sample, tau 0.07, Z fixed at the first batch,
# teacher entropy weights, sign, stop-gradients, momentum-0.05 memory update after the step. Teacher features and
# logits are fixed random stand-ins, as in cmcrdRate.
def cmcrd_rate(n, d, c, bs, K=1000, e=128, tau=0.07, m=0.05, eps=1e-7):
    torch.manual_seed(1)
    x = torch.randn(n, d); y = torch.randint(0, c, (n,))
    ft = torch.randn(n, 128).clamp_min(0); tl = torch.randn(n, c)
    body, head = mlp(d, c)
    emb_s, emb_t = nn.Linear(128, e), nn.Linear(128, e)
    sigma = 1 / math.sqrt(e / 3)
    mem_s = torch.empty(n, e).uniform_(-sigma, sigma); mem_t = torch.empty(n, e).uniform_(-sigma, sigma)
    # Other-class pools, padded to one [C, maxlen] table: a draw is pool[y_i, floor(u * len_i)].
    pools = [torch.nonzero(y != k).flatten() for k in range(c)]
    plen = torch.tensor([len(p) for p in pools])
    table = torch.zeros(c, int(plen.max()), dtype=torch.long)
    for k, p in enumerate(pools): table[k, :len(p)] = p
    params = [*body.parameters(), *head.parameters(), *emb_s.parameters(), *emb_t.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-3)
    Z = {}
    def nce(p, w, sign):
        cst = (p.shape[1] - 1) / n
        p = p * w[:, None]
        pos, negs = p[:, 0], p[:, 1:]
        per = torch.log(pos / (pos + cst + eps)) + torch.log(cst / (negs + cst + eps)).sum(1)
        return -(per * sign).mean()
    def step(s):
        xb, yb = x[s:s + bs], y[s:s + bs]
        idx = torch.arange(s, s + bs)
        opt.zero_grad()
        f2 = body(xb); logits = head(f2)
        tlb = tl[s:s + bs]
        with torch.no_grad():
            s_right = logits.argmax(1) == yb; t_right = tlb.argmax(1) == yb
            sign = t_right.float() * 2 - 1
            keep_s = (~(s_right & ~t_right)).float()[:, None]; keep_t = (~(t_right & ~s_right)).float()[:, None]
            pt = F.softmax(tlb, 1)
            u = 1 + torch.exp((pt * torch.log(pt + 1e-5)).sum(1))
            w = bs * u / u.sum()
            neg = table[yb[:, None], (torch.rand(bs, K) * plen[yb][:, None]).long()]
            all_idx = torch.cat([idx[:, None], neg], 1)
        zs = F.normalize(emb_s(f2), dim=1); zt = F.normalize(emb_t(ft[s:s + bs]), dim=1)
        zs_in = zs * keep_s + zs.detach() * (1 - keep_s); zt_in = zt * keep_t + zt.detach() * (1 - keep_t)
        out_s = torch.exp(torch.bmm(mem_t[all_idx], zs_in[:, :, None]).squeeze(2) / tau)
        out_t = torch.exp(torch.bmm(mem_s[all_idx], zt_in[:, :, None]).squeeze(2) / tau)
        if not Z:
            Z['s'] = out_s.mean().item() * n; Z['t'] = out_t.mean().item() * n
        loss = F.cross_entropy(logits, yb) + 0.02 * (nce(out_s / Z['s'], w, sign) + nce(out_t / Z['t'], w, sign))
        loss.backward()
        opt.step()
        with torch.no_grad():
            mem_s[idx] = F.normalize(mem_s[idx] * m + zs.detach() * (1 - m), dim=1)
            mem_t[idx] = F.normalize(mem_t[idx] * m + zt.detach() * (1 - m), dim=1)
    def epoch():
        for s in range(0, n - bs + 1, bs):
            step(s)
    return (n // bs) * bs / timed(epoch)

out = {}
threads = cfg['threads']  # one count per process: OpenBLAS reads its thread count from the environment at load
torch.set_num_threads(threads)
torch.manual_seed(0)
n, d, c = cfg['n'], cfg['d'], cfg['c']
x = torch.randn(n, d); y = torch.randint(0, c, (n,))
for bs in cfg['batches']:
    body, head = mlp(d, c)
    net = nn.Sequential(body, head)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
    def epoch():
        for s in range(0, n - bs + 1, bs):
            opt.zero_grad()
            loss = F.cross_entropy(net(x[s:s + bs]), y[s:s + bs])
            loss.backward()
            opt.step()
    out[f'{threads}.{bs}'] = (n // bs) * bs / timed(epoch)
if cfg['cmcrd']:
    out[f'{threads}.cmcrd32'] = cmcrd_rate(n, d, c, 32)
print(json.dumps(out))
`;

/** The PyTorch twin, one process per thread count. */
function runTorch(n: number, minSeconds: number): TorchRates {
  return runTorchTwin(PY, TORCH_THREADS, (threads) => ({
    n,
    d: IN.channels * IN.bands,
    c: CLASSES,
    batches: BATCHES,
    threads,
    minSeconds,
    cmcrd: true,
  }));
}

/**
 * Samples/s of the trainer's own step (`Stepper`, as `fit` runs it) for a network of method.md's default size on
 * 62 × 5 inputs: one warm-up epoch, then whole epochs for at least `minMs`. The last step's loss is read each epoch,
 * so the queued work finishes inside the timing.
 */
export async function stepRate(
  arch: ArchName,
  n: number,
  batch: number,
  minMs: number,
  engine: EngineChoice,
): Promise<{ rate: number; engine: string }> {
  const d = IN.channels * IN.bands;
  const rng = new SeededRandom(1);
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const y = Int32Array.from({ length: n }, () => rng.int(CLASSES));
  const net = buildNetwork(defaultSpec(arch, IN, CLASSES), 1);
  const stepper = await Stepper.create(net, { weightDecay: 1e-3, engine });
  const steps = Math.floor(n / batch);
  const epoch = async () => {
    let last = 0;
    for (let s = 0; s < steps; s++) {
      const rows = Int32Array.from({ length: batch }, (_, i) => s * batch + i);
      const r = await stepper.step(x.subarray(s * batch * d, (s + 1) * batch * d), y.subarray(s * batch, (s + 1) * batch), rows, 1e-3);
      if (s === steps - 1) last = typeof r.loss === 'number' ? r.loss : (await r.loss.data())[0]!;
      disposeStep(r);
    }
    return last;
  };
  const { msPerCall: ms } = await timeIt(epoch, minMs, 1);
  const name = stepper.engineName;
  stepper.dispose();
  net.dispose();
  return { rate: (steps * batch) / (ms / 1000), engine: name };
}

/** Samples/s of an MLP student step with CE + 0.02·CMCRD (teacher features fixed random stand-ins), through `Stepper`. */
async function cmcrdRate(n: number, batch: number, minMs: number): Promise<{ rate: number; engine: string }> {
  const d = IN.channels * IN.bands;
  const rng = new SeededRandom(2);
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const labels = Int32Array.from({ length: n }, () => rng.int(CLASSES));
  const ft = Float32Array.from({ length: n * 128 }, () => Math.max(0, rng.normal()));
  const tl = Float32Array.from({ length: n * CLASSES }, () => rng.normal());
  const net = buildNetwork(defaultSpec('mlp', IN, CLASSES), 1);
  const loss = new CMCRD({ nData: n, dS: 128, dT: 128, labels, seed: 3 });
  const rowsOf = (m: Float32Array, w: number, rows: Int32Array) =>
    tensorFrom(m.subarray(rows[0]! * w, (rows[0]! + rows.length) * w), [rows.length, w]) as tf.Tensor2D;
  const stepper = await Stepper.create(net, {
    weightDecay: 1e-3,
    extraTrainable: loss.trainable,
    extraLoss: (out, rows) =>
      tf.mul(
        loss.loss(
          out.f2,
          rowsOf(ft, 128, rows),
          out.logits,
          rowsOf(tl, CLASSES, rows),
          labels.subarray(rows[0]!, rows[0]! + rows.length),
          rows,
        ),
        0.02,
      ) as tf.Scalar,
    afterStep: () => loss.updateMemory(),
  });
  const steps = Math.floor(n / batch);
  const epoch = async () => {
    for (let s = 0; s < steps; s++) {
      const rows = Int32Array.from({ length: batch }, (_, i) => s * batch + i);
      const r = await stepper.step(x.subarray(s * batch * d, (s + 1) * batch * d), labels.subarray(s * batch, (s + 1) * batch), rows, 1e-3);
      disposeStep(r);
    }
  };
  const { msPerCall: ms } = await timeIt(epoch, minMs, 1);
  const name = stepper.engineName;
  stepper.dispose();
  net.dispose();
  loss.dispose();
  return { rate: (steps * batch) / (ms / 1000), engine: name };
}

export const trainSuite: BenchSuite = {
  name: 'train',
  async run(ctx) {
    const n = ctx.quick ? 1024 : 4096;
    const minMs = ctx.quick ? 300 : 2000;
    const previous = tf.getBackend();
    await tf.setBackend('wasm');
    await tf.ready();
    // tfjs-wasm runs single-threaded in Node: its multi-threaded build is disabled there (WASM_HAS_MULTITHREAD_SUPPORT
    // is false under Node, and forcing it fails: the pthread workers are blob: URLs, which node's Worker rejects),
    // and its matMul passes no thread pool to XNNPACK anyway.
    const wasmThreads = getThreadsCount();
    ctx.log(
      `tfjs backend: wasm (SIMD ${String(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))}, ${wasmThreads} thread${wasmThreads === 1 ? '' : 's'})`,
    );
    // The box is shared: ours and the PyTorch twin alternate for a few rounds and each keeps its best rate, so a
    // burst of someone else's load hits one round of one side rather than the ratio.
    const rounds = ctx.quick ? 2 : 3;
    // Keys: `${engine}.${batch}` for the plain MLP, 'auto.cmcrd32' for CE + CMCRD.
    const ours: Record<string, { rate: number; engine: string }> = {};
    let py: ReturnType<typeof runTorch> = { rates: {} };
    const keep = (key: string, r: { rate: number; engine: string }) => {
      if (!ours[key] || r.rate > ours[key].rate) ours[key] = r;
    };
    for (let round = 1; round <= rounds; round++) {
      try {
        for (const engine of ENGINES) for (const b of BATCHES) keep(`${engine}.${b}`, await stepRate('mlp', n, b, minMs, engine));
        keep('auto.cmcrd32', await cmcrdRate(n, 32, minMs));
      } finally {
        if (previous && previous !== 'wasm') await tf.setBackend(previous);
      }
      ctx.log(`round ${round}/${rounds}: running the PyTorch twin with /usr/bin/python3 …`);
      const r = runTorch(n, minMs / 1000);
      if ('rates' in r && 'rates' in py) for (const [k, v] of Object.entries(r.rates)) py.rates[k] = Math.max(py.rates[k] ?? 0, v);
      else py = r;
      if (round < rounds) await tf.setBackend('wasm');
    }
    const withTorch = (detail: Record<string, string | number | boolean>, key: string, rate: number) => {
      if (!('rates' in py)) {
        detail.note = py.note;
        return detail;
      }
      for (const th of TORCH_THREADS) {
        const r = py.rates[`${th}.${key}`];
        if (r === undefined) continue;
        detail[`torch${th}tSamplesPerS`] = Math.round(r);
        detail[`torch${th}tOverOurs`] = Number((r / rate).toFixed(2));
      }
      return detail;
    };
    const results: BenchResult[] = [];
    for (const engine of ENGINES) {
      for (const b of BATCHES) {
        const { rate, engine: ran } = ours[`${engine}.${b}`]!;
        const detail: Record<string, string | number | boolean> = {
          engine: ran,
          backend: 'wasm',
          wasmThreads,
          model: 'mlp 310-128x4-4 +BN',
          samples: n,
          bestOfRounds: rounds,
          optimiser: 'AdamW lr 1e-3 wd 1e-3',
          secondsPerEpoch4096: Number((4096 / rate).toFixed(3)),
        };
        if (engine === 'auto') detail.overTfjsPath = Number((rate / ours[`tfjs.${b}`]!.rate).toFixed(2));
        // The default path (what `cmcrd train` runs) is train.mlp.bN; the tfjs path is the fallback.
        results.push({
          name: engine === 'auto' ? `train.mlp.b${b}` : `train.mlp.tfjs-wasm.b${b}`,
          value: Math.round(rate),
          unit: 'samples/s',
          detail: withTorch(detail, String(b), rate),
        });
      }
    }
    const c = ours['auto.cmcrd32']!;
    const cmcrd: Record<string, string | number | boolean> = {
      engine: c.engine,
      backend: 'wasm',
      loss: 'CE + 0.02·CMCRD, K 1000, d 128',
      samples: n,
      overPlainMlpStep: Number((ours['auto.32']!.rate / c.rate).toFixed(2)),
    };
    results.push({
      name: 'train.mlp-cmcrd.b32',
      value: Math.round(c.rate),
      unit: 'samples/s',
      detail: withTorch(cmcrd, 'cmcrd32', c.rate),
    });
    return results;
  },
};
