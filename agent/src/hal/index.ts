export * from './clock.js';
export * from './types.js';
export * from './debounce.js';
export * from './typed-emitter.js';
export * from './sysfs-chips.js';
export * from './access.js';
export * from './power-on.js';
export * from './onoff-binding.js';
