import { ErrorCode, KeywayError } from '@keyway/shared';
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
  SubscriberUpsert,
} from '../types.js';
import { PostgresConnection, type PostgresConnectionOptions } from './connection.js';
import type { MigrationResult } from './migrate.js';
import * as q from './queries.js';

/** Options of the pool, time limits and schema; see PostgresConnectionOptions. */
export type PostgresBusStoreOptions = PostgresConnectionOptions;

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
  private readonly db: PostgresConnection;

  constructor(options: PostgresBusStoreOptions) {
    this.db = new PostgresConnection(options);
  }

  /** Connects, checks the server answers, and applies pending migrations. Safe on every start. */
  init(): Promise<void> {
    return this.db.open();
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** For readiness (/readyz): resolves when the server answers, rejects with UNAVAILABLE when not. */
  ping(): Promise<void> {
    return this.db.ping();
  }

  /** Applies pending migrations now (init() does this); exposed for tools and tests. */
  migrate(): Promise<MigrationResult> {
    return this.db.migrate();
  }

  /** Pool statistics for metrics: connections open, idle, and callers waiting for one. */
  poolStats(): { total: number; idle: number; waiting: number } {
    return this.db.poolStats();
  }

  async appendBatch(entries: readonly AppendInput[], now: number): Promise<AppendOutcome[]> {
    if (entries.length === 0) return [];
    const keys = entries.map((e) => keyBytes(e.dedupKey));
    return this.db.tx('append events', async (c) => {
      const inserted = await c.query<{ seq: number; dedup_key: Buffer }>(q.INSERT_EVENTS, [
        keys,
        entries.map((e) => e.type),
        entries.map((e) => e.subject),
        entries.map((e) => e.account),
        entries.map((e) => e.payload),
        now,
      ]);
      const fresh = new Map(inserted.rows.map((r) => [keyText(r.dedup_key), r.seq]));
      const stored = new Map<string, { seq: number; payload: string }>();
      /** Payload of the first entry of each key in this batch, for later entries with that key. */
      const firstPayload = new Map<string, string>();
      if (fresh.size < entries.length) {
        const missing = keys.filter((k) => !fresh.has(keyText(k)));
        const found = await c.query<{ seq: number; dedup_key: Buffer; payload: string }>(q.FIND_EVENTS, [missing]);
        for (const r of found.rows) stored.set(keyText(r.dedup_key), { seq: r.seq, payload: r.payload });
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
          firstPayload.set(e.dedupKey, e.payload);
          out.push({ seq, duplicate: false });
          for (const s of e.subscribers) {
            subs.push(s);
            seqs.push(seq);
            subjects.push(e.subject);
          }
          continue;
        }
        const original = seq !== undefined ? { seq, payload: firstPayload.get(e.dedupKey) } : stored.get(e.dedupKey);
        if (original === undefined) throw new KeywayError(ErrorCode.Internal, 'dedup conflict without a stored event');
        out.push({ seq: original.seq, duplicate: true, ...(original.payload !== undefined ? { original: original.payload } : {}) });
      }
      if (subs.length > 0) await c.query(q.INSERT_DELIVERIES, [subs, seqs, subjects, now]);
      return out;
    });
  }

  async enqueue(subscriber: string, seqs: readonly number[], now: number): Promise<number> {
    if (seqs.length === 0) return 0;
    const r = await this.db.query('queue a replay', q.ENQUEUE_REPLAY, [subscriber, [...seqs], now]);
    return r.rowCount ?? 0;
  }

  async claim(subscriber: string, options: ClaimOptions): Promise<ClaimedDelivery[]> {
    const sql = options.orderedBySubject ? q.CLAIM_ORDERED : q.CLAIM_ANY;
    const r = await this.db.query<ClaimRow>('claim deliveries', sql, [
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
    await this.db.query('acknowledge deliveries', q.ACK, [[...deliveryIds]]);
  }

  async retryLater(deliveryId: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.db.query('schedule a retry', q.RETRY_LATER, [nextAttemptAt, error, deliveryId]);
  }

  async release(deliveryIds: readonly number[], _now: number): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.db.query('release deliveries', q.RELEASE, [[...deliveryIds]]);
  }

  async deadLetter(deliveryId: number, error: string, now: number): Promise<void> {
    await this.db.query('dead-letter a delivery', q.DEAD_LETTER, [now, error, deliveryId]);
  }

  async listDead(subscriber: string, filter: DlqFilter, page: Page): Promise<DeadLetter[]> {
    const r = await this.db.query<DeadRow>('list dead letters', q.LIST_DEAD, [
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
    const r = await this.db.query('redrive dead letters', q.REDRIVE, [subscriber, ...filterParams(filter), now]);
    return r.rowCount ?? 0;
  }

  async stats(subscriber: string, now: number): Promise<QueueStats> {
    const r = await this.db.query<{ queued: number; in_flight: number; dead: number; oldest: number | null }>(
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
    const r = await this.db.query<LogRow>('read the log', q.READ_LOG, [fromMs, toMs, page.after ?? 0, page.limit]);
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
    const r = await this.db.query('purge the log', q.PURGE, [beforeMs]);
    return r.rowCount ?? 0;
  }

  async putAccount(name: string, now: number): Promise<void> {
    await this.db.query('store an account', q.PUT_ACCOUNT, [name, now]);
  }

  async addApiKey(account: string, keyHash: string, now: number): Promise<void> {
    try {
      await this.db.query('store an API key', q.ADD_API_KEY, [keyHash, account, now]);
    } catch (error) {
      const cause = error instanceof KeywayError ? error.details.pgCode : undefined;
      if (cause !== '23503') throw error;
      throw new KeywayError(ErrorCode.NotFound, `account ${account} does not exist; create it before adding keys`, {
        cause: error,
      });
    }
  }

  async revokeApiKey(keyHash: string): Promise<void> {
    await this.db.query('revoke an API key', q.REVOKE_API_KEY, [Date.now(), keyHash]);
  }

  async accountForKey(keyHash: string): Promise<string | undefined> {
    const r = await this.db.query<{ account: string }>('look up an API key', q.ACCOUNT_FOR_KEY, [keyHash]);
    return r.rows[0]?.account;
  }

  async upsertSubscriber(record: SubscriberRecord): Promise<SubscriberUpsert> {
    const r = await this.db.query<{ inserted: boolean }>('store a subscriber', q.UPSERT_SUBSCRIBER, [
      record.name,
      record.account,
      record.config,
      record.updatedAt,
    ]);
    const row = r.rows[0];
    if (row) return row.inserted ? 'created' : 'updated';
    // Nothing written: the same declaration, or a name held by another account (an owner never changes, so this read
    // cannot race with a change of hands).
    const existing = await this.getSubscriber(record.name);
    return existing && existing.account !== record.account ? 'taken' : 'unchanged';
  }

  async getSubscriber(name: string): Promise<SubscriberRecord | undefined> {
    const r = await this.db.query<SubscriberRow>('read a subscriber', q.GET_SUBSCRIBER, [name]);
    const row = r.rows[0];
    return row && toSubscriber(row);
  }

  async listSubscribers(): Promise<SubscriberRecord[]> {
    const r = await this.db.query<SubscriberRow>('list subscribers', q.LIST_SUBSCRIBERS);
    return r.rows.map(toSubscriber);
  }
}
