export * from './types.js';
export * from './config.js';
export * from './sensor-state.js';
export * from './controller.js';
export * from './auto-close.js';
export * from './io.js';
