export * from './clock-sources.js';
export * from './command-guard.js';
export * from './grant-store.js';
export * from './pin-lockout.js';
export * from './trusted-clock.js';
