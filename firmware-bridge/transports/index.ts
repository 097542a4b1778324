/**
 * Radio transports behind GattPeripheral (browser-safe part): the shared transport types and errors, the Web
 * Bluetooth transport, the pairing probe, and the simulated scanner. The noble transport is Node-only: import
 * it from firmware-bridge/transports/noble.node.ts.
 */
export * from './transport.js';
export * from './probe.js';
export * from './web-bluetooth.js';
export {
  SimTransport,
  createSimTransport,
  simDeviceId,
  DEFAULT_SIM_FLEET,
  DEFAULT_SIM_STRANGERS,
  type SimAdvertiser,
  type SimStranger,
  type SimTransportOptions,
} from '../sim/scanner.js';
