/**
 * One decoder per connected (or recorded) device: feed it every notification with its characteristic and host
 * arrival time, get typed records back. It owns the per-stream reassembly (sequence tracking, gap accounting,
 * de-jittered sample times) and never throws on bad bytes: an undecodable packet becomes an error record and
 * decoding continues. `cmcrd decode`, the replay device and the runtime's drivers all use it.
 */
import type { Uuid } from './gatt.js';
import { normaliseUuid } from './gatt.js';
import type { DecoderContext, DeviceDecoderOptions } from './drivers/types.js';
import { errorRecord, type DecodedRecord } from './records.js';
import { getDriver, type DeviceKind } from './registry.js';
import { BlockAssembler, type BlockEvent } from './streams/blocks.js';

export type { DeviceDecoderOptions } from './drivers/types.js';
export type {
  ClockRecord,
  ControlRecord,
  DecodedRecord,
  ErrorRecord,
  GapRecord,
  ImpedanceRecord,
  MessageRecord,
  MotionRecord,
  RowsRecord,
  TelemetryRecord,
} from './records.js';

export class DeviceDecoder {
  private readonly handlers = new Map<Uuid, (b: Uint8Array, t: number, out: DecodedRecord[]) => void>();
  private readonly streams: { asm: BlockAssembler; convert: (e: BlockEvent, out: DecodedRecord[]) => void }[] = [];
  readonly eegNames: readonly string[];

  constructor(
    readonly kind: DeviceKind,
    readonly options: DeviceDecoderOptions = {},
  ) {
    // What each kind's notifications mean lives in its driver (drivers/<kind>.ts); this class owns the plumbing.
    const ctx: DecoderContext = {
      handle: (uuid, h) => void this.handlers.set(uuid, h),
      rowsStream: (k, names, spb, rate, modulus) => this.rowsStream(k, names, spb, rate, modulus),
      motionStream: (k, spb, rate, modulus) => this.motionStream(k, spb, rate, modulus),
      addStream: (asm, rows, note) => this.addStream(asm, rows, note),
      emit: (asm, events, out) => this.emit(asm, events, out),
      removeStream: (asm, out) => this.removeStream(asm, out),
    };
    this.eegNames = getDriver(kind).setupDecoder(ctx, options);
  }

  /** Decode one notification. Never throws on bad bytes. */
  push(characteristic: string, bytes: Uint8Array, hostMs: number): DecodedRecord[] {
    const out: DecodedRecord[] = [];
    let uuid: Uuid;
    try {
      uuid = normaliseUuid(characteristic);
    } catch {
      out.push(errorRecord(hostMs, characteristic, `not a UUID: ${JSON.stringify(characteristic)}`, bytes));
      return out;
    }
    const h = this.handlers.get(uuid);
    if (!h) {
      out.push(errorRecord(hostMs, uuid, `characteristic is not part of the ${this.kind} protocol`, bytes));
      return out;
    }
    try {
      h(bytes, hostMs, out);
    } catch (e) {
      // Defensive: a codec bug must not stop a recording; report it like a bad packet.
      out.push(errorRecord(hostMs, uuid, `decoder failure: ${e instanceof Error ? e.message : String(e)}`, bytes));
    }
    return out;
  }

  /** Emit whatever the reassemblers still hold (end of stream). */
  flush(): DecodedRecord[] {
    const out: DecodedRecord[] = [];
    for (const s of this.streams) for (const e of s.asm.flush()) s.convert(e, out);
    return out;
  }

  /** Per-stream statistics (duplicates, late packets, lost samples). */
  stats(): Record<string, BlockAssembler['stats']> {
    const out: Record<string, BlockAssembler['stats']> = {};
    for (const s of this.streams) {
      let k = s.asm.config.stream;
      for (let i = 2; k in out; i++) k = `${s.asm.config.stream}#${i}`;
      out[k] = s.asm.stats;
    }
    return out;
  }

  // ----- helpers

  private addStream(
    asm: BlockAssembler,
    rows: (e: Extract<BlockEvent, { kind: 'rows' }>, out: DecodedRecord[]) => void,
    note?: () => string | undefined,
  ): BlockAssembler {
    this.streams.push({
      asm,
      convert: (e, out) => {
        if (e.kind === 'rows') rows(e, out);
        else if (e.kind === 'clock') out.push({ ...e, t: asm.clock.timeOf(e.fromSample) });
        else {
          const t = asm.clock.timeOf(e.fromSample);
          const n = note?.();
          out.push({
            kind: 'gap',
            t,
            stream: e.stream,
            lostSamples: e.lostSamples,
            fromSample: e.fromSample,
            ...(e.channels ? { channels: e.channels } : {}),
            ...(n ? { note: n } : {}),
          });
        }
      },
    });
    return asm;
  }

  private emit(asm: BlockAssembler, events: BlockEvent[], out: DecodedRecord[]): void {
    const s = this.streams.find((x) => x.asm === asm)!;
    for (const e of events) s.convert(e, out);
  }

  private rowsStream(kind: 'eeg' | 'ppg', names: readonly string[], spb: number, rate: number, modulus: number): BlockAssembler {
    const asm = new BlockAssembler({ stream: kind, channels: names, samplesPerBlock: spb, sampleRate: rate, indexModulus: modulus });
    return this.addStream(asm, (e, out) => out.push({ kind, firstSample: e.firstSample, t: e.t, names, channels: e.channels }));
  }

  private motionStream(kind: 'accelerometer' | 'gyroscope', spb: number, rate: number, modulus: number): BlockAssembler {
    const asm = new BlockAssembler({
      stream: kind,
      channels: ['x', 'y', 'z'],
      samplesPerBlock: spb,
      sampleRate: rate,
      indexModulus: modulus,
    });
    return this.addStream(asm, (e, out) => {
      const samples = Array.from(e.t, (t, i) => ({ t, x: e.channels[0]![i]!, y: e.channels[1]![i]!, z: e.channels[2]![i]! }));
      out.push({ kind, t: e.t[0]!, samples });
    });
  }

  private removeStream(asm: BlockAssembler, out: DecodedRecord[]): void {
    this.emit(asm, asm.flush(), out);
    this.streams.splice(
      this.streams.findIndex((x) => x.asm === asm),
      1,
    );
  }
}

/** JSON-ready records, one per EEG row (channels by name, null where lost), for `cmcrd decode` and logs. */
export function recordToJson(r: DecodedRecord): Record<string, unknown>[] {
  if (r.kind === 'eeg' || r.kind === 'ppg') {
    const rows: Record<string, unknown>[] = [];
    for (let i = 0; i < r.t.length; i++) {
      const channels: Record<string, number | null> = {};
      r.names.forEach((n, c) => {
        const v = r.channels[c]![i]!;
        channels[n] = Number.isNaN(v) ? null : v;
      });
      rows.push({ kind: r.kind, t: r.t[i]!, ...(r.firstSample >= 0 ? { sample: r.firstSample + i } : {}), channels });
    }
    return rows;
  }
  return [r as unknown as Record<string, unknown>];
}
