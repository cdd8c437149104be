import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteHubState } from '../../state/index.js';
import type { DeliveryRecord } from '../../state/types.js';
import { PostgresHubState } from './hub-state.js';
import { describeHubState } from './hub-state-suite.js';
import { POSTGRES_MISSING, postgresAvailable, startPostgres, type PostgresServer } from './test-server.js';

const dir = mkdtempSync(join(tmpdir(), 'keyway-state-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The reference: the same suite passes on the embedded SQLite store.
describeHubState('SQLite', () => Promise.resolve(new SqliteHubState(join(dir, `state${n++}.db`))));

const available = postgresAvailable();
// Needs the Debian package `postgresql` (server binaries under /usr/lib/postgresql/*/bin).
if (!available) console.warn(`skipping the PostgreSQL hub state tests: ${POSTGRES_MISSING}`);

describe.skipIf(!available)('PostgreSQL hub state', () => {
  let server: PostgresServer;
  let database = '';
  const open: PostgresHubState[] = [];

  beforeAll(async () => {
    server = await startPostgres();
    database = await server.createDatabase('state');
  }, 60_000);

  afterAll(async () => {
    for (const s of open) await s.close();
    await server?.stop();
  }, 60_000);

  // One schema per store: each starts empty.
  describeHubState('PostgreSQL', () =>
    Promise.resolve(new PostgresHubState({ connectionString: database, schema: `state_${n++}`, poolSize: 4 })),
  );

  it('when two replicas advance the same delivery at once, exactly one of them wins each step', async () => {
    const schema = `state_${n++}`;
    const [a, b] = [
      new PostgresHubState({ connectionString: database, schema, poolSize: 4 }),
      new PostgresHubState({ connectionString: database, schema, poolSize: 4 }),
    ];
    open.push(a, b);
    await Promise.all([a.init(), b.init()]);
    const base: DeliveryRecord = {
      id: 'del-1',
      customerId: 'c1',
      deviceId: 'd1',
      courierId: 'k1',
      windowStart: 0,
      windowEnd: 1,
      parcelRef: null,
      state: 'scheduled',
      grantId: null,
      commandId: null,
      closeAttempts: 0,
      failureReason: null,
      deadline: null,
      outbox: [],
      version: 1,
      createdAt: 0,
      updatedAt: 0,
      timeline: [],
    };
    await a.insertDelivery(base);
    for (let v = 2; v <= 30; v++) {
      const wins = await Promise.all(
        [a, b, a, b].map((s, i) => s.updateDelivery({ ...base, version: v, updatedAt: i })),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
    }
    expect((await b.getDelivery('del-1'))!.version).toBe(30);
  });
});
