import Database from 'better-sqlite3';
import { KeywayError, ErrorCode } from '@keyway/shared';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA } from './sqlite-schema.js';
import { WalSync, type SyncFn } from './wal-sync.js';
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
} from './types.js';

interface ClaimRow {
  id: number;
  seq: number;
  attempts: number;
  enqueued_at: number;
  ingested_at: number;
  dedup_key: string;
  type: string;
  subject: string | null;
  payload: string;
}

interface DeadRow extends ClaimRow {
  last_error: string | null;
  dead_at: number;
}

interface LogRow {
  seq: number;
  dedup_key: string;
  type: string;
  subject: string | null;
  account: string;
  ingested_at: number;
  payload: string;
}

const CLAIM_SELECT = `
SELECT d.id, d.seq, d.attempts, d.enqueued_at, e.ingested_at, e.dedup_key, e.type, d.subject, e.payload
FROM deliveries d JOIN events e ON e.seq = d.seq
WHERE d.subscriber = @subscriber AND d.dead_at IS NULL
  AND d.next_attempt_at <= @now AND d.claimed_until <= @now`;

// A row of a subject waits while any earlier live row of that subject exists (in flight or retrying).
const ORDERED_GUARD = `
  AND (d.subject IS NULL OR NOT EXISTS (
    SELECT 1 FROM deliveries p
    WHERE p.subscriber = d.subscriber AND p.subject = d.subject AND p.id < d.id AND p.dead_at IS NULL))`;

// Optional filters bound as NULL when absent, so each statement is prepared once.
const DLQ_FILTER = `
  AND (@type IS NULL OR d.seq IN (SELECT seq FROM events WHERE type = @type))
  AND (@subject IS NULL OR d.subject = @subject)
  AND (@ids IS NULL OR d.id IN (SELECT value FROM json_each(@ids)))`;

function filterParams(filter: DlqFilter): { type: string | null; subject: string | null; ids: string | null } {
  return {
    type: filter.type ?? null,
    subject: filter.subject ?? null,
    ids: filter.deliveryIds === undefined ? null : JSON.stringify(filter.deliveryIds),
  };
}

export interface SqliteBusStoreOptions {
  /** File path of the database; `:memory:` only for throwaway tests. */
  path: string;
  /** Checkpoint the WAL from a worker thread every this many ms (default 200); 0 leaves it to SQLite. */
  checkpointIntervalMs?: number;
  /** Tests only: replaces `fs.fdatasync` of the WAL (to slow it down or make it fail). */
  syncWal?: SyncFn;
}

