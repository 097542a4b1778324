/**
 * A GattPeripheral inside the worker whose radio is on the main thread: write/read/subscribe become RPCs to the
 * page (which owns the Web Bluetooth objects), notifications and disconnects arrive as messages. The session
 * code (openHeadband, decoders) cannot tell it from a local transport.
 */
import type { GattPeripheral, NotifyListener, Uuid } from '../../firmware-bridge/gatt.js';
import type { FromWorker, PeripheralTable, RpcOp, ToWorker } from '../protocol.js';

type Pending = { resolve: (data: Uint8Array) => void; reject: (e: Error) => void };

export class RemotePeripheral implements GattPeripheral {
  readonly id: string;
  readonly name: string;
  readonly services: readonly Uuid[];
  readonly characteristics: readonly Uuid[];
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<Uuid, Set<NotifyListener>>();
  private readonly disconnectListeners = new Set<(reason: string) => void>();
  private connected = true;

  constructor(
    table: PeripheralTable,
    private readonly post: (m: FromWorker, transfer?: Transferable[]) => void,
  ) {
    this.id = table.id;
    this.name = table.name;
    this.services = table.services;
    this.characteristics = table.characteristics;
  }

  /** Feed a message from the page; returns false when it is not for the peripheral. */
  handle(m: ToWorker): boolean {
    switch (m.type) {
      case 'notify': {
        const set = this.listeners.get(m.char);
        if (set) {
          const bytes = new Uint8Array(m.data);
          for (const l of set) l(bytes, m.t);
        }
        return true;
      }
      case 'rpc-result': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (p) {
          if (m.ok) p.resolve(m.data ? new Uint8Array(m.data) : new Uint8Array(0));
          else p.reject(new Error(m.error));
        }
        return true;
      }
      case 'disconnected':
        this.lost(m.reason);
        return true;
      default:
        return false;
    }
  }

  private call(op: RpcOp, char?: Uuid, data?: Uint8Array): Promise<Uint8Array> {
    if (!this.connected) return Promise.reject(new Error(`${this.name} is disconnected`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const buf = data ? data.slice().buffer : undefined;
      this.post({ type: 'rpc', id, op, ...(char !== undefined ? { char } : {}), ...(buf ? { data: buf } : {}) }, buf ? [buf] : []);
    });
  }

  async write(characteristic: Uuid, data: Uint8Array): Promise<void> {
    await this.call('write', characteristic, data);
  }

  read(characteristic: Uuid): Promise<Uint8Array> {
    return this.call('read', characteristic);
  }

  async subscribe(characteristic: Uuid, listener: NotifyListener): Promise<() => Promise<void>> {
    let set = this.listeners.get(characteristic);
    if (!set) {
      set = new Set();
      this.listeners.set(characteristic, set);
      try {
        await this.call('subscribe', characteristic);
      } catch (e) {
        this.listeners.delete(characteristic);
        throw e;
      }
    }
    set.add(listener);
    return async () => {
      const s = this.listeners.get(characteristic);
      if (!s || !s.delete(listener) || s.size > 0) return;
      this.listeners.delete(characteristic);
      if (this.connected) await this.call('unsubscribe', characteristic).catch(() => undefined);
    };
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    await this.call('disconnect').catch(() => undefined);
    this.lost('host disconnected');
  }

  private lost(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.listeners.clear();
    for (const p of this.pending.values()) p.reject(new Error(`${this.name} disconnected (${reason})`));
    this.pending.clear();
    for (const l of [...this.disconnectListeners]) l(reason);
  }
}
