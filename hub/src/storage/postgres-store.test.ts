import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isKeywayError } from '@keyway/shared';
import { MIGRATIONS, PostgresBusStore, migrate, type PostgresBusStoreOptions } from './postgres/index.js';
import { POSTGRES_MISSING, postgresAvailable, startPostgres, type PostgresServer } from './postgres/test-server.js';
import { describeBusStore } from './store-suite.js';
import type { AppendInput } from './types.js';

const available = postgresAvailable();
// Needs the Debian package `postgresql` (server binaries under /usr/lib/postgresql/*/bin).
if (!available) console.warn(`skipping the PostgreSQL bus store tests: ${POSTGRES_MISSING}`);

describe.skipIf(!available)('PostgreSQL bus store', () => {
  let server: PostgresServer;
  let n = 0;
  const stores: PostgresBusStore[] = [];

  let database = '';

  /**
   * A fresh, empty schema per store: the contract suite expects each store to start empty, and a
   * schema costs milliseconds where a database costs a second of fsyncs.
   */
  function freshSchema(): string {
    return `bus_${n++}`;
  }

  async function createDatabase(name: string): Promise<string> {
    // A short-lived connection: one kept open would be cut (and throw) when a test restarts the server.
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    return server.url.replace(/\/postgres$/, `/${name}`);
  }

  async function openStore(schema: string, options: Partial<PostgresBusStoreOptions> = {}): Promise<PostgresBusStore> {
    const store = new PostgresBusStore({ connectionString: database, schema, poolSize: 4, ...options });
    stores.push(store);
    await store.init();
    return store;
  }

  beforeAll(async () => {
    server = await startPostgres();
    database = await createDatabase('bus');
  }, 60_000);

  afterAll(async () => {
    for (const s of stores) await s.close();
    await server?.stop();
  }, 60_000);

  describeBusStore('PostgreSQL', () =>
    Promise.resolve(new PostgresBusStore({ connectionString: database, schema: freshSchema(), poolSize: 4 })),
  );

  const event = (id: string, subscribers: string[], subject: string | null = null): AppendInput => ({
    dedupKey: `keyway://test\u0000${id}`,
    type: 'keyway.test.Thing',
    subject,
    account: 'acct',
    payload: JSON.stringify({ id }),
    subscribers,
  });

  it('when two replicas claim the same queue at once, no row is handed to both', async () => {
    const schema = freshSchema();
    const [a, b] = [await openStore(schema), await openStore(schema)];
    const total = 400;
    for (let i = 0; i < total; i += 100) {
      await a.appendBatch(
        Array.from({ length: 100 }, (_, j) => event(`e${i + j}`, ['s1'])),
        1000,
      );
    }
    const seen = new Map<number, string>();
    const doubles: number[] = [];
    const work = async (store: PostgresBusStore, name: string): Promise<void> => {
      for (;;) {
        // A lease far longer than the test: a row claimed twice can only come from a broken claim.
        const got = await store.claim('s1', { limit: 7, now: 2000, leaseMs: 3_600_000, orderedBySubject: false });
        if (got.length === 0) return;
        for (const c of got) {
          if (seen.has(c.deliveryId)) doubles.push(c.deliveryId);
          seen.set(c.deliveryId, name);
        }
      }
    };
    await Promise.all([work(a, 'a'), work(b, 'b'), work(a, 'a2'), work(b, 'b2')]);
    expect(doubles).toEqual([]);
    expect(seen.size).toBe(total);
    // both replicas did part of the work
    const byReplica = new Set([...seen.values()].map((v) => v[0]));
    expect(byReplica).toEqual(new Set(['a', 'b']));
  });

  it('when two replicas claim ordered by subject, no subject ever has two rows in flight', async () => {
    const schema = freshSchema();
    const [a, b] = [await openStore(schema), await openStore(schema)];
    const subjects = 5;
    const perSubject = 12;
    await a.appendBatch(
      Array.from({ length: subjects * perSubject }, (_, i) => event(`o${i}`, ['s1'], `dev-${i % subjects}`)),
      1000,
    );
    const inFlight = new Set<string>();
    const violations: string[] = [];
    const delivered = new Map<string, number[]>();
    const work = async (store: PostgresBusStore): Promise<void> => {
      let idle = 0;
      while (idle < 3) {
        const got = await store.claim('s1', { limit: 3, now: 2000, leaseMs: 3_600_000, orderedBySubject: true });
        idle = got.length === 0 ? idle + 1 : 0;
        for (const c of got) {
          if (inFlight.has(c.subject!)) violations.push(c.subject!);
          inFlight.add(c.subject!);
          delivered.set(c.subject!, [...(delivered.get(c.subject!) ?? []), c.seq]);
        }
        await new Promise((r) => setTimeout(r, 1));
        // Leave the subject before the ack commits, so a claim of its next row is never early.
        for (const c of got) inFlight.delete(c.subject!);
        await store.ack(got.map((c) => c.deliveryId));
      }
    };
    await Promise.all([work(a), work(b), work(a), work(b)]);
    expect(violations).toEqual([]);
    expect([...delivered.values()].flat()).toHaveLength(subjects * perSubject);
    for (const seqs of delivered.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });

  it('when two replicas append overlapping batches in opposite orders at once, each event is stored once', async () => {
    const schema = freshSchema();
    const [a, b] = [await openStore(schema), await openStore(schema)];
    const rounds = 10;
    const outcomes = await Promise.all(
      Array.from({ length: rounds }, async (_, r) => {
        const batch = Array.from({ length: 500 }, (_, i) => event(`x${r}-${i}`, ['s1']));
        // opposite orders make the two transactions wait on each other's keys: a deadlock the store retries
        const [fromA, fromB] = await Promise.all([
          a.appendBatch(batch, 1000),
          b.appendBatch([...batch].reverse(), 1000),
        ]);
        return batch.map((_, i) => {
          const x = fromA[i]!;
          const y = fromB[batch.length - 1 - i]!;
          return { sameSeq: x.seq === y.seq, stored: Number(!x.duplicate) + Number(!y.duplicate) };
        });
      }),
    );
    const all = outcomes.flat();
    expect(all.every((o) => o.sameSeq)).toBe(true);
    expect(all.every((o) => o.stored === 1)).toBe(true);
    expect((await a.stats('s1', 0)).queued).toBe(rounds * 500);
  });

  it('when several replicas migrate one database at once, each migration is applied exactly once', async () => {
    const schema = freshSchema();
    const clients = Array.from({ length: 4 }, () => new pg.Client({ connectionString: database }));
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const results = await Promise.all(clients.map((c) => migrate(c, { timeoutMs: 30_000, schema })));
      const applied = results.flatMap((r) => r.applied).sort((x, y) => x - y);
      expect(applied).toEqual(MIGRATIONS.map((m) => m.version));
      const rows = await clients[0]!.query<{ version: number }>(
        `SELECT version FROM ${schema}.keyway_migrations ORDER BY 1`,
      );
      expect(rows.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      // and stores starting on the migrated database find nothing left to do
      const [s1, s2] = await Promise.all([openStore(schema), openStore(schema)]);
      expect((await s1.migrate()).applied).toEqual([]);
      expect((await s2.migrate()).current).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('when a database from before per-account dedup is migrated, an event stored then is still a duplicate', async () => {
    const schema = freshSchema();
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      await migrate(client, { timeoutMs: 30_000, schema }, MIGRATIONS.filter((m) => m.version < 4));
      await client.query(`INSERT INTO ${schema}.events (dedup_key, type, subject, account, ingested_at, payload) VALUES ($1, 't', NULL, 'acct', 1, '{}')`, [
        Buffer.from('keyway://test\u0000old-1', 'utf8'),
      ]);
    } finally {
      await client.end();
    }
    const store = await openStore(schema);
    const [again] = await store.appendBatch([event('old-1', [])].map((e) => ({ ...e, dedupKey: `acct\u0000${e.dedupKey}` })), Date.now());
    expect(again!.duplicate).toBe(true);
  });

  it('when the database is unreachable at start, init fails with UNAVAILABLE naming host and port', async () => {
    // The server's own port after it is gone would race with restarts; a closed port on loopback is certain.
    const port = 1; // privileged, nothing listens there in a test container
    const store = new PostgresBusStore({
      connectionString: `postgres://x:secret@127.0.0.1:${port}/db`,
      connectTimeoutMs: 1000,
    });
    const error: unknown = await store.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isKeywayError(error, ErrorCode.Unavailable)).toBe(true);
    expect((error as Error).message).toMatch(`127.0.0.1:${port}/db`);
    expect((error as Error).message).not.toMatch('secret');
    await expect(store.ping()).rejects.toThrow(/call init/);
  });

  it('when the database named in the connection string does not exist, init fails with CONFIG_INVALID', async () => {
    const store = new PostgresBusStore({ connectionString: server.url.replace(/\/postgres$/, '/nowhere') });
    await expect(store.init()).rejects.toMatchObject({
      code: ErrorCode.ConfigInvalid,
      message: /nowhere.*connection string/,
    });
  });

  it('when the schema name is not a plain identifier, init refuses it before connecting', async () => {
    const store = new PostgresBusStore({ connectionString: database, schema: 'x"; DROP TABLE events; --' });
    await expect(store.init()).rejects.toMatchObject({ code: ErrorCode.ConfigInvalid });
  });

  it('when a statement waits past the statement timeout, it fails with TIMEOUT and the store carries on', async () => {
    const schema = freshSchema();
    const store = await openStore(schema, { statementTimeoutMs: 300 });
    const blocker = new pg.Client({ connectionString: database });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${schema}.events IN ACCESS EXCLUSIVE MODE`);
      const started = Date.now();
      await expect(store.appendBatch([event('t1', [])], 1000)).rejects.toMatchObject({ code: ErrorCode.Timeout });
      expect(Date.now() - started).toBeLessThan(3000);
      await blocker.query('ROLLBACK');
      const [out] = await store.appendBatch([event('t1', [])], 1000);
      expect(out!.duplicate).toBe(false);
    } finally {
      await blocker.end();
    }
  });

  it('when the server restarts under load, every acknowledged batch survives and the store recovers by itself', async () => {
    const schema = freshSchema();
    const store = await openStore(schema, { connectTimeoutMs: 1000, statementTimeoutMs: 2000 });
    const acked: string[][] = [];
    const failed: AppendInput[][] = [];
    const errorCodes = new Set<string>();
    let stop = false;
    let batch = 0;
    const writer = async (): Promise<void> => {
      while (!stop) {
        const entries = Array.from({ length: 10 }, (_, i) => event(`r${batch}-${i}`, ['s1']));
        batch++;
        try {
          await store.appendBatch(entries, 5000 + batch);
          acked.push(entries.map((e) => e.dedupKey));
        } catch (error) {
          errorCodes.add(isKeywayError(error) ? error.code : `untyped: ${String(error)}`);
          failed.push(entries);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    // What a /readyz probe would see: ping() every 25 ms.
    const readiness: boolean[] = [];
    const prober = async (): Promise<void> => {
      while (!stop) {
        readiness.push(
          await store.ping().then(
            () => true,
            (e: unknown) => (isKeywayError(e, ErrorCode.Unavailable) ? false : Promise.reject(e as Error)),
          ),
        );
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    const writers = [writer(), writer(), writer(), prober()];
    // Load established (an append acknowledged, a ping answered) before the kill, however slow the machine.
    await expect.poll(() => acked.length > 0 && readiness.length > 0, { timeout: 10_000 }).toBe(true);
    const before = acked.length;
    // immediate: the server is killed without a shutdown checkpoint and replays its WAL on start,
    // as after a crash; only what was fsynced at commit survives.
    await server.restart(500, 'immediate');
    await expect
      .poll(
        () =>
          store.ping().then(
            () => true,
            () => false,
          ),
        { timeout: 10_000 },
      )
      .toBe(true);
    const afterRestart = acked.length;
    await expect.poll(() => acked.length, { timeout: 10_000 }).toBeGreaterThan(afterRestart + 5);
    stop = true;
    await Promise.all(writers);

    expect(before).toBeGreaterThan(0);
    // the outage was seen, and only as UNAVAILABLE (never a silent success, never an untyped error)
    expect(failed.length).toBeGreaterThan(0);
    expect([...errorCodes]).toEqual([ErrorCode.Unavailable]);
    // not ready during the outage, ready again after it without anyone recreating the store
    expect(readiness[0]).toBe(true);
    expect(readiness).toContain(false);
    expect(readiness[readiness.length - 1]).toBe(true);

    const stored = new Set<string>();
    for (let after = 0; ;) {
      const page = await store.readLog(0, Number.MAX_SAFE_INTEGER, { limit: 1000, after });
      if (page.length === 0) break;
      for (const r of page) stored.add(r.dedupKey);
      after = page[page.length - 1]!.seq;
    }
    const lost = acked.flat().filter((k) => !stored.has(k));
    expect(lost).toEqual([]);
    expect((await store.stats('s1', 0)).queued).toBe(stored.size);

    // A failed append may or may not have committed (the answer was lost); sending it again is safe.
    const retried = await store.appendBatch(failed.flat(), 9_000_000);
    const fresh = retried.filter((o) => !o.duplicate).length;
    expect((await store.stats('s1', 0)).queued).toBe(stored.size + fresh);
    const [again] = await store.appendBatch([failed[0]![0]!], 9_000_001);
    expect(again!.duplicate).toBe(true);
  }, 60_000);
});
