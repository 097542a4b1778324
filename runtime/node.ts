/**
 * cmcrd-edge/runtime/node: the browser-safe runtime (index.ts) plus its Node-only parts: the onnxruntime-node
 * classifier (Raspberry Pi, desktops).
 */
export * from './index.js';
export { loadOnnxClassifier } from './infer/onnx.node.js';
export { resolveRunDevice, defaultRunTransport, type ResolveRunDeviceOptions, type ResolvedRunDevice } from './run/device.node.js';
export { loadRunModel, type LoadedModel } from './run/model-dir.node.js';
export { serveRunEvents, parseServeSpec, type EventServer, type ServeSpec } from './run/sse.node.js';
export { writeJsonLines, type JsonLinesOutput } from './run/output.node.js';
export { sysfsBattery, readPowerSupplies, POWER_SUPPLY_ROOT } from './battery/sysfs.node.js';
export { createMqttPublisher, type MqttPublisher, type MqttPublisherOptions } from './telemetry/mqtt.node.js';
