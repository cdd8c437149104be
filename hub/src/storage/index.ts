export * from './types.js';
export { SqliteBusStore, type SqliteBusStoreOptions } from './sqlite-store.js';
