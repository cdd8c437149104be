/**
 * Failures under load in the scale-out profile: a replica SIGKILLed while events are published through both, and
 * PostgreSQL restarted while the hub is busy. Every event a replica acknowledged must reach the subscriber.
 * Needs Debian's `postgresql` and `mosquitto` packages; skips, saying which, when either is absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_MISSING, postgresAvailable, startPostgres, type PostgresServer } from '../support/postgres.js';
import { mosquittoInstalled } from '../support/mosquitto.js';
import { MOSQUITTO_MISSING, startScaleBroker, type ScaleBroker } from './broker.js';
import { clusterSecrets, spawnReplica, startReplica, until, type ClusterSecrets, type InProcessReplica, type ProcessReplica, type Replica } from './cluster.js';
import { startPublisher, startSink, type Sink } from './load.js';

const available = postgresAvailable() && mosquittoInstalled;
if (!postgresAvailable()) console.warn(`skipping the scale-out failover tests: ${POSTGRES_MISSING}`);
if (!mosquittoInstalled) console.warn(`skipping the scale-out failover tests: ${MOSQUITTO_MISSING}`);

// Short enough that a dead replica's claims are taken over within the test, long enough for a slow webhook: a claim's
// lease is never shorter than the subscriber's attempt limit (timeoutMs 1 s below) plus 2 s.
const LEASE_MS = 3000;
const SUBSCRIBER = 'scale-sink';

describe.skipIf(!available)('scale-out failures under load', () => {
  let pg: PostgresServer;
  let broker: ScaleBroker;
  let secrets: ClusterSecrets;
  let db = '';
  let a: InProcessReplica;
  let sink: Sink;
  let deliveryKey = '';
  let subscribersFile = '';
  const extra: Replica[] = [];

  beforeAll(async () => {
    secrets = clusterSecrets();
    pg = await startPostgres();
    db = await pg.createDatabase('scale_failover');
    broker = await startScaleBroker(secrets.root);
    sink = await startSink(20);
    // Declared from a file by every replica at start, so each runs delivery workers for it (a subscriber declared
    // through the API while the replicas run has workers only on the replica that took the call until the others restart).
    subscribersFile = path.join(secrets.root, 'subscribers.json');
    fs.writeFileSync(
      subscribersFile,
      JSON.stringify({ subscribers: [{ name: SUBSCRIBER, account: 'delivery', types: ['keyway.delivery.PackagePlaced'], concurrency: 8, timeoutMs: 1000, target: { kind: 'webhook', url: sink.url, secret: 'sink-secret-0123456789' } }] }),
    );
    a = await startReplica({ name: 'replica-a', databaseUrl: db, brokerUrl: broker.url, secrets, busLeaseMs: LEASE_MS, subscribersFile });
    deliveryKey = (await a.call('POST', '/v1/accounts/delivery/keys')).body.apiKey as string;
    expect(deliveryKey).toBeTruthy();
  }, 60_000);

  afterAll(async () => {
    for (const r of extra) await r.stop().catch(() => undefined);
    await a?.stop();
    await sink?.close();
    await broker?.stop();
    await pg?.stop();
    if (secrets) fs.rmSync(secrets.root, { recursive: true, force: true });
  }, 60_000);

  async function queueDrained(): Promise<boolean> {
    const stats = await a.hub.internals.busStore.stats(SUBSCRIBER, Date.now());
    return stats.queued === 0 && stats.dead === 0;
  }

  it('when one replica is SIGKILLed while events are published through both, every acknowledged event is delivered and only its in-flight ones are repeated', async () => {
    const b: ProcessReplica = await spawnReplica({ name: 'replica-b', databaseUrl: db, brokerUrl: broker.url, secrets, busLeaseMs: LEASE_MS, subscribersFile });
    extra.push(b);
    let live: Replica[] = [a, b];
    const publisher = startPublisher(() => live, deliveryKey, 'kill');
    await until('load through both replicas', () => publisher.acknowledged.size >= 300, 20_000);
    expect(publisher.byReplica.get('replica-b')).toBeGreaterThan(50);
    // Slow the receiver so both replicas hold deliveries in flight (sent, not yet answered) when b dies.
    sink.delayMs = 400;
    await new Promise((r) => setTimeout(r, 250));
    const killedAt = Date.now();
    await b.kill('SIGKILL');
    sink.delayMs = 20;
    live = [a];
    await until('more load after the kill', () => publisher.acknowledged.size >= 600, 20_000);
    await publisher.stop();

    const acknowledged = [...publisher.acknowledged];
    await until('every acknowledged event at the sink', () => acknowledged.every((id) => sink.received().has(id)), 30_000);
    await until('the queue to drain', queueDrained, 10_000);
    const missing = acknowledged.filter((id) => !sink.received().has(id));
    expect(missing).toEqual([]);
    // At-least-once: a delivery is repeated only when it was in flight on the killed replica (received before the kill,
    // never acknowledged to PostgreSQL), and then by the survivor once the lease ran out.
    const dups = sink.duplicates().filter((id) => id.startsWith('kill-'));
    // b's in-flight deliveries were taken over by a once their lease ran out.
    expect(dups.length).toBeGreaterThan(0);
    for (const id of dups) {
      const firsts = sink.receipts.filter((r) => r.id === id);
      // Stamped by this busy process, so possibly late; a takeover needs the lease (3 s) to run out, so a first receipt
      // before killedAt + 2 s was b's own delivery.
      expect(firsts[0]!.at).toBeLessThan(killedAt + LEASE_MS - 1000);
      expect(firsts).toHaveLength(2);
    }
    console.log(`SIGKILL run: ${acknowledged.length} acknowledged, all delivered; ${dups.length} redelivered after the kill; ${publisher.failedCalls} calls failed`);
  }, 90_000);

  it('when PostgreSQL restarts under load, /readyz goes 503 then 200 by itself and every acknowledged event is delivered', async () => {
    const publisher = startPublisher(() => [a], deliveryKey, 'restart');
    await until('load before the restart', () => publisher.acknowledged.size >= 200, 20_000);
    const readiness: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const r = await a.call('GET', '/readyz').catch(() => ({ status: 0, body: undefined }));
        if (readiness[readiness.length - 1] !== r.status) readiness.push(r.status);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    await until('the watcher to see the hub ready', () => readiness[readiness.length - 1] === 200, 10_000);
    // Only what happens from here on counts (a loaded machine may have flapped before).
    readiness.splice(0, readiness.length - 1);
    const before = publisher.acknowledged.size;
    await pg.restart(1500);
    await until('ready again', () => readiness[readiness.length - 1] === 200 && readiness.includes(503), 30_000);
    await until('load after the restart', () => publisher.acknowledged.size >= before + 200, 30_000);
    await publisher.stop();
    watching = false;
    await watcher;

    // Ready, not ready while the server is down, ready again (a loaded machine may add a flap in between).
    expect(readiness[0]).toBe(200);
    expect(readiness).toContain(503);
    expect(readiness[readiness.length - 1]).toBe(200);
    const acknowledged = [...publisher.acknowledged];
    await until('every acknowledged event at the sink', () => acknowledged.every((id) => sink.received().has(id)), 30_000);
    await until('the queue to drain', queueDrained, 10_000);
    expect(acknowledged.filter((id) => !sink.received().has(id))).toEqual([]);
    console.log(`PostgreSQL restart: ${acknowledged.length} acknowledged, all delivered; ${publisher.failedCalls} calls failed during the outage`);
  }, 90_000);
});
