/**
 * The transport-neutral view of a connected BLE peripheral. Real transports (noble on a Pi, Web Bluetooth in
 * a browser) and the simulated one (virtual headbands) all present this interface, so protocol code never
 * knows which radio — if any — is underneath. UUIDs are full lowercase 128-bit strings with dashes.
 */
export type Uuid = string;

/** Called with each notification's payload and the host time (ms) it arrived. */
export type NotifyListener = (data: Uint8Array, hostTimeMs: number) => void;

export interface GattPeripheral {
  readonly id: string;
  readonly name: string;
  /** Service UUIDs the peripheral offers. */
  readonly services: readonly Uuid[];
  /** Characteristic UUIDs the peripheral offers (across its services). */
  readonly characteristics: readonly Uuid[];
  write(characteristic: Uuid, data: Uint8Array): Promise<void>;
  read(characteristic: Uuid): Promise<Uint8Array>;
  /** Start notifications; the returned function unsubscribes. */
  subscribe(characteristic: Uuid, listener: NotifyListener): Promise<() => Promise<void>>;
  onDisconnect(listener: (reason: string) => void): () => void;
  disconnect(): Promise<void>;
}

const BASE_SUFFIX = '-0000-1000-8000-00805f9b34fb';

/** Full UUID of a 16-bit SIG-assigned number, e.g. 0x180f → 0000180f-0000-1000-8000-00805f9b34fb. */
export function uuid16(n: number): Uuid {
  return `0000${n.toString(16).padStart(4, '0')}${BASE_SUFFIX}`;
}

/** Normalise a UUID as written by noble (no dashes), by humans (upper case) or as a 16-bit number. */
export function normaliseUuid(u: string | number): Uuid {
  if (typeof u === 'number') return uuid16(u);
  const s = u.toLowerCase().replace(/-/g, '');
  if (/^[0-9a-f]{4}$/.test(s)) return uuid16(parseInt(s, 16));
  if (!/^[0-9a-f]{32}$/.test(s)) throw new RangeError(`not a UUID: "${u}"`);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}
