import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, openAgentDatabase, type AgentDatabase } from '@keyway/agent/outbox';
import { MqttConnector, SyncLoop } from '@keyway/agent/sync';
import { HubAckResponder } from '../../agent/src/sync/test-support/hub-responder.js';
import { startAedes, type TestBroker } from './support/brokers.js';
import { waitUntil } from '../../scripts/support/until.js';

const at = '2026-11-28T10:00:00.000Z';

function assertDeliveredOnceInOrder(responder: HubAckResponder, deviceId: string, firstSeq: number, lastSeq: number): void {
  const got = responder.received.get(deviceId) ?? [];
  expect(got.length).toBe(lastSeq - firstSeq + 1);
  got.forEach((e, i) => {
    expect(e.seq).toBe(firstSeq + i);
    expect(e.id).toBe(`${deviceId}-${e.seq}`);
  });
}

describe('sync over a real broker', () => {
  let dir: string;
  let db: AgentDatabase;
  let broker: TestBroker | undefined;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyway-sync-'));
    db = openAgentDatabase(join(dir, 'agent.db'));
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await broker?.stop();
    broker = undefined;
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function agentParts(url: string, deviceId = 'garage-1'): Promise<{ outbox: Outbox; sync: SyncLoop; connector: MqttConnector }> {
    const outbox = new Outbox(db, { deviceId, caps: { maxRows: 100_000, maxBytes: 100_000_000 } });
    await outbox.start();
    const connector = new MqttConnector({ url, clientId: `${deviceId}-${Math.random()}`, backoff: { baseMs: 50, capMs: 300 } });
    const sync = new SyncLoop(outbox, connector, { deviceId, batchMaxEvents: 250, maxInFlight: 3, ackTimeoutMs: 1_000 });
    await sync.start();
    await connector.start();
    cleanups.push(async () => {
      await sync.stop();
      await connector.stop();
      await outbox.stop();
    });
    return { outbox, sync, connector };
  }

  it('after a long stretch offline, every event buffered meanwhile is delivered once, in order, and the outbox empties', async () => {
    broker = await startAedes();
    const port = broker.port;
    await broker.stop();
    broker = undefined;
    const { outbox, sync } = await agentParts(`mqtt://127.0.0.1:${port}`);
    for (let i = 0; i < 30; i++) {
      outbox.appendMany(Array.from({ length: 100 }, (_, j) => ({ type: 'keyway.device.Heartbeat' as const, data: { deviceId: 'garage-1', uptimeS: i * 100 + j, at } })));
    }
    outbox.append('keyway.device.DoorStateChanged', { deviceId: 'garage-1', state: 'opening', previous: 'closed', at, cause: { kind: 'command', commandId: 'c-1' } });
    await new Promise((r) => setTimeout(r, 500));
    expect(sync.status().acks).toBe(0);
    broker = await startAedes(port);
    const responder = new HubAckResponder({ url: broker.url });
    await responder.start();
    cleanups.push(() => responder.stop());
    await responder.waitFor(() => responder.count('garage-1') === 3001, 15_000);
    await waitUntil(() => outbox.stats().depth === 0);
    assertDeliveredOnceInOrder(responder, 'garage-1', 1, 3001);
    expect(responder.received.get('garage-1')?.at(-1)?.type).toBe('keyway.device.DoorStateChanged');
    expect(sync.status().lastSyncAt).not.toBeNull();
  });

  it('when the cap is reached offline, only heartbeats are dropped, and the hub receives every door event plus the drop report', async () => {
    broker = await startAedes();
    const port = broker.port;
    await broker.stop();
    broker = undefined;
    const outbox = new Outbox(db, { deviceId: 'garage-1', caps: { maxRows: 200, maxBytes: 10_000_000 } });
    await outbox.start();
    const connector = new MqttConnector({ url: `mqtt://127.0.0.1:${port}`, clientId: 'garage-1-cap', backoff: { baseMs: 50, capMs: 300 } });
    const sync = new SyncLoop(outbox, connector, { deviceId: 'garage-1', batchMaxEvents: 100 });
    await sync.start();
    await connector.start();
    cleanups.push(async () => {
      await sync.stop();
      await connector.stop();
      await outbox.stop();
    });
    for (let i = 0; i < 1_000; i++) {
      if (i % 10 === 0) outbox.append('keyway.device.DoorStateChanged', { deviceId: 'garage-1', state: i % 20 === 0 ? 'open' : 'closed', previous: i % 20 === 0 ? 'closed' : 'open', at, cause: { kind: 'wall-button' } });
      else outbox.append('keyway.device.Heartbeat', { deviceId: 'garage-1', uptimeS: i, at });
    }
    expect(outbox.stats().depth).toBeLessThanOrEqual(200);
    broker = await startAedes(port);
    const responder = new HubAckResponder({ url: broker.url });
    await responder.start();
    cleanups.push(() => responder.stop());
    await waitUntil(() => outbox.stats().depth === 0, 15_000);
    const got = responder.received.get('garage-1') ?? [];
    expect(got.filter((e) => e.type === 'keyway.device.DoorStateChanged')).toHaveLength(100);
    expect(got.filter((e) => e.type === 'keyway.device.EventsDropped').length).toBeGreaterThanOrEqual(1);
    const heartbeats = got.filter((e) => e.type === 'keyway.device.Heartbeat').length;
    expect(heartbeats).toBeGreaterThan(0);
    expect(heartbeats).toBeLessThan(900);
    expect(heartbeats + outbox.stats().droppedTotal).toBe(900);
    // Still in order.
    expect(got.map((e) => e.seq)).toEqual([...got.map((e) => e.seq)].sort((a, b) => a - b));
  });

  it('rows stay in the outbox until the hub acknowledges them, and are resent when no ack comes', async () => {
    broker = await startAedes();
    const responder = new HubAckResponder({ url: broker.url });
    responder.acking = false;
    await responder.start();
    cleanups.push(() => responder.stop());
    const { outbox } = await agentParts(broker.url);
    outbox.appendMany(Array.from({ length: 10 }, (_, i) => ({ type: 'keyway.device.Heartbeat' as const, data: { deviceId: 'garage-1', uptimeS: i, at } })));
    await responder.waitFor(() => responder.count('garage-1') === 10);
    await new Promise((r) => setTimeout(r, 300));
    expect(outbox.stats().depth).toBe(10);
    responder.acking = true;
    // The ack timeout (1 s) makes the loop resend; the responder sees duplicates and acks them.
    await waitUntil(() => outbox.stats().depth === 0, 5_000);
    expect(responder.duplicates).toBeGreaterThan(0);
    assertDeliveredOnceInOrder(responder, 'garage-1', 1, 10);
  });

  it('SIGKILL of the agent in the middle of a sync loses nothing and duplicates nothing at the receiver', async () => {
    broker = await startAedes();
    const responder = new HubAckResponder({ url: broker.url });
    await responder.start();
    cleanups.push(() => responder.stop());
    const dbPath = join(dir, 'child.db');
    const total = 10_000;
    const child1 = runChild(dbPath, broker.url, total);
    // Kill once some batches went through but far from all.
    await responder.waitFor(() => responder.count('garage-9') > 1_000, 20_000);
    child1.kill('SIGKILL');
    await new Promise((r) => child1.once('exit', r));
    expect(responder.count('garage-9')).toBeLessThan(total);
    const child2 = runChild(dbPath, broker.url, 0);
    cleanups.push(async () => {
      child2.kill('SIGKILL');
      await new Promise((r) => (child2.exitCode === null ? child2.once('exit', r) : r(undefined)));
    });
    await responder.waitFor(() => responder.count('garage-9') === total, 30_000);
    assertDeliveredOnceInOrder(responder, 'garage-9', 1, total);
  }, 60_000);

  it('SIGKILL right after an append returned never loses that event', async () => {
    const dbPath = join(dir, 'append.db');
    const child = runChild(dbPath, 'mqtt://127.0.0.1:1', 50_000);
    let lastReported = 0;
    child.stdout?.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/appended (\d+)/g)) lastReported = Number(m[1]);
    });
    await waitUntil(() => lastReported >= 1_000, 20_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const reopened = openAgentDatabase(dbPath);
    const outbox = new Outbox(reopened, { deviceId: 'garage-9', caps: { maxRows: 1_000_000, maxBytes: 1_000_000_000 } });
    await outbox.start();
    const stats = outbox.stats();
    await outbox.stop();
    reopened.close();
    expect(stats.lastSeq).toBeGreaterThanOrEqual(lastReported);
    expect(stats.depth).toBe(stats.lastSeq);
  }, 30_000);
});

function runChild(dbPath: string, url: string, appendCount: number): ChildProcess {
  const script = join(process.cwd(), 'test/agent/fixtures/sync-child.ts');
  // `node --import tsx`, not the tsx wrapper: the signal must reach the process that holds the database.
  return spawn(process.execPath, ['--import', 'tsx', script, dbPath, url, String(appendCount)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KEYWAY_LOG_LEVEL: 'silent' } });
}
