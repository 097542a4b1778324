/**
 * One decoder per connected (or recorded) device: feed it every notification with its characteristic and host
 * arrival time, get typed records back. It owns the per-stream reassembly (sequence tracking, gap accounting,
 * de-jittered sample times) and never throws on bad bytes: an undecodable packet becomes an error record and
 * decoding continues. `cmcrd decode`, the replay device and the runtime's drivers all use it.
 */
import { bytesToHex, hexPreview } from './bytes.js';
import type { DeviceKind } from './devices.js';
import type { Uuid } from './gatt.js';
import { normaliseUuid } from './gatt.js';
import { ATHENA, ATHENA_EEG_CHANNELS, decodeAthenaAccGyro, decodeAthenaBattery, decodeAthenaEeg, parseAthenaNotification } from './protocols/athena.js';
import { BATTERY_SERVICE, decodeBatteryLevel } from './protocols/battery.js';
import { GANGLION, GanglionMessageAssembler, parseGanglionPacket, type GanglionFirmware } from './protocols/ganglion.js';
import {
  MUSE,
  MUSE_PPG_CHANNELS,
  MuseControlAssembler,
  decodeMuseAccelerometer,
  decodeMuseEeg,
  decodeMuseGyroscope,
  decodeMusePpg,
  decodeMuseTelemetry,
  type Xyz,
} from './protocols/muse.js';
import { OPEN_EEG, decodeOpenEegPacket } from './protocols/open-eeg.js';
import { BlockAssembler, type BlockEvent } from './streams/blocks.js';
import { DeviceTimeBlocks } from './streams/device-time.js';

/** Sample rows of one stream (EEG or PPG); values in µV (EEG) or raw units (PPG), NaN where lost. */
export interface RowsRecord {
  kind: 'eeg' | 'ppg';
  /** Absolute index of the first row since the stream started. */
  firstSample: number;
  t: Float64Array;
  names: readonly string[];
  channels: Float64Array[];
}
export interface GapRecord {
  kind: 'gap';
  t: number;
  stream: string;
  lostSamples: number;
  fromSample: number;
  channels?: string[];
  /** Extra consequence, e.g. Ganglion FW2's delta baseline being lost. */
  note?: string;
}
/**
 * The host clock did something the sample grid does not follow (see streams/clock.ts): a step (the grid
 * re-anchored to the new host time), a glitch (isolated host times off the grid, ignored) or an unusable time
 * (NaN, ±Infinity, beyond ±2^53 ms; ignored). Samples are never counted lost because of host time; a step may
 * also hide whole counter cycles lost with it, which no counter can show.
 */
export interface ClockRecord {
  kind: 'clock';
  /** Grid time of fromSample (NaN when the stream has no usable time yet). */
  t: number;
  stream: string;
  change: 'step' | 'glitch' | 'invalid';
  fromSample: number;
  /** The host time that showed it, as received. */
  hostMs: number;
  /** Host time minus grid time (ms), null when not measurable. */
  jumpMs: number | null;
  notifications: number;
}
export interface TelemetryRecord {
  kind: 'telemetry';
  t: number;
  battery: number;
  fuelGaugeMv?: number;
  temperature?: number;
  source: 'muse-telemetry' | 'athena-subpacket' | 'battery-service' | 'open-eeg-header';
}
export interface MotionRecord {
  kind: 'accelerometer' | 'gyroscope';
  t: number;
  /** g (accelerometer) or °/s (gyroscope), with each sample's time. */
  samples: (Xyz & { t: number })[];
}
export interface ControlRecord {
  kind: 'control';
  t: number;
  json: Record<string, unknown>;
}
export interface ImpedanceRecord {
  kind: 'impedance';
  t: number;
  channel: string;
  kOhm: number;
}
export interface MessageRecord {
  kind: 'message';
  t: number;
  text: string;
}
export interface ErrorRecord {
  kind: 'error';
  t: number;
  char: string;
  error: string;
  hex: string;
}
export type DecodedRecord = RowsRecord | GapRecord | ClockRecord | TelemetryRecord | MotionRecord | ControlRecord | ImpedanceRecord | MessageRecord | ErrorRecord;