/** The embedded default backend: one SQLite file in WAL mode. */
/** Applies the data migrations the database has not had yet, each in its own transaction with its version. */
function migrateSqlite(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  SQLITE_MIGRATIONS.forEach((sql, i) => {
    if (i + 1 <= current) return;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${i + 1}`);
    })();
  });
}

export class SqliteBusStore implements BusStore {
  private readonly path: string;
  private db: Database.Database | undefined;
  private statements: ReturnType<SqliteBusStore['prepare']> | undefined;
  private checkpointer: SqliteCheckpointer | undefined;
  private pendingAcks: number[] = [];
  private ackFlushScheduled = false;
  private readonly checkpointIntervalMs: number;
  private readonly syncWal: SyncFn | undefined;
  private walSync: WalSync | undefined;

  constructor(options: SqliteBusStoreOptions) {
    this.path = options.path;
    this.syncWal = options.syncWal;
    this.checkpointIntervalMs = options.path === ':memory:' ? 0 : (options.checkpointIntervalMs ?? 200);
  }

  init(): Promise<void> {
    if (this.db) return Promise.resolve();
    const db = new Database(this.path);
    db.pragma('journal_mode = WAL');
    // An event is acknowledged only once durable, as with `synchronous=FULL`, but the fsync runs
    // on libuv's thread pool instead of inside the commit on the event loop. In WAL mode NORMAL
    // commits atomically and syncs the WAL before each checkpoint and the database file after it;
    // what it skips is the sync of the WAL at each commit, so on power loss the last commits may
    // roll back. Those commits are not acknowledged yet: every durable write below resolves only
    // after an fdatasync of the WAL file (holding its commit frames) that started after the
    // commit completed (WalSync). Delivery bookkeeping (claims, acks, retry times) does not wait
    // for one: losing it only means a redelivery, which at-least-once allows.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // the dedup index takes random inserts; a 16 MB page cache keeps its hot pages in memory
    db.pragma('cache_size = -16384');
    db.exec(SQLITE_SCHEMA);
    migrateSqlite(db);
    if (this.path !== ':memory:' && this.path !== '') {
      // The WAL exists once a transaction has run in WAL mode (the schema above). SQLite keeps
      // this file (same inode) while any connection is open: a reset after a checkpoint rewrites
      // it from the start, it is deleted only when the last connection closes.
      this.walSync = WalSync.open(`${this.path}-wal`, this.syncWal);
    }
    if (this.checkpointIntervalMs > 0) {
      // checkpoints run on a worker thread; the writer checkpoints itself only if that falls far behind
      db.pragma('wal_autocheckpoint = 20000');
      this.checkpointer = new SqliteCheckpointer(this.path, this.checkpointIntervalMs);
      this.checkpointer.start();
    }
    this.db = db;
    this.statements = this.prepare(db);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.flushAcksNow();
    await this.walSync?.close();
    this.walSync = undefined;
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
    this.db?.close();
    this.db = undefined;
    this.statements = undefined;
  }

  private prepare(db: Database.Database) {
    const insertEvent = db.prepare<[string, string, string | null, string, number, string], { seq: number }>(
      `INSERT INTO events (dedup_key, type, subject, account, ingested_at, payload) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (dedup_key) DO NOTHING RETURNING seq`,
    );
    const findEvent = db.prepare<[string], { seq: number; payload: string }>('SELECT seq, payload FROM events WHERE dedup_key = ?');
    const insertDelivery = db.prepare<[string, number, string | null, number, number]>(
      'INSERT INTO deliveries (subscriber, seq, subject, enqueued_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)',
    );
    const insertReplay = db.prepare<[string, number, number, number]>(
      `INSERT INTO deliveries (subscriber, seq, subject, enqueued_at, next_attempt_at)
       SELECT ?, seq, subject, ?, ? FROM events WHERE seq = ?`,
    );
    const claimAny = db.prepare<{ subscriber: string; now: number; limit: number }, ClaimRow>(
      `${CLAIM_SELECT} ORDER BY d.id LIMIT @limit`,
    );
    const claimOrdered = db.prepare<{ subscriber: string; now: number; limit: number }, ClaimRow>(
      `${CLAIM_SELECT} ${ORDERED_GUARD} ORDER BY d.id LIMIT @limit`,
    );
    const markClaimed = db.prepare<[number, number]>(
      'UPDATE deliveries SET claimed_until = ?, attempts = attempts + 1 WHERE id = ?',
    );
    const deleteDelivery = db.prepare<[number]>('DELETE FROM deliveries WHERE id = ?');
    const retryLater = db.prepare<[number, string, number]>(
      'UPDATE deliveries SET next_attempt_at = ?, last_error = ?, claimed_until = 0 WHERE id = ? AND dead_at IS NULL',
    );
    const release = db.prepare<[number]>(
      'UPDATE deliveries SET claimed_until = 0, attempts = MAX(attempts - 1, 0) WHERE id = ? AND dead_at IS NULL',
    );
    const deadLetter = db.prepare<[number, string, number]>(
      'UPDATE deliveries SET dead_at = ?, last_error = ?, claimed_until = 0 WHERE id = ?',
    );
    const listDead = db.prepare<Record<string, unknown>, DeadRow>(
      `SELECT d.id, d.seq, d.attempts, d.enqueued_at, e.ingested_at, e.dedup_key, e.type, d.subject, e.payload,
              d.last_error, d.dead_at
       FROM deliveries d JOIN events e ON e.seq = d.seq
       WHERE d.subscriber = @subscriber AND d.dead_at IS NOT NULL AND d.id > @after ${DLQ_FILTER}
       ORDER BY d.id LIMIT @limit`,
    );
    const redrive = db.prepare<Record<string, unknown>>(
      `UPDATE deliveries SET dead_at = NULL, attempts = 0, enqueued_at = @now, next_attempt_at = @now,
              claimed_until = 0, last_error = NULL
       WHERE id IN (SELECT d.id FROM deliveries d
                    WHERE d.subscriber = @subscriber AND d.dead_at IS NOT NULL ${DLQ_FILTER})`,
    );
    const stats = db.prepare<
      { subscriber: string; now: number },
      { queued: number | null; in_flight: number | null; dead: number | null; oldest: number | null }
    >(
      `SELECT SUM(CASE WHEN dead_at IS NULL THEN 1 ELSE 0 END) AS queued,
              SUM(CASE WHEN dead_at IS NULL AND claimed_until > @now THEN 1 ELSE 0 END) AS in_flight,
              SUM(CASE WHEN dead_at IS NOT NULL THEN 1 ELSE 0 END) AS dead,
              MIN(CASE WHEN dead_at IS NULL THEN enqueued_at END) AS oldest
       FROM deliveries WHERE subscriber = @subscriber`,
    );
    const readLog = db.prepare<{ from: number; to: number; after: number; limit: number }, LogRow>(
      `SELECT seq, dedup_key, type, subject, account, ingested_at, payload FROM events
       WHERE ingested_at >= @from AND ingested_at <= @to AND seq > @after ORDER BY seq LIMIT @limit`,
    );
    const purge = db.prepare<[number]>(
      // NOT IN builds the set of referenced seqs once instead of probing deliveries per event
      'DELETE FROM events WHERE ingested_at < ? AND seq NOT IN (SELECT seq FROM deliveries)',
    );
    const putAccount = db.prepare<[string, number]>(
      'INSERT INTO accounts (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
    );
    const addApiKey = db.prepare<[string, string, number]>(
      'INSERT INTO api_keys (key_hash, account, created_at) VALUES (?, ?, ?) ON CONFLICT (key_hash) DO NOTHING',
    );
    const revokeApiKey = db.prepare<[number, string]>('UPDATE api_keys SET revoked_at = ? WHERE key_hash = ?');
    const accountForKey = db.prepare<[string], { account: string }>(
      'SELECT account FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL',
    );
    const getSubscriber = db.prepare<[string], { name: string; account: string; config: string; updated_at: number }>(
      'SELECT name, account, config, updated_at FROM subscribers WHERE name = ?',
    );
    const listSubscribers = db.prepare<[], { name: string; account: string; config: string; updated_at: number }>(
      'SELECT name, account, config, updated_at FROM subscribers ORDER BY name',
    );
    const upsertSubscriber = db.prepare<[string, string, string, number]>(
      `INSERT INTO subscribers (name, account, config, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET account = excluded.account, config = excluded.config,
                                        updated_at = excluded.updated_at`,
    );
    return {
      insertEvent,
      findEvent,
      insertDelivery,
      insertReplay,
      claimAny,
      claimOrdered,
      markClaimed,
      deleteDelivery,
      retryLater,
      release,
      deadLetter,
      listDead,
      redrive,
      stats,
      readLog,
      purge,
      putAccount,
      addApiKey,
      revokeApiKey,
      accountForKey,
      getSubscriber,
      listSubscribers,
      upsertSubscriber,
      appendTx: db.transaction(
        (entries: readonly AppendInput[], now: number, acks: readonly number[]): AppendOutcome[] => {
          for (const id of acks) deleteDelivery.run(id);
          const out: AppendOutcome[] = [];
          for (const e of entries) {
            const inserted = insertEvent.get(e.dedupKey, e.type, e.subject, e.account, now, e.payload);
            if (!inserted) {
              const existing = findEvent.get(e.dedupKey);
              if (!existing) throw new KeywayError(ErrorCode.Internal, 'dedup conflict without a stored event');
              out.push({ seq: existing.seq, duplicate: true, original: existing.payload });
              continue;
            }
            for (const s of e.subscribers) insertDelivery.run(s, inserted.seq, e.subject, now, now);
            out.push({ seq: inserted.seq, duplicate: false });
          }
          return out;
        },
      ),
      enqueueTx: db.transaction((subscriber: string, seqs: readonly number[], now: number): number => {
        let n = 0;
        for (const seq of seqs) n += insertReplay.run(subscriber, now, now, seq).changes;
        return n;
      }),
      // Delivery bookkeeping (see init): run with `run`, not `runDurable`; the next WAL sync, for an
      // append, covers their frames too.
      claimTx: db.transaction((subscriber: string, o: ClaimOptions, acks: readonly number[]): ClaimRow[] => {
        for (const id of acks) deleteDelivery.run(id);
        const stmt = o.orderedBySubject ? claimOrdered : claimAny;
        const rows = stmt.all({ subscriber, now: o.now, limit: o.limit });
        for (const r of rows) markClaimed.run(o.now + o.leaseMs, r.id);
        return rows;
      }),
      ackTx: db.transaction((ids: readonly number[]) => {
        for (const id of ids) deleteDelivery.run(id);
      }),
      releaseTx: db.transaction((ids: readonly number[]) => {
        for (const id of ids) release.run(id);
      }),
    };
  }

  /**
   * Acks are applied in the next transaction this store runs (usually the worker's next claim or
   * the next append), or at the next turn of the event loop, so a claim-ack cycle costs one commit
   * instead of two. An ack that a crash loses only means a redelivery, which at-least-once allows.
   */
  private takeAcks(): number[] {
    const ids = this.pendingAcks;
    this.pendingAcks = [];
    return ids;
  }

  private flushAcksNow(): void {
    this.ackFlushScheduled = false;
    if (this.pendingAcks.length > 0 && this.statements) this.statements.ackTx(this.takeAcks());
  }

  /** Turns synchronous SQLite errors (busy, disk full, closed) into rejections. */
  private run<T>(fn: () => T | Promise<T>, absorbsAcks = false): Promise<T> {
    try {
      if (!absorbsAcks) this.flushAcksNow();
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * `run` for writes that must survive a power cut (appends, replays, accounts, keys,
   * subscribers): resolves only after an fdatasync of the WAL that started after the commit.
   */
  private runDurable<T>(fn: () => T, absorbsAcks = false): Promise<T> {
    const failed = this.walSync?.failed;
    if (failed) return Promise.reject(failed);
    return this.run(() => {
      const value = fn();
      // taken right after the commit, so a sync that starts from here on covers it
      const durable = this.walSync?.durable();
      return durable ? durable.then(() => value) : value;
    }, absorbsAcks);
  }

  private get s(): NonNullable<SqliteBusStore['statements']> {
    if (!this.statements) {
      throw new KeywayError(ErrorCode.Unavailable, 'the SQLite bus store is not open; call init() first');
    }
    return this.statements;
  }

  appendBatch(entries: readonly AppendInput[], now: number): Promise<AppendOutcome[]> {
    return this.runDurable(() => this.s.appendTx(entries, now, this.takeAcks()), true);
  }

  enqueue(subscriber: string, seqs: readonly number[], now: number): Promise<number> {
    return this.runDurable(() => this.s.enqueueTx(subscriber, seqs, now));
  }

  claim(subscriber: string, options: ClaimOptions): Promise<ClaimedDelivery[]> {
    return this.run(() => {
      const rows = this.s.claimTx(subscriber, options, this.takeAcks());
      return rows.map((r) => ({
        deliveryId: r.id,
        subscriber,
        seq: r.seq,
        attempt: r.attempts + 1,
        enqueuedAt: r.enqueued_at,
        ingestedAt: r.ingested_at,
        dedupKey: r.dedup_key,
        type: r.type,
        subject: r.subject,
        payload: r.payload,
      }));
    }, true);
  }

  ack(deliveryIds: readonly number[]): Promise<void> {
    if (!this.statements) {
      return this.run(() => {
        void this.s; // rejects with the "call init() first" error
      });
    }
    this.pendingAcks.push(...deliveryIds);
    if (!this.ackFlushScheduled && this.pendingAcks.length > 0) {
      this.ackFlushScheduled = true;
      setImmediate(() => {
        try {
          this.flushAcksNow();
        } catch {
          // the rows stay claimed until their lease ends and are delivered again: at-least-once
        }
      });
    }
    return Promise.resolve();
  }

  retryLater(deliveryId: number, nextAttemptAt: number, error: string): Promise<void> {
    return this.run(() => {
      this.s.retryLater.run(nextAttemptAt, error, deliveryId);
    });
  }

  release(deliveryIds: readonly number[], _now: number): Promise<void> {
    return this.run(() => {
      if (deliveryIds.length > 0) this.s.releaseTx(deliveryIds);
    });
  }

  deadLetter(deliveryId: number, error: string, now: number): Promise<void> {
    return this.run(() => {
      this.s.deadLetter.run(now, error, deliveryId);
    });
  }

  listDead(subscriber: string, filter: DlqFilter, page: Page): Promise<DeadLetter[]> {
    return this.run(() => {
      const rows = this.s.listDead.all({
        subscriber,
        after: page.after ?? 0,
        limit: page.limit,
        ...filterParams(filter),
      });
      return rows.map((r) => ({
        deliveryId: r.id,
        subscriber,
        seq: r.seq,
        type: r.type,
        subject: r.subject,
        dedupKey: r.dedup_key,
        attempts: r.attempts,
        lastError: r.last_error,
        deadAt: r.dead_at,
        ingestedAt: r.ingested_at,
        payload: r.payload,
      }));
    });
  }

  redrive(subscriber: string, filter: DlqFilter, now: number): Promise<number> {
    return this.runDurable(() => this.s.redrive.run({ subscriber, now, ...filterParams(filter) }).changes);
  }

  stats(subscriber: string, now: number): Promise<QueueStats> {
    return this.run(() => {
      const r = this.s.stats.get({ subscriber, now });
      return {
        queued: r?.queued ?? 0,
        inFlight: r?.in_flight ?? 0,
        dead: r?.dead ?? 0,
        oldestEnqueuedAt: r?.oldest ?? null,
      };
    });
  }

  readLog(fromMs: number, toMs: number, page: Page): Promise<LogRecord[]> {
    return this.run(() => {
      const rows = this.s.readLog.all({ from: fromMs, to: toMs, after: page.after ?? 0, limit: page.limit });
      return rows.map((r) => ({
        seq: r.seq,
        dedupKey: r.dedup_key,
        type: r.type,
        subject: r.subject,
        account: r.account,
        ingestedAt: r.ingested_at,
        payload: r.payload,
      }));
    });
  }

  purge(beforeMs: number): Promise<number> {
    return this.runDurable(() => this.s.purge.run(beforeMs).changes);
  }

  putAccount(name: string, now: number): Promise<void> {
    return this.runDurable(() => {
      this.s.putAccount.run(name, now);
    });
  }

  addApiKey(account: string, keyHash: string, now: number): Promise<void> {
    return this.runDurable(() => {
      try {
        this.s.addApiKey.run(keyHash, account, now);
      } catch (error) {
        throw new KeywayError(ErrorCode.NotFound, `account ${account} does not exist; create it before adding keys`, {
          cause: error,
        });
      }
    });
  }

  revokeApiKey(keyHash: string): Promise<void> {
    return this.runDurable(() => {
      this.s.revokeApiKey.run(Date.now(), keyHash);
    });
  }

  accountForKey(keyHash: string): Promise<string | undefined> {
    return this.run(() => this.s.accountForKey.get(keyHash)?.account);
  }

  upsertSubscriber(record: SubscriberRecord): Promise<SubscriberUpsert> {
    return this.runDurable(() => {
      const existing = this.s.getSubscriber.get(record.name);
      if (existing && existing.account !== record.account) return 'taken' as const;
      if (existing && existing.config === record.config) return 'unchanged' as const;
      this.s.upsertSubscriber.run(record.name, record.account, record.config, record.updatedAt);
      return existing ? ('updated' as const) : ('created' as const);
    });
  }

  getSubscriber(name: string): Promise<SubscriberRecord | undefined> {
    return this.run(() => {
      const r = this.s.getSubscriber.get(name);
      return r && { name: r.name, account: r.account, config: r.config, updatedAt: r.updated_at };
    });
  }

  listSubscribers(): Promise<SubscriberRecord[]> {
    return this.run(() => {
      return this.s.listSubscribers
        .all()
        .map((r) => ({ name: r.name, account: r.account, config: r.config, updatedAt: r.updated_at }));
    });
  }
}
