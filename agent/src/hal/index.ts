export * from './clock.js';
export * from './types.js';
export * from './debounce.js';
export * from './typed-emitter.js';
