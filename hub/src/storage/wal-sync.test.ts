import { fdatasync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteBusStore } from './sqlite-store.js';
import type { AppendInput } from './types.js';
import type { SyncFn } from './wal-sync.js';

const dir = mkdtempSync(join(tmpdir(), 'keyway-walsync-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let key = 0;
function entry(): AppendInput {
  key += 1;
  return { dedupKey: `k${key}`, type: 't', subject: null, account: 'a', payload: '{}', subscribers: ['s1'] };
}

const turns = async (k = 5) => {
  for (let i = 0; i < k; i++) await new Promise((r) => setImmediate(r));
};

/** A sync function the test completes by hand; each call runs the real fdatasync when released. */
function heldSync() {
  const held: { fd: number; done: (error: Error | null) => void }[] = [];
  const sync: SyncFn = (fd, done) => held.push({ fd, done });
  /** Completes the oldest running sync (with the real fdatasync, or with `error`). */
  const release = async (error?: Error) => {
    const h = held.shift();
    if (!h) throw new Error('no fdatasync is running');
    if (error) h.done(error);
    else await new Promise<void>((r) => fdatasync(h.fd, (e) => (h.done(e), r())));
    await turns();
  };
  return { sync, held, release };
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>) {
  const state = { settled: false, error: undefined as unknown };
  p.then(
    () => (state.settled = true),
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

async function openStore(syncWal: SyncFn): Promise<SqliteBusStore> {
  const store = new SqliteBusStore({ path: join(dir, `w${n++}.db`), syncWal });
  await store.init();
  return store;
}

describe('SqliteBusStore WAL sync (fdatasync off the event loop)', () => {
  it('acknowledges an append only after an fdatasync of the WAL has completed for its commit', async () => {
    const s = heldSync();
    const store = await openStore(s.sync);
    const append = track(store.appendBatch([entry()], 1000));
    await turns();
    // committed (visible to reads) but not yet acknowledged
    expect((await store.stats('s1', 1000)).queued).toBe(1);
    expect(append.settled).toBe(false);
    expect(s.held).toHaveLength(1);
    await s.release();
    expect(append).toEqual({ settled: true, error: undefined });
    await store.close();
  });

  it('appends committed while an fdatasync runs wait for the next one, and share it', async () => {
    const s = heldSync();
    const store = await openStore(s.sync);
    const first = track(store.appendBatch([entry()], 1000));
    await turns();
    const second = track(store.appendBatch([entry()], 1000));
    const third = track(store.appendBatch([entry()], 1000));
    await turns();
    expect(s.held).toHaveLength(1);
    await s.release();
    // the running sync started before the later commits were written, so it does not cover them
    expect(first.settled).toBe(true);
    expect(second.settled).toBe(false);
    expect(third.settled).toBe(false);
    expect(s.held).toHaveLength(1);
    await s.release();
    expect(second).toEqual({ settled: true, error: undefined });
    expect(third).toEqual({ settled: true, error: undefined });
    expect(s.held).toHaveLength(0);
    await store.close();
  });

  it('when the fdatasync fails, the append is rejected instead of acknowledged, and later appends are refused', async () => {
    const s = heldSync();
    const store = await openStore(s.sync);
    const append = store.appendBatch([entry()], 1000);
    const settled = track(append);
    await turns();
    await s.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(append).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/fdatasync/) });
    expect(settled.error).toBeDefined();
    // a later successful fdatasync would not prove the lost frames reached the disk
    await expect(store.appendBatch([entry()], 1000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(s.held).toHaveLength(0);
    await store.close();
  });

  it('with the real fdatasync, many concurrent appends all resolve and share fewer syncs than commits', async () => {
    let syncs = 0;
    const store = await openStore((fd, done) => {
      syncs += 1;
      fdatasync(fd, done);
    });
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => store.appendBatch([entry()], 1000)));
    expect(outcomes.flat().every((o) => !o.duplicate)).toBe(true);
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(50);
    await store.close();
  });
});
