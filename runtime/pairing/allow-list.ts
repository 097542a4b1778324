/**
 * The allow-list of paired headbands (browser-safe core; the per-user file lives in store.node.ts). Over a
 * real radio the runtime connects only to a device on this list, so a Pi never streams from a stranger's
 * headband. Entries are found by id, alias or name; the file format is versioned and validated field by field
 * (valibot), so a hand-edited file with a typo gets an error naming the field instead of a silent reset.
 */
import * as v from 'valibot';
import { DEVICE_KINDS, type DeviceKind } from '../../firmware-bridge/devices.js';
import { TRANSPORT_NAMES, type TransportName } from '../../firmware-bridge/transports/transport.js';

export const ALLOW_LIST_VERSION = 1;

export interface AllowListEntry {
  id: string;
  name: string;
  kind: DeviceKind;
  transport: TransportName;
  /** ISO 8601 time it was paired. */
  addedAt: string;
  /** The user's own name for it (unique on the list). */
  alias?: string;
  address?: string;
}

export interface AllowList {
  version: typeof ALLOW_LIST_VERSION;
  devices: AllowListEntry[];
}

export class AllowListError extends Error {
  constructor(
    message: string,
    /** The file the error is about, when there is one. */
    readonly path?: string,
  ) {
    super(message);
    this.name = 'AllowListError';
  }
}

const nonEmpty = (what: string) => v.pipe(v.string(`${what} must be a string`), v.trim(), v.nonEmpty(`${what} must not be empty`));

const EntrySchema = v.object({
  id: nonEmpty('id'),
  name: v.string('name must be a string'),
  kind: v.picklist(DEVICE_KINDS, `kind must be one of ${DEVICE_KINDS.join(', ')}`),
  transport: v.picklist(TRANSPORT_NAMES, `transport must be one of ${TRANSPORT_NAMES.join(', ')}`),
  addedAt: v.pipe(v.string('addedAt must be a string'), v.isoTimestamp('addedAt must be an ISO 8601 time, e.g. 2025-01-31T12:00:00.000Z')),
  alias: v.optional(nonEmpty('alias')),
  address: v.optional(v.string('address must be a string')),
});

const ListSchema = v.object({
  version: v.number('version must be a number'),
  devices: v.array(EntrySchema, 'devices must be a list'),
});

export function emptyAllowList(): AllowList {
  return { version: ALLOW_LIST_VERSION, devices: [] };
}

/** `devices.0.kind` → `devices[0].kind` */
function fieldPath(issue: v.BaseIssue<unknown>): string {
  const dot = v.getDotPath(issue);
  return dot ? dot.replace(/\.(\d+)(?=\.|$)/g, '[$1]') : '(top level)';
}

/** Parse and validate the allow-list file's text; `source` (its path) names it in errors. */
export function parseAllowList(text: string, source: string): AllowList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new AllowListError(`${source} is damaged: not valid JSON (${e instanceof Error ? e.message : String(e)})`, source);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new AllowListError(`${source} is damaged: (top level): expected an object with "version" and "devices"`, source);
  const version = (raw as { version?: unknown }).version;
  if (typeof version === 'number' && version > ALLOW_LIST_VERSION) {
    throw new AllowListError(
      `${source} was written by a newer cmcrd (format version ${version}; this one reads version ${ALLOW_LIST_VERSION}): upgrade cmcrd`,
      source,
    );
  }
  const r = v.safeParse(ListSchema, raw);
  if (!r.success) {
    const issue = r.issues[0];
    const more = r.issues.length > 1 ? ` (and ${r.issues.length - 1} more problem${r.issues.length > 2 ? 's' : ''})` : '';
    const msg = issue.message.startsWith('Invalid key') ? `missing field "${String(issue.expected).replace(/"/g, '')}"` : issue.message;
    throw new AllowListError(`${source} is damaged: ${fieldPath(issue)}: ${msg}${more}`, source);
  }
  if (r.output.version !== ALLOW_LIST_VERSION)
    throw new AllowListError(`${source} is damaged: version must be ${ALLOW_LIST_VERSION}, got ${r.output.version}`, source);
  const devices = r.output.devices.map((d) => {
    const e: AllowListEntry = { id: d.id, name: d.name, kind: d.kind, transport: d.transport, addedAt: d.addedAt };
    if (d.alias !== undefined) e.alias = d.alias;
    if (d.address !== undefined) e.address = d.address;
    return e;
  });
  const seen = new Map<string, number>();
  devices.forEach((d, i) => {
    const key = `${d.transport}\u0000${d.id}`;
    if (seen.has(key))
      throw new AllowListError(`${source} is damaged: devices[${i}] repeats devices[${seen.get(key)}] (${d.transport} id ${d.id})`, source);
    seen.set(key, i);
    const clash = d.alias === undefined ? -1 : devices.findIndex((o, j) => j < i && o.alias?.toLowerCase() === d.alias!.toLowerCase());
    if (clash >= 0)
      throw new AllowListError(`${source} is damaged: devices[${i}].alias "${d.alias}" is also the alias of devices[${clash}]`, source);
  });
  return { version: ALLOW_LIST_VERSION, devices };
}

