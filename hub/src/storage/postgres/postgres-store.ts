import pg from 'pg';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { ErrorCode, KeywayError, createLogger, isKeywayError } from '@keyway/shared';
import type {
  AppendInput,
  AppendOutcome,
  BusStore,
  ClaimOptions,
  ClaimedDelivery,
  DeadLetter,
  DlqFilter,
  LogRecord,
  Page,
  QueueStats,
  SubscriberRecord,
} from '../types.js';
import { breaksConnection, describeTarget, toKeywayError } from './errors.js';
import { migrate, quoteSchema, type MigrationResult } from './migrate.js';
import * as q from './queries.js';

const log = createLogger('storage.postgres');

/** Runs of one transaction the server aborted as a deadlock or serialization failure. */
const TX_ATTEMPTS = 4;

export interface PostgresBusStoreOptions {
  /** `postgres://user:password@host:port/database`; the password never appears in errors or logs. */
  connectionString: string;
  /** Most connections this store (one hub replica) holds open. Default 10. */
  poolSize?: number;
  /** Server-side limit for one statement, ms; a stuck statement fails with TIMEOUT. Default 5000. */
  statementTimeoutMs?: number;
  /** How long to wait for a connection (new, or free in the pool), ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Idle connections are closed after this, ms. Default 30000. */
  idleTimeoutMs?: number;
  /** Limit for applying migrations at init(), including waiting for another replica's, ms. Default 60000. */
  migrationTimeoutMs?: number;
  /** Reported to the server as application_name (visible in pg_stat_activity). Default `keyway-hub`. */
  applicationName?: string;
  /**
   * Schema holding the tables (a lower-case identifier), created at init() when missing, so several
   * deployments can share one database. Default `public`.
   */
  schema?: string;
}

