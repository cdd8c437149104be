/**
 * The agent's sync loop against the hub's gateway when things go wrong: a hub with smaller batch limits, a hub that
 * restarts while the device reconnects over a slow downlink, and an outbox whose deletes fail. Real SQLite files,
 * real brokers (the gateway's embedded one, or mosquitto as an external broker), real mqtt.js.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Outbox, openAgentDatabase, type AgentDatabase } from '@keyway/agent/outbox';
import { MqttConnector, SyncLoop, type SyncLoopOptions } from '@keyway/agent/sync';
import { DeviceGateway } from '@keyway/hub/gateway';
import { mosquittoPath, startMosquitto, type TestBroker } from '../agent/support/brokers.js';
import { NetworkCut } from '../agent/support/proxy.js';
import { startGatewayHub, waitFor, type GatewayHub } from './helpers.js';

const at = '2026-11-28T10:00:00.000Z';
if (!mosquittoPath) console.warn('skipping the hub-restart sync test: it needs mosquitto (Debian package: mosquitto)');

interface Device {
  db: AgentDatabase;
  outbox: Outbox;
  connector: MqttConnector;
  sync: SyncLoop;
}

describe('the agent sync loop when the hub or the disk misbehaves', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function hubWith(...args: Parameters<typeof startGatewayHub>): Promise<GatewayHub> {
    const h = await startGatewayHub(...args);
    cleanups.push(() => h.close());
    return h;
  }

  async function device(url: string, auth: { username?: string; password?: string }, options: Partial<SyncLoopOptions> = {}): Promise<Device> {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-sync-faults-'));
    const db = openAgentDatabase(join(dir, 'agent.db'));
    const outbox = new Outbox(db, { deviceId: 'garage-1', caps: { maxRows: 100_000, maxBytes: 100_000_000 } });
    await outbox.start();
    const connector = new MqttConnector({ url, clientId: 'garage-1', ...auth, backoff: { baseMs: 50, capMs: 200 } });
    const sync = new SyncLoop(outbox, connector, { deviceId: 'garage-1', maxInFlight: 4, ackTimeoutMs: 2_000, ...options });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => void db.close(), () => outbox.stop(), () => connector.stop(), () => sync.stop());
    await sync.start();
    await connector.start();
    return { db, outbox, connector, sync };
  }

  const heartbeats = (outbox: Outbox, n: number): void => {
    outbox.appendMany(Array.from({ length: n }, (_, j) => ({ type: 'keyway.device.Heartbeat' as const, data: { deviceId: 'garage-1', uptimeS: j, at } })));
  };
  const doorEvent = (outbox: Outbox, commandId: string): void => {
    outbox.append('keyway.device.DoorStateChanged', { deviceId: 'garage-1', state: 'opening', previous: 'closed', at, cause: { kind: 'command', commandId } });
  };
  const seqsOnBus = (h: GatewayHub): number[] =>
    h.seen.filter((e) => e.source === 'keyway://device/garage-1').map((e) => Number(e.id.slice('garage-1-'.length))).sort((a, b) => a - b);

  it('when the hub refuses batches as too large, the agent sends them within the limits the hub states and delivers every event', async () => {
    const h = await hubWith({ limits: { maxBatchEvents: 50 } });
    const token = await h.provision('garage-1');
    const d = await device(h.url, { username: 'garage-1', password: token }, { batchMaxEvents: 500 });
    heartbeats(d.outbox, 300);
    await waitFor(() => d.outbox.stats().depth === 0, 15_000, 'an empty outbox');
    expect(seqsOnBus(h)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it.skipIf(!mosquittoPath)('when the hub restarts and an event is recorded between CONNACK and SUBACK of the reconnect, the batches the hub never stored are not deleted', async () => {
    // An external broker (MQTT 5, as the gateway needs) that outlives the hub's gateway, reached by the device through
    // a proxy that can cut the network.
    const broker: TestBroker = await startMosquitto();
    cleanups.push(() => broker.stop());
    const h = await hubWith({ transport: { kind: 'external', url: broker.url } });
    await h.provision('garage-1');
    const proxy = new NetworkCut(broker.port);
    await proxy.start();
    cleanups.push(() => proxy.cut());
    const d = await device(`mqtt://127.0.0.1:${proxy.port}`, {});
    doorEvent(d.outbox, 'c-1');
    await waitFor(() => d.outbox.stats().depth === 0, 10_000, 'the first event acknowledged');

    // The hub goes away; the broker drops what nobody subscribes to, so events 2 and 3 are sent and never stored.
    await h.gateway.stop();
    doorEvent(d.outbox, 'c-2');
    doorEvent(d.outbox, 'c-3');
    await waitFor(() => d.sync.status().sentSeq === 3, 5_000, 'events 2 and 3 sent');
    await proxy.cut();
    await waitFor(() => !d.connector.connected, 5_000, 'the device to see the cut');
    const gateway = new DeviceGateway({ bus: h.hub.bus, devices: h.state, transport: { kind: 'external', url: broker.url } });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    // The device reconnects over a slow downlink: its SUBACK comes 1.5 s after its CONNACK. Something happens at the
    // door in between.
    proxy.downDelayMs = 1_500;
    await proxy.restore();
    await waitFor(() => d.connector.connected, 10_000, 'CONNACK');
    doorEvent(d.outbox, 'c-4');
    await waitFor(() => d.outbox.stats().depth === 0, 20_000, 'an empty outbox');
    await waitFor(() => seqsOnBus(h).length >= 4, 5_000, 'four events on the bus').catch(() => undefined);
    expect(seqsOnBus(h)).toEqual([1, 2, 3, 4]);
  }, 40_000);

  it.skipIf(!mosquittoPath)('when the wall clock is set back while a batch waits for its ack, the batch is sent again after the ack timeout', async () => {
    const broker: TestBroker = await startMosquitto();
    cleanups.push(() => broker.stop());
    const h = await hubWith({ transport: { kind: 'external', url: broker.url } });
    await h.provision('garage-1');
    const d = await device(broker.url, {});
    doorEvent(d.outbox, 'c-1');
    await waitFor(() => d.outbox.stats().depth === 0, 10_000, 'the first event acknowledged');
    // The hub is away while event 2 is sent: the broker drops it and no ack ever comes.
    await h.gateway.stop();
    doorEvent(d.outbox, 'c-2');
    await waitFor(() => d.sync.status().sentSeq === 2, 5_000, 'event 2 sent');
    const gateway = new DeviceGateway({ bus: h.hub.bus, devices: h.state, transport: { kind: 'external', url: broker.url } });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    // NTP steps the clock of a board without RTC back an hour; the device stays connected, so only the ack timeout
    // (2 s here) sends event 2 again.
    const realNow = Date.now.bind(Date);
    const setBack = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
    cleanups.push(() => setBack.mockRestore());
    await waitFor(() => d.outbox.stats().depth === 0, 10_000, 'event 2 sent again and acknowledged');
    expect(seqsOnBus(h)).toEqual([1, 2]);
  }, 30_000);

  it('when deleting acknowledged events fails, the agent keeps running, keeps the rows, and deletes them once it can', async () => {
    const h = await hubWith();
    const token = await h.provision('garage-1');
    const d = await device(h.url, { username: 'garage-1', password: token }, { deleteDelayMs: 10, deleteRetryMs: 300 });
    doorEvent(d.outbox, 'c-1');
    await waitFor(() => d.outbox.stats().depth === 0, 10_000, 'the first event acknowledged');
    heartbeats(d.outbox, 20);
    // As a full disk or a read-only remount would: from now on every write to the agent's SQLite file fails.
    d.db.pragma('query_only = ON');
    await waitFor(() => d.sync.status().ackedSeq === 21, 10_000, 'the hub to acknowledge all 21');
    await new Promise((r) => setTimeout(r, 700)); // the first delete and at least one retry fail
    expect(d.outbox.stats().depth).toBe(20);
    d.db.pragma('query_only = OFF');
    await waitFor(() => d.outbox.stats().depth === 0, 5_000, 'the retried delete');
    expect(seqsOnBus(h)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  });
});
