/**
 * noble prints adapter warnings with console.log (stdout), which would corrupt `cmcrd pair --json`: once the
 * transport is in use those lines go to its warn hook and everything else passes through. Its own file, so the
 * console spy is in place before the transport installs its filter (module state is per test file).
 */
import { describe, expect, it, vi } from 'vitest';
import { createNobleTransport } from '../../../firmware-bridge/transports/noble.node.js';
import { FakeNoble, fakeNobleModule } from './fake-noble.js';

describe('noble console warnings', () => {
  it("route noble's warning lines (and their indented continuations) to the warn hook; other output passes through", async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const noble = new FakeNoble();
    const lines: string[] = [];
    const t = createNobleTransport({ load: async () => fakeNobleModule(noble), warn: (l) => lines.push(l) });
    await t.scan({ durationMs: 10 });
    console.log('noble warning: adapter state unauthorized, please run as root or with sudo');
    console.log('               or see README for information on running without root/sudo:');
    console.log('unrelated output', 42);
    console.log('               indented, but not after a noble warning');
    expect(lines).toEqual([
      'noble warning: adapter state unauthorized, please run as root or with sudo',
      '               or see README for information on running without root/sudo:',
    ]);
    expect(log.mock.calls).toEqual([['unrelated output', 42], ['               indented, but not after a noble warning']]);
    await t.close();
    // After close the lines are still kept off stdout (noble's singleton may print at any time), just not to this hook.
    console.log('noble warning: adapter does not support Bluetooth Low Energy (BLE, Bluetooth Smart).');
    expect(lines).toHaveLength(2);
    expect(log.mock.calls).toHaveLength(2);
    log.mockRestore();
  });
});
