/**
 * What the smoothing form does to a deployed model (docs/smoothing.md): for each form, the demo's models are
 * trained (src/demo/train.ts, on the Muse montage) on synthetic paired data smoothed per trial with it, the KD
 * student is exported to ONNX with the form on the card (from the dataset's meta.smoothing), and
 * run in the demo's closed loop (a virtual Muse worn by unseen synthetic people whose emotion changes every
 * segment; the device smooths with the extractor's online code from the session start, offline forms through
 * their online stand-in as `run --allow-offline-smoothing` would). Also: how far the offline LDS is from what a
 * device can compute on the same trials, and the step-response lag of each causal form.
 * `npm run bench -- --only smoothing --out /tmp/smoothing.json` (optional suite: several minutes; `--quick`: 6
 * people, 10 epochs, one wearer).
 */
import type { BenchResult, BenchSuite } from './harness.js';
import { initBackend } from '../src/train/backend.js';
import { defaultWorld } from '../firmware-bridge/sim/wearer-model.js';
import { MUSE_MONTAGE } from '../firmware-bridge/montage/index.js';
import { syntheticPairedDataset } from '../src/synthetic/paired.js';
import { selectMontage, type EmotionDataset } from '../src/datasets/types.js';
import { trainDemoModels, type DemoStudent } from '../src/demo/train.js';
import { exportOnnx } from '../export/onnx-export.js';
import { loadOnnxClassifier } from '../runtime/infer/onnx.node.js';
import { runClosedLoop, type ClosedLoopResult } from '../src/demo/closed-loop.js';
import { onlineSmoother, smoothTrial, SMOOTHING_NAMES, type SmoothingName } from '../runtime/dsp/smooth.js';

/** happy, sad, neutral, fear (as the demo), so consecutive segments always differ. */
const ORDER = [3, 1, 0, 2];

/** The student each form's closed loop runs: the KD one, as docs/smoothing.md's table (the demo ships CMCRD). */
const STUDENT: DemoStudent = 'kd';

/** Each trial's windows as channel-major feature rows [c·bands + b] (what the FeatureExtractor smooths). */
function trialRows(ds: EmotionDataset): Float32Array[][] {
  const d = ds.meta.channelNames.length * ds.meta.bandNames.length;
  return ds.trials.map((t) => Array.from({ length: t.windows }, (_, w) => t.eeg.subarray(w * d, (w + 1) * d)));
}

/** The dataset with each trial's EEG features smoothed along its windows with `form` (from the trial start), recorded in meta so the card carries it. */
function smoothDataset(ds: EmotionDataset, form: SmoothingName): EmotionDataset {
  const rows = trialRows(ds);
  const trials = ds.trials.map((t, i) => {
    const eeg = new Float32Array(t.eeg.length);
    smoothTrial(form, rows[i]!).forEach((r, w) => eeg.set(r, w * r.length));
    return { ...t, eeg };
  });
  return { meta: { ...ds.meta, smoothing: form }, trials };
}

/** Per trial of `ds` (Muse cap channels): |offline LDS − online stand-in| and |offline LDS − lds-causal|, in DE units. */
function ldsGap(ds: EmotionDataset): {
  standInMax: number;
  standInMean: number;
  causalMax: number;
  causalMean: number;
  windows: number;
  features: number;
} {
  let sMax = 0,
    sSum = 0,
    cMax = 0,
    cSum = 0,
    n = 0,
    features = 0;
  for (const rows of trialRows(selectMontage(ds, MUSE_MONTAGE).dataset)) {
    const off = smoothTrial('lds', rows);
    const causal = smoothTrial('lds-causal', rows);
    features = rows[0]!.length;
    const stand = onlineSmoother('lds', features, {}, true)!;
    rows.forEach((r, t) => {
      const s = stand.update(r);
      for (let d = 0; d < r.length; d++) {
        const a = Math.abs(off[t]![d]! - s[d]!);
        const b = Math.abs(off[t]![d]! - causal[t]![d]!);
        sMax = Math.max(sMax, a);
        cMax = Math.max(cMax, b);
        sSum += a;
        cSum += b;
        n++;
      }
    });
  }
  return { standInMax: sMax, standInMean: sSum / n, causalMax: cMax, causalMean: cSum / n, windows: n / features, features };
}

