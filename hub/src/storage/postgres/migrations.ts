/**
 * Versioned schema of the hub's PostgreSQL state (bus log and queues, then hub state).
 * Append-only: a released migration is never edited; a change is a new entry with the next
 * version. All pending ones run in one transaction (PostgreSQL DDL is transactional), so a failed
 * migration leaves nothing half applied.
 *
 * The bus model is the SQLite backend's (hub/src/storage/sqlite-schema.ts) with two differences:
 * - `dedup_key` is BYTEA: the key is account + NUL + `source` + NUL + `id` (since version 4; `source` + NUL + `id`
 *   before), and PostgreSQL TEXT cannot hold NUL.
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
  {
    version: 2,
    name: 'hub state: customers, devices, grants, parcel deliveries, idempotency keys',
    // The bus already has a \`deliveries\` table (one row per event and subscriber), so the parcel
    // deliveries of the delivery workflow are \`parcel_deliveries\`. JSON columns stay TEXT: the store
    // hands back exactly the text it was given, as the SQLite store does.
    sql: `
CREATE TABLE customers (
  id             TEXT   PRIMARY KEY,
  webhook_url    TEXT,
  webhook_secret TEXT,
  created_at     BIGINT NOT NULL
);

CREATE TABLE devices (
  id           TEXT    PRIMARY KEY,
  customer_id  TEXT    NOT NULL,
  vendor       TEXT    NOT NULL,
  token_hash   TEXT    NOT NULL,
  created_at   BIGINT  NOT NULL,
  online       BOOLEAN NOT NULL DEFAULT false,
  last_seen_at BIGINT,
  reported     TEXT
);

CREATE TABLE grants (
  id          TEXT    PRIMARY KEY,
  device_id   TEXT    NOT NULL,
  holder      TEXT    NOT NULL,
  delivery_id TEXT,
  valid_from  BIGINT  NOT NULL,
  valid_until BIGINT  NOT NULL,
  actions     TEXT    NOT NULL,
  max_uses    INTEGER NOT NULL,
  has_pin     BOOLEAN NOT NULL,
  token       TEXT    NOT NULL,
  created_at  BIGINT  NOT NULL,
  revoked_at  BIGINT,
  uses        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX grants_device ON grants (device_id, id);
CREATE INDEX grants_delivery ON grants (delivery_id, id);

CREATE TABLE parcel_deliveries (
  id        TEXT    PRIMARY KEY,
  device_id TEXT    NOT NULL,
  state     TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  body      TEXT    NOT NULL
);
CREATE INDEX parcel_deliveries_device ON parcel_deliveries (device_id, id);
CREATE INDEX parcel_deliveries_state ON parcel_deliveries (state, id);

CREATE TABLE idempotency (
  scope      TEXT   NOT NULL,
  key        TEXT   NOT NULL,
  response   TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (scope, key)
);
`,
  },
  {
    version: 3,
    name: 'schema registry audit chain',
    // Each hash is followed by at most one entry (unique prev_hash) and each position holds one
    // (seq primary key): two replicas appending at once cannot fork the chain; the second fails.
    sql: `
CREATE TABLE registry_audit (
  seq       INTEGER PRIMARY KEY,
  prev_hash TEXT    NOT NULL UNIQUE,
  hash      TEXT    NOT NULL UNIQUE,
  record    TEXT    NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'dedup keys per publishing account',
    // Keys stored before deduplication became per account get their account in front, so an event resent after the
    // upgrade is still recognised as a duplicate.
    sql: `
UPDATE events SET dedup_key = convert_to(account, 'UTF8') || '\\x00'::bytea || dedup_key;
`,
  },
  {
    version: 5,
    name: 'refused device events',
    sql: `
CREATE TABLE refused_events (
  device_id TEXT   NOT NULL,
  seq       BIGINT NOT NULL,
  code      TEXT   NOT NULL,
  message   TEXT   NOT NULL,
  payload   TEXT   NOT NULL,
  at        BIGINT NOT NULL,
  PRIMARY KEY (device_id, seq)
);
`,
  },
];
