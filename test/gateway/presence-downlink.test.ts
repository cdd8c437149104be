import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { verifyTime } from '@keyway/shared/grants';
import type { CommandResult, DeviceGatewayOptions } from '@keyway/hub/gateway';
import { batch, collect, connectDevice, range, startGatewayHub, waitFor, type GatewayHub } from './helpers.js';

describe('device gateway presence, rate limits and downlink', () => {
  let hub: GatewayHub | undefined;
  const clients: MqttClient[] = [];

  async function start(options: Partial<DeviceGatewayOptions> = {}): Promise<GatewayHub> {
    hub = await startGatewayHub(options);
    return hub;
  }
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await hub?.close();
    hub = undefined;
  });

  async function device(h: GatewayHub, id: string, vendor?: string): Promise<MqttClient> {
    const token = await h.provision(id, vendor);
    const client = await connectDevice(h.url, id, token);
    clients.push(client);
    return client;
  }

  function online(): string {
    return JSON.stringify({ v: 1, online: true, at: new Date().toISOString() });
  }

  function offlineReasons(h: GatewayHub): unknown[] {
    return h.ofType('keyway.device.DeviceOffline').map((e) => e.data);
  }

  it('when a device announces itself online, DeviceOnline is published and the registry marks it online', async () => {
    const h = await start();
    const client = await device(h, 'garage-1');
    await client.publishAsync('keyway/v1/d/garage-1/status', online(), { qos: 1, retain: true });
    await waitFor(() => h.ofType('keyway.device.DeviceOnline').length === 1, 5_000, 'DeviceOnline');
    expect(h.ofType('keyway.device.DeviceOnline')[0]!.data).toMatchObject({ deviceId: 'garage-1' });
    expect(h.gateway.isOnline('garage-1')).toBe(true);
    expect((await h.state.getDevice('garage-1'))?.online).toBe(true);
  });

  it('when a device loses power, its Last Will becomes DeviceOffline with reason last-will', async () => {
    const h = await start();
    const client = await device(h, 'garage-1');
    await client.publishAsync('keyway/v1/d/garage-1/status', online(), { qos: 1, retain: true });
    await waitFor(() => h.gateway.isOnline('garage-1'), 5_000, 'online');
    client.stream.destroy(); // no DISCONNECT: the broker publishes the Last Will
    await waitFor(() => h.ofType('keyway.device.DeviceOffline').length === 1, 5_000, 'DeviceOffline');
    expect(offlineReasons(h)).toEqual([expect.objectContaining({ deviceId: 'garage-1', reason: 'last-will' })]);
    expect(h.gateway.isOnline('garage-1')).toBe(false);
    await waitFor(async () => (await h.state.getDevice('garage-1'))?.online === false, 2_000, 'registry offline');
  });

  it('when a device disconnects cleanly without a goodbye, DeviceOffline has reason disconnect', async () => {
    const h = await start();
    const client = await device(h, 'garage-1');
    await client.publishAsync('keyway/v1/d/garage-1/status', online(), { qos: 1 });
    await waitFor(() => h.gateway.isOnline('garage-1'), 5_000, 'online');
    await client.endAsync();
    await waitFor(() => h.ofType('keyway.device.DeviceOffline').length === 1, 5_000, 'DeviceOffline');
    expect(offlineReasons(h)).toEqual([expect.objectContaining({ reason: 'disconnect' })]);
  });

  it('when a connected device goes silent for the missed heartbeats, DeviceOffline has reason heartbeat-timeout', async () => {
    const h = await start({ presence: { heartbeatIntervalMs: 100, missedHeartbeats: 2 } });
    const client = await device(h, 'garage-1');
    await client.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', [1]), { qos: 1 });
    await waitFor(() => h.ofType('keyway.device.DeviceOnline').length === 1, 5_000, 'DeviceOnline');
    await waitFor(() => h.ofType('keyway.device.DeviceOffline').length === 1, 5_000, 'DeviceOffline');
    expect(offlineReasons(h)).toEqual([expect.objectContaining({ reason: 'heartbeat-timeout' })]);
    expect(client.connected).toBe(true);
  });

  it("keeps each device's reported state in the registry", async () => {
    const h = await start();
    const client = await device(h, 'garage-1');
    const state = { v: 1, door: 'closed', sensors: { closed: true }, firmware: '0.1.0', outboxDepth: 0, lastSyncAt: null, time: { bounded: true, uncertaintyMs: 20, wallClockBehind: false }, at: new Date().toISOString() };
    await client.publishAsync('keyway/v1/d/garage-1/state', JSON.stringify(state), { qos: 1, retain: true });
    await waitFor(async () => (await h.state.getDevice('garage-1'))?.reported !== null, 5_000, 'reported state');
    expect((await h.state.getDevice('garage-1'))?.reported).toMatchObject({ door: 'closed', firmware: '0.1.0' });
  });

  it("drops a flooding device's excess messages while a second device's batches are still acked", async () => {
    const h = await start({ limits: { perDevice: { perSecond: 1, burst: 3 } } });
    const flood = await device(h, 'garage-1');
    const calm = await device(h, 'garage-2');
    const floodAcks = await collect(flood, 'keyway/v1/d/garage-1/down/ack');
    const calmAcks = await collect(calm, 'keyway/v1/d/garage-2/down/ack');
    await Promise.all(range(1, 30).map((s) => flood.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', [s]), { qos: 1 })));
    await calm.publishAsync('keyway/v1/d/garage-2/up/events', batch('garage-2', range(1, 3)), { qos: 1 });
    await waitFor(() => calmAcks.length === 1, 5_000, "the calm device's ack");
    expect(calmAcks[0]).toMatchObject({ upTo: 3 });
    // Accepted batches are stored one after another per device (each synced), so wait for them;
    // the pause then gives any wrongly accepted excess time to show up.
    await waitFor(() => floodAcks.length >= 3, 5_000, "the flooding device's burst acks");
    await new Promise((r) => setTimeout(r, 300));
    expect(floodAcks.length).toBeLessThan(10);
    expect(flood.connected).toBe(true);
    const dropped = (await h.gateway.metrics.getSingleMetric('keyway_gateway_rate_limited_total')?.get())?.values.find((v) => v.labels.scope === 'device')?.value;
    expect(dropped).toBeGreaterThanOrEqual(20);
  });

  it("limits a vendor's whole fleet so another vendor's devices are still served", async () => {
    const h = await start({ limits: { perVendor: { perSecond: 1, burst: 4 } } });
    const a1 = await device(h, 'acme-1', 'acme');
    const a2 = await device(h, 'acme-2', 'acme');
    const other = await device(h, 'globex-1', 'globex');
    const acmeAcks = await collect(a1, 'keyway/v1/d/acme-1/down/ack');
    const acme2Acks = await collect(a2, 'keyway/v1/d/acme-2/down/ack');
    const otherAcks = await collect(other, 'keyway/v1/d/globex-1/down/ack');
    await Promise.all(range(1, 10).flatMap((s) => [
      a1.publishAsync('keyway/v1/d/acme-1/up/events', batch('acme-1', [s]), { qos: 1 }),
      a2.publishAsync('keyway/v1/d/acme-2/up/events', batch('acme-2', [s]), { qos: 1 }),
    ]));
    await other.publishAsync('keyway/v1/d/globex-1/up/events', batch('globex-1', [1, 2]), { qos: 1 });
    await waitFor(() => otherAcks.length === 1, 5_000, "the other vendor's ack");
    // As above: wait for the burst's acks, then give excess acks time to show up.
    await waitFor(() => acmeAcks.length + acme2Acks.length >= 4, 5_000, "the vendor's burst acks");
    await new Promise((r) => setTimeout(r, 300));
    expect(acmeAcks.length + acme2Acks.length).toBeLessThanOrEqual(6);
    const dropped = (await h.gateway.metrics.getSingleMetric('keyway_gateway_rate_limited_total')?.get())?.values.find((v) => v.labels.scope === 'vendor')?.value;
    expect(dropped).toBeGreaterThanOrEqual(14);
  });

  it('carries commands and grants to the addressed device only, and reports command results', async () => {
    const h = await start();
    const one = await device(h, 'garage-1');
    const two = await device(h, 'garage-2');
    const cmdOne = await collect(one, 'keyway/v1/d/garage-1/down/cmd');
    const cmdTwo = await collect(two, 'keyway/v1/d/garage-2/down/cmd');
    const grantsOne = await collect(one, 'keyway/v1/d/garage-1/down/grants');
    const grantsTwo = await collect(two, 'keyway/v1/d/garage-2/down/grants');
    const results: CommandResult[] = [];
    h.gateway.onCommandResult((r) => results.push(r));

    await h.gateway.sendCommand('garage-1', 'header.claims.signature');
    await h.gateway.sendGrants('garage-2', { grants: ['grant-token'], revocations: 'revocation-token' });
    await waitFor(() => cmdOne.length === 1 && grantsTwo.length === 1, 5_000, 'command and grants');
    await new Promise((r) => setTimeout(r, 100));
    expect(cmdOne).toEqual([{ v: 1, token: 'header.claims.signature' }]);
    expect(cmdTwo).toEqual([]);
    expect(grantsOne).toEqual([]);
    expect(grantsTwo[0]).toMatchObject({ v: 1, grants: ['grant-token'], revocations: 'revocation-token' });
    await expect(verifyTime(grantsTwo[0]!.time as string, h.publicKey, { deviceId: 'garage-2' })).resolves.toMatchObject({ aud: 'garage-2' });

    const result = { v: 1, commandId: 'cmd-1', status: 'ok', data: { action: 'open', outcome: 'opened', state: 'open' }, at: new Date().toISOString() };
    await one.publishAsync('keyway/v1/d/garage-1/up/cmd-result', JSON.stringify(result), { qos: 1 });
    await waitFor(() => results.length === 1, 5_000, 'the command result');
    expect(results[0]).toMatchObject({ deviceId: 'garage-1', result: { commandId: 'cmd-1', status: 'ok' } });
    await expect(h.gateway.sendCommand('../x', 't')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('closes a device connection on request, so a removed or re-keyed device must log in again', async () => {
    const h = await start();
    const client = await device(h, 'garage-1');
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    expect(h.gateway.disconnectDevice('garage-1')).toBe(true);
    await closed;
    expect(h.gateway.disconnectDevice('garage-1')).toBe(false);
  });

  it('stops promptly while devices are still connected, and the devices see the connection close', async () => {
    const h = await start();
    const client = await device(h, 'garage-1');
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const began = Date.now();
    await h.gateway.stop();
    await closed;
    expect(Date.now() - began).toBeLessThan(3_000);
  });

  it('stops cleanly: the broker port is closed and nothing is left running', async () => {
    const h = await start();
    const token = await h.provision('garage-1');
    expect(h.gateway.isReady()).toBe(true);
    await h.gateway.stop();
    expect(h.gateway.isReady()).toBe(false);
    await expect(connectDevice(h.url, 'garage-1', token)).rejects.toThrow();
    await expect(h.gateway.sendCommand('garage-1', 't')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
