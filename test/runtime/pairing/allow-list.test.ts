import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSimTransport } from '../../../firmware-bridge/sim/scanner.js';
import {
  AllowListError,
  addDevice,
  emptyAllowList,
  findDevice,
  forgetDevice,
  formatAllowList,
  isAllowed,
  parseAllowList,
  type AllowList,
  type AllowListEntry,
} from '../../../runtime/pairing/allow-list.js';
import { DeviceNotAllowedError, connectAllowed, resolveDevice } from '../../../runtime/pairing/resolve.js';
import { AllowListStore, configDir, defaultAllowListPath } from '../../../runtime/pairing/store.node.js';

const dir = mkdtempSync(join(tmpdir(), 'cmcrd-pairing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const muse: AllowListEntry = {
  id: 'sim-Muse-1A2B',
  name: 'Muse-1A2B',
  kind: 'muse',
  transport: 'sim',
  addedAt: '2025-01-02T03:04:05.000Z',
};
const real: AllowListEntry = {
  id: '0055dab01a2b',
  name: 'Muse-1A2B',
  kind: 'muse',
  transport: 'noble',
  addedAt: '2025-02-01T00:00:00.000Z',
  address: '00:55:da:b0:1a:2b',
  alias: 'bedroom',
};
const gang: AllowListEntry = {
  id: 'd2b4118a4e5f',
  name: 'Ganglion-4E5F',
  kind: 'ganglion',
  transport: 'noble',
  addedAt: '2025-02-02T00:00:00.000Z',
};
const list = (...devices: AllowListEntry[]): AllowList => ({ version: 1, devices });

describe('allow-list format', () => {
  it('round-trips through its file form', () => {
    const l = list(muse, real, gang);
    expect(parseAllowList(formatAllowList(l), 'x.json')).toEqual(l);
    expect(formatAllowList(l).endsWith('\n')).toBe(true);
  });

  it.each([
    ['{"version":1,"devices":[', /x\.json is damaged: not valid JSON/],
    ['[]', /x\.json is damaged: \(top level\)/],
    ['{"version":1}', /devices: missing field "devices"/],
    [
      '{"version":1,"devices":[{"id":"a","name":"n","kind":"fitbit","transport":"sim","addedAt":"2025-01-02T03:04:05.000Z"}]}',
      /devices\[0\]\.kind: kind must be one of muse, muse-athena, ganglion, open-eeg/,
    ],
    [
      '{"version":1,"devices":[{"id":"","name":"n","kind":"muse","transport":"sim","addedAt":"2025-01-02T03:04:05.000Z"}]}',
      /devices\[0\]\.id: id must not be empty/,
    ],
    [
      '{"version":1,"devices":[{"id":"a","name":"n","kind":"muse","transport":"bt","addedAt":"2025-01-02T03:04:05.000Z"}]}',
      /devices\[0\]\.transport: transport must be one of noble, web-bluetooth, sim/,
    ],
    [
      '{"version":1,"devices":[{"id":"a","name":"n","kind":"muse","transport":"sim","addedAt":"yesterday"}]}',
      /devices\[0\]\.addedAt: addedAt must be an ISO 8601 time/,
    ],
    ['{"version":1,"devices":[{"id":"a","name":"n","kind":"muse","transport":"sim"}]}', /devices\[0\]\.addedAt: missing field "addedAt"/],
    ['{"version":0,"devices":[]}', /version must be 1, got 0/],
    ['{"version":7,"devices":[]}', /written by a newer cmcrd \(format version 7/],
  ])('names the problem in %s', (text, re) => {
    expect(() => parseAllowList(text, 'x.json')).toThrow(AllowListError);
    expect(() => parseAllowList(text, 'x.json')).toThrow(re);
  });

  it('rejects repeated devices and repeated aliases', () => {
    expect(() => parseAllowList(formatAllowList(list(muse, muse)), 'x.json')).toThrow(
      /devices\[1\] repeats devices\[0\] \(sim id sim-Muse-1A2B\)/,
    );
    expect(() => parseAllowList(formatAllowList(list(real, { ...gang, alias: 'BEDROOM' })), 'x.json')).toThrow(
      /devices\[1\]\.alias "BEDROOM" is also the alias of devices\[0\]/,
    );
  });
});

describe('allow-list operations', () => {
  it('finds a device by id, MAC address, alias or name (names and aliases ignore case); ambiguous names are an error', () => {
    const l = list(muse, real, gang);
    expect(findDevice(l, 'D2B4118A4E5F')).toBe(gang);
    expect(findDevice(l, '00:55:DA:B0:1A:2B')).toBe(real);
    expect(findDevice(l, 'Bedroom')).toBe(real);
    expect(findDevice(l, 'ganglion-4e5f')).toBe(gang);
    expect(findDevice(l, 'nobody')).toBeNull();
    expect(() => findDevice(l, 'Muse-1A2B')).toThrow(/matches 2 paired devices.*use the id or give one an alias/);
  });

  it('adds, updates in place keeping the first pairing time and alias, and guards aliases', () => {
    let l = emptyAllowList();
    l = addDevice(l, muse).list;
    const r = addDevice(l, { ...muse, name: 'Muse-renamed', addedAt: '2026-01-01T00:00:00.000Z' });
    expect(r.previous).toEqual(muse);
    expect(r.list.devices).toEqual([{ ...muse, name: 'Muse-renamed' }]);
    l = addDevice(r.list, real).list;
    expect(addDevice(l, { ...real, alias: undefined } as unknown as AllowListEntry).list.devices[1]!.alias).toBe('bedroom');
    expect(() => addDevice(l, { ...gang, alias: 'BedRoom' })).toThrow(/alias "BedRoom" is already used by bedroom = Muse-1A2B/);
    expect(() => addDevice(l, { ...gang, alias: 'sim:muse' })).toThrow(/looks like a device URI/);
    expect(l.devices).toHaveLength(2); // the input list is not modified
  });

  it('forgets by any key and says what is paired when the key matches nothing', () => {
    const { list: l, removed } = forgetDevice(list(muse, real, gang), 'bedroom');
    expect(removed).toBe(real);
    expect(l.devices).toEqual([muse, gang]);
    expect(() => forgetDevice(l, 'nope')).toThrow(
      /"nope" is not a paired device \(paired: Muse-1A2B \[sim-Muse-1A2B, muse, sim\]; Ganglion-4E5F/,
    );
    expect(() => forgetDevice(emptyAllowList(), 'nope')).toThrow(/no device is paired/);
    expect(isAllowed(l, 'noble', 'D2B4118A4E5F')).toBe(true);
    expect(isAllowed(l, 'sim', 'd2b4118a4e5f')).toBe(false);
  });
});

describe('resolveDevice', () => {
  const l = list(muse, real, gang);
  it('sim: and replay: URIs need no pairing', () => {
    expect(resolveDevice('sim:muse?drop=0.01', { allowList: emptyAllowList() })).toEqual({
      source: 'uri',
      scheme: 'sim',
      uri: 'sim:muse?drop=0.01',
    });
    expect(resolveDevice('replay:rec/a.jsonl?speed=4', { allowList: emptyAllowList() })).toEqual({
      source: 'uri',
      scheme: 'replay',
      uri: 'replay:rec/a.jsonl?speed=4',
    });
  });

  it('a saved id, alias or name gives the entry; noble:<id> names the transport too', () => {
    expect(resolveDevice('bedroom', { allowList: l })).toEqual({ source: 'allow-list', entry: real });
    expect(resolveDevice('d2b4118a4e5f', { allowList: l })).toEqual({ source: 'allow-list', entry: gang });
    expect(resolveDevice('noble:d2b4118a4e5f', { allowList: l })).toEqual({ source: 'allow-list', entry: gang });
    expect(resolveDevice('sim-Muse-1A2B', { allowList: l })).toEqual({ source: 'allow-list', entry: muse });
  });

  it('refuses a radio device that is not on the allow-list, with the reason and the pairing command', () => {
    const e = (() => {
      try {
        resolveDevice('aabbccddeeff', { allowList: l, allowListPath: '/home/pi/.config/cmcrd/devices.json' });
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(DeviceNotAllowedError);
    expect((e as Error).message).toMatch(
      /"aabbccddeeff" is not a paired headband: over a real radio only devices on the allow-list \(\/home\/pi\/\.config\/cmcrd\/devices\.json\) are connected/,
    );
    expect((e as Error).message).toMatch(/cmcrd pair --select "aabbccddeeff"/);
    expect(() => resolveDevice('noble:sim-Muse-1A2B', { allowList: l })).toThrow(DeviceNotAllowedError);
    expect(() => resolveDevice('  ', { allowList: l })).toThrow(/no device given/);
    expect(() => resolveDevice('Stranger-01', { allowList: emptyAllowList() })).toThrow(/nothing is paired yet/);
  });

  it('connectAllowed connects a paired device and refuses the wrong transport or an entry not on the list', async () => {
    const t = createSimTransport();
    const dev = await connectAllowed(muse, l, t);
    expect(dev.id).toBe('sim-Muse-1A2B');
    await dev.disconnect();
    await expect(connectAllowed(real, l, t)).rejects.toThrow(/paired over noble, not sim/);
    const stranger: AllowListEntry = { ...muse, id: 'sim-Ganglion-4E5F', name: 'Ganglion-4E5F', kind: 'ganglion' };
    await expect(connectAllowed(stranger, l, t)).rejects.toThrow(/not on the allow-list/);
  });
});

describe('allow-list file', () => {
  it('lives in $XDG_CONFIG_HOME/cmcrd, else ~/.config/cmcrd (a relative XDG_CONFIG_HOME is ignored)', () => {
    expect(configDir({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/u' })).toBe('/x/cfg/cmcrd');
    expect(configDir({ XDG_CONFIG_HOME: 'rel/cfg', HOME: '/home/u' })).toBe('/home/u/.config/cmcrd');
    expect(defaultAllowListPath({ HOME: '/home/u' })).toBe('/home/u/.config/cmcrd/devices.json');
  });

  it('a missing file is an empty list; saves atomically (no temporary file left), owner-only, and reads back', () => {
    const p = join(dir, 'a', 'cmcrd', 'devices.json');
    const s = new AllowListStore(p);
    expect(s.load()).toEqual(emptyAllowList());
    s.save(list(muse));
    expect(readdirSync(join(dir, 'a', 'cmcrd'))).toEqual(['devices.json']);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(s.load()).toEqual(list(muse));
    s.update((l) => addDevice(l, gang).list);
    expect(JSON.parse(readFileSync(p, 'utf8')).devices.map((d: AllowListEntry) => d.id)).toEqual([muse.id, gang.id]);
  });

  it('reports a damaged file with its path and leaves it byte for byte as it was', () => {
    const p = join(dir, 'b', 'devices.json');
    mkdirSync(join(dir, 'b'));
    const damaged = '{"version":1,"devices":[{"id":"x","name":"n","kind":"muse"';
    writeFileSync(p, damaged);
    const s = new AllowListStore(p);
    expect(() => s.load()).toThrow(
      new RegExp(`${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged: not valid JSON.*left as it is: fix it, or move it away`),
    );
    expect(() => s.update((l) => addDevice(l, muse).list)).toThrow(AllowListError);
    expect(readFileSync(p, 'utf8')).toBe(damaged);
  });

  it('an unwritable folder is a clear error, and the old file survives', () => {
    if (process.getuid?.() === 0) return; // root writes anywhere: nothing to test
    const d = join(dir, 'ro');
    mkdirSync(d);
    const s = new AllowListStore(join(d, 'devices.json'));
    s.save(list(muse));
    chmodSync(d, 0o500);
    try {
      expect(() => s.save(list(muse, gang))).toThrow(/cannot write the paired-device list .*devices\.json \(EACCES\)/);
      expect(s.load()).toEqual(list(muse));
    } finally {
      chmodSync(d, 0o700);
    }
  });
});
