/**
 * A host battery poller that answers from memory (as navigator.getBattery's cached BatteryManager does in the phone
 * web app, or the page's last posted reading in its worker) must not keep the supervisor's poll loop spinning in
 * microtasks once stop() is asked: the stop sequence still runs and the summary comes.
 */
import { beforeAll, expect, it } from 'vitest';
import { loadOnnxClassifier } from '../../../runtime/infer/onnx.node.js';
import type { OnnxClassifier } from '../../../runtime/infer/onnx.js';
import { RealClock, VirtualClock, type RunClock } from '../../../runtime/run/clock.js';
import { resolveRunDevice } from '../../../runtime/run/device.node.js';
import { startRun } from '../../../runtime/run/supervisor.js';
import { museModel } from './helpers.js';

let classifier: OnnxClassifier;

beforeAll(async () => {
  classifier = await loadOnnxClassifier(await museModel());
});

for (const which of ['virtual', 'real'] as const) {
  it(`stop() ends the run with an in-memory host battery poller (${which} clock)`, async () => {
    const { link } = await resolveRunDevice('sim:muse?seed=3&battery=90&drain=0', { startMs: 0 });
    let reads = 0;
    const clock: RunClock = which === 'virtual' ? new VirtualClock(0) : new RealClock();
    const r = startRun({
      link,
      model: { label: 'm', card: classifier.card, default: { name: 'fp32', classifier }, fast: null },
      clock,
      speed: Infinity,
      hostBattery: [{ read: async () => (reads++, [{ source: 'phone', percent: 70, charging: false }]) }],
      hostPollMs: 1000,
    });
    const before = new Promise<number>((ok) => {
      r.hub.subscribe((e) => {
        if (e.type === 'battery' && e.source === 'phone') {
          const at = reads;
          r.stop();
          ok(at);
        }
      });
    });
    const readsAtStop = await before;
    const outcome = await Promise.race([
      r.done.then((s) => s.stoppedBy),
      new Promise<string>((ok) => setTimeout(() => ok('hung'), 10_000)),
    ]);
    expect(outcome).toBe('stop');
    // After stop() the poller is not read again and again.
    expect(reads - readsAtStop).toBeLessThanOrEqual(1);
  }, 30_000);
}
