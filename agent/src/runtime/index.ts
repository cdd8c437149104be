export * from './access-handler.js';
export * from './agent.js';
export * from './door-events.js';
export * from './status-file.js';
export * from './connector-factory.js';
