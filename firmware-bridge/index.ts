/**
 * firmware-bridge public API: headband protocols (pure codecs), stream reassembly, the device registry, the
 * per-device decoder, capture files, and virtual headbands. Browser-safe; Node-only helpers are in *.node.ts
 * (open.node.ts: openDevice that reads replay files from disk).
 */
export * from './gatt.js';
export * from './bytes.js';
export * from './protocols/muse.js';
export * from './protocols/athena.js';
export * from './protocols/ganglion.js';
export * from './protocols/battery.js';
export * from './protocols/open-eeg.js';
export { SampleClock, type SampleClockOptions } from './streams/clock.js';
export { SequenceUnwrapper } from './streams/sequence.js';
export { BlockAssembler, type BlockEvent, type BlockStreamConfig, type BlockStreamStats, type RowsEvent } from './streams/blocks.js';
export { MuseEegAssembler, type EegRows, type EegStreamEvent, type GapEvent, type MuseEegAssemblerOptions } from './streams/muse-eeg.js';
export * from './devices.js';
export * from './decoder.js';
export * from './capture.js';
export * from './drivers.js';
export { VirtualPeripheral, type SignalSource, type FaultOptions, type VirtualDeviceOptions } from './sim/base.js';
export { WearerSource, ArraySource, PaddedSource, type WearerSourceOptions } from './sim/sources.js';
export { VirtualMuse, type VirtualMuseOptions } from './sim/virtual-muse.js';
export { VirtualAthena, type VirtualAthenaOptions } from './sim/virtual-athena.js';
export { VirtualGanglion, type VirtualGanglionOptions } from './sim/virtual-ganglion.js';
export { VirtualOpenEeg, type VirtualOpenEegOptions } from './sim/virtual-open-eeg.js';
export { ReplayPeripheral, type ReplayOptions } from './sim/replay.js';
export { openDevice, createSimDevice, parseSimUri, parseReplayUri, isVirtualDevice, DeviceUriError, type OpenDeviceOptions } from './sim/uri.js';
export * from './transports/index.js';
