import { connect as connectTcp } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { verifyTime } from '@keyway/shared/grants';
import { batch, collect, connectDevice, range, startGatewayHub, waitFor, type GatewayHub } from './helpers.js';

describe('device gateway (embedded broker)', () => {
  let hub: GatewayHub;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    hub = await startGatewayHub();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await hub.close();
  });

  async function device(id: string, vendor?: string): Promise<{ client: MqttClient; acks: Record<string, unknown>[] }> {
    const token = await hub.provision(id, vendor);
    const client = await connectDevice(hub.url, id, token);
    clients.push(client);
    const acks = await collect(client, `keyway/v1/d/${id}/down/ack`);
    return { client, acks };
  }

  it("lands a device's batch on the bus and acks up to its last sequence with hub-signed time", async () => {
    const { client, acks } = await device('garage-1');
    await client.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', range(1, 25)), { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the ack');
    expect(acks[0]).toMatchObject({ v: 1, upTo: 25 });
    expect(acks[0]!.rejected).toBeUndefined();
    const claims = await verifyTime(acks[0]!.time as string, hub.publicKey, { deviceId: 'garage-1' });
    expect(Math.abs(claims.t - Date.now())).toBeLessThan(5_000);
    await waitFor(() => hub.ofType('keyway.device.Heartbeat').length === 25, 5_000, 'delivery of 25 heartbeats');
    expect(hub.ofType('keyway.device.Heartbeat').map((e) => e.id)).toEqual(range(1, 25).map((s) => `garage-1-${s}`));
  });

  it('acks a redelivered batch again without delivering its events twice', async () => {
    const { client, acks } = await device('garage-1');
    const payload = batch('garage-1', range(1, 12));
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'first ack');
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 2, 5_000, 'second ack');
    expect(acks.map((a) => a.upTo)).toEqual([12, 12]);
    await waitFor(() => hub.ofType('keyway.device.Heartbeat').length >= 12, 5_000, 'delivery');
    await new Promise((r) => setTimeout(r, 200));
    expect(hub.ofType('keyway.device.Heartbeat')).toHaveLength(12);
  });

  it('stores but does not acknowledge a batch that does not follow what is acknowledged, so an earlier batch lost on another replica is never skipped', async () => {
    const { client, acks } = await device('garage-1');
    const withAcked = (seqs: number[], acked: number): string => JSON.stringify({ ...JSON.parse(batch('garage-1', seqs)), acked });
    // The second batch arrives first, as it can with shared subscriptions: the device vouches only for 0.
    await client.publishAsync('keyway/v1/d/garage-1/up/events', withAcked(range(11, 20), 0), { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the first ack');
    expect(acks[0]).toMatchObject({ upTo: 0 });
    await client.publishAsync('keyway/v1/d/garage-1/up/events', withAcked(range(1, 10), 0), { qos: 1 });
    await waitFor(() => acks.length === 2, 5_000, 'the second ack');
    expect(acks[1]).toMatchObject({ upTo: 10 });
    // The device resends what was not acknowledged, now vouching for 10: acknowledged, and stored only once.
    await client.publishAsync('keyway/v1/d/garage-1/up/events', withAcked(range(11, 20), 10), { qos: 1 });
    await waitFor(() => acks.length === 3, 5_000, 'the third ack');
    expect(acks[2]).toMatchObject({ upTo: 20 });
    await waitFor(() => hub.ofType('keyway.device.Heartbeat').length >= 20, 5_000, 'delivery');
    await new Promise((r) => setTimeout(r, 200));
    expect(hub.ofType('keyway.device.Heartbeat')).toHaveLength(20);
  });

  it('refuses the CONNECT of an unknown device and of a wrong token, and raises UnauthorizedExchangeDetected', async () => {
    const token = await hub.provision('garage-1');
    await expect(connectDevice(hub.url, 'garage-404', token)).rejects.toThrow(/Not authorized|Bad username/i);
    await expect(connectDevice(hub.url, 'garage-1', 'not-the-token')).rejects.toThrow(/Bad username|Not authorized/i);
    await waitFor(() => hub.ofType('keyway.platform.UnauthorizedExchangeDetected').length === 2, 5_000, 'two detections');
    const kinds = hub.ofType('keyway.platform.UnauthorizedExchangeDetected').map((e) => (e.data as { kind: string; deviceId: string }));
    expect(kinds).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'unknown-device', deviceId: 'garage-404' }), expect.objectContaining({ kind: 'unknown-device', deviceId: 'garage-1' })]));
  });

  it("refuses a device subscribing to another device's topics and raises UnauthorizedExchangeDetected", async () => {
    const { client } = await device('garage-1');
    // mqtt.js turns a SUBACK failure (0x80) into a rejection.
    await expect(client.subscribeAsync('keyway/v1/d/garage-2/down/cmd', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await expect(client.subscribeAsync('keyway/v1/d/+/up/events', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(client.connected).toBe(true);
    await expect(client.subscribeAsync('keyway/v1/d/garage-1/down/cmd', { qos: 1 })).resolves.toEqual([{ topic: 'keyway/v1/d/garage-1/down/cmd', qos: 1 }]);
    await waitFor(() => hub.ofType('keyway.platform.UnauthorizedExchangeDetected').length >= 1, 5_000, 'the detection');
    expect(hub.ofType('keyway.platform.UnauthorizedExchangeDetected')[0]!.data).toMatchObject({ kind: 'device-topic', deviceId: 'garage-1', topic: 'keyway/v1/d/garage-2/down/cmd' });
  });

  it('raises at most a few detections for a storm of refused subscriptions from one device', async () => {
    const { client } = await device('garage-1');
    const refused = range(1, 20).map((n) => client.subscribeAsync(`keyway/v1/d/garage-${n + 1}/down/cmd`, { qos: 1 }).then(() => 'granted', () => 'refused'));
    expect(new Set(await Promise.all(refused))).toEqual(new Set(['refused']));
    await waitFor(() => hub.ofType('keyway.platform.UnauthorizedExchangeDetected').length >= 3, 5_000, 'the first detections');
    await new Promise((r) => setTimeout(r, 300));
    expect(hub.ofType('keyway.platform.UnauthorizedExchangeDetected')).toHaveLength(3);
    const refusals = (await hub.gateway.metrics.getSingleMetric('keyway_gateway_refusals_total')?.get())?.values.find((v) => v.labels.reason === 'device-topic')?.value;
    expect(refusals).toBe(20);
  });

  it("refuses a device publishing under another device's id: nothing reaches the bus and a detection is raised", async () => {
    const victim = await device('garage-2');
    const { client } = await device('garage-1');
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('keyway/v1/d/garage-2/up/events', batch('garage-2', range(1, 3)), { qos: 1 });
    await closed;
    await waitFor(() => hub.ofType('keyway.platform.UnauthorizedExchangeDetected').length >= 1, 5_000, 'the detection');
    expect(hub.ofType('keyway.platform.UnauthorizedExchangeDetected')[0]!.data).toMatchObject({ kind: 'device-topic', deviceId: 'garage-1', topic: 'keyway/v1/d/garage-2/up/events' });
    await new Promise((r) => setTimeout(r, 200));
    expect(hub.ofType('keyway.device.Heartbeat')).toHaveLength(0);
    expect(victim.acks).toHaveLength(0);
  });

  it('refuses events in an own-topic batch whose source names another device, and stores the rest', async () => {
    const { client, acks } = await device('garage-1');
    const payload = batch('garage-1', range(1, 3), (seq) => ({ ...heartbeatFor('garage-1', seq), ...(seq === 2 ? { source: 'keyway://device/garage-2' } : {}) }));
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the ack');
    expect(acks[0]).toMatchObject({ upTo: 3, rejected: [{ seq: 2, code: 'UNAUTHORIZED' }] });
    await waitFor(() => hub.ofType('keyway.device.Heartbeat').length === 2, 5_000, 'two heartbeats');
  });

  it('refuses a malformed and an oversized batch (over 500 events, over 1 MiB) with a reason while another device keeps being acked', async () => {
    const bad = await device('garage-1');
    const good = await device('garage-2');
    await bad.client.publishAsync('keyway/v1/d/garage-1/up/events', '{"v":1,"deviceId":', { qos: 1 });
    await bad.client.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', range(1, 501)), { qos: 1 });
    await bad.client.publishAsync('keyway/v1/d/garage-1/up/events', JSON.stringify({ v: 1, deviceId: 'garage-1', fromSeq: 1, toSeq: 1, events: 'x'.repeat(1024 * 1024) }), { qos: 1 });
    await bad.client.publishAsync('keyway/v1/d/garage-1/up/events', JSON.stringify({ ...JSON.parse(batch('garage-1', [5])), toSeq: 4 }), { qos: 1 });
    await good.client.publishAsync('keyway/v1/d/garage-2/up/events', batch('garage-2', range(1, 5)), { qos: 1 });
    await waitFor(() => bad.acks.length === 4 && good.acks.length === 1, 5_000, 'four refusals and one ack');
    expect(bad.acks.map((a) => [a.upTo, (a.error as { code: string }).code])).toEqual([
      [0, 'MALFORMED_JSON'],
      [0, 'BATCH_TOO_LARGE'],
      [0, 'BATCH_TOO_LARGE'],
      [0, 'INVALID_INPUT'],
    ]);
    expect(good.acks[0]).toMatchObject({ upTo: 5 });
    expect(bad.client.connected).toBe(true);
    await waitFor(() => hub.ofType('keyway.device.Heartbeat').length === 5, 5_000, "the good device's events");
    expect(hub.ofType('keyway.device.Heartbeat').every((e) => e.source === 'keyway://device/garage-2')).toBe(true);
  });

  it('reports schema-invalid events as rejected in the ack without blocking the sequence', async () => {
    const { client, acks } = await device('garage-1');
    const payload = batch('garage-1', range(1, 4), (seq) => {
      const e = heartbeatFor('garage-1', seq);
      return seq === 3 ? { ...e, data: { deviceId: 'garage-1', uptimeS: -5, at: 'yesterday' } } : e;
    });
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the ack');
    expect(acks[0]).toMatchObject({ upTo: 4, rejected: [{ seq: 3, code: 'VALIDATION_FAILED' }] });
    await waitFor(() => hub.ofType('keyway.device.Heartbeat').length === 3, 5_000, 'three heartbeats');
    // Acknowledged, so the device deletes it, yet not lost: kept with its body.
    const kept = await hub.state.listRefusedEvents('garage-1', { limit: 10 });
    expect(kept).toMatchObject([{ deviceId: 'garage-1', seq: 3, code: 'VALIDATION_FAILED' }]);
    expect(JSON.parse(kept[0]!.payload)).toMatchObject({ id: 'garage-1-3', data: { uptimeS: -5, at: 'yesterday' } });
  });

  it('does not acknowledge refused events it could not keep, so the device sends them again', async () => {
    const { client, acks } = await device('garage-1');
    const keep = hub.state.keepRefusedEvents.bind(hub.state);
    let failures = 1;
    hub.state.keepRefusedEvents = (rows) => (failures-- > 0 ? Promise.reject(new Error('disk full')) : keep(rows));
    const payload = batch('garage-1', range(1, 4), (seq) => (seq === 3 ? { ...heartbeatFor('garage-1', seq), dataschema: 'https://keyway.dev/schemas/device/Heartbeat.v9.json' } : heartbeatFor('garage-1', seq)));
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the first ack');
    expect(acks[0]).toMatchObject({ upTo: 2, error: { code: 'UNAVAILABLE' } });
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 2, 5_000, 'the second ack');
    expect(acks[1]).toMatchObject({ upTo: 4, rejected: [{ seq: 3, code: 'UNKNOWN_SCHEMA_VERSION' }] });
    expect((await hub.state.listRefusedEvents('garage-1', { limit: 10 })).map((r) => r.seq)).toEqual([3]);
  });

  it('closes a connection whose packet header declares more than the limit, before buffering it: 64 KiB before login, 4 MiB after', async () => {
    const port = Number(new URL(hub.url).port);
    // A CONNECT header declaring MQTT's maximum (268,435,455 bytes), then 256 KiB of it, from a client that never logs in.
    const raw = connectTcp(port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    raw.on('error', () => undefined);
    raw.write(Buffer.concat([Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]), Buffer.alloc(256 * 1024)]));
    await closed;

    const big = await device('garage-1');
    const gone = new Promise<void>((resolve) => big.client.once('close', () => resolve()));
    big.client.publish('keyway/v1/d/garage-1/up/events', Buffer.alloc(5 * 1024 * 1024, 0x20), { qos: 0 });
    await gone;

    // Others are served as before, and a batch over 1 MiB but under the packet limit still gets its typed refusal.
    const good = await device('garage-2');
    await good.client.publishAsync('keyway/v1/d/garage-2/up/events', JSON.stringify({ v: 1, deviceId: 'garage-2', fromSeq: 1, toSeq: 1, events: 'x'.repeat(1024 * 1024) }), { qos: 1 });
    await good.client.publishAsync('keyway/v1/d/garage-2/up/events', batch('garage-2', range(1, 2)), { qos: 1 });
    await waitFor(() => good.acks.length === 2, 5_000, 'two acks');
    expect(good.acks.map((a) => [a.upTo, (a.error as { code: string } | undefined)?.code])).toEqual([[0, 'BATCH_TOO_LARGE'], [2, undefined]]);
  });

  it('refuses for good an event nested too deeply to store, so the events after it are not held up', async () => {
    const { client, acks } = await device('garage-1');
    // Built as text: the test's own JSON.stringify could not serialize 10,000 levels either.
    const payload = batch('garage-1', range(1, 3), (seq) => (seq === 2 ? { ...heartbeatFor('garage-1', seq), data: 'DEEP' } : heartbeatFor('garage-1', seq)));
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload.replace('"DEEP"', `${'['.repeat(10_000)}${']'.repeat(10_000)}`), { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the ack');
    expect(acks[0]).toMatchObject({ upTo: 3, rejected: [{ seq: 2, code: 'VALIDATION_FAILED' }] });
    expect(acks[0]).not.toHaveProperty('error');
    await waitFor(() => hub.ofType('keyway.device.Heartbeat').length === 2, 5_000, 'the two other heartbeats');
  });
});

function heartbeatFor(deviceId: string, seq: number): Record<string, unknown> {
  return JSON.parse(batch(deviceId, [seq])).events[0].event as Record<string, unknown>;
}
