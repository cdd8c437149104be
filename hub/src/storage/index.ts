export * from './types.js';
export { SqliteBusStore, type SqliteBusStoreOptions } from './sqlite-store.js';
export { ThreadedSqliteBusStore, type ThreadedSqliteBusStoreOptions } from './threaded-sqlite-store.js';