/** Windows after a unit step until the output reaches 50 % and 90 % of it (the smoother settled on 0 first). */
function stepLag(form: SmoothingName): { half: number; ninety: number } {
  const s = onlineSmoother(form, 1)!;
  for (let i = 0; i < 50; i++) s.update([0]);
  let half = -1;
  for (let t = 0; t < 5000; t++) {
    const y = s.update([1])[0]!;
    if (half < 0 && y >= 0.5) half = t;
    if (y >= 0.9) return { half, ninety: t };
  }
  return { half, ninety: Infinity };
}

/** Segment-level view of a closed loop: segments recognised at all, median windows to the first correct one, share of the most frequent prediction. */
function segments(
  r: ClosedLoopResult,
  segmentSec: number,
): { recognised: number; total: number; medianDelay: number; dominantShare: number } {
  const bySeg = new Map<number, boolean[]>();
  const counts = new Map<string, number>();
  let scored = 0;
  for (const { p, truth } of r.predictions) {
    if (truth === null || p.predicted === null) continue;
    const seg = Math.floor(p.startMs / (segmentSec * 1000));
    bySeg.set(seg, [...(bySeg.get(seg) ?? []), p.predicted === truth]);
    counts.set(p.predicted, (counts.get(p.predicted) ?? 0) + 1);
    scored++;
  }
  const delays: number[] = [];
  let total = 0;
  for (const [seg, hits] of bySeg) {
    if (seg === 0) continue; // the first segment starts with the session, not with a change
    total++;
    const k = hits.indexOf(true);
    if (k >= 0) delays.push(k);
  }
  delays.sort((a, b) => a - b);
  return {
    recognised: delays.length,
    total,
    medianDelay: delays.length ? delays[Math.floor((delays.length - 1) / 2)]! : NaN,
    dominantShare: scored ? Math.max(...counts.values()) / scored : NaN,
  };
}

