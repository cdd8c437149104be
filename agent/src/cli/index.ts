export * from './commands.js';
export * from './hardware.js';
export * from './main.js';
