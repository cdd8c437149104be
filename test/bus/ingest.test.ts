import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '@keyway/shared';
import { createEvent } from '@keyway/shared/client';
import { scheduled, startBus, waitFor, type TestHub } from './helpers.js';

describe('bus ingest', () => {
  let hub: TestHub;
  let key: string;
  const seen: { event: EventEnvelope; attempt: number; dedupKey: string }[] = [];

  beforeEach(async () => {
    seen.length = 0;
    hub = await startBus();
    await hub.bus.createAccount('delivery');
    key = await hub.bus.issueApiKey('delivery');
    await hub.bus.declareSubscriber({
      name: 'notify-sms',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      target: { kind: 'handler', handler: (event, ctx) => void seen.push({ event, attempt: ctx.attempt, dedupKey: ctx.dedupKey }) },
    });
  });
  afterEach(async () => {
    await hub.close();
  });

  it('acknowledges an accepted event with its log position and delivers it to the subscriber', async () => {
    const event = scheduled();
    const [result] = await hub.bus.publish(key, [event]);
    expect(result).toMatchObject({ status: 'accepted', id: event.id, source: event.source });
    await waitFor(() => seen.length === 1, 2000, 'delivery');
    expect(seen[0]!.event).toEqual(event);
    expect(seen[0]!.attempt).toBe(1);
    expect(seen[0]!.dedupKey).toBe(`delivery\u0000${event.source}\u0000${event.id}`);
  });

  it("does not take another account's event with the same source and id for a duplicate of it", async () => {
    // Another account publishes first, under the source and id the real publisher is about to use.
    await hub.bus.createAccount('access');
    const grant = createEvent('keyway.access.GrantRevoked', { grantId: 'g-1', deviceId: 'garage-1', revokedAt: new Date().toISOString() }, { source: 'keyway://service/delivery', id: 'd-42' });
    const [squatted] = await hub.bus.publishAs('access', [grant]);
    expect(squatted).toMatchObject({ status: 'accepted' });
    const real = { ...scheduled(), source: 'keyway://service/delivery', id: 'd-42' };
    const [result] = await hub.bus.publish(key, [real]);
    expect(result).toMatchObject({ status: 'accepted' });
    await waitFor(() => seen.length === 1, 2000, 'delivery of the real event');
    expect(seen[0]!.event).toEqual(real);
  });

  it('acknowledges a repeated source+id as a duplicate and delivers it only once', async () => {
    const event = scheduled();
    const first = await hub.bus.publish(key, [event, event]);
    const again = await hub.bus.publish(key, [JSON.stringify(event)]);
    expect(first.map((r) => r.status)).toEqual(['accepted', 'duplicate']);
    expect(again[0]).toMatchObject({ status: 'duplicate', seq: (first[0] as { seq: number }).seq });
    await waitFor(() => seen.length >= 1, 2000, 'delivery');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(1);
  });

  it('refuses an id used again for different content as CONFLICT, and keeps the same event in another key order a duplicate', async () => {
    const event = scheduled();
    const other = { ...event, data: { ...event.data, courierId: 'courier-somebody-else' } };
    const first = await hub.bus.publish(key, [event, other]);
    expect(first.map((r) => (r.status === 'rejected' ? r.error.code : r.status))).toEqual(['accepted', 'CONFLICT']);
    const reordered = Object.fromEntries(Object.entries(event).reverse());
    const later = await hub.bus.publish(key, [other, reordered]);
    expect(later.map((r) => (r.status === 'rejected' ? r.error.code : r.status))).toEqual(['CONFLICT', 'duplicate']);
    expect(later[0]).toMatchObject({ id: event.id, source: event.source, error: { message: expect.stringContaining('already published with different content') } });
    await waitFor(() => seen.length >= 1, 2000, 'delivery');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.map((s) => s.event)).toEqual([event]);
  });

  it('gives each bad entry its own error code and still stores the good ones', async () => {
    const good = scheduled();
    const wrongData = { ...scheduled(), data: { deliveryId: 7 } };
    const unknownType = { ...scheduled(), type: 'keyway.delivery.Teleported' };
    const results = await hub.bus.publish(key, [good, '{not json', wrongData, unknownType, 42]);
    expect(results.map((r) => (r.status === 'rejected' ? r.error.code : r.status))).toEqual([
      'accepted',
      'MALFORMED_JSON',
      'VALIDATION_FAILED',
      'UNKNOWN_EVENT_TYPE',
      'VALIDATION_FAILED',
    ]);
    const validation = results[2]!;
    expect(validation.status === 'rejected' && validation.error.details?.issues).toBeTruthy();
    expect(results[2]).toMatchObject({ id: wrongData.id, source: wrongData.source });
    await waitFor(() => seen.length === 1, 2000, 'delivery of the good entry');
    expect(seen[0]!.event.id).toBe(good.id);
  });

  it('refuses a batch over 10 entries or 256 KB entry by entry and stores none of it', async () => {
    const eleven = Array.from({ length: 11 }, () => scheduled());
    const big = Array.from({ length: 3 }, () => ({ ...scheduled(), pad: 'x'.repeat(100_000) }));
    for (const batch of [eleven, big]) {
      const results = await hub.bus.publish(key, batch);
      expect(results).toHaveLength(batch.length);
      expect(results.every((r) => r.status === 'rejected' && r.error.code === 'BATCH_TOO_LARGE')).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(0);
    expect((await hub.bus.subscriberStats('notify-sms')).queued).toBe(0);
  });

  it('refuses one event over 256 KB as EVENT_TOO_LARGE, alone, and keeps the entries beside it', async () => {
    const huge = { ...scheduled(), data: { ...scheduled().data, note: 'x'.repeat(300_000) } };
    const small = scheduled();
    const results = await hub.bus.publish(key, [huge, small]);
    expect(results.map((r) => (r.status === 'rejected' ? r.error.code : r.status))).toEqual(['EVENT_TOO_LARGE', 'accepted']);
    await waitFor(() => seen.length === 1, 2000, 'delivery of the small entry');
    expect(seen[0]!.event.id).toBe(small.id);
  });

  it('refuses every entry of an unknown or revoked API key', async () => {
    const [unknown] = await hub.bus.publish('kw_not-a-key', [scheduled()]);
    expect(unknown).toMatchObject({ status: 'rejected', error: { code: 'UNAUTHENTICATED' } });
    await hub.bus.revokeApiKey(key);
    const [revoked] = await hub.bus.publish(key, [scheduled()]);
    expect(revoked).toMatchObject({ status: 'rejected', error: { code: 'UNAUTHENTICATED' } });
  });

  it('creates the metrics of a subscriber when it is declared', async () => {
    const text = await hub.bus.metrics.metrics();
    for (const name of ['delivered_total', 'delivery_failed_total', 'retried_total', 'dead_lettered_total', 'queue_depth', 'dlq_depth', 'oldest_message_age_seconds']) {
      expect(text).toMatch(new RegExp(`keyway_bus_${name}\\{subscriber="notify-sms"} 0`));
    }
  });

  it('refuses data nested too deeply to serialize as VALIDATION_FAILED, alone, and stores the entries beside it', async () => {
    let deep: unknown = [];
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const good = scheduled();
    const viaKey = await hub.bus.publish(key, [{ ...scheduled(), data: deep }, good]);
    const inProcess = await hub.bus.publishAs('delivery', [{ ...scheduled(), data: deep }]);
    for (const r of [viaKey[0], inProcess[0]]) {
      expect(r).toMatchObject({ status: 'rejected', error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('nested too deeply') } });
    }
    expect(viaKey[1]).toMatchObject({ status: 'accepted', id: good.id });
    await waitFor(() => seen.length === 1, 2000, 'delivery of the good entry');
  });

  it('logs the refused entries of a publish in one warn line with their codes, and nothing for a clean publish', async () => {
    const lines: Record<string, unknown>[] = [];
    const logged = await startBus({ logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) });
    try {
      await logged.bus.createAccount('delivery');
      const loggedKey = await logged.bus.issueApiKey('delivery');
      await logged.bus.publish(loggedKey, [scheduled()]);
      expect(lines.filter((l) => l.level === 40)).toEqual([]);
      const bad = { ...scheduled(), data: { deliveryId: 7 } };
      await logged.bus.publish(loggedKey, [scheduled(), bad, '{not json']);
      await logged.bus.publish('kw_not-a-key', [scheduled()]);
      const warned = lines.filter((l) => l.msg?.toString().startsWith('published entries refused'));
      expect(warned.map((l) => [l.msg, l.account, l.refused, l.of])).toEqual([
        ['published entries refused: VALIDATION_FAILED, MALFORMED_JSON', 'delivery', 2, 3],
        ['published entries refused: UNAUTHENTICATED', undefined, 1, 1],
      ]);
      expect(warned[0]!.entries).toEqual([
        { index: 1, code: 'VALIDATION_FAILED', id: bad.id, message: expect.stringContaining('invalid') },
        { index: 2, code: 'MALFORMED_JSON', message: expect.stringContaining('not valid JSON') },
      ]);
    } finally {
      await logged.close();
    }
  });

  it('never throws on hostile input and counts every entry in the ingest metrics', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const results = await hub.bus.publish(key, [null, undefined, [], cyclic, '', 'null']);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(results.map((r) => r.status === 'rejected' && r.error.code)).not.toContain('INTERNAL');
    const metrics = await hub.bus.metrics.getSingleMetricAsString('keyway_bus_ingested_total');
    expect(metrics).toMatch(/result="rejected"} 6/);
  });
});
