/**
 * firmware-bridge public API: headband protocols (pure codecs), stream reassembly, the headband drivers and their
 * registry, openHeadband, the per-device decoder, capture files, and virtual headbands. Browser-safe; Node-only
 * helpers are in *.node.ts and reach users through node.ts (`cmcrd-edge/firmware-bridge/node`).
 */
export * from './gatt.js';
export * from './bytes.js';
export * from './protocols/muse.js';
export * from './protocols/athena.js';
export * from './protocols/ganglion.js';
export * from './protocols/battery.js';
export * from './protocols/open-eeg.js';
export { SampleClock, usableHostTime, MAX_HOST_MS, type SampleClockOptions, type ClockChange } from './streams/clock.js';
export { DeviceTimeBlocks } from './streams/device-time.js';
export { SequenceUnwrapper } from './streams/sequence.js';
export {
  BlockAssembler,
  type BlockEvent,
  type BlockStreamConfig,
  type BlockStreamStats,
  type ClockEvent,
  type RowsEvent,
} from './streams/blocks.js';
export {
  MuseEegAssembler,
  type EegRows,
  type EegClockEvent,
  type EegStreamEvent,
  type GapEvent,
  type MuseEegAssemblerOptions,
} from './streams/muse-eeg.js';
export * from './devices.js';
export * from './registry.js';
export * from './headband.js';
export type * from './drivers/types.js';
export { museDriver, museCommand, museStreamsAux } from './drivers/muse.js';
export { museAthenaDriver } from './drivers/muse-athena.js';
export { ganglionDriver } from './drivers/ganglion.js';
export { openEegDriver } from './drivers/open-eeg.js';
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
export {
  openDevice,
  createSimDevice,
  parseSimUri,
  parseReplayUri,
  isVirtualDevice,
  DeviceUriError,
  type OpenDeviceOptions,
} from './sim/uri.js';
export * from './transports/index.js';
