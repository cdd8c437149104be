/**
 * SQL of the PostgreSQL bus backend. Kept apart from the store so each statement can be read as
 * a whole; parameters are positional ($n) as pg requires.
 */

/**
 * Appends a batch in one statement: the rows are inserted in the order given (identity values
 * follow it), and a key that is already stored, by an earlier batch or by a replica committing
 * concurrently, is skipped by the unique index and reported back as missing from RETURNING.
 * $1 keys, $2 types, $3 subjects, $4 accounts, $5 payloads, $6 now.
 */
export const INSERT_EVENTS = `
INSERT INTO events (dedup_key, type, subject, account, ingested_at, payload)
SELECT k, t, s, a, $6, p
FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS x(k, t, s, a, p, n)
ORDER BY n
ON CONFLICT (dedup_key) DO NOTHING
RETURNING seq, dedup_key`;

export const FIND_EVENTS = 'SELECT seq, dedup_key, payload FROM events WHERE dedup_key = ANY($1::bytea[])';

/** $1 subscribers, $2 seqs, $3 subjects, $4 now. */
export const INSERT_DELIVERIES = `
INSERT INTO deliveries (subscriber, seq, subject, enqueued_at, next_attempt_at)
SELECT s, q, j, $4, $4
FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS x(s, q, j, n)
ORDER BY n`;

/** Replay: $1 subscriber, $2 seqs, $3 now. Seqs that were purged queue nothing. */
export const ENQUEUE_REPLAY = `
INSERT INTO deliveries (subscriber, seq, subject, enqueued_at, next_attempt_at)
SELECT $1, e.seq, e.subject, $3, $3
FROM unnest($2::bigint[]) WITH ORDINALITY AS x(q, n) JOIN events e ON e.seq = x.q
ORDER BY x.n`;

// A row of a subject waits while any earlier live row of that subject exists (in flight or
// retrying). Liveness, not the claim, decides, so a replica cannot overtake another's row.
const ORDERED_GUARD = `
    AND (d.subject IS NULL OR NOT EXISTS (
      SELECT 1 FROM deliveries p
      WHERE p.subscriber = d.subscriber AND p.subject = d.subject AND p.id < d.id AND p.dead_at IS NULL))`;

/**
 * Claims due rows under a lease. SKIP LOCKED lets replicas claim from the same queue at once
 * without waiting on or double-claiming each other's rows. $1 subscriber, $2 now, $3 limit,
 * $4 lease end. RETURNING carries no order; the caller sorts by id.
 */
function claimSql(ordered: boolean): string {
  return `
WITH picked AS (
  SELECT d.id FROM deliveries d
  WHERE d.subscriber = $1 AND d.dead_at IS NULL AND d.next_attempt_at <= $2 AND d.claimed_until <= $2
    ${ordered ? ORDERED_GUARD : ''}
  ORDER BY d.id
  LIMIT $3
  FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET claimed_until = $4, attempts = d.attempts + 1
FROM picked, events e
WHERE d.id = picked.id AND e.seq = d.seq
RETURNING d.id, d.seq, d.attempts, d.enqueued_at, d.subject, e.ingested_at, e.dedup_key, e.type, e.payload`;
}
export const CLAIM_ANY = claimSql(false);
export const CLAIM_ORDERED = claimSql(true);

export const ACK = 'DELETE FROM deliveries WHERE id = ANY($1::bigint[])';

export const RETRY_LATER = `
UPDATE deliveries SET next_attempt_at = $1, last_error = $2, claimed_until = 0 WHERE id = $3 AND dead_at IS NULL`;

export const RELEASE = `
UPDATE deliveries SET claimed_until = 0, attempts = GREATEST(attempts - 1, 0)
WHERE id = ANY($1::bigint[]) AND dead_at IS NULL`;

export const DEAD_LETTER = 'UPDATE deliveries SET dead_at = $1, last_error = $2, claimed_until = 0 WHERE id = $3';

// Optional filters bound as NULL when absent. $2 type, $3 subject, $4 delivery ids.
const DLQ_FILTER = `
  AND ($2::text IS NULL OR e.type = $2)
  AND ($3::text IS NULL OR d.subject = $3)
  AND ($4::bigint[] IS NULL OR d.id = ANY($4))`;

/** $1 subscriber, $2-$4 filter, $5 after, $6 limit. */
export const LIST_DEAD = `
SELECT d.id, d.seq, d.attempts, d.subject, d.last_error, d.dead_at,
       e.ingested_at, e.dedup_key, e.type, e.payload
FROM deliveries d JOIN events e ON e.seq = d.seq
WHERE d.subscriber = $1 AND d.dead_at IS NOT NULL AND d.id > $5 ${DLQ_FILTER}
ORDER BY d.id LIMIT $6`;

/** $1 subscriber, $2-$4 filter, $5 now. */
export const REDRIVE = `
UPDATE deliveries d SET dead_at = NULL, attempts = 0, enqueued_at = $5, next_attempt_at = $5,
       claimed_until = 0, last_error = NULL
FROM events e
WHERE e.seq = d.seq AND d.subscriber = $1 AND d.dead_at IS NOT NULL ${DLQ_FILTER}`;

/** $1 subscriber, $2 now. */
export const STATS = `
SELECT COUNT(*) FILTER (WHERE dead_at IS NULL) AS queued,
       COUNT(*) FILTER (WHERE dead_at IS NULL AND claimed_until > $2) AS in_flight,
       COUNT(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
       MIN(enqueued_at) FILTER (WHERE dead_at IS NULL) AS oldest
FROM deliveries WHERE subscriber = $1`;

/** $1 from, $2 to, $3 after, $4 limit. */
export const READ_LOG = `
SELECT seq, dedup_key, type, subject, account, ingested_at, payload FROM events
WHERE ingested_at >= $1 AND ingested_at <= $2 AND seq > $3 ORDER BY seq LIMIT $4`;

export const PURGE = `
DELETE FROM events e
WHERE e.ingested_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = e.seq)`;

export const PUT_ACCOUNT = 'INSERT INTO accounts (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING';

export const ADD_API_KEY = `
INSERT INTO api_keys (key_hash, account, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_hash) DO NOTHING`;

export const REVOKE_API_KEY = 'UPDATE api_keys SET revoked_at = $1 WHERE key_hash = $2';

export const ACCOUNT_FOR_KEY = 'SELECT account FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL';

/**
 * One atomic statement, so two replicas declaring the same subscriber at once cannot both
 * report 'created'. An unchanged declaration updates nothing and returns no row; `xmax = 0`
 * marks a freshly inserted row.
 */
export const UPSERT_SUBSCRIBER = `
INSERT INTO subscribers AS s (name, account, config, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at
WHERE s.account = excluded.account AND s.config IS DISTINCT FROM excluded.config
RETURNING (xmax = 0) AS inserted`;

export const GET_SUBSCRIBER = 'SELECT name, account, config, updated_at FROM subscribers WHERE name = $1';

export const LIST_SUBSCRIBERS = 'SELECT name, account, config, updated_at FROM subscribers ORDER BY name';
