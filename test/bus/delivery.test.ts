import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '@keyway/hub/bus';
import { scheduled, startBus, startTarget, waitFor, type TestHub, type TestServer } from './helpers.js';

describe('bus delivery', () => {
  let hub: TestHub;
  let server: TestServer | undefined;
  afterEach(async () => {
    await hub.close();
    await server?.close();
    server = undefined;
  });

  it('retries a failing handler with backoff, dead-letters it after max attempts with the last error, and redrives it', async () => {
    hub = await startBus();
    let calls = 0;
    let healthy = false;
    const delivered: string[] = [];
    await hub.bus.declareSubscriber({
      name: 'flaky',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      circuit: { failureThreshold: 100 },
      target: {
        kind: 'handler',
        handler: (e, ctx) => {
          calls += 1;
          if (!healthy) throw new Error(`refused attempt ${ctx.attempt}`);
          delivered.push(e.id);
        },
      },
    });
    const event = scheduled();
    await hub.bus.publishAs('delivery', [event]);
    await waitFor(async () => (await hub.bus.subscriberStats('flaky')).dead === 1, 3000, 'dead letter');
    expect(calls).toBe(3);
    const [dead] = await hub.bus.listDlq('flaky');
    expect(dead).toMatchObject({ attempts: 3, lastError: 'refused attempt 3', type: event.type });
    expect(JSON.parse(dead!.payload)).toMatchObject({ id: event.id });
    const metrics = await hub.bus.metrics.metrics();
    expect(metrics).toMatch(/keyway_bus_retried_total\{subscriber="flaky"} 2/);
    expect(metrics).toMatch(/keyway_bus_dlq_depth\{subscriber="flaky"} 1/);

    healthy = true;
    expect(await hub.bus.redrive('flaky', { type: 'keyway.delivery.DeliveryScheduled' })).toBe(1);
    await waitFor(() => delivered.length === 1, 2000, 'redriven delivery');
    expect(delivered).toEqual([event.id]);
    expect((await hub.bus.subscriberStats('flaky')).dead).toBe(0);
  });

  it('dead-letters an event older than the maximum age without calling the target again', async () => {
    // The bus's clock is the test's: the first attempt runs at age 0, and the retry (jitter pinned,
    // 199 ms later) comes due only once the clock has moved a second, past the 50 ms age.
    let now = Date.now();
    hub = await startBus({ clock: () => now, random: () => 0.999 });
    let calls = 0;
    await hub.bus.declareSubscriber({
      name: 'slow-retry',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      retry: { maxAttempts: 100, maxAgeMs: 50, baseDelayMs: 200, maxDelayMs: 200 },
      target: {
        kind: 'handler',
        handler: () => {
          calls += 1;
          throw new Error('down');
        },
      },
    });
    await hub.bus.publishAs('delivery', [scheduled()]);
    const retried = async () => /keyway_bus_retried_total\{subscriber="slow-retry"} 1/.test(await hub.bus.metrics.metrics());
    await waitFor(retried, 3000, 'first attempt scheduled for a retry');
    now += 1000;
    await waitFor(async () => (await hub.bus.subscriberStats('slow-retry')).dead === 1, 3000, 'dead letter');
    expect(calls).toBe(1);
    const [dead] = await hub.bus.listDlq('slow-retry');
    expect(dead!.lastError).toBe('maximum event age of 50 ms exceeded');
  });

  it('posts to a webhook with an HMAC signature the receiver can verify, and the dedup key', async () => {
    hub = await startBus();
    server = await startTarget();
    await hub.bus.declareSubscriber({
      name: 'partner',
      account: 'ops',
      types: ['keyway.delivery.DeliveryScheduled'],
      target: { kind: 'webhook', url: server.url, secret: 's3cret' },
      transform: { inputPaths: { id: '$.data.deliveryId', dev: '$.subject' }, template: { delivery: '<id>', text: 'garage <dev>' } },
    });
    const event = scheduled('garage-9');
    await hub.bus.publishAs('delivery', [event]);
    await waitFor(() => server!.requests.length === 1, 2000, 'webhook call');
    const req = server.requests[0]!;
    expect(JSON.parse(req.body)).toEqual({ delivery: event.data.deliveryId, text: 'garage garage-9' });
    expect(verifyWebhookSignature('s3cret', req.body, req.headers['x-keyway-signature'] as string)).toBe(true);
    expect(verifyWebhookSignature('other', req.body, req.headers['x-keyway-signature'] as string)).toBe(false);
    expect(decodeURIComponent(req.headers['x-keyway-dedup-key'] as string)).toBe(`delivery\u0000${event.source}\u0000${event.id}`);
  });

  it('treats a webhook that does not answer in time as a failure and retries it', async () => {
    hub = await startBus();
    let n = 0;
    server = await startTarget((_req, _body, res) => {
      n += 1;
      if (n === 1) return; // never answers: the hub must time out
      res.writeHead(204).end();
    });
    await hub.bus.declareSubscriber({
      name: 'slowhook',
      account: 'ops',
      types: ['keyway.delivery.DeliveryScheduled'],
      timeoutMs: 100,
      retry: { baseDelayMs: 1, maxDelayMs: 5 },
      target: { kind: 'webhook', url: server.url, secret: 'k' },
    });
    await hub.bus.publishAs('delivery', [scheduled()]);
    await waitFor(() => server!.requests.length === 2, 3000, 'retry after timeout');
    expect(server.requests[1]!.headers['x-keyway-attempt']).toBe('2');
    await waitFor(async () => (await hub.bus.subscriberStats('slowhook')).queued === 0, 2000, 'ack');
  });

  it('does not deliver an event a second time while its first attempt still runs past the bus lease', async () => {
    // A lease of 1 s and attempts allowed 5 s: the lease taken for each claim must cover the attempt's limit.
    hub = await startBus({ leaseMs: 1000 });
    const calls: string[] = [];
    await hub.bus.declareSubscriber({
      name: 'slow',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      timeoutMs: 5000,
      target: {
        kind: 'handler',
        handler: async (e) => {
          calls.push(e.id);
          await new Promise((r) => setTimeout(r, 2500));
        },
      },
    });
    const events = [scheduled(), scheduled(), scheduled()];
    await hub.bus.publishAs('delivery', events);
    // Once the first leases would have expired, another event wakes the worker to claim again.
    await new Promise((r) => setTimeout(r, 1500));
    const later = scheduled();
    await hub.bus.publishAs('delivery', [later]);
    await waitFor(async () => (await hub.bus.subscriberStats('slow')).queued === 0, 10_000, 'the four deliveries to finish');
    expect(calls.sort()).toEqual([...events, later].map((e) => e.id).sort());
  }, 15_000);

  it('publishes to an MQTT target through the injected publish function', async () => {
    const sent: { topic: string; payload: string }[] = [];
    hub = await startBus({ mqttPublish: (topic, payload) => Promise.resolve(void sent.push({ topic, payload })) });
    await hub.bus.declareSubscriber({
      name: 'to-device',
      account: 'device-gateway',
      types: ['keyway.delivery.UnlockRequested'],
      target: { kind: 'mqtt', topic: 'keyway/v1/d/{subject}/down/cmd' },
    });
    const { createEvent } = await import('@keyway/shared/client');
    const unlock = createEvent(
      'keyway.delivery.UnlockRequested',
      { deliveryId: 'd-1', deviceId: 'garage-3', grantId: 'g-1', commandId: 'c-1', at: '2026-11-28T10:00:00.000Z' },
      { source: 'keyway://service/delivery', subject: 'garage-3' },
    );
    await hub.bus.publishAs('delivery', [unlock]);
    await waitFor(() => sent.length === 1, 2000, 'mqtt publish');
    expect(sent[0]!.topic).toBe('keyway/v1/d/garage-3/down/cmd');
    expect(JSON.parse(sent[0]!.payload)).toMatchObject({ id: unlock.id });
  });

  it('delivers the events of one subject in log order, one at a time, when the subscriber asks for order', async () => {
    hub = await startBus();
    const log: string[] = [];
    const active = new Map<string, number>();
    let overlapped = false;
    let failOnceId = '';
    let retried = false;
    await hub.bus.declareSubscriber({
      name: 'ordered',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      orderedBySubject: true,
      concurrency: 8,
      retry: { baseDelayMs: 1, maxDelayMs: 2 },
      target: {
        kind: 'handler',
        handler: async (e, ctx) => {
          const subject = e.subject ?? '';
          const id = (e.data as { deliveryId: string }).deliveryId;
          active.set(subject, (active.get(subject) ?? 0) + 1);
          if (active.get(subject)! > 1) overlapped = true;
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          active.set(subject, active.get(subject)! - 1);
          // a retry must not let later events of the subject overtake the failed one
          if (e.id === failOnceId && ctx.attempt === 1) throw new Error('transient');
          if (e.id === failOnceId) retried = true;
          log.push(`${subject === 'garage-a' ? 'a' : 'b'}:${id}`);
        },
      },
    });
    const events = Array.from({ length: 20 }, (_, i) => scheduled(i % 2 === 0 ? 'garage-a' : 'garage-b'));
    failOnceId = events[4]!.id;
    for (let i = 0; i < events.length; i += 5) await hub.bus.publishAs('delivery', events.slice(i, i + 5));
    await waitFor(() => log.length === 20, 5000, 'all deliveries');
    const order = (prefix: string) => log.filter((l) => l.startsWith(prefix));
    const expected = (subject: string, prefix: string) =>
      events.filter((e) => e.subject === subject).map((e) => `${prefix}:${e.data.deliveryId}`);
    expect(order('a:')).toEqual(expected('garage-a', 'a'));
    expect(order('b:')).toEqual(expected('garage-b', 'b'));
    expect(overlapped).toBe(false);
    expect(retried).toBe(true);
  });

  it('replays a time range of the log to one subscriber only', async () => {
    hub = await startBus();
    const a: string[] = [];
    const b: string[] = [];
    const handler = (into: string[]) => (e: { id: string }) => void into.push(e.id);
    await hub.bus.declareSubscriber({ name: 'a', account: 'notify', types: ['keyway.delivery.DeliveryScheduled'], target: { kind: 'handler', handler: handler(a) } });
    await hub.bus.declareSubscriber({ name: 'b', account: 'ops', types: ['keyway.delivery.DeliveryScheduled'], target: { kind: 'handler', handler: handler(b) } });
    const early = scheduled();
    await hub.bus.publishAs('delivery', [early]);
    await new Promise((r) => setTimeout(r, 20));
    const from = Date.now();
    const inRange = [scheduled(), scheduled()];
    await hub.bus.publishAs('delivery', inRange);
    const to = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await hub.bus.publishAs('delivery', [scheduled()]);
    await waitFor(() => a.length === 4 && b.length === 4, 2000, 'first deliveries');
    expect(await hub.bus.replay('a', from, to)).toBe(2);
    await waitFor(() => a.length === 6, 2000, 'replayed deliveries');
    expect(a.slice(4)).toEqual(inRange.map((e) => e.id));
    await new Promise((r) => setTimeout(r, 50));
    expect(b).toHaveLength(4);
  });

  it('routes by pattern: only events matching the extra pattern reach the subscriber', async () => {
    hub = await startBus();
    const got: string[] = [];
    await hub.bus.declareSubscriber({
      name: 'garage-7-only',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      patterns: [{ data: { deviceId: [{ prefix: 'garage-7' }] } }],
      target: { kind: 'handler', handler: (e) => void got.push(e.subject ?? '') },
    });
    await hub.bus.publishAs('delivery', [scheduled('garage-1'), scheduled('garage-7'), scheduled('garage-70')]);
    await waitFor(() => got.length === 2, 2000, 'matching deliveries');
    await new Promise((r) => setTimeout(r, 50));
    expect(got.sort()).toEqual(['garage-7', 'garage-70']);
  });

  it('re-declaring the same subscriber changes nothing, and a changed declaration is an update', async () => {
    hub = await startBus();
    const decl = { name: 'same', account: 'notify', types: ['keyway.delivery.DeliveryScheduled'], target: { kind: 'handler' as const, handler: () => undefined } };
    expect(await hub.bus.declareSubscriber(decl)).toBe('created');
    expect(await hub.bus.declareSubscriber(decl)).toBe('unchanged');
    expect(await hub.bus.declareSubscriber({ ...decl, concurrency: 2 })).toBe('updated');
  });
});
