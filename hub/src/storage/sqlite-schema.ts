/**
 * Tables of the SQLite bus backend. Column types and constraints are kept to what PostgreSQL
 * offers too (BIGINT timestamps in ms, a unique dedup key, partial indexes), so the PostgreSQL
 * backend can use the same model.
 */
export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  dedup_key    TEXT    NOT NULL UNIQUE,
  type         TEXT    NOT NULL,
  subject      TEXT,
  account      TEXT    NOT NULL,
  ingested_at  INTEGER NOT NULL,
  payload      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ingested_at ON events (ingested_at);

CREATE TABLE IF NOT EXISTS deliveries (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  subscriber      TEXT    NOT NULL,
  -- no foreign key: an index on seq would cost every enqueue and ack; purge checks references itself
  seq             INTEGER NOT NULL,
  subject         TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  enqueued_at     INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  claimed_until   INTEGER NOT NULL DEFAULT 0,
  dead_at         INTEGER,
  last_error      TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_live ON deliveries (subscriber, id) WHERE dead_at IS NULL;
CREATE INDEX IF NOT EXISTS deliveries_subject ON deliveries (subscriber, subject, id) WHERE dead_at IS NULL AND subject IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (subscriber, id) WHERE dead_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS accounts (
  name       TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
  key_hash   TEXT PRIMARY KEY,
  account    TEXT NOT NULL REFERENCES accounts (name),
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE TABLE IF NOT EXISTS subscribers (
  name       TEXT PRIMARY KEY,
  account    TEXT NOT NULL,
  config     TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

/**
 * Data changes after the tables above, by `PRAGMA user_version`:
 * 1. dedup keys per publishing account: keys stored before get their account in front (account + NUL + key), so an
 *    event resent after the upgrade is still recognised as a duplicate.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [`UPDATE events SET dedup_key = account || char(0) || dedup_key`];