// BIGINT columns (seq, ids, ms timestamps, counts) arrive as strings by default; every value the
// store keeps stays below 2^53, so numbers are exact. Set per pool so other pg users are unaffected.
const INT8_OID = 20;
const parseInt8 = (value: string): number => Number(value);
const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : (pg.types.getTypeParser(oid, format ?? 'text') as unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

interface ClaimRow {
  id: number;
  seq: number;
  attempts: number;
  enqueued_at: number;
  subject: string | null;
  ingested_at: number;
  dedup_key: Buffer;
  type: string;
  payload: string;
}

interface DeadRow extends Omit<ClaimRow, 'enqueued_at'> {
  last_error: string | null;
  dead_at: number;
}

interface LogRow {
  seq: number;
  dedup_key: Buffer;
  type: string;
  subject: string | null;
  account: string;
  ingested_at: number;
  payload: string;
}

interface SubscriberRow {
  name: string;
  account: string;
  config: string;
  updated_at: number;
}

// The dedup key is `source` NUL `id`; BYTEA holds it byte for byte (TEXT cannot hold NUL).
const keyBytes = (key: string): Buffer => Buffer.from(key, 'utf8');
const keyText = (bytes: Buffer): string => bytes.toString('utf8');

function filterParams(filter: DlqFilter): [string | null, string | null, number[] | null] {
  return [filter.type ?? null, filter.subject ?? null, filter.deliveryIds ? [...filter.deliveryIds] : null];
}

const toSubscriber = (r: SubscriberRow): SubscriberRecord => ({
  name: r.name,
  account: r.account,
  config: r.config,
  updatedAt: r.updated_at,
});

/**
 * The scale-out backend: the bus log, delivery queues, accounts and subscriber declarations in
 * PostgreSQL, shared by every hub replica. An append commits (durably, with the server's
 * synchronous_commit) before its promise resolves; delivery rows are claimed with
 * `FOR UPDATE SKIP LOCKED` under a lease, so any replica may work any queue.
 *
 * When the server goes away, calls fail with UNAVAILABLE (never silently) and broken connections
 * are dropped; once it is back, the pool opens new ones and calls succeed again without a restart.
 */
export class PostgresBusStore implements BusStore {
  private readonly options: Required<PostgresBusStoreOptions>;
  private readonly target: string;
  private pool: Pool | undefined;
  private readonly onPoolError = (error: Error): void => {
    // An idle connection died (server restart, network): the pool drops it and opens a new one on
    // demand. Without this listener the error would crash the process.
    log.warn({ err: error.message, target: this.target }, 'idle PostgreSQL connection lost');
  };

  constructor(options: PostgresBusStoreOptions) {
    this.options = {
      poolSize: 10,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 5000,
      idleTimeoutMs: 30_000,
      migrationTimeoutMs: 60_000,
      applicationName: 'keyway-hub',
      schema: 'public',
      ...options,
    };
    this.target = describeTarget(options.connectionString);
  }

  /** Connects, checks the server answers, and applies pending migrations. Safe on every start. */
  async init(): Promise<void> {
    if (this.pool) return;
    const o = this.options;
    try {
      quoteSchema(o.schema);
    } catch (error) {
      throw new KeywayError(ErrorCode.ConfigInvalid, describeCause(error), { cause: error });
    }
    const pool = new pg.Pool({
      connectionString: o.connectionString,
      max: o.poolSize,
      connectionTimeoutMillis: o.connectTimeoutMs,
      idleTimeoutMillis: o.idleTimeoutMs,
      statement_timeout: o.statementTimeoutMs,
      // Client-side backstop for a server that stops answering without closing the socket.
      query_timeout: o.statementTimeoutMs + o.connectTimeoutMs,
      idle_in_transaction_session_timeout: o.statementTimeoutMs * 2,
      application_name: o.applicationName,
      // Unqualified table names in every statement resolve in the store's schema.
      options: `-c search_path=${o.schema}`,
      keepAlive: true,
      types: typeParsers,
    });
    pool.on('error', this.onPoolError);
    try {
      await this.withClient('apply migrations', (c) => this.migrateWith(c), pool);
    } catch (error) {
      pool.off('error', this.onPoolError);
      await pool.end().catch(() => undefined);
      const e = toKeywayError(error, this.target, 'start the bus store');
      if (e.code !== ErrorCode.Unavailable) throw e;
      throw new KeywayError(
        ErrorCode.Unavailable,
        `cannot start the bus store: ${this.target} is unreachable (${describeCause(error)}); ` +
          'check the connection string and that the server is running, then start again',
        { cause: error, details: e.details },
      );
    }
    this.pool = pool;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (!pool) return;
    await pool.end();
    pool.off('error', this.onPoolError);
  }

  /** For readiness: resolves when the server answers a query, rejects with UNAVAILABLE when not. */
  async ping(): Promise<void> {
    await this.query('reach the database', 'SELECT 1');
  }

  /** Applies pending migrations now (init() does this); exposed for tools and tests. */
  migrate(): Promise<MigrationResult> {
    return this.withClient('apply migrations', (c) => this.migrateWith(c));
  }

  private migrateWith(c: PoolClient): Promise<MigrationResult> {
    return migrate(c, { timeoutMs: this.options.migrationTimeoutMs, schema: this.options.schema });
  }

  /** Pool statistics for metrics: connections open, idle, and callers waiting for one. */
  poolStats(): { total: number; idle: number; waiting: number } {
    const p = this.pool;
    return { total: p?.totalCount ?? 0, idle: p?.idleCount ?? 0, waiting: p?.waitingCount ?? 0 };
  }

  private requirePool(): Pool {
    if (!this.pool) {
      throw new KeywayError(ErrorCode.Unavailable, 'the PostgreSQL bus store is not open; call init() first');
    }
    return this.pool;
  }

  private async query<R extends QueryResultRow>(
    action: string,
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    const pool = this.requirePool();
    try {
      // pool.query discards the connection itself when the query fails on a broken socket.
      return await pool.query<R>(text, values);
    } catch (error) {
      throw toKeywayError(error, this.target, action);
    }
  }

  /** Runs `fn` on one checked-out connection; a connection that broke is destroyed, not reused. */
  private async withClient<T>(action: string, fn: (c: PoolClient) => Promise<T>, pool?: Pool): Promise<T> {
    const p = pool ?? this.requirePool();
    let client: PoolClient;
    try {
      client = await p.connect();
    } catch (error) {
      throw toKeywayError(error, this.target, action);
    }
    // A checked-out connection has no listener of the pool's; without one, a socket error between
    // two statements would be thrown as an uncaught exception.
    let lost: Error | undefined;
    const onError = (error: Error): void => {
      lost = error;
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (error) {
      if (breaksConnection(error)) lost ??= error instanceof Error ? error : new Error(String(error));
      throw toKeywayError(error, this.target, action);
    } finally {
      client.off('error', onError);
      client.release(lost);
    }
  }

  /**
   * One transaction. If COMMIT itself fails on a lost connection the outcome is unknown to us.
   * A deadlock or serialization failure rolled the whole transaction back, so it is run again: two
   * replicas appending overlapping batches in different orders wait on each other's dedup keys.
   */
  private async tx<T>(action: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withClient(action, async (c) => {
          await c.query('BEGIN');
          try {
            const out = await fn(c);
            await c.query('COMMIT');
            return out;
          } catch (error) {
            if (!breaksConnection(error)) await c.query('ROLLBACK');
            throw error;
          }
        });
      } catch (error) {
        if (attempt >= TX_ATTEMPTS || !isKeywayError(error, ErrorCode.Conflict)) throw error;
        log.debug({ action, attempt, pgCode: error.details.pgCode }, 'transaction rolled back by the server; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    }
  }

  async appendBatch(entries: readonly AppendInput[], now: number): Promise<AppendOutcome[]> {
    if (entries.length === 0) return [];
    const keys = entries.map((e) => keyBytes(e.dedupKey));
    return this.tx('append events', async (c) => {
      const inserted = await c.query<{ seq: number; dedup_key: Buffer }>(q.INSERT_EVENTS, [
        keys,
        entries.map((e) => e.type),
        entries.map((e) => e.subject),
        entries.map((e) => e.account),
        entries.map((e) => e.payload),
        now,
      ]);
      const fresh = new Map(inserted.rows.map((r) => [keyText(r.dedup_key), r.seq]));
      const stored = new Map<string, number>();
      if (fresh.size < entries.length) {
        const missing = keys.filter((k) => !fresh.has(keyText(k)));
        const found = await c.query<{ seq: number; dedup_key: Buffer }>(q.FIND_EVENTS, [missing]);
        for (const r of found.rows) stored.set(keyText(r.dedup_key), r.seq);
      }
      const out: AppendOutcome[] = [];
      const subs: string[] = [];
      const seqs: number[] = [];
      const subjects: (string | null)[] = [];
      const seen = new Set<string>();
      for (const e of entries) {
        const seq = fresh.get(e.dedupKey);
        // The first occurrence of a key in this batch is the one stored; later ones are duplicates.
        if (seq !== undefined && !seen.has(e.dedupKey)) {
          seen.add(e.dedupKey);
          out.push({ seq, duplicate: false });
          for (const s of e.subscribers) {
            subs.push(s);
            seqs.push(seq);
            subjects.push(e.subject);
          }
          continue;
        }
        const original = seq ?? stored.get(e.dedupKey);
        if (original === undefined) throw new KeywayError(ErrorCode.Internal, 'dedup conflict without a stored event');
        out.push({ seq: original, duplicate: true });
      }
      if (subs.length > 0) await c.query(q.INSERT_DELIVERIES, [subs, seqs, subjects, now]);
      return out;
    });
  }

  async enqueue(subscriber: string, seqs: readonly number[], now: number): Promise<number> {
    if (seqs.length === 0) return 0;
    const r = await this.query('queue a replay', q.ENQUEUE_REPLAY, [subscriber, [...seqs], now]);
    return r.rowCount ?? 0;
  }

  async claim(subscriber: string, options: ClaimOptions): Promise<ClaimedDelivery[]> {
    const sql = options.orderedBySubject ? q.CLAIM_ORDERED : q.CLAIM_ANY;
    const r = await this.query<ClaimRow>('claim deliveries', sql, [
      subscriber,
      options.now,
      options.limit,
      options.now + options.leaseMs,
    ]);
    return r.rows
      .sort((a, b) => a.id - b.id)
      .map((row) => ({
        deliveryId: row.id,
        subscriber,
        seq: row.seq,
        // attempts was incremented by the claim itself
        attempt: row.attempts,
        enqueuedAt: row.enqueued_at,
        ingestedAt: row.ingested_at,
        dedupKey: keyText(row.dedup_key),
        type: row.type,
        subject: row.subject,
        payload: row.payload,
      }));
  }

  async ack(deliveryIds: readonly number[]): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.query('acknowledge deliveries', q.ACK, [[...deliveryIds]]);
  }

  async retryLater(deliveryId: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.query('schedule a retry', q.RETRY_LATER, [nextAttemptAt, error, deliveryId]);
  }

  async release(deliveryIds: readonly number[], _now: number): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.query('release deliveries', q.RELEASE, [[...deliveryIds]]);
  }

  async deadLetter(deliveryId: number, error: string, now: number): Promise<void> {
    await this.query('dead-letter a delivery', q.DEAD_LETTER, [now, error, deliveryId]);
  }

  async listDead(subscriber: string, filter: DlqFilter, page: Page): Promise<DeadLetter[]> {
    const r = await this.query<DeadRow>('list dead letters', q.LIST_DEAD, [
      subscriber,
      ...filterParams(filter),
      page.after ?? 0,
      page.limit,
    ]);
    return r.rows.map((row) => ({
      deliveryId: row.id,
      subscriber,
      seq: row.seq,
      type: row.type,
      subject: row.subject,
      dedupKey: keyText(row.dedup_key),
      attempts: row.attempts,
      lastError: row.last_error,
      deadAt: row.dead_at,
      ingestedAt: row.ingested_at,
      payload: row.payload,
    }));
  }

  async redrive(subscriber: string, filter: DlqFilter, now: number): Promise<number> {
    const r = await this.query('redrive dead letters', q.REDRIVE, [subscriber, ...filterParams(filter), now]);
    return r.rowCount ?? 0;
  }

  async stats(subscriber: string, now: number): Promise<QueueStats> {
    const r = await this.query<{ queued: number; in_flight: number; dead: number; oldest: number | null }>(
      'read queue statistics',
      q.STATS,
      [subscriber, now],
    );
    const row = r.rows[0];
    return {
      queued: row?.queued ?? 0,
      inFlight: row?.in_flight ?? 0,
      dead: row?.dead ?? 0,
      oldestEnqueuedAt: row?.oldest ?? null,
    };
  }

  async readLog(fromMs: number, toMs: number, page: Page): Promise<LogRecord[]> {
    const r = await this.query<LogRow>('read the log', q.READ_LOG, [fromMs, toMs, page.after ?? 0, page.limit]);
    return r.rows.map((row) => ({
      seq: row.seq,
      dedupKey: keyText(row.dedup_key),
      type: row.type,
      subject: row.subject,
      account: row.account,
      ingestedAt: row.ingested_at,
      payload: row.payload,
    }));
  }

  async purge(beforeMs: number): Promise<number> {
    const r = await this.query('purge the log', q.PURGE, [beforeMs]);
    return r.rowCount ?? 0;
  }

  async putAccount(name: string, now: number): Promise<void> {
    await this.query('store an account', q.PUT_ACCOUNT, [name, now]);
  }

  async addApiKey(account: string, keyHash: string, now: number): Promise<void> {
    try {
      await this.query('store an API key', q.ADD_API_KEY, [keyHash, account, now]);
    } catch (error) {
      const cause = error instanceof KeywayError ? error.details.pgCode : undefined;
      if (cause !== '23503') throw error;
      throw new KeywayError(ErrorCode.NotFound, `account ${account} does not exist; create it before adding keys`, {
        cause: error,
      });
    }
  }

  async revokeApiKey(keyHash: string): Promise<void> {
    await this.query('revoke an API key', q.REVOKE_API_KEY, [Date.now(), keyHash]);
  }

  async accountForKey(keyHash: string): Promise<string | undefined> {
    const r = await this.query<{ account: string }>('look up an API key', q.ACCOUNT_FOR_KEY, [keyHash]);
    return r.rows[0]?.account;
  }

  async upsertSubscriber(record: SubscriberRecord): Promise<'created' | 'updated' | 'unchanged'> {
    const r = await this.query<{ inserted: boolean }>('store a subscriber', q.UPSERT_SUBSCRIBER, [
      record.name,
      record.account,
      record.config,
      record.updatedAt,
    ]);
    const row = r.rows[0];
    if (!row) return 'unchanged';
    return row.inserted ? 'created' : 'updated';
  }

  async getSubscriber(name: string): Promise<SubscriberRecord | undefined> {
    const r = await this.query<SubscriberRow>('read a subscriber', q.GET_SUBSCRIBER, [name]);
    const row = r.rows[0];
    return row && toSubscriber(row);
  }

  async listSubscribers(): Promise<SubscriberRecord[]> {
    const r = await this.query<SubscriberRow>('list subscribers', q.LIST_SUBSCRIBERS);
    return r.rows.map(toSubscriber);
  }
}

function describeCause(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return error instanceof Error ? error.message : String(error);
}