export const smoothingSuite: BenchSuite = {
  name: 'smoothing',
  async run(ctx) {
    const out: BenchResult[] = [];
    await initBackend(undefined, ctx.log);
    const world = defaultWorld();
    const subjects = ctx.quick ? 6 : 10;
    const windowsPerTrial = 8;
    const epochs = ctx.quick ? 10 : 30;
    const seed = 2022;
    const segmentSec = 24;
    const cycles = 3;
    const speed = 32;
    const wearers = ctx.quick ? [subjects] : [subjects, subjects + 1, subjects + 2];
    const heldOut = [String(subjects - 2), String(subjects - 1)];
    const base = syntheticPairedDataset({ world, subjects: Array.from({ length: subjects }, (_, i) => i), windowsPerTrial });

    // How far a device is from the offline LDS on the same trials: the demo's 8-window trials and SEED-IV-length ones.
    const long = syntheticPairedDataset({ world, subjects: [0, 1], windowsPerTrial: 35 });
    for (const [label, ds] of [
      ['8-window trials', base],
      ['35-window trials', long],
    ] as const) {
      const g = ldsGap(ds);
      ctx.log(
        `offline lds vs online (${label}, ${g.windows} windows × ${g.features} features): stand-in max ${g.standInMax.toFixed(3)} mean ${g.standInMean.toFixed(3)}; lds-causal max ${g.causalMax.toFixed(3)} mean ${g.causalMean.toFixed(3)} DE units`,
      );
      const tag = label.startsWith('8') ? 'w8' : 'w35';
      out.push({
        name: `smoothing.lds-gap.stand-in.${tag}`,
        value: g.standInMax,
        unit: 'DE (max)',
        detail: { mean: Number(g.standInMean.toFixed(4)), windows: g.windows },
      });
      out.push({
        name: `smoothing.lds-gap.causal.${tag}`,
        value: g.causalMax,
        unit: 'DE (max)',
        detail: { mean: Number(g.causalMean.toFixed(4)), windows: g.windows },
      });
    }
    for (const form of ['lds-causal', 'moving-average-causal'] as const) {
      const lag = stepLag(form);
      ctx.log(`step response of ${form}: 50 % after ${lag.half} windows, 90 % after ${lag.ninety}`);
      out.push({ name: `smoothing.step-lag.${form}`, value: lag.half, unit: 'windows to 50 %', detail: { ninety: lag.ninety } });
    }

    // Short segments (the demo's: the emotion changes every 6 windows) and SEED-IV-trial-like ones (24 windows).
    const schedules = [
      { segmentSec, schedule: Array.from({ length: cycles * ORDER.length }, (_, i) => ORDER[i % ORDER.length]!) },
      { segmentSec: 96, schedule: [...ORDER] },
    ];
    const head = schedules.map(
      (s) =>
        `closed loop, ${s.segmentSec}-s segments: accuracy · changes recognised · median windows to recognise · most frequent prediction`,
    );
    const table = [
      `| smoothing (card) | held-out accuracy (offline, per-trial features) | ${head.join(' | ')} |`,
      `|---|---|${schedules.map(() => '---').join('|')}|`,
    ];
    for (const form of SMOOTHING_NAMES) {
      const trained = await trainDemoModels({
        dataset: smoothDataset(base, form),
        montage: MUSE_MONTAGE,
        heldOut,
        arch: 'mlp',
        epochs,
        seed,
      });
      if (trained.interrupted) throw new Error('training stopped');
      const classifier = await loadOnnxClassifier(exportOnnx(trained.students[STUDENT]), `${STUDENT}-${form}.onnx`);
      if (classifier.card.smoothing !== form) throw new Error(`card of the ${form} model says smoothing ${classifier.card.smoothing}`);
      const held = Object.fromEntries(Object.entries(trained.accuracy).map(([m, a]) => [`heldOut.${m}`, Number((100 * a).toFixed(1))]));
      const cells: string[] = [];
      for (const { segmentSec: seg, schedule } of schedules) {
        let correct = 0,
          scored = 0,
          recognised = 0,
          total = 0,
          skipped = 0;
        const delays: number[] = [];
        const shares: number[] = [];
        for (const subject of wearers) {
          const r = await runClosedLoop({
            world,
            subject,
            seed: seed + 7,
            classifier,
            card: classifier.card,
            schedule,
            segmentSec: seg,
            speed,
          });
          correct += r.correct;
          scored += r.scored;
          skipped += r.stats.skipped;
          const s = segments(r, seg);
          recognised += s.recognised;
          total += s.total;
          if (Number.isFinite(s.medianDelay)) delays.push(s.medianDelay);
          shares.push(s.dominantShare);
        }
        const acc = correct / scored;
        const share = shares.reduce((a, b) => a + b, 0) / shares.length;
        const delay = delays.length ? delays.sort((a, b) => a - b)[Math.floor((delays.length - 1) / 2)]! : NaN;
        cells.push(
          `${(100 * acc).toFixed(1)} % (${correct}/${scored}) · ${recognised}/${total} · ${Number.isFinite(delay) ? delay : '–'} · ${(100 * share).toFixed(0)} %`,
        );
        out.push({
          name: `smoothing.closed-loop.${form}.seg${seg}`,
          value: 100 * acc,
          unit: '% accuracy',
          detail: {
            ...held,
            scored,
            recognised,
            segments: total,
            medianDelayWindows: delay,
            dominantShare: Number(share.toFixed(3)),
            skipped,
            wearers: wearers.join(','),
          },
        });
      }
      await classifier.dispose();
      table.push(`| ${form} | ${(100 * trained.accuracy[STUDENT]).toFixed(1)} % | ${cells.join(' | ')} |`);
      ctx.log(table[table.length - 1]!);
    }
    ctx.log(
      `${STUDENT} students (the demo's training, MLP, ${epochs} epochs, seed ${seed}) on ${subjects} synthetic subjects × 24 trials × ${windowsPerTrial} windows (held-out subjects ${heldOut.join(', ')}); ` +
        `closed loop: wearers ${wearers.join(', ')}, classes ${schedules.map((s) => `${s.schedule.join('→')} every ${s.segmentSec} s`).join('; ')}, speed ×${speed}`,
    );
    for (const line of table) ctx.log(line);
    return out;
  },
};
