export * from './create-event.js';
export * from './serialize.js';
export * from './types.js';
export * from './local-bus.js';
