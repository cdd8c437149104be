export * from './protocol.js';
export * from './port.js';
export * from './keypad.js';
