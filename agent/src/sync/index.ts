export * from './backoff.js';
export * from './connector.js';
export * from './mqtt-connector.js';
export * from './sync-loop.js';
export * from './wire.js';
