export * from './types.js';
export { SqliteHubState } from './sqlite-state.js';
