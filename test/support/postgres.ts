/**
 * The throwaway PostgreSQL server for tests. It lives beside the PostgreSQL store so the hub's own
 * tests can use it too: the hub's TypeScript project may not import files outside `hub/`, while
 * this project references the hub and may import from it.
 */
export {
  POSTGRES_MISSING,
  postgresAvailable,
  startPostgres,
  type PostgresServer,
} from '../../hub/src/storage/postgres/test-server.js';
