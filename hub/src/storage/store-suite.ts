import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppendInput, BusStore } from './types.js';

/**
 * The behaviour every bus backend must show. The SQLite test runs it now; a PostgreSQL test
 * calls it unchanged later. `makeStore` returns a fresh, empty store (not yet initialised).
 */
export function describeBusStore(name: string, makeStore: () => Promise<BusStore>): void {
  describe(`BusStore contract: ${name}`, () => {
    let store: BusStore;
    const T0 = 1_700_000_000_000;
    const lease = { leaseMs: 30_000, orderedBySubject: false };

    const entry = (id: string, subscribers: string[], extra: Partial<AppendInput> = {}): AppendInput => ({
      dedupKey: `src\u0000${id}`,
      type: 'keyway.test.Thing',
      subject: null,
      account: 'acct',
      payload: JSON.stringify({ id }),
      subscribers,
      ...extra,
    });

    beforeEach(async () => {
      store = await makeStore();
      await store.init();
    });
    afterEach(async () => {
      await store.close();
    });

    it('appends entries with increasing sequence numbers and reports none as duplicates', async () => {
      const out = await store.appendBatch([entry('a', []), entry('b', [])], T0);
      expect(out.map((o) => o.duplicate)).toEqual([false, false]);
      expect(out[1]!.seq).toBeGreaterThan(out[0]!.seq);
    });

    it('reports a repeated source+id as a duplicate of the original, within and across batches', async () => {
      const [first] = await store.appendBatch([entry('a', ['s1'])], T0);
      const out = await store.appendBatch([entry('a', ['s1']), entry('b', ['s1']), entry('b', ['s1'])], T0 + 1);
      // A duplicate carries the stored payload, so the bus can tell a redelivery from an id reused for another event.
      expect(out[0]).toEqual({ seq: first!.seq, duplicate: true, original: JSON.stringify({ id: 'a' }) });
      expect(out[1]!.duplicate).toBe(false);
      expect(out[2]).toEqual({ seq: out[1]!.seq, duplicate: true, original: JSON.stringify({ id: 'b' }) });
      // duplicates queue nothing: only a and b (once each) wait for s1
      expect((await store.stats('s1', T0 + 2)).queued).toBe(2);
    });

    it('queues one delivery per matched subscriber and none for others', async () => {
      await store.appendBatch([entry('a', ['s1', 's2']), entry('b', ['s2'])], T0);
      expect((await store.stats('s1', T0)).queued).toBe(1);
      expect((await store.stats('s2', T0)).queued).toBe(2);
      expect((await store.stats('s3', T0)).queued).toBe(0);
    });

    it('claims due rows in order under a lease, and hands them out again only after the lease ends', async () => {
      await store.appendBatch([entry('a', ['s1']), entry('b', ['s1'])], T0);
      const claimed = await store.claim('s1', { ...lease, limit: 10, now: T0 });
      expect(claimed.map((c) => JSON.parse(c.payload) as unknown)).toEqual([{ id: 'a' }, { id: 'b' }]);
      expect(claimed.every((c) => c.attempt === 1 && c.dedupKey.startsWith('src'))).toBe(true);
      expect(await store.claim('s1', { ...lease, limit: 10, now: T0 + 1000 })).toHaveLength(0);
      expect((await store.stats('s1', T0 + 1000)).inFlight).toBe(2);
      const again = await store.claim('s1', { ...lease, limit: 10, now: T0 + 30_001 });
      expect(again.map((c) => c.attempt)).toEqual([2, 2]);
    });

    it('respects the claim limit', async () => {
      await store.appendBatch([entry('a', ['s1']), entry('b', ['s1']), entry('c', ['s1'])], T0);
      expect(await store.claim('s1', { ...lease, limit: 2, now: T0 })).toHaveLength(2);
      expect(await store.claim('s1', { ...lease, limit: 2, now: T0 })).toHaveLength(1);
    });

    it('removes acknowledged rows from the queue', async () => {
      await store.appendBatch([entry('a', ['s1']), entry('b', ['s1'])], T0);
      const claimed = await store.claim('s1', { ...lease, limit: 10, now: T0 });
      await store.ack([claimed[0]!.deliveryId]);
      const stats = await store.stats('s1', T0);
      expect(stats.queued).toBe(1);
      expect(stats.oldestEnqueuedAt).toBe(T0);
    });

    it('keeps a failed row until its next attempt time, with the attempt counted', async () => {
      await store.appendBatch([entry('a', ['s1'])], T0);
      const [c] = await store.claim('s1', { ...lease, limit: 1, now: T0 });
      await store.retryLater(c!.deliveryId, T0 + 500, 'boom');
      expect(await store.claim('s1', { ...lease, limit: 1, now: T0 + 499 })).toHaveLength(0);
      const [again] = await store.claim('s1', { ...lease, limit: 1, now: T0 + 500 });
      expect(again!.attempt).toBe(2);
    });

    it('gives a released row back without counting the attempt', async () => {
      await store.appendBatch([entry('a', ['s1'])], T0);
      const [c] = await store.claim('s1', { ...lease, limit: 1, now: T0 });
      await store.release([c!.deliveryId], T0);
      const [again] = await store.claim('s1', { ...lease, limit: 1, now: T0 });
      expect(again!.attempt).toBe(1);
    });

    it('when ordered by subject, holds later rows of a subject while an earlier one is live', async () => {
      await store.appendBatch(
        [
          entry('a1', ['s1'], { subject: 'dev-a' }),
          entry('a2', ['s1'], { subject: 'dev-a' }),
          entry('b1', ['s1'], { subject: 'dev-b' }),
          entry('n1', ['s1']),
        ],
        T0,
      );
      const ordered = { ...lease, orderedBySubject: true };
      const first = await store.claim('s1', { ...ordered, limit: 10, now: T0 });
      expect(first.map((c) => (JSON.parse(c.payload) as { id: string }).id)).toEqual(['a1', 'b1', 'n1']);
      await store.retryLater(first[0]!.deliveryId, T0 + 100, 'later');
      expect(await store.claim('s1', { ...ordered, limit: 10, now: T0 + 50 })).toHaveLength(0);
      await store.deadLetter(first[0]!.deliveryId, 'gave up', T0 + 60);
      const next = await store.claim('s1', { ...ordered, limit: 10, now: T0 + 60 });
      expect(next.map((c) => (JSON.parse(c.payload) as { id: string }).id)).toEqual(['a2']);
    });

    it('lists dead letters with their last error, filters them, and redrives them with fresh attempts', async () => {
      await store.appendBatch(
        [entry('a', ['s1'], { type: 'keyway.t.A' }), entry('b', ['s1'], { type: 'keyway.t.B', subject: 'x' })],
        T0,
      );
      const claimed = await store.claim('s1', { ...lease, limit: 10, now: T0 });
      for (const c of claimed) await store.deadLetter(c.deliveryId, `failed ${c.type}`, T0 + 5);
      const dead = await store.listDead('s1', {}, { limit: 10 });
      expect(dead.map((d) => [d.type, d.lastError, d.attempts, d.deadAt])).toEqual([
        ['keyway.t.A', 'failed keyway.t.A', 1, T0 + 5],
        ['keyway.t.B', 'failed keyway.t.B', 1, T0 + 5],
      ]);
      expect(await store.listDead('s1', { type: 'keyway.t.B' }, { limit: 10 })).toHaveLength(1);
      expect(await store.listDead('s1', { subject: 'x' }, { limit: 10 })).toHaveLength(1);
      expect(await store.listDead('s1', {}, { limit: 1, after: dead[0]!.deliveryId })).toHaveLength(1);
      expect(await store.listDead('s2', {}, { limit: 10 })).toHaveLength(0);
      expect((await store.stats('s1', T0 + 5)).dead).toBe(2);

      expect(await store.redrive('s1', { deliveryIds: [dead[0]!.deliveryId] }, T0 + 10)).toBe(1);
      const [redriven] = await store.claim('s1', { ...lease, limit: 10, now: T0 + 10 });
      expect(redriven).toMatchObject({ type: 'keyway.t.A', attempt: 1, enqueuedAt: T0 + 10 });
      expect(await store.redrive('s1', {}, T0 + 20)).toBe(1);
      expect((await store.stats('s1', T0 + 20)).dead).toBe(0);
    });

    it('reads the log by time range in pages and replays chosen events to one subscriber', async () => {
      await store.appendBatch([entry('a', [])], T0);
      await store.appendBatch([entry('b', []), entry('c', [])], T0 + 1000);
      await store.appendBatch([entry('d', [])], T0 + 2000);
      const page1 = await store.readLog(T0 + 1000, T0 + 1999, { limit: 1 });
      const page2 = await store.readLog(T0 + 1000, T0 + 1999, { limit: 10, after: page1[0]!.seq });
      expect([...page1, ...page2].map((r) => (JSON.parse(r.payload) as { id: string }).id)).toEqual(['b', 'c']);
      expect(page1[0]).toMatchObject({ account: 'acct', ingestedAt: T0 + 1000, type: 'keyway.test.Thing' });

      expect(await store.enqueue('late', [page1[0]!.seq, page2[0]!.seq], T0 + 3000)).toBe(2);
      const claimed = await store.claim('late', { ...lease, limit: 10, now: T0 + 3000 });
      expect(claimed.map((c) => (JSON.parse(c.payload) as { id: string }).id)).toEqual(['b', 'c']);
    });

    it('purges only events older than the cutoff that no delivery still needs', async () => {
      await store.appendBatch([entry('old-done', []), entry('old-pending', ['s1'])], T0);
      await store.appendBatch([entry('new', [])], T0 + 10_000);
      expect(await store.purge(T0 + 5000)).toBe(1);
      const left = await store.readLog(0, Number.MAX_SAFE_INTEGER, { limit: 10 });
      expect(left.map((r) => (JSON.parse(r.payload) as { id: string }).id)).toEqual(['old-pending', 'new']);
      // a purged event's key may be used again; a retained one is still a duplicate
      const out = await store.appendBatch([entry('old-done', []), entry('new', [])], T0 + 20_000);
      expect(out.map((o) => o.duplicate)).toEqual([false, true]);
    });

    it('finds the account of an API key by its hash until the key is revoked', async () => {
      await store.putAccount('delivery', T0);
      await store.putAccount('delivery', T0);
      await store.addApiKey('delivery', 'hash-1', T0);
      expect(await store.accountForKey('hash-1')).toBe('delivery');
      expect(await store.accountForKey('hash-2')).toBeUndefined();
      await store.revokeApiKey('hash-1');
      expect(await store.accountForKey('hash-1')).toBeUndefined();
    });

    it('refuses an API key for an account that does not exist', async () => {
      await expect(store.addApiKey('nobody', 'hash-x', T0)).rejects.toThrow(/does not exist/);
    });

    it('records subscriber declarations idempotently', async () => {
      const rec = { name: 'n1', account: 'notify', config: '{"a":1}', updatedAt: T0 };
      expect(await store.upsertSubscriber(rec)).toBe('created');
      expect(await store.upsertSubscriber({ ...rec, updatedAt: T0 + 1 })).toBe('unchanged');
      expect(await store.upsertSubscriber({ ...rec, config: '{"a":2}', updatedAt: T0 + 2 })).toBe('updated');
      expect(await store.getSubscriber('n1')).toEqual({ ...rec, config: '{"a":2}', updatedAt: T0 + 2 });
      expect((await store.listSubscribers()).map((s) => s.name)).toEqual(['n1']);
      expect(await store.getSubscriber('n2')).toBeUndefined();
    });

    it('never hands a subscriber name to another account', async () => {
      const rec = { name: 'n1', account: 'notify', config: '{"a":1}', updatedAt: T0 };
      expect(await store.upsertSubscriber(rec)).toBe('created');
      expect(await store.upsertSubscriber({ ...rec, account: 'ops', config: '{"b":1}', updatedAt: T0 + 1 })).toBe('taken');
      expect(await store.upsertSubscriber({ ...rec, account: 'ops', updatedAt: T0 + 2 })).toBe('taken');
      expect(await store.getSubscriber('n1')).toEqual(rec);
    });
  });
}