export interface DeviceDecoderOptions {
  /** Ganglion firmware major version (default 3). */
  firmware?: GanglionFirmware;
  /** Muse: stream the right AUX electrode as a fifth channel (presets p20/p50/p60). */
  aux?: boolean;
  /** Channel names (Ganglion sites, open-profile labels). */
  channelNames?: readonly string[];
}

export class DeviceDecoder {
  private readonly handlers = new Map<Uuid, (b: Uint8Array, t: number, out: DecodedRecord[]) => void>();
  private readonly streams: { asm: BlockAssembler; convert: (e: BlockEvent, out: DecodedRecord[]) => void }[] = [];
  readonly eegNames: readonly string[];

  constructor(readonly kind: DeviceKind, readonly options: DeviceDecoderOptions = {}) {
    switch (kind) {
      case 'muse':
        this.eegNames = this.setupMuse();
        break;
      case 'muse-athena':
        this.eegNames = this.setupAthena();
        break;
      case 'ganglion':
        this.eegNames = this.setupGanglion();
        break;
      case 'open-eeg':
        this.eegNames = this.setupOpenEeg();
        break;
    }
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

  private addStream(asm: BlockAssembler, rows: (e: Extract<BlockEvent, { kind: 'rows' }>, out: DecodedRecord[]) => void, note?: () => string | undefined): BlockAssembler {
    this.streams.push({
      asm,
      convert: (e, out) => {
        if (e.kind === 'rows') rows(e, out);
        else if (e.kind === 'clock') out.push({ ...e, t: asm.clock.timeOf(e.fromSample) });
        else {
          const t = asm.clock.timeOf(e.fromSample);
          const n = note?.();
          out.push({ kind: 'gap', t, stream: e.stream, lostSamples: e.lostSamples, fromSample: e.fromSample, ...(e.channels ? { channels: e.channels } : {}), ...(n ? { note: n } : {}) });
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
    const asm = new BlockAssembler({ stream: kind, channels: ['x', 'y', 'z'], samplesPerBlock: spb, sampleRate: rate, indexModulus: modulus });
    return this.addStream(asm, (e, out) => {
      const samples = Array.from(e.t, (t, i) => ({ t, x: e.channels[0]![i]!, y: e.channels[1]![i]!, z: e.channels[2]![i]! }));
      out.push({ kind, t: e.t[0]!, samples });
    });
  }

  // ----- Muse gen 1–2

  private setupMuse(): string[] {
    const names = ['TP9', 'AF7', 'AF8', 'TP10', ...(this.options.aux ? ['AUX'] : [])];
    const eeg = this.rowsStream('eeg', names, MUSE.samplesPerPacket, MUSE.sampleRate, 0x10000);
    const eegChars = [MUSE.eeg.TP9, MUSE.eeg.AF7, MUSE.eeg.AF8, MUSE.eeg.TP10, MUSE.eeg.AUX];
    eegChars.forEach((uuid, c) => {
      this.handlers.set(uuid, (b, t, out) => {
        if (c >= names.length) return void out.push(errorRecord(t, uuid, 'AUX EEG packet, but the decoder was not set up for the AUX channel (preset p20/p50/p60)', b));
        const p = decodeMuseEeg(b);
        if (!p.ok) return void out.push(errorRecord(t, uuid, `${names[c]}: ${p.error}`, b));
        this.emit(eeg, eeg.push(c, p.value.index, p.value.samples, t), out);
      });
    });
    const control = new MuseControlAssembler();
    this.handlers.set(MUSE.control, (b, t, out) => {
      for (const r of control.push(b)) out.push(r.ok ? { kind: 'control', t, json: r.value } : errorRecord(t, MUSE.control, r.error, b));
    });
    this.handlers.set(MUSE.telemetry, (b, t, out) => {
      const r = decodeMuseTelemetry(b);
      if (!r.ok) return void out.push(errorRecord(t, MUSE.telemetry, r.error, b));
      out.push({ kind: 'telemetry', t, battery: r.value.batteryPercent, fuelGaugeMv: r.value.fuelGaugeMv, temperature: r.value.temperature, source: 'muse-telemetry' });
    });
    for (const [kind, uuid, dec] of [
      ['accelerometer', MUSE.accelerometer, decodeMuseAccelerometer],
      ['gyroscope', MUSE.gyroscope, decodeMuseGyroscope],
    ] as const) {
      const asm = this.motionStream(kind, 3, MUSE.imuRate, 0x10000);
      this.handlers.set(uuid, (b, t, out) => {
        const r = dec(b);
        if (!r.ok) return void out.push(errorRecord(t, uuid, r.error, b));
        const s = r.value.samples;
        const axes = [Float64Array.from(s, (v) => v.x), Float64Array.from(s, (v) => v.y), Float64Array.from(s, (v) => v.z)];
        this.emit(asm, asm.pushAll(r.value.index, axes, t), out);
      });
    }
    const ppg = this.rowsStream('ppg', MUSE_PPG_CHANNELS, MUSE.ppgSamplesPerPacket, MUSE.ppgRate, 0x10000);
    MUSE.ppg.forEach((uuid, c) => {
      this.handlers.set(uuid, (b, t, out) => {
        const r = decodeMusePpg(b);
        if (!r.ok) return void out.push(errorRecord(t, uuid, r.error, b));
        this.emit(ppg, ppg.push(c, r.value.index, r.value.samples, t), out);
      });
    });
    return names;
  }

  // ----- Muse S Athena (experimental)

  private setupAthena(): string[] {
    const names = [...ATHENA_EEG_CHANNELS];
    // Athena packets carry device time, not a per-stream counter we trust: EEG blocks are numbered from it
    // (streams/device-time.ts), so duplicates and reordered packets find their place and a corrupted time does
    // not become lost samples. IMU subpackets carry their own 8-bit index.
    const eeg8 = this.rowsStream('eeg', names, 2, ATHENA.sampleRate, 2 ** 48);
    const eeg4 = this.rowsStream('eeg', names.slice(0, 4), 4, ATHENA.sampleRate, 2 ** 48);
    const imuA = this.motionStream('accelerometer', 3, 52, 256);
    const imuG = this.motionStream('gyroscope', 3, 52, 256);
    const clocks = new Map<number, DeviceTimeBlocks>();
    const eegBlock = (tag: number, ticksPerBlock: number, ticks: number): number => {
      let c = clocks.get(tag);
      if (!c) clocks.set(tag, (c = new DeviceTimeBlocks(ticksPerBlock)));
      return ((c.block(ticks) % 2 ** 48) + 2 ** 48) % 2 ** 48;
    };
    const handler = (uuid: Uuid) => (b: Uint8Array, t: number, out: DecodedRecord[]) => {
      const parsed = parseAthenaNotification(b);
      for (const e of parsed.errors) out.push(errorRecord(t, uuid, e, b));
      for (const sp of parsed.subpackets) {
        const s = sp.sensor;
        if (s.type === 'eeg') {
          const blk = eegBlock(sp.tag, (ATHENA.deviceClockHz / ATHENA.sampleRate) * s.samples, sp.deviceTicks);
          const asm = s.channels === 8 ? eeg8 : eeg4;
          this.emit(asm, asm.pushAll(blk, decodeAthenaEeg(sp), t), out);
        } else if (s.type === 'accgyro') {
          const blk = sp.index ?? sp.packetIndex;
          const imu = decodeAthenaAccGyro(sp);
          const axes = (v: Xyz[]) => [Float64Array.from(v, (q) => q.x), Float64Array.from(v, (q) => q.y), Float64Array.from(v, (q) => q.z)];
          this.emit(imuA, imuA.pushAll(blk, axes(imu.accelerometer), t), out);
          this.emit(imuG, imuG.pushAll(blk, axes(imu.gyroscope), t), out);
        } else if (s.type === 'battery') {
          const r = decodeAthenaBattery(sp);
          out.push(r.ok ? { kind: 'telemetry', t, battery: r.value, source: 'athena-subpacket' } : errorRecord(t, uuid, r.error, b));
        }
        // optics and unknown tags are parsed (for framing) but not decoded further.
      }
    };
    this.handlers.set(ATHENA.data, handler(ATHENA.data));
    this.handlers.set(ATHENA.data2, handler(ATHENA.data2));
    const control = new MuseControlAssembler();
    this.handlers.set(ATHENA.control, (b, t, out) => {
      for (const r of control.push(b)) out.push(r.ok ? { kind: 'control', t, json: r.value } : errorRecord(t, ATHENA.control, r.error, b));
    });
    return names;
  }

  // ----- OpenBCI Ganglion

  private setupGanglion(): string[] {
    const fw = this.options.firmware ?? 3;
    const names = [...(this.options.channelNames ?? ['CH1', 'CH2', 'CH3', 'CH4'])];
    if (names.length !== 4) throw new RangeError(`a Ganglion has 4 channels, got ${names.length} names`);
    const k = GANGLION.scaleUv;
    // FW2 deltas are integrated after reassembly so reordered packets are applied in order.
    let last: Int32Array | null = null;
    const asm = new BlockAssembler({ stream: 'eeg', channels: names, samplesPerBlock: 2, sampleRate: GANGLION.sampleRate, indexModulus: 100 });
    this.addStream(
      asm,
      (e, out) => {
        const n = e.t.length;
        const ch = names.map(() => new Float64Array(n));
        if (fw === 2 && !last) {
          // The raw packet that opens a firmware-2 stream was lost: integrate from zero, as after any gap.
          last = new Int32Array(4);
          out.push({ kind: 'gap', t: e.t[0]!, stream: 'eeg', lostSamples: 1, fromSample: -1, note: 'firmware 2: the raw packet opening the stream was lost; values carry an unknown constant offset per channel (removed by any high-pass) until the next raw packet' });
        }
        for (let i = 0; i < n; i++) {
          if (fw === 3) {
            for (let c = 0; c < 4; c++) ch[c]![i] = k * e.channels[c]![i]!;
            continue;
          }
          const lost = e.channels.some((a) => Number.isNaN(a[i]!));
          if (lost || !last) {
            for (let c = 0; c < 4; c++) ch[c]![i] = NaN;
            continue;
          }
          for (let c = 0; c < 4; c++) {
            last[c] = last[c]! - e.channels[c]![i]!;
            ch[c]![i] = k * last[c]!;
          }
        }
        out.push({ kind: 'eeg', firstSample: e.firstSample, t: e.t, names, channels: ch });
      },
      () => {
        if (fw !== 2 || !last) return undefined;
        return 'firmware 2 sends deltas: values after this gap carry an unknown constant offset until the next raw packet';
      },
    );
    const accel: { x?: number; y?: number; z?: number } = {};
    const messages = new GanglionMessageAssembler();
    let lastRaw: Uint8Array | null = null;
    let samplesSinceRaw = false;
    this.handlers.set(GANGLION.notify, (b, t, out) => {
      const r = parseGanglionPacket(b, fw);
      if (!r.ok) return void out.push(errorRecord(t, GANGLION.notify, r.error, b));
      const p = r.value;
      switch (p.kind) {
        case 'raw': {
          // The same raw packet again before any sample packet: a duplicated notification.
          if (lastRaw && !samplesSinceRaw && lastRaw.length === b.length && lastRaw.every((x, i) => x === b[i])) {
            asm.stats.duplicates++;
            return;
          }
          lastRaw = b.slice();
          samplesSinceRaw = false;
          // A raw packet (re)starts the FW2 delta chain and the packet counter.
          for (const e of asm.restart()) this.streams.find((s) => s.asm === asm)!.convert(e, out);
          last = Int32Array.from(p.counts);
          out.push({ kind: 'eeg', firstSample: -1, t: Float64Array.of(t), names, channels: names.map((_, c) => Float64Array.of(k * p.counts[c]!)) });
          return;
        }
        case 'samples': {
          samplesSinceRaw = true;
          const ch = [0, 1, 2, 3].map((c) => Float64Array.of(p.values[c]!, p.values[c + 4]!));
          this.emit(asm, asm.pushAll(p.cyclePos, ch, t), out);
          if (p.accel) {
            accel[p.accel.axis] = p.accel.g;
            if (p.accel.axis === 'z' && accel.x !== undefined && accel.y !== undefined) out.push({ kind: 'accelerometer', t, samples: [{ t, x: accel.x, y: accel.y, z: p.accel.g }] });
          }
          return;
        }
        case 'impedance':
          out.push({ kind: 'impedance', t, channel: p.channel === 'reference' ? 'REF' : names[p.channel - 1]!, kOhm: p.kOhm });
          return;
        case 'message': {
          const text = messages.push(p);
          if (text !== null) out.push({ kind: 'message', t, text });
          return;
        }
      }
    });
    return names;
  }

  // ----- open EEG profile

  private setupOpenEeg(): string[] {
    const preset = this.options.channelNames;
    let asm: BlockAssembler | null = null;
    let shape = '';
    let names: string[] = preset ? [...preset] : [];
    let lastBattery: number | null = null;
    let restartPacket: Uint8Array | null = null;
    this.handlers.set(OPEN_EEG.data, (b, t, out) => {
      const r = decodeOpenEegPacket(b);
      if (!r.ok) return void out.push(errorRecord(t, OPEN_EEG.data, r.error, b));
      const p = r.value;
      const s = `${p.channels}/${p.frames}/${p.sampleRate}`;
      // A duplicated restart packet is not a second restart: it goes to the assembler, which drops it.
      const restart = p.restart && !(restartPacket && restartPacket.length === b.length && restartPacket.every((x, i) => x === b[i]));
      if (restart) restartPacket = b.slice();
      if (!asm || s !== shape || restart) {
        if (asm) {
          const a: BlockAssembler = asm;
          for (const e of a.flush()) this.streams.find((x) => x.asm === a)!.convert(e, out);
          this.streams.splice(this.streams.findIndex((x) => x.asm === a), 1);
        }
        names = preset && preset.length === p.channels ? [...preset] : Array.from({ length: p.channels }, (_, i) => `CH${i + 1}`);
        const nm = names;
        asm = this.addStream(new BlockAssembler({ stream: 'eeg', channels: nm, samplesPerBlock: p.frames, sampleRate: p.sampleRate, indexModulus: 0x10000 }), (e, o) =>
          o.push({ kind: 'eeg', firstSample: e.firstSample, t: e.t, names: nm, channels: e.channels }),
        );
        shape = s;
      }
      const uv = p.counts.map((c) => Float64Array.from(c, (x) => x * p.scaleUv));
      this.emit(asm, asm.pushAll(p.sequence, uv, t), out);
      if (p.batteryPercent !== null && p.batteryPercent !== lastBattery) out.push({ kind: 'telemetry', t, battery: p.batteryPercent, source: 'open-eeg-header' });
      lastBattery = p.batteryPercent;
    });
    this.handlers.set(BATTERY_SERVICE.level, (b, t, out) => {
      const r = decodeBatteryLevel(b);
      out.push(r.ok ? { kind: 'telemetry', t, battery: r.value, source: 'battery-service' } : errorRecord(t, BATTERY_SERVICE.level, r.error, b));
    });
    return names;
  }
}

function errorRecord(t: number, char: string, error: string, bytes: Uint8Array): ErrorRecord {
  return { kind: 'error', t, char, error, hex: bytes.length <= 64 ? bytesToHex(bytes) : hexPreview(bytes, 64) };
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
