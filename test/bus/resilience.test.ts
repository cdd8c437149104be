import { afterEach, describe, expect, it } from 'vitest';
import type { CircuitState } from '@keyway/hub/bus';
import { scheduled, startBus, startTarget, waitFor, type TestHub, type TestServer } from './helpers.js';

describe('bus resilience', () => {
  let hub: TestHub;
  let server: TestServer | undefined;
  afterEach(async () => {
    await hub.close();
    await server?.close();
    server = undefined;
  });

  it('opens the circuit after repeated failures, stops calling the target, probes it, and closes when it recovers', async () => {
    hub = await startBus();
    let healthy = false;
    server = await startTarget((_req, _body, res) => res.writeHead(healthy ? 200 : 503).end());
    await hub.bus.declareSubscriber({
      name: 'breaker',
      account: 'ops',
      types: ['keyway.delivery.DeliveryScheduled'],
      concurrency: 1,
      retry: { maxAttempts: 50, baseDelayMs: 1, maxDelayMs: 5 },
      circuit: { failureThreshold: 3, openMs: 300 },
      target: { kind: 'webhook', url: server.url, secret: 'k' },
    });
    const states = new Set<CircuitState>();
    const watch = setInterval(() => {
      void hub.bus.subscriberStats('breaker').then((s) => states.add(s.circuit), () => undefined);
    }, 5);
    try {
      await hub.bus.publishAs('delivery', Array.from({ length: 5 }, () => scheduled()));
      await waitFor(() => server!.requests.length >= 3, 2000, 'three failures');
      await waitFor(async () => (await hub.bus.subscriberStats('breaker')).circuit === 'open', 1000, 'open circuit');
      const third = server.requests[2]!.at;
      await waitFor(() => server!.requests.length === 4, 1000, 'probe');
      // Nothing is sent while open: the next request is the probe, one open period later (server-side times).
      expect(server.requests[3]!.at - third).toBeGreaterThanOrEqual(250);
      // the failed probe re-opens the circuit for another period
      await waitFor(async () => (await hub.bus.subscriberStats('breaker')).circuit === 'open', 1000, 'open again');
      healthy = true;
      await waitFor(async () => (await hub.bus.subscriberStats('breaker')).queued === 0, 3000, 'all delivered');
      expect((await hub.bus.subscriberStats('breaker')).circuit).toBe('closed');
      expect(states.has('half-open') || server.requests.length >= 5).toBe(true);
      expect(await hub.bus.metrics.getSingleMetricAsString('keyway_bus_delivered_total')).toMatch(/subscriber="breaker"} 5/);
    } finally {
      clearInterval(watch);
    }
  });

  it('isolates subscribers: one whose target never answers does not delay the others or ingest', async () => {
    hub = await startBus();
    const healthy: string[] = [];
    let stuckCalls = 0;
    // The stuck target holds both of its slots for the whole test (far past every wait below), so
    // anything that queued behind it, ingest or the healthy subscriber, would never finish here.
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    await hub.bus.declareSubscriber({
      name: 'stuck',
      account: 'ops',
      types: ['keyway.delivery.DeliveryScheduled'],
      concurrency: 2,
      timeoutMs: 60_000,
      circuit: { failureThreshold: 1000 },
      target: {
        kind: 'handler',
        handler: () => {
          stuckCalls += 1;
          return held;
        },
      },
    });
    await hub.bus.declareSubscriber({
      name: 'healthy',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      target: { kind: 'handler', handler: (e) => void healthy.push(e.id) },
    });
    try {
      const published: string[] = [];
      for (let i = 0; i < 50; i += 5) {
        const batch = Array.from({ length: 5 }, () => scheduled());
        const results = await hub.bus.publishAs('delivery', batch);
        expect(results.every((r) => r.status === 'accepted')).toBe(true);
        published.push(...batch.map((e) => e.id));
      }
      await waitFor(() => healthy.length === 50, 5000, 'healthy deliveries');
      expect(healthy.sort()).toEqual(published.sort());
      await waitFor(async () => (await hub.bus.subscriberStats('healthy')).queued === 0, 5000, 'healthy acks');
      const stuck = await hub.bus.subscriberStats('stuck');
      expect(stuck.queued).toBe(50); // its backlog stays in its own queue
      expect(stuckCalls).toBe(2); // one per slot, both still waiting
    } finally {
      release();
    }
  });
});
