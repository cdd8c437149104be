export * from './errors.js';
export * from './envelope.js';
export * from './log.js';
export * from './topics.js';
export * from './clock.js';
