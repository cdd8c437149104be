export * from './database.js';
export * from './outbox.js';
export * from './priority.js';
export * from './inspect.js';
