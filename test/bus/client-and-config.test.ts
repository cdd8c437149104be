import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BusClient, declareSubscribersFromFile } from '@keyway/hub/bus';
import type { KeywayEvent } from '@keyway/shared/client';
import { scheduled, startBus, startTarget, waitFor, type TestHub, type TestServer } from './helpers.js';

describe('typed client and config file on the bus', () => {
  let hub: TestHub;
  let server: TestServer | undefined;
  afterEach(async () => {
    await hub.close();
    await server?.close();
    server = undefined;
  });

  it('a service publishes and subscribes through the typed client, and unsubscribing stops its deliveries', async () => {
    hub = await startBus();
    const delivery = new BusClient(hub.bus, 'delivery');
    const notify = new BusClient(hub.bus, 'notify');
    const got: KeywayEvent<'keyway.delivery.DeliveryScheduled'>[] = [];
    const sub = await notify.subscribe({ name: 'notify-scheduled', types: ['keyway.delivery.DeliveryScheduled'] }, (e) => {
      got.push(e);
    });
    const [r] = await delivery.publish([scheduled()]);
    expect(r!.status).toBe('accepted');
    await waitFor(() => got.length === 1, 2000, 'typed delivery');
    expect(got[0]!.data.courierId).toBe('courier-7');

    await sub.unsubscribe();
    await delivery.publish([scheduled()]);
    await new Promise((res) => setTimeout(res, 100));
    expect(got).toHaveLength(1);
    // the queue was kept: declaring again delivers what arrived meanwhile
    await notify.subscribe({ name: 'notify-scheduled', types: ['keyway.delivery.DeliveryScheduled'] }, (e) => void got.push(e));
    await waitFor(() => got.length === 2, 2000, 'delivery after re-subscribing');
  });

  it('the typed client refuses to publish a type its account does not own', async () => {
    hub = await startBus();
    const [r] = await new BusClient(hub.bus, 'notify').publish([scheduled()]);
    expect(r).toMatchObject({ status: 'rejected', error: { code: 'UNAUTHORIZED' } });
  });

  it('declares subscribers from a config file at start, with named handlers and env secrets, idempotently', async () => {
    hub = await startBus();
    server = await startTarget();
    process.env.KEYWAY_TEST_HOOK_SECRET = 'from-env';
    const file = join(hub.dir, 'subscribers.json');
    writeFileSync(
      file,
      JSON.stringify({
        subscribers: [
          { name: 'file-handler', account: 'notify', types: ['keyway.delivery.DeliveryScheduled'], target: { kind: 'handler', handler: 'record' } },
          { name: 'file-hook', account: 'ops', types: ['keyway.delivery.DeliveryScheduled'], target: { kind: 'webhook', url: server.url, secret: 'env:KEYWAY_TEST_HOOK_SECRET' } },
        ],
      }),
    );
    const seen: string[] = [];
    const handlers = { record: (e: { id: string }) => void seen.push(e.id) };
    expect(await declareSubscribersFromFile(hub.bus, file, handlers)).toEqual({ 'file-handler': 'created', 'file-hook': 'created' });
    expect(await declareSubscribersFromFile(hub.bus, file, handlers)).toEqual({ 'file-handler': 'unchanged', 'file-hook': 'unchanged' });
    const event = scheduled();
    await hub.bus.publishAs('delivery', [event]);
    await waitFor(() => seen.length === 1 && server!.requests.length === 1, 2000, 'both deliveries');
    expect(seen).toEqual([event.id]);
  });

  it('refuses a config file naming a handler the hub does not provide', async () => {
    hub = await startBus();
    const file = join(hub.dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ subscribers: [{ name: 'x', account: 'notify', types: ['keyway.delivery.DeliveryScheduled'], target: { kind: 'handler', handler: 'nope' } }] }));
    await expect(declareSubscribersFromFile(hub.bus, file)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('purges events past retention once delivered, and keeps them for dedup and replay before that', async () => {
    let now = Date.now();
    hub = await startBus({ clock: () => now });
    const got: string[] = [];
    await hub.bus.declareSubscriber({ name: 'r', account: 'notify', types: ['keyway.delivery.DeliveryScheduled'], target: { kind: 'handler', handler: (e) => void got.push(e.id) } });
    const event = scheduled();
    await hub.bus.publishAs('delivery', [event]);
    await waitFor(async () => got.length === 1 && (await hub.bus.subscriberStats('r')).queued === 0, 2000, 'delivery');
    expect(await hub.bus.purgeExpired(60_000)).toBe(0);
    expect((await hub.bus.publishAs('delivery', [event]))[0]!.status).toBe('duplicate');
    now += 61_000;
    expect(await hub.bus.purgeExpired(60_000)).toBe(1);
    expect(await hub.bus.replay('r', 0, now)).toBe(0);
  });
});