export function formatAllowList(list: AllowList): string {
  return JSON.stringify({ version: ALLOW_LIST_VERSION, devices: list.devices }, null, 2) + '\n';
}

const sameId = (a: string, b: string) => a === b || a.toLowerCase() === b.toLowerCase();
const macKey = (s: string) => s.replace(/[:-]/g, '').toLowerCase();

/**
 * The entry `spec` names: an id (or MAC address) first, then an alias, then a device name (names and aliases
 * ignore case). Null when none matches; an AllowListError when a name matches several devices.
 */
export function findDevice(list: AllowList, spec: string): AllowListEntry | null {
  const s = spec.trim();
  if (!s) return null;
  const byId = list.devices.filter((d) => sameId(d.id, s) || (d.address !== undefined && macKey(d.address) === macKey(s)));
  if (byId.length === 1) return byId[0]!;
  const byAlias = list.devices.filter((d) => d.alias !== undefined && d.alias.toLowerCase() === s.toLowerCase());
  if (byAlias.length === 1) return byAlias[0]!;
  const byName = list.devices.filter((d) => d.name.toLowerCase() === s.toLowerCase());
  if (byName.length === 1) return byName[0]!;
  const many = byId.length > 1 ? byId : byName;
  if (many.length > 1)
    throw new AllowListError(
      `"${spec}" matches ${many.length} paired devices (${many.map(describeEntry).join('; ')}): use the id or give one an alias`,
    );
  return null;
}

export function describeEntry(d: AllowListEntry): string {
  return `${d.alias ? `${d.alias} = ` : ''}${d.name || '(no name)'} [${d.id}, ${d.kind}, ${d.transport}]`;
}

/** Add or update (same transport and id) an entry; a re-paired device keeps its first pairing time. */
export function addDevice(list: AllowList, entry: AllowListEntry): { list: AllowList; previous: AllowListEntry | null } {
  if (entry.alias !== undefined) {
    const a = entry.alias.trim();
    if (!a) throw new AllowListError('an alias must not be empty');
    if (/^(sim|replay):/i.test(a)) throw new AllowListError(`alias "${a}" looks like a device URI: choose another`);
    const owner = list.devices.find(
      (d) => d.alias?.toLowerCase() === a.toLowerCase() && !(d.transport === entry.transport && d.id === entry.id),
    );
    if (owner) throw new AllowListError(`alias "${a}" is already used by ${describeEntry(owner)}`);
  }
  const i = list.devices.findIndex((d) => d.transport === entry.transport && d.id === entry.id);
  const previous = i >= 0 ? list.devices[i]! : null;
  const merged: AllowListEntry = previous
    ? {
        ...entry,
        addedAt: previous.addedAt,
        ...(entry.alias === undefined && previous.alias !== undefined ? { alias: previous.alias } : {}),
      }
    : entry;
  const devices = list.devices.slice();
  if (i >= 0) devices[i] = merged;
  else devices.push(merged);
  return { list: { version: ALLOW_LIST_VERSION, devices }, previous };
}

/** Remove the entry `spec` names; an AllowListError listing the saved devices when none matches. */
export function forgetDevice(list: AllowList, spec: string): { list: AllowList; removed: AllowListEntry } {
  const e = findDevice(list, spec);
  if (!e) {
    const known = list.devices.length ? `paired: ${list.devices.map(describeEntry).join('; ')}` : 'no device is paired';
    throw new AllowListError(`"${spec}" is not a paired device (${known})`);
  }
  return { list: { version: ALLOW_LIST_VERSION, devices: list.devices.filter((d) => d !== e) }, removed: e };
}

/** Is the device with this id on the list for this transport? */
export function isAllowed(list: AllowList, transport: TransportName, id: string): boolean {
  return list.devices.some((d) => d.transport === transport && sameId(d.id, id));
}
