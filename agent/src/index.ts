export * from './config/index.js';
export * from './grants/index.js';
export * from './outbox/index.js';
export * from './runtime/index.js';
export * from './sync/index.js';
