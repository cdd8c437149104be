export { PostgresBusStore, type PostgresBusStoreOptions } from './postgres-store.js';
export { PostgresConnection, type PostgresConnectionOptions } from './connection.js';
export { migrate, MIGRATION_LOCK_KEY, type MigrationResult } from './migrate.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { describeTarget } from './errors.js';
export { PostgresHubState } from './hub-state.js';
export { PostgresAuditStore } from './audit-store.js';
