import pg from 'pg';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { ErrorCode, KeywayError, createLogger, isKeywayError } from '@keyway/shared';
import { breaksConnection, describeTarget, toKeywayError } from './errors.js';
import { migrate, quoteSchema, type MigrationResult } from './migrate.js';

const log = createLogger('storage.postgres');

/** Runs of one transaction the server aborted as a deadlock or serialization failure. */
const TX_ATTEMPTS = 4;

export interface PostgresConnectionOptions {
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

/**
 * The pool behind the PostgreSQL stores: statement and connection time limits, errors turned into
 * KeywayErrors, broken connections discarded, migrations at open(). Once the server is back after
 * an outage, the pool opens new connections and calls succeed again without a restart.
 */
export class PostgresConnection {
  private readonly options: Required<PostgresConnectionOptions>;
  private readonly target: string;
  private pool: Pool | undefined;
  private opening: Promise<void> | undefined;
  private readonly onPoolError = (error: Error): void => {
    // An idle connection died (server restart, network): the pool drops it and opens a new one on
    // demand. Without this listener the error would crash the process.
    log.warn({ err: error.message, target: this.target }, 'idle PostgreSQL connection lost');
  };

  constructor(options: PostgresConnectionOptions) {
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
  open(): Promise<void> {
    // Concurrent calls share one attempt instead of each building (and leaking) a pool.
    this.opening ??= this.openPool().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async openPool(): Promise<void> {
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
      const e = toKeywayError(error, this.target, 'start the PostgreSQL store');
      if (e.code !== ErrorCode.Unavailable) throw e;
      throw new KeywayError(
        ErrorCode.Unavailable,
        `cannot start the PostgreSQL store: ${this.target} is unreachable (${describeCause(error)}); ` +
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
      throw new KeywayError(ErrorCode.Unavailable, 'the PostgreSQL store is not open; call init() first');
    }
    return this.pool;
  }

  async query<R extends QueryResultRow>(
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
  async withClient<T>(action: string, fn: (c: PoolClient) => Promise<T>, pool?: Pool): Promise<T> {
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
  async tx<T>(action: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
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
        const pgCode = isKeywayError(error) ? error.details.pgCode : undefined;
        if (attempt >= TX_ATTEMPTS || (pgCode !== '40P01' && pgCode !== '40001')) throw error;
        log.debug({ action, attempt, pgCode }, 'transaction rolled back by the server; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    }
  }
}

function describeCause(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return error instanceof Error ? error.message : String(error);
}
