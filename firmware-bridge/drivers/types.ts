/**
 * The one interface every headband driver implements (drivers/<kind>.ts), in the spirit of BrainFlow's board
 * pattern: one interface, one factory (../headband.ts: openHeadband), one descriptor table (../registry.ts).
 * A driver holds everything the code knows about one device kind: its profile per preset, how a scan and a
 * connected GATT table recognise it, where its battery level comes from, the Web Bluetooth request it needs,
 * what to read before streaming, and how its notifications decode.
 */
import type { GattPeripheral, Uuid } from '../gatt.js';
import type { GanglionFirmware } from '../protocols/ganglion.js';
import type { DecodedRecord } from '../records.js';
import type { BlockAssembler, BlockEvent } from '../streams/blocks.js';

export interface DeviceCommand {
  /** Human-readable form, e.g. "p21". */
  label: string;
  characteristic: Uuid;
  bytes: Uint8Array;
  /** Pause after writing it (ms), as the device needs. */
  delayMs: number;
}

export interface ChannelInfo {
  name: string;
  /** 10-20/10-10 position, or null when user-placed or unknown. */
  position: string | null;
}

export type BatterySource = 'muse-telemetry' | 'athena-subpacket' | 'battery-service' | 'none';

/** One device kind under one preset / channel set: what to subscribe to, what to write, what streams. */
export interface DeviceProfile<K extends string = string> {
  kind: K;
  label: string;
  /** Protocol not published by the vendor and only partly understood. */
  experimental: boolean;
  scan: { services: Uuid[]; namePrefixes: string[] };
  /** Services a Web Bluetooth requestDevice must list (filters + optionalServices). */
  services: Uuid[];
  channels: ChannelInfo[];
  sampleRate: number;
  /** µV per count, or 'per-packet' when the packets carry it. */
  scaleUv: number | 'per-packet';
  battery: BatterySource;
  /** Characteristics to subscribe to for streaming. */
  notify: Uuid[];
  start: DeviceCommand[];
  stop: DeviceCommand[];
  keepAlive?: { command: DeviceCommand; intervalS: number };
}

/** A scan result, as noble or Web Bluetooth's advertisement events give it. */
export interface Advertisement {
  name?: string;
  services?: readonly string[];
}

/** How an advertisement points at a kind: by an advertised service (wins) or by its name only. */
export type AdvertisementMatch = 'service' | 'name' | null;

/** The part of a connected peripheral that identifies its kind. */
export type GattTable = Pick<GattPeripheral, 'services' | 'characteristics'>;

/** What a session asks of a device, or what a capture header records. */
export interface DeviceSetup {
  /** Muse / Athena preset; the driver's default when absent. */
  preset?: string;
  /** Ganglion firmware major version. */
  firmware?: GanglionFirmware;
  /** Channel labels (Ganglion sites, open-profile labels). */
  channelNames?: readonly string[];
}

/** What a driver learns from the device before streaming (read once, errors handled). */
export interface PreparedDevice {
  firmware?: GanglionFirmware;
  channelNames?: readonly string[];
  /** What could not be read, and what is assumed instead. */
  warnings?: string[];
}

/** Fields a capture header records about the device's setup (besides "device" and the name). */
export interface CaptureDeviceFields {
  firmware?: '2.x' | '3.x';
  preset?: string;
  channels?: string[];
  experimental?: boolean;
}

/** A Web Bluetooth `requestDevice` filter (structural: UUIDs as full lowercase strings). */
export interface WebBluetoothFilter {
  services?: Uuid[];
  namePrefix?: string;
  name?: string;
}

export interface WebBluetoothRequest {
  filters: WebBluetoothFilter[];
  /** Every service the driver touches. */
  optionalServices: Uuid[];
}

export interface DeviceDecoderOptions {
  /** Ganglion firmware major version (default 3). */
  firmware?: GanglionFirmware;
  /** Muse: stream the right AUX electrode as a fifth channel (presets p20/p50/p60). */
  aux?: boolean;
  /** Channel names (Ganglion sites, open-profile labels). */
  channelNames?: readonly string[];
}

/** Decodes one notification of one characteristic into `out`; may throw (the decoder reports it). */
export type NotificationHandler = (bytes: Uint8Array, hostMs: number, out: DecodedRecord[]) => void;

/**
 * What a driver's decoder setup builds on (implemented by DeviceDecoder): per-characteristic handlers and
 * reassembled streams whose rows and gaps become records.
 */
export interface DecoderContext {
  handle(characteristic: Uuid, handler: NotificationHandler): void;
  /** A stream of sample rows (EEG, PPG) emitted as RowsRecords. */
  rowsStream(
    kind: 'eeg' | 'ppg',
    names: readonly string[],
    samplesPerBlock: number,
    sampleRate: number,
    indexModulus: number,
  ): BlockAssembler;
  /** An x/y/z stream emitted as MotionRecords. */
  motionStream(kind: 'accelerometer' | 'gyroscope', samplesPerBlock: number, sampleRate: number, indexModulus: number): BlockAssembler;
  /** A stream with its own row conversion; gaps become GapRecords (with `note()` when it returns text). */
  addStream(
    asm: BlockAssembler,
    rows: (e: Extract<BlockEvent, { kind: 'rows' }>, out: DecodedRecord[]) => void,
    note?: () => string | undefined,
  ): BlockAssembler;
  /** Convert a stream's events into records. */
  emit(asm: BlockAssembler, events: BlockEvent[], out: DecodedRecord[]): void;
  /** Flush a stream into `out` and drop it (its shape changed). */
  removeStream(asm: BlockAssembler, out: DecodedRecord[]): void;
}

export interface HeadbandDriver<K extends string = string> {
  readonly kind: K;
  /** Other names users may type for it (device URIs, CLI flags). */
  readonly aliases: readonly string[];
  readonly label: string;
  readonly experimental: boolean;
  /** Presets the device takes (empty: none) and the one it streams when none is asked for. */
  readonly presets: readonly string[];
  readonly defaultPreset: string | null;
  readonly battery: BatterySource;
  /** The GATT characteristics a device of this kind offers. */
  readonly characteristics: readonly Uuid[];
  /** What a Web Bluetooth transport passes to navigator.bluetooth.requestDevice. */
  readonly webBluetooth: WebBluetoothRequest;
  /** The profile under a setup (default preset and channel labels when absent); throws on an unknown preset. */
  profile(setup?: DeviceSetup): DeviceProfile<K>;
  matchAdvertisement(ad: Advertisement): AdvertisementMatch;
  /** Does a connected peripheral's GATT table belong to this kind? */
  matchPeripheral(p: GattTable): boolean;
  /** Reads what decoding depends on, once, before anything is written (a failed read becomes a warning). */
  prepare?(p: GattPeripheral): Promise<PreparedDevice>;
  decoderOptions(setup: DeviceSetup): DeviceDecoderOptions;
  /** Registers the kind's handlers and streams on a decoder; returns the EEG channel names. */
  setupDecoder(ctx: DecoderContext, options: DeviceDecoderOptions): readonly string[];
  /** The setup fields a capture header records for this kind. */
  captureFields(setup: DeviceSetup, profile: DeviceProfile<K>): CaptureDeviceFields;
}
