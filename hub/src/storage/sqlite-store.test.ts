import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { SQLITE_SCHEMA } from './sqlite-schema.js';
import { SqliteBusStore } from './sqlite-store.js';
import { describeBusStore } from './store-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'keyway-store-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeBusStore('SQLite (WAL, file)', () => Promise.resolve(new SqliteBusStore({ path: join(dir, `s${n++}.db`) })));

describe('SqliteBusStore', () => {
  it('migrates a file from before per-account dedup: an event stored then is still a duplicate, and only once', async () => {
    const path = join(dir, 'old-keys.db');
    const old = new Database(path);
    old.exec(SQLITE_SCHEMA);
    old.prepare("INSERT INTO events (dedup_key, type, subject, account, ingested_at, payload) VALUES (?, 't', NULL, 'acct', 1, '{}')").run('src\u0000old-1');
    old.close();
    for (let open = 0; open < 2; open++) {
      const store = new SqliteBusStore({ path });
      await store.init();
      const [again] = await store.appendBatch([{ dedupKey: 'acct\u0000src\u0000old-1', type: 't', subject: null, account: 'acct', payload: '{}', subscribers: [] }], 2000);
      expect(again!.duplicate).toBe(true);
      await store.close();
    }
  });

  it('keeps appended events and queued deliveries after the file is closed and reopened', async () => {
    const path = join(dir, 'reopen.db');
    const a = new SqliteBusStore({ path });
    await a.init();
    await a.appendBatch(
      [{ dedupKey: 'k1', type: 't', subject: null, account: 'x', payload: '{}', subscribers: ['s1'] }],
      1000,
    );
    await a.close();
    const b = new SqliteBusStore({ path });
    await b.init();
    expect((await b.stats('s1', 1000)).queued).toBe(1);
    const [dup] = await b.appendBatch(
      [{ dedupKey: 'k1', type: 't', subject: null, account: 'x', payload: '{}', subscribers: ['s1'] }],
      2000,
    );
    expect(dup!.duplicate).toBe(true);
    await b.close();
  });

  it('rejects calls before init with a message saying to call init', async () => {
    const s = new SqliteBusStore({ path: join(dir, 'never.db') });
    await expect(s.stats('x', 0)).rejects.toThrow(/call init/);
  });
});
