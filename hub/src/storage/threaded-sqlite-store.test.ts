import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { describeBusStore } from './store-suite.js';
import { ThreadedSqliteBusStore } from './threaded-sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'keyway-threaded-store-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeBusStore('SQLite on a worker thread', () =>
  Promise.resolve(new ThreadedSqliteBusStore({ path: join(dir, `t${n++}.db`) })),
);
