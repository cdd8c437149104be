import { afterEach, describe, expect, it } from 'vitest';
import { scheduled, startBus, waitFor, type TestHub } from './helpers.js';

const TYPES = ['keyway.delivery.DeliveryScheduled'];

/** Queues `n` events for `name` while no worker delivers them (the subscription is durable). */
async function backlog(hub: TestHub, name: string, n: number): Promise<void> {
  await hub.bus.declareSubscriber({ name, account: 'notify', types: TYPES, target: { kind: 'handler', handler: () => undefined } });
  await hub.bus.removeSubscriber(name);
  for (let i = 0; i < n; i += 10) {
    const results = await hub.bus.publishAs('delivery', Array.from({ length: 10 }, (_, k) => scheduled(`garage-${(i + k) % 7}`)));
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
  }
  expect((await hub.bus.subscriberStats(name)).queued).toBe(n);
}

describe('a delivery pass', () => {
  let hub: TestHub;
  afterEach(async () => {
    await hub.close();
  });

  it('drains a backlog many times its concurrency, never running more attempts at once than the concurrency', async () => {
    hub = await startBus({ pollIntervalMs: 60_000 }); // only claims made by passes count, not the idle poll
    await backlog(hub, 'fast', 400);
    let running = 0;
    let peak = 0;
    const seen = new Set<string>();
    await hub.bus.declareSubscriber({
      name: 'fast',
      account: 'notify',
      types: TYPES,
      concurrency: 16,
      target: {
        kind: 'handler',
        handler: async (e) => {
          running += 1;
          peak = Math.max(peak, running);
          seen.add(e.id);
          await Promise.resolve();
          running -= 1;
        },
      },
    });
    await waitFor(async () => (await hub.bus.subscriberStats('fast')).queued === 0, 5_000, 'the backlog to drain');
    expect(seen.size).toBe(400);
    expect(peak).toBeLessThanOrEqual(16);
  });

  it('keeps per-subject order across the claims of one pass', async () => {
    hub = await startBus({ pollIntervalMs: 60_000 });
    await backlog(hub, 'ordered', 200);
    const bySubject = new Map<string, number[]>();
    await hub.bus.declareSubscriber({
      name: 'ordered',
      account: 'notify',
      types: TYPES,
      concurrency: 4,
      orderedBySubject: true,
      target: {
        kind: 'handler',
        handler: (e) => {
          const n = Number((e.data as { deliveryId: string }).deliveryId.slice(2));
          const list = bySubject.get(e.subject!) ?? [];
          list.push(n);
          bySubject.set(e.subject!, list);
        },
      },
    });
    await waitFor(async () => (await hub.bus.subscriberStats('ordered')).queued === 0, 5_000, 'the backlog to drain');
    expect([...bySubject.values()].reduce((sum, l) => sum + l.length, 0)).toBe(200);
    for (const list of bySubject.values()) expect(list).toEqual(list.slice().sort((a, b) => a - b));
  });

  it('stops claiming in the middle of a pass once the attempts it launched opened the circuit', async () => {
    hub = await startBus({ pollIntervalMs: 60_000 });
    await backlog(hub, 'failing', 100);
    let calls = 0;
    await hub.bus.declareSubscriber({
      name: 'failing',
      account: 'notify',
      types: TYPES,
      concurrency: 8,
      retry: { maxAttempts: 100, baseDelayMs: 60_000, maxDelayMs: 60_000 },
      circuit: { failureThreshold: 3, openMs: 60_000 },
      target: {
        kind: 'handler',
        handler: () => {
          calls += 1;
          throw new Error('down');
        },
      },
    });
    await waitFor(async () => (await hub.bus.subscriberStats('failing')).circuit === 'open', 3_000, 'the circuit to open');
    await new Promise((r) => setTimeout(r, 200));
    // the first claim's attempts were already running when the circuit opened; no claim after it
    expect(calls).toBe(8);
  });
});
