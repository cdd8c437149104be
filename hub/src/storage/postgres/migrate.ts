import type { ClientBase } from 'pg';
import { createLogger } from '@keyway/shared';
import { MIGRATIONS, type Migration } from './migrations.js';

const log = createLogger('storage.postgres.migrate');

/**
 * First half of the transaction-scoped advisory lock that serialises migrations (the second is a
 * hash of the schema name). Replicas starting at once queue on it; each then sees what the one
 * before it applied and has nothing left to do.
 */
export const MIGRATION_LOCK_KEY = 0x6b657977; // "keyw"

/** Quotes a schema name that has already been checked to be a plain lower-case identifier. */
export function quoteSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`schema name ${JSON.stringify(schema)} must be a lower-case SQL identifier`);
  }
  return `"${schema}"`;
}

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
  client: ClientBase,
  options: { timeoutMs: number; schema: string },
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> {
  const schema = quoteSchema(options.schema);
  await client.query('BEGIN');
  try {
    // Waiting for another replica's migration counts against this limit, not the short statement one.
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.timeoutMs))}`);
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK_KEY, options.schema]);
    // CREATE SCHEMA IF NOT EXISTS would still demand CREATE on the database; a hub whose role may
    // only use an existing schema must be able to start.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [options.schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`SET LOCAL search_path TO ${schema}`);
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
