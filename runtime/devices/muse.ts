/**
 * Drives a Muse (gen 1–2) over any GattPeripheral: the start sequence h → preset → s → d, keep-alive, control
 * replies, battery from telemetry, and EEG reassembly into sample rows.
 */
import type { GattPeripheral } from '../../firmware-bridge/gatt.js';
import { MUSE, MUSE_EEG_CHANNELS, MuseControlAssembler, decodeMuseEeg, decodeMuseTelemetry, encodeMuseCommand } from '../../firmware-bridge/protocols/muse.js';
import { MuseEegAssembler, type EegStreamEvent } from '../../firmware-bridge/streams/muse-eeg.js';

export interface MuseClientEvents {
  eeg(event: EegStreamEvent): void;
  control?(json: Record<string, unknown>): void;
  battery?(percent: number): void;
  /** An undecodable packet: decoding continues. */
  error?(message: string): void;
}

export class MuseClient {
  readonly channels = [...MUSE_EEG_CHANNELS];
  readonly sampleRate = MUSE.sampleRate;
  batteryPercent: number | null = null;
  private readonly assembler = new MuseEegAssembler();
  private readonly control = new MuseControlAssembler();
  private unsubscribers: (() => Promise<void>)[] = [];
  private keepAlive: ReturnType<typeof setInterval> | null = null;

  constructor(readonly device: GattPeripheral, readonly preset = 'p21') {
    if (!device.services.includes(MUSE.service)) throw new Error(`${device.name} does not offer the Muse service ${MUSE.service}`);
  }

  async start(on: MuseClientEvents): Promise<void> {
    this.unsubscribers.push(
      await this.device.subscribe(MUSE.control, (data) => {
        for (const r of this.control.push(data)) r.ok ? on.control?.(r.value) : on.error?.(r.error);
      }),
    );
    this.unsubscribers.push(
      await this.device.subscribe(MUSE.telemetry, (data) => {
        const t = decodeMuseTelemetry(data);
        if (!t.ok) return on.error?.(t.error);
        this.batteryPercent = t.value.batteryPercent;
        on.battery?.(t.value.batteryPercent);
      }),
    );
    for (const [c, name] of MUSE_EEG_CHANNELS.entries()) {
      this.unsubscribers.push(
        await this.device.subscribe(MUSE.eeg[name], (data, t) => {
          const p = decodeMuseEeg(data);
          if (!p.ok) return on.error?.(`${name}: ${p.error}`);
          for (const ev of this.assembler.push(c, p.value.index, p.value.samples, t)) on.eeg(ev);
        }),
      );
    }
    for (const cmd of ['h', this.preset, 's', 'd']) await this.device.write(MUSE.control, encodeMuseCommand(cmd));
    this.keepAlive = setInterval(() => {
      this.device.write(MUSE.control, encodeMuseCommand('k')).catch(() => undefined);
    }, 10_000);
  }

  async stop(): Promise<void> {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
    await this.device.write(MUSE.control, encodeMuseCommand('h')).catch(() => undefined);
    for (const u of this.unsubscribers.splice(0)) await u();
  }
}
