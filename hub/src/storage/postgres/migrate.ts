import type { PoolClient } from 'pg';
import { createLogger } from '@keyway/shared';
import { MIGRATIONS, type Migration } from './migrations.js';

const log = createLogger('storage.postgres.migrate');

/**
 * Key of the transaction-scoped advisory lock that serialises migrations. Replicas starting at
 * once queue on it; each then sees what the one before it applied and has nothing left to do.
 */
export const MIGRATION_LOCK_KEY = 0x6b657977; // "keyw"

export interface MigrationResult {
  /** Versions this call applied (empty when the schema was already current). */
  applied: number[];
  /** Highest version now in the database. */
  current: number;
}

/**
 * Applies every pending migration, in order, in one transaction under the advisory lock. The lock
 * and the schema change commit or roll back together, so a crash mid-way leaves the old schema.
 */
export async function migrate(
  client: PoolClient,
  timeoutMs: number,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> {
  await client.query('BEGIN');
  try {
    // Waiting for another replica's migration counts against this limit, not the short statement one.
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS keyway_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const done = await client.query<{ version: number }>('SELECT version FROM keyway_migrations');
    const have = new Set(done.rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (have.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO keyway_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    const known = Math.max(0, ...migrations.map((m) => m.version));
    const current = Math.max(known, ...have);
    // A newer replica may have migrated further during a rolling upgrade; this one keeps running on
    // the additive schema but says so.
    if (current > known) log.warn({ current, known }, 'database schema is newer than this hub knows');
    if (applied.length > 0) log.info({ applied }, 'applied PostgreSQL migrations');
    return { applied, current };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
