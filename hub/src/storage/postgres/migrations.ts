/**
 * Versioned schema of the PostgreSQL bus backend. Append-only: a released migration is never
 * edited; a change is a new entry with the next version. Each one runs in its own transaction
 * (PostgreSQL DDL is transactional), so a failed migration leaves nothing half applied.
 *
 * The model is the SQLite backend's (hub/src/storage/sqlite-schema.ts) with two differences:
 * - `dedup_key` is BYTEA: the key is `source` + NUL + `id`, and PostgreSQL TEXT cannot hold NUL.
 * - sequences are identity columns (BIGINT): gaps are possible (rolled back appends), order holds.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'bus log, deliveries, accounts, api keys, subscribers',
    sql: `
CREATE TABLE events (
  seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dedup_key    BYTEA  NOT NULL UNIQUE,
  type         TEXT   NOT NULL,
  subject      TEXT,
  account      TEXT   NOT NULL,
  ingested_at  BIGINT NOT NULL,
  payload      TEXT   NOT NULL
);
CREATE INDEX events_ingested_at ON events (ingested_at, seq);

CREATE TABLE deliveries (
  id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  subscriber      TEXT    NOT NULL,
  seq             BIGINT  NOT NULL REFERENCES events (seq),
  subject         TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  enqueued_at     BIGINT  NOT NULL,
  next_attempt_at BIGINT  NOT NULL,
  claimed_until   BIGINT  NOT NULL DEFAULT 0,
  dead_at         BIGINT,
  last_error      TEXT
);
CREATE INDEX deliveries_live ON deliveries (subscriber, id) WHERE dead_at IS NULL;
CREATE INDEX deliveries_subject ON deliveries (subscriber, subject, id) WHERE dead_at IS NULL;
CREATE INDEX deliveries_dead ON deliveries (subscriber, id) WHERE dead_at IS NOT NULL;
CREATE INDEX deliveries_seq ON deliveries (seq);

CREATE TABLE accounts (
  name       TEXT   PRIMARY KEY,
  created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
  key_hash   TEXT   PRIMARY KEY,
  account    TEXT   NOT NULL REFERENCES accounts (name),
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);

CREATE TABLE subscribers (
  name       TEXT   PRIMARY KEY,
  account    TEXT   NOT NULL,
  config     TEXT   NOT NULL,
  updated_at BIGINT NOT NULL
);
`,
  },
];
