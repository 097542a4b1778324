/** Battery sources and drain estimation (browser-safe; the Linux sysfs source is sysfs.node.ts). */
export * from './monitor.js';
export * from './browser.js';
