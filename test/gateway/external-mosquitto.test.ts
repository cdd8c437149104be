import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { EventEnvelope } from '@keyway/shared';
import { DeviceGateway, hashDeviceToken, renderMosquittoAcl, renderMosquittoPasswords } from '@keyway/hub/gateway';
import { SqliteHubState } from '@keyway/hub/state';
import { startBus, type TestHub } from '../bus/helpers.js';
import { batch, collect, connectDevice, range, waitFor } from './helpers.js';
import { mosquittoInstalled } from '../support/mosquitto.js';
import { startMosquitto, type RunningMosquitto } from './mosquitto.js';

if (!mosquittoInstalled) console.warn('skipping the external-broker tests: install the Debian package "mosquitto" (apt-get install -y mosquitto)');

// Needs the mosquitto binary from Debian's "mosquitto" package.
describe.skipIf(!mosquittoInstalled)('device gateway with an external mosquitto and two replicas', () => {
  let hub: TestHub;
  let state: SqliteHubState;
  let broker: RunningMosquitto;
  const gateways: DeviceGateway[] = [];
  const clients: MqttClient[] = [];
  const tokens = new Map<string, string>();
  const seen: EventEnvelope[] = [];

  beforeAll(async () => {
    hub = await startBus();
    state = new SqliteHubState(join(hub.dir, 'state.db'));
    await state.init();
    await hub.bus.declareSubscriber({
      name: 'ops-watch',
      account: 'ops',
      types: ['keyway.device.Heartbeat', 'keyway.device.DeviceOnline', 'keyway.platform.UnauthorizedExchangeDetected'],
      target: { kind: 'handler', handler: (e) => void seen.push(e) },
    });
    for (const id of ['garage-1', 'garage-2']) {
      const token = randomBytes(24).toString('base64url');
      tokens.set(id, token);
      await state.insertDevice({ id, customerId: 'c', vendor: 'acme', tokenHash: hashDeviceToken(token), createdAt: Date.now(), online: false, lastSeenAt: null, reported: null });
    }
    // garage-ghost is in the broker's password file but no longer in the registry (a stale broker configuration).
    const devices = [...tokens, ['garage-ghost', 'ghost-token'] as const].map(([id, token]) => ({ id, token }));
    broker = await startMosquitto(hub.dir, renderMosquittoPasswords(devices, { user: 'keyway-hub', password: 'hub-secret' }), renderMosquittoAcl(devices, { hubUser: 'keyway-hub' }));
    for (const n of [1, 2]) {
      const gateway = new DeviceGateway({
        bus: hub.bus,
        devices: state,
        transport: { kind: 'external', url: broker.url, username: 'keyway-hub', password: 'hub-secret', shareGroup: 'keyway', clientId: `hub-replica-${n}` },
        limits: { perDevice: { perSecond: 1000, burst: 1000 } },
      });
      await gateway.start();
      gateways.push(gateway);
    }
  });
  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    for (const g of gateways) await g.stop();
    await broker?.stop();
    await state?.close();
    await hub?.close();
  });

  async function handledBy(g: DeviceGateway): Promise<number> {
    const metric = await g.metrics.getSingleMetric('keyway_gateway_batches_total')?.get();
    return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
  }

  it('hands each device batch to exactly one replica through the $share group, and every batch is acked once', async () => {
    const client = await connectDevice(broker.url, 'garage-1', tokens.get('garage-1')!);
    clients.push(client);
    const acks = await collect(client, 'keyway/v1/d/garage-1/down/ack');
    // Like the agent: at most 4 batches in flight, so a replica never queues past its per-device limit.
    for (let seq = 1; seq <= 20; seq += 1) {
      await waitFor(() => seq - acks.length <= 4, 10_000, 'an ack to open the window');
      await client.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', [seq]), { qos: 1 });
    }
    await waitFor(() => acks.length === 20, 10_000, '20 acks');
    await new Promise((r) => setTimeout(r, 200));
    expect(acks).toHaveLength(20);
    expect(acks.map((a) => a.upTo).sort((a, b) => Number(a) - Number(b))).toEqual(range(1, 20));
    const [a, b] = [await handledBy(gateways[0]!), await handledBy(gateways[1]!)];
    expect(a + b).toBe(20);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    await waitFor(() => seen.filter((e) => e.type === 'keyway.device.Heartbeat').length === 20, 5_000, '20 heartbeats');
  });

  it('lets mosquitto refuse a wrong password and drop a publish under another device id (ACL from the registry)', async () => {
    await expect(connectDevice(broker.url, 'garage-2', 'wrong')).rejects.toThrow();
    const client = await connectDevice(broker.url, 'garage-2', tokens.get('garage-2')!);
    clients.push(client);
    const before = seen.length;
    await client.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', [99]), { qos: 1 });
    await client.publishAsync('keyway/v1/d/garage-2/up/events', batch('garage-2', [1]), { qos: 1 });
    await waitFor(() => seen.some((e) => e.source === 'keyway://device/garage-2' && e.type === 'keyway.device.Heartbeat'), 5_000, "garage-2's own batch");
    expect(seen.slice(before).some((e) => e.id === 'garage-1-99')).toBe(false);
  });

  it('drops messages from a device the broker knows but the registry does not, and raises UnauthorizedExchangeDetected', async () => {
    const ghost = await connectDevice(broker.url, 'garage-ghost', 'ghost-token');
    clients.push(ghost);
    await ghost.publishAsync('keyway/v1/d/garage-ghost/up/events', batch('garage-ghost', [1]), { qos: 1 });
    await waitFor(() => seen.some((e) => e.type === 'keyway.platform.UnauthorizedExchangeDetected'), 5_000, 'the detection');
    expect(seen.find((e) => e.type === 'keyway.platform.UnauthorizedExchangeDetected')!.data).toMatchObject({ kind: 'unknown-device', deviceId: 'garage-ghost' });
    expect(seen.some((e) => e.source === 'keyway://device/garage-ghost')).toBe(false);
  });

  it('reports ready while connected to the broker', () => {
    expect(gateways.every((g) => g.isReady())).toBe(true);
  });

  it('sees device presence on every replica, so isOnline answers the same everywhere', async () => {
    const client = clients[0]!;
    await client.publishAsync('keyway/v1/d/garage-1/status', JSON.stringify({ v: 1, online: true, at: new Date().toISOString() }), { qos: 1, retain: true });
    await waitFor(() => gateways.every((g) => g.isOnline('garage-1')), 5_000, 'presence on both replicas');
  });

  it('reports not ready once the broker is gone (runs last: it stops mosquitto)', async () => {
    await broker.stop();
    await waitFor(() => gateways.every((g) => !g.isReady()), 5_000, 'both replicas not ready');
  });
});
