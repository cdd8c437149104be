export * from './claims.js';
export * from './keys.js';
export * from './pin.js';
export * from './tokens.js';
export * from './window.js';
