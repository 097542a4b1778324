/** Notification and disconnect listeners of a simulated peripheral (virtual headbands, capture replay). */
import type { NotifyListener, Uuid } from '../gatt.js';

export class ListenerHub {
  private readonly notify = new Map<Uuid, Set<NotifyListener>>();
  private readonly disconnect = new Set<(reason: string) => void>();

  /** Add a notification listener; resolves to its unsubscribe function (the GattPeripheral.subscribe shape). */
  subscribe(characteristic: Uuid, listener: NotifyListener): () => Promise<void> {
    let set = this.notify.get(characteristic);
    if (!set) this.notify.set(characteristic, (set = new Set()));
    set.add(listener);
    return async () => {
      set.delete(listener);
    };
  }

  emit(characteristic: Uuid, data: Uint8Array, t: number): void {
    const set = this.notify.get(characteristic);
    if (set) for (const l of set) l(data, t);
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.disconnect.add(listener);
    return () => this.disconnect.delete(listener);
  }

  disconnected(reason: string): void {
    for (const l of this.disconnect) l(reason);
  }
}
