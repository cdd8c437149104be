import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isKeywayError } from '@keyway/shared';
import { AuditTrail } from '@keyway/shared/registry';
import { PostgresAuditStore } from './audit-store.js';
import { POSTGRES_MISSING, postgresAvailable, startPostgres, type PostgresServer } from './test-server.js';

const available = postgresAvailable();
// Needs the Debian package `postgresql` (server binaries under /usr/lib/postgresql/*/bin).
if (!available) console.warn(`skipping the PostgreSQL audit store tests: ${POSTGRES_MISSING}`);

describe.skipIf(!available)('PostgreSQL registry audit chain', { timeout: 60_000 }, () => {
  let server: PostgresServer;
  let database = '';
  let n = 0;
  const open: PostgresAuditStore[] = [];

  async function store(schema: string): Promise<PostgresAuditStore> {
    // These tests are about the chain, not time limits: a CI machine busy with fsyncs from other
    // suites must not turn a slow commit into a TIMEOUT here.
    const s = new PostgresAuditStore({
      connectionString: database,
      schema,
      poolSize: 2,
      statementTimeoutMs: 30_000,
      connectTimeoutMs: 30_000,
    });
    open.push(s);
    await s.init();
    return s;
  }

  beforeAll(async () => {
    server = await startPostgres();
    database = await server.createDatabase('audit');
  }, 60_000);

  afterAll(async () => {
    for (const s of open) await s.close();
    await server?.stop();
  }, 60_000);

  it('keeps a chain that verifies, read back in order by a second replica', async () => {
    const schema = `audit_${n++}`;
    const trail = new AuditTrail(await store(schema));
    for (let v = 1; v <= 3; v++) {
      await trail.append({
        actor: 'acct',
        action: 'register',
        type: 'keyway.t.A',
        version: v,
        detail: { z: 1, a: [v] },
      });
    }
    const other = new AuditTrail(await store(schema));
    expect(await other.verify()).toEqual({ ok: true, entries: 3 });
    expect((await other.list()).map((r) => r.version)).toEqual([1, 2, 3]);
    // the second replica continues the chain where the first left it
    await other.append({ actor: 'acct', action: 'deprecate', type: 'keyway.t.A', version: 1 });
    expect(await trail.verify()).toEqual({ ok: true, entries: 4 });
  });

  it('when two replicas append at once, the loser reloads the tail and retries, so both entries land on one unforked chain', async () => {
    const schema = `audit_${n++}`;
    const [a, b] = [new AuditTrail(await store(schema)), new AuditTrail(await store(schema))];
    const results = await Promise.all([
      a.append({ actor: 'a', action: 'register', type: 'keyway.t.A', version: 1 }),
      b.append({ actor: 'b', action: 'register', type: 'keyway.t.B', version: 1 }),
    ]);
    expect(results.map((r) => r.seq).sort()).toEqual([1, 2]);
    expect(await a.verify()).toEqual({ ok: true, entries: 2 });
  });

  it("when a replica appends with a stale cached tail, it continues after the other replica's entries", async () => {
    const schema = `audit_${n++}`;
    const [a, b] = [new AuditTrail(await store(schema)), new AuditTrail(await store(schema))];
    await a.append({ actor: 'a', action: 'register', type: 'keyway.t.A', version: 1 });
    await b.append({ actor: 'b', action: 'register', type: 'keyway.t.B', version: 1 });
    await b.append({ actor: 'b', action: 'register', type: 'keyway.t.B', version: 2 });
    // a still caches seq 1 as the tail: its first try is refused with CONFLICT, the retry lands at seq 4
    const r = await a.append({ actor: 'a', action: 'deprecate', type: 'keyway.t.A', version: 1 });
    expect(r.seq).toBe(4);
    expect(await b.verify()).toEqual({ ok: true, entries: 4 });
  });

  it('when a replica keeps losing the race, the second refusal reaches the caller as CONFLICT', async () => {
    const schema = `audit_${n++}`;
    const s = await store(schema);
    const racing = new AuditTrail({
      list: () => s.list(),
      // Another writer slips in before every append of this replica.
      append: async (record) => {
        await new AuditTrail(s).append({ actor: 'other', action: 'register', type: 'keyway.t.O', version: record.seq });
        await s.append(record);
      },
    });
    const error: unknown = await racing
      .append({ actor: 'a', action: 'register', type: 'keyway.t.A', version: 1 })
      .catch((e: unknown) => e);
    expect(isKeywayError(error, ErrorCode.Conflict)).toBe(true);
    expect(await new AuditTrail(s).verify()).toEqual({ ok: true, entries: 2 });
  });

  it('when an entry is edited in the database, verification names the entry', async () => {
    const schema = `audit_${n++}`;
    const trail = new AuditTrail(await store(schema));
    await trail.append({ actor: 'acct', action: 'register', type: 'keyway.t.A', version: 1 });
    await trail.append({ actor: 'acct', action: 'register', type: 'keyway.t.A', version: 2 });
    const c = new pg.Client({ connectionString: database });
    await c.connect();
    try {
      await c.query(
        `UPDATE ${schema}.registry_audit SET record = replace(record, '"actor":"acct"', '"actor":"mallory"') WHERE seq = 1`,
      );
    } finally {
      await c.end();
    }
    expect(await trail.verify()).toMatchObject({ ok: false, brokenAt: 1 });
  });
});
