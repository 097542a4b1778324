/**
 * What every radio transport shares: the scan result, the transport interface (scan → connect → a
 * GattPeripheral), a typed error whose message says what is wrong and what to do, and timeouts for every radio
 * operation (connects to absent devices hang forever on some stacks, BlueZ on a Pi among them).
 * Browser-safe.
 */
import { DEVICE_KINDS, deviceProfile, type DeviceKind } from '../devices.js';
import { normaliseUuid, type GattPeripheral, type Uuid } from '../gatt.js';

export type TransportName = 'noble' | 'web-bluetooth' | 'sim';
export const TRANSPORT_NAMES: readonly TransportName[] = ['noble', 'web-bluetooth', 'sim'];

export type TransportErrorCode =
  /** The BLE library or its native binding cannot be loaded. */
  | 'not-installed'
  /** No usable Bluetooth LE adapter. */
  | 'no-adapter'
  /** The adapter exists but is powered off or blocked. */
  | 'adapter-off'
  /** The process may not use the adapter (raw HCI socket without capabilities; browser permission). */
  | 'no-permission'
  /** This platform or browser has no BLE API at all. */
  | 'unsupported'
  | 'timeout'
  /** The device is not advertising, or no device has this id. */
  | 'not-found'
  /** The user closed the device chooser. */
  | 'cancelled'
  /** An operation on a link that has dropped. */
  | 'disconnected'
  /** A GATT operation failed on a live link. */
  | 'gatt';

export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

export interface TransportTimeouts {
  /** Waiting for the adapter to report it is powered on. */
  powerOnMs: number;
  /** Starting or stopping a scan. */
  scanControlMs: number;
  connectMs: number;
  /** Service and characteristic discovery. */
  discoverMs: number;
  /** One read, write, subscribe or unsubscribe. */
  operationMs: number;
  disconnectMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<TransportTimeouts> = {
  powerOnMs: 5000,
  scanControlMs: 3000,
  connectMs: 10_000,
  discoverMs: 10_000,
  operationMs: 5000,
  disconnectMs: 3000,
};

/** Defaults overridden by `t`; every value must be a positive number of milliseconds. */
export function resolveTimeouts(t: Partial<TransportTimeouts> = {}): TransportTimeouts {
  const out = { ...DEFAULT_TIMEOUTS };
  for (const [k, v] of Object.entries(t) as [keyof TransportTimeouts, number | undefined][]) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_TIMEOUTS)) throw new RangeError(`unknown timeout "${k}" (known: ${Object.keys(DEFAULT_TIMEOUTS).join(', ')})`);
    if (!(typeof v === 'number' && v > 0 && Number.isFinite(v)))
      throw new RangeError(`timeout ${k} must be a positive number of ms, got ${String(v)}`);
    out[k] = v;
  }
  return out;
}

/**
 * Settle with `op`, or reject with a TransportError('timeout') after `ms`; `onTimeout` can cancel the pending
 * radio operation (e.g. noble's cancelConnect). A late rejection of `op` is swallowed.
 */
export function withTimeout<T>(op: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      op.catch(() => undefined);
      try {
        onTimeout?.();
      } catch {
        /* cancelling is best effort */
      }
      reject(new TransportError('timeout', `${what} timed out after ${formatMs(ms)}`));
    }, ms);
    op.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

export const formatMs = (ms: number): string => (ms >= 1000 ? `${+(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** One advertising device heard during a scan. */
export interface ScanResult {
  transport: TransportName;
  /** The id to connect with (noble: the peripheral id; sim: sim-<name>). */
  id: string;
  /** Advertised local name ('' when none). */
  name: string;
  /** MAC address where the stack reports one. */
  address?: string;
  /** Signal strength (dBm) of the latest advertisement; null when unknown. */
  rssi: number | null;
  /** Advertised service UUIDs, normalised. */
  services: Uuid[];
  /** Registry kind from the advertisement (Muse S Athena shows as 'muse' until connected). */
  kind: DeviceKind | null;
  /** Battery % from the advertisement (Battery Service data), null when not advertised. */
  battery: number | null;
}

export interface ScanOptions {
  /** How long to listen (ms). */
  durationMs: number;
  /** Called when a device is first heard. */
  onResult?: (r: ScanResult) => void;
  /** Stops the scan early; the devices heard so far are returned. */
  signal?: AbortSignal;
  /** Keep devices the registry does not recognise (default false). */
  includeUnknown?: boolean;
}

export interface ConnectOptions {
  /** Overrides the transport's connect timeout. */
  timeoutMs?: number;
}

/** A radio (or its simulation): scan for headbands, connect to one by id. */
export interface BleTransport {
  readonly name: TransportName;
  scan(opts: ScanOptions): Promise<ScanResult[]>;
  connect(id: string, opts?: ConnectOptions): Promise<GattPeripheral>;
  /** Stop scanning and release the adapter. Connected peripherals stay connected. */
  close(): Promise<void>;
}

/** Service UUIDs that headbands in the registry advertise (what a scan filters on). */
export function registryScanServices(kinds: readonly DeviceKind[] = DEVICE_KINDS): Uuid[] {
  return unique(kinds.flatMap((k) => deviceProfile(k).scan.services.map((u) => normaliseUuid(u))));
}

/** Every service a registry device may need once connected (scan services + profile services). */
export function registryServices(kinds: readonly DeviceKind[] = DEVICE_KINDS): Uuid[] {
  return unique(kinds.flatMap((k) => [...deviceProfile(k).scan.services, ...deviceProfile(k).services].map((u) => normaliseUuid(u))));
}

/** Name prefixes the registry recognises. */
export function registryNamePrefixes(kinds: readonly DeviceKind[] = DEVICE_KINDS): string[] {
  return unique(kinds.flatMap((k) => deviceProfile(k).scan.namePrefixes));
}

export function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/** Promise that resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
