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

  it("keep reaching every other customer while one customer's webhook fails on every call", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-notify-'));
    const state = new SqliteHubState(join(dir, 'state.db'));
    await state.init();
    const hub: TestHub = await startBus();
    const healthy: TestServer = await startTarget();
    const failing: TestServer = await startTarget((_q, _b, res) => res.writeHead(500).end());
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => state.close(), () => hub.close(), () => healthy.close(), () => failing.close());
    for (const [customer, url] of [['cust-a', healthy.url], ['cust-b', failing.url]] as const) {
      await state.putCustomer({ id: customer, webhookUrl: url, webhookSecret: null, createdAt: Date.now() });
      await state.insertDevice({ id: `garage-${customer}`, customerId: customer, vendor: 'acme', tokenHash: 'x', createdAt: Date.now(), online: true, lastSeenAt: null, reported: null });
    }
    await hub.bus.declareSubscriber(notificationSubscriber({ state }));

    // Customer B's garage flaps first: 40 notifications for a webhook that answers 500.
    await hub.bus.publishAs('device-gateway', Array.from({ length: 10 }, () => doorOpened('garage-cust-b')));
    await hub.bus.publishAs('device-gateway', Array.from({ length: 10 }, () => doorOpened('garage-cust-b')));
    await hub.bus.publishAs('device-gateway', Array.from({ length: 10 }, () => doorOpened('garage-cust-b')));
    await hub.bus.publishAs('device-gateway', Array.from({ length: 10 }, () => doorOpened('garage-cust-b')));
    await waitFor(() => failing.requests.length >= 3, 5000, 'the failing webhook to be called');
    // Then customer A's, one by one.
    for (let i = 0; i < 10; i++) await hub.bus.publishAs('device-gateway', [doorOpened('garage-cust-a')]);
    await waitFor(() => healthy.requests.length === 10, 10_000, "customer A's ten notifications");
    // B's notifications are still there (retried with backoff, not dropped), and the subscriber as a whole never tripped.
    const stats = await hub.bus.subscriberStats('notify.customers');
    expect(stats.circuit).toBe('closed');
    expect(stats.queued + stats.dead).toBeGreaterThan(0);
  }, 30_000);
});
