import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '@keyway/hub/bus';
import { createEvent } from '@keyway/shared/client';
import { until } from '../../scripts/support/until.js';
import { startTestHub, type TestHub } from './start-hub.js';

const SECRET = 'a-very-long-webhook-secret';

interface Receiver {
  port: number;
  bodies: { body: string; signed: boolean }[];
  close(): Promise<void>;
}

async function startReceiver(port = 0): Promise<Receiver> {
  const bodies: Receiver['bodies'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push({ body, signed: verifyWebhookSignature(SECRET, body, req.headers['x-keyway-signature'] as string | undefined) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, bodies, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const scheduled = (n: number) =>
  createEvent(
    'keyway.delivery.DeliveryScheduled',
    { deliveryId: `d-${n}`, customerId: 'c-1', deviceId: 'garage-1', courierId: 'k-1', windowStart: new Date().toISOString(), windowEnd: new Date(Date.now() + 3600_000).toISOString() },
    { source: 'keyway://service/delivery', id: `restart-${n}` },
  );

describe('a webhook subscriber declared over the API', () => {
  let t: TestHub | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.stop();
    await receiver?.close();
    t = undefined;
    receiver = undefined;
  });

  it('resumes delivering after a hub restart, signing with its secret, without being declared again', async () => {
    t = await startTestHub();
    const dataDir = t.dataDir;
    // A port that nothing listens on yet: the target is down while the hub restarts.
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();
    const notifyKey = (await t.call('POST', '/v1/accounts/notify/keys')).body.apiKey as string;
    const deliveryKey = (await t.call('POST', '/v1/accounts/delivery/keys')).body.apiKey as string;
    const declared = await t.call(
      'POST',
      '/v1/subscribers',
      { name: 'notify.partner', types: ['keyway.delivery.DeliveryScheduled'], webhook: { url: `http://127.0.0.1:${port}/hook`, secret: SECRET }, timeoutMs: 1000 },
      notifyKey,
    );
    expect(declared.status).toBe(201);
    expect((await t.call('POST', '/v1/events', { entries: [scheduled(1), scheduled(2)] }, deliveryKey)).body.failedEntryCount).toBe(0);

    // The database holds the secret only sealed.
    const stored = await t.hub.internals.busStore.getSubscriber('notify.partner');
    expect(stored?.config).toContain('sealed:v1:');
    expect(stored?.config).not.toContain(SECRET);

    await t.stop(true);
    t = await startTestHub({}, dataDir);
    expect((await t.call('POST', '/v1/events', { entries: [scheduled(3)] }, deliveryKey)).body.failedEntryCount).toBe(0);
    receiver = await startReceiver(port);
    await until('all three events at the webhook', () => new Set(receiver!.bodies.map((b) => JSON.parse(b.body).id as string)).size === 3, 20_000);
    expect(receiver.bodies.every((b) => b.signed)).toBe(true);
    // A row leaves the queue once the webhook's answer has been read, a moment after the webhook received it.
    const queued = async (): Promise<number> => (await t!.call('GET', '/v1/subscribers/notify.partner', undefined, notifyKey)).body.queued as number;
    await until('the queue to empty', async () => (await queued()) === 0, 5000).catch(() => undefined);
    expect(await queued()).toBe(0);
    // Declaring it again with the same settings changes nothing.
    const again = await t.call(
      'POST',
      '/v1/subscribers',
      { name: 'notify.partner', types: ['keyway.delivery.DeliveryScheduled'], webhook: { url: `http://127.0.0.1:${port}/hook`, secret: SECRET }, timeoutMs: 1000 },
      notifyKey,
    );
    expect(again.body.outcome).toBe('unchanged');
  }, 60_000);
});
