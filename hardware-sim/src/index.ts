export * from './clock.js';
export * from './gpio/sim-chip.js';
export * from './gpio/sim-binding.js';
export * from './door/garage-door.js';
export * from './garage.js';
export * from './keypad/device-codec.js';
export * from './keypad/sim-keypad.js';
