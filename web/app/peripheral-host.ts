/**
 * The page side of the worker's RemotePeripheral: answers its GATT RPCs with the real (main-thread) peripheral and
 * forwards every notification, with its arrival time, to the worker.
 */
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import type { FromWorker, PeripheralTable, ToWorker } from '../protocol.js';

export interface WorkerLike {
  postMessage(message: ToWorker, transfer?: Transferable[]): void;
}

export class PeripheralHost {
  private readonly unsubs = new Map<string, () => Promise<void>>();
  private closed = false;

  constructor(
    private readonly peripheral: GattPeripheral,
    private readonly worker: WorkerLike,
  ) {
    peripheral.onDisconnect((reason) => {
      if (!this.closed) this.worker.postMessage({ type: 'disconnected', reason });
    });
  }

  get table(): PeripheralTable {
    const p = this.peripheral;
    return { id: p.id, name: p.name, services: [...p.services], characteristics: [...p.characteristics] };
  }

  /** Handle an RPC message from the worker; returns false for other messages. */
  handle(m: FromWorker): boolean {
    if (m.type !== 'rpc') return false;
    const reply = (r: Promise<Uint8Array | void>) =>
      r.then(
        (data) => {
          const buf = data ? data.slice().buffer : undefined;
          this.worker.postMessage({ type: 'rpc-result', id: m.id, ok: true, ...(buf ? { data: buf } : {}) }, buf ? [buf] : []);
        },
        (e: unknown) =>
          this.worker.postMessage({ type: 'rpc-result', id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
    const p = this.peripheral;
    const char = m.char ?? '';
    switch (m.op) {
      case 'write':
        void reply(p.write(char, new Uint8Array(m.data ?? new ArrayBuffer(0))));
        break;
      case 'read':
        void reply(p.read(char));
        break;
      case 'subscribe':
        void reply(
          p
            .subscribe(char, (data, t) => {
              const buf = data.slice().buffer;
              this.worker.postMessage({ type: 'notify', char, data: buf, t }, [buf]);
            })
            .then((unsub) => void this.unsubs.set(char, unsub)),
        );
        break;
      case 'unsubscribe': {
        const u = this.unsubs.get(char);
        this.unsubs.delete(char);
        void reply(u ? u() : Promise.resolve());
        break;
      }
      case 'disconnect':
        this.closed = true;
        void reply(p.disconnect());
        break;
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const u of this.unsubs.values()) await u().catch(() => undefined);
    this.unsubs.clear();
    await this.peripheral.disconnect().catch(() => undefined);
  }
}
