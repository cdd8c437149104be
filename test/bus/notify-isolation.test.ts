import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEvent } from '@keyway/shared/client';
import { notificationSubscriber } from '../../hub/src/services/notify.js';
import { SqliteHubState } from '../../hub/src/state/sqlite-state.js';
import { startBus, startTarget, waitFor, type TestHub, type TestServer } from './helpers.js';

const doorOpened = (deviceId: string) =>
  createEvent(
    'keyway.device.DoorStateChanged',
    { deviceId, state: 'open', previous: 'opening', cause: { kind: 'wall-button' }, at: new Date().toISOString() },
    { source: `keyway://device/${deviceId}`, subject: deviceId },
  );

describe('customer notifications', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup.length = 0;
  });

  async function setup(respondB: Parameters<typeof startTarget>[0]) {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-notify-'));
    const state = new SqliteHubState(join(dir, 'state.db'));
    await state.init();
    const hub: TestHub = await startBus();
    const healthy: TestServer = await startTarget();
    const customerB: TestServer = await startTarget(respondB);
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => state.close(), () => hub.close(), () => healthy.close(), () => customerB.close());
    for (const [customer, url] of [['cust-a', healthy.url], ['cust-b', customerB.url]] as const) {
      await state.putCustomer({ id: customer, webhookUrl: url, webhookSecret: null, createdAt: Date.now() });
      await state.insertDevice({ id: `garage-${customer}`, customerId: customer, vendor: 'acme', tokenHash: 'x', createdAt: Date.now(), online: true, lastSeenAt: null, reported: null });
    }
    await hub.bus.declareSubscriber(notificationSubscriber({ state }));
    return { hub, healthy, customerB };
  }

  it("keep reaching every other customer while one customer's webhook fails on every call, and lose none of its own", async () => {
    const { hub, healthy, customerB } = await setup((_q, _b, res) => res.writeHead(500).end());
    // Customer B's garage flaps first: 40 notifications for a webhook that answers 500.
    for (let i = 0; i < 4; i++) await hub.bus.publishAs('device-gateway', Array.from({ length: 10 }, () => doorOpened('garage-cust-b')));
    await waitFor(() => customerB.requests.length >= 3, 5000, 'the failing webhook to be called');
    // Then customer A's, one by one.
    for (let i = 0; i < 10; i++) await hub.bus.publishAs('device-gateway', [doorOpened('garage-cust-a')]);
    await waitFor(() => healthy.requests.length === 10, 10_000, "customer A's ten notifications");
    // None of B's is lost: each is still queued (deferred or retrying) or dead-lettered with its reason. A's rows leave
    // the queue only after the target's answer has been read, a moment after it received the last request.
    const count = async () => {
      const stats = await hub.bus.subscriberStats('notify.customers');
      return stats.queued + stats.dead;
    };
    await waitFor(async () => (await count()) === 40, 5000, "A's rows to leave the queue").catch(() => undefined);
    expect(await count()).toBe(40);
  }, 30_000);

  it('deliver every notification after a short outage of a customer webhook, without dead-lettering any', async () => {
    let failures = 3;
    const { hub, customerB } = await setup((_q, _b, res) => {
      if (failures > 0) {
        failures -= 1;
        res.writeHead(500).end();
      } else res.writeHead(204).end();
    });
    // The first notification's three failed attempts open the customer's circuit; seven more come while it is open.
    await hub.bus.publishAs('device-gateway', [doorOpened('garage-cust-b')]);
    await waitFor(() => customerB.requests.length >= 3, 10_000, 'three failed calls');
    await hub.bus.publishAs('device-gateway', Array.from({ length: 7 }, () => doorOpened('garage-cust-b')));
    await waitFor(async () => (await hub.bus.subscriberStats('notify.customers')).queued === 0, 20_000, 'the queue to empty');
    expect((await hub.bus.subscriberStats('notify.customers')).dead).toBe(0);
    const delivered = new Set(customerB.requests.filter((r) => r.body.length > 0).map((r) => (JSON.parse(r.body) as { event: { id: string } }).event.id));
    expect(delivered.size).toBe(8);
  }, 30_000);
});
