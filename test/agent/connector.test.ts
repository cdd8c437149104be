import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MqttConnector, type ConnectorStatus, type DeviceConnector, type LastWill } from '@keyway/agent/sync';
import { AwsIotConnector } from '../../agent/src/sync/aws-iot-connector.js';
import { mosquittoPath, startAedes, startMosquitto, type TestBroker } from './support/brokers.js';
import { NetworkCut } from './support/proxy.js';
import { makeThrowawayPki, mutualTlsListenerLines, opensslAvailable, type ThrowawayPki } from './support/tls.js';
import { waitUntil } from '../../scripts/support/until.js';

interface SuiteTarget {
  startBroker(): Promise<TestBroker>;
  /** A connector for device `garage-1` reaching the broker at 127.0.0.1:`port`. */
  makeConnector(port: number, will: LastWill): DeviceConnector;
  /** Options for the test's own mqtt.js client playing the hub. */
  peerOptions(): mqtt.IClientOptions;
  peerUrl(broker: TestBroker): string;
}

const backoff = { baseMs: 50, capMs: 400 };

/** One suite, run unchanged against every connector and every broker it must work with. */
function connectorSuite(title: string, target: SuiteTarget): void {
  describe(title, () => {
    let broker: TestBroker | undefined;
    const cleanups: Array<() => Promise<void>> = [];

    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
      await broker?.stop();
      broker = undefined;
    });

    const will: LastWill = { topic: 'keyway/v1/d/garage-1/status', payload: JSON.stringify({ v: 1, online: false }), qos: 1, retain: true };

    async function setup(): Promise<{ connector: DeviceConnector; statuses: ConnectorStatus[]; proxy: NetworkCut; b: TestBroker }> {
      const b = (broker = await target.startBroker());
      const proxy = new NetworkCut(b.port);
      await proxy.start();
      cleanups.push(() => proxy.stop());
      const connector = target.makeConnector(proxy.port, will);
      const statuses: ConnectorStatus[] = [];
      connector.onStatus((s) => statuses.push(s));
      cleanups.push(() => connector.stop());
      return { connector, statuses, proxy, b };
    }

    async function peer(b: TestBroker): Promise<mqtt.MqttClient> {
      const client = await mqtt.connectAsync(target.peerUrl(b), { reconnectPeriod: 0, ...target.peerOptions() });
      cleanups.push(() => client.endAsync());
      return client;
    }

    it('connects, receives messages on its subscriptions, and publishes at QoS 1', async () => {
      const { connector, b } = await setup();
      const got: string[] = [];
      await connector.subscribe('keyway/v1/d/garage-1/down/#', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
      await connector.start();
      await waitUntil(() => connector.connected);
      const hub = await peer(b);
      const upstream: string[] = [];
      hub.on('message', (_t, p) => upstream.push(p.toString()));
      await hub.subscribeAsync('keyway/v1/d/garage-1/up/events', { qos: 1 });
      await hub.publishAsync('keyway/v1/d/garage-1/down/ack', 'hello', { qos: 1 });
      await connector.publish('keyway/v1/d/garage-1/up/events', 'batch-1', { qos: 1 });
      await waitUntil(() => got.length === 1 && upstream.length === 1);
      expect(got).toEqual(['keyway/v1/d/garage-1/down/ack=hello']);
      expect(upstream).toEqual(['batch-1']);
    });

    it('refuses to publish while disconnected, so the caller keeps the message', async () => {
      const { connector, proxy } = await setup();
      await proxy.cut();
      await connector.start();
      await expect(connector.publish('keyway/v1/d/garage-1/up/events', 'x', { qos: 1 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    });

    it('when the network goes away, reconnects with growing jittered delays and renews its subscriptions', async () => {
      const { connector, statuses, proxy, b } = await setup();
      const got: string[] = [];
      await connector.subscribe('keyway/v1/d/garage-1/down/cmd', (_t, p) => got.push(p.toString()));
      await connector.start();
      await waitUntil(() => connector.connected);
      await proxy.cut();
      await waitUntil(() => statuses.filter((s) => s.type === 'reconnecting').length >= 3);
      const delays = statuses.flatMap((s) => (s.type === 'reconnecting' ? [s.delayMs] : []));
      expect(delays[0]).toBeLessThanOrEqual(backoff.baseMs);
      expect(Math.max(...delays)).toBeGreaterThan(delays[0]!);
      expect(Math.max(...delays)).toBeLessThanOrEqual(backoff.capMs);
      await proxy.restore();
      await waitUntil(() => connector.connected);
      const hub = await peer(b);
      await hub.publishAsync('keyway/v1/d/garage-1/down/cmd', 'after-reconnect', { qos: 1 });
      await waitUntil(() => got.includes('after-reconnect'));
    });

    it('a graceful stop closes the connection within its bound even when a QoS 1 publish is never acknowledged', async () => {
      const { connector, proxy } = await setup();
      await connector.start();
      await waitUntil(() => connector.connected);
      expect(proxy.openConnections).toBe(1);
      proxy.stall();
      // Never acknowledged: the graceful end cannot complete by itself.
      const pending = connector.publish('keyway/v1/d/garage-1/up/events', 'unacked', { qos: 1 }).catch(() => undefined);
      const started = Date.now();
      await connector.stop({ graceful: true });
      expect(Date.now() - started).toBeLessThan(10_000);
      // The socket is closed (not just forgotten while its keepalive keeps the process alive).
      await waitUntil(() => proxy.openConnections === 0, 5_000);
      void pending;
    });

    it('when the device vanishes without disconnecting, the broker publishes its retained offline Last Will', async () => {
      const { connector, proxy, b } = await setup();
      await connector.start();
      await waitUntil(() => connector.connected);
      await proxy.cut();
      const watcher = await peer(b);
      const status: string[] = [];
      watcher.on('message', (_t, p) => status.push(p.toString()));
      await watcher.subscribeAsync('keyway/v1/d/garage-1/status', { qos: 1 });
      await waitUntil(() => status.length > 0);
      expect(JSON.parse(status[0]!)).toMatchObject({ online: false });
    });
  });
}

const plain = (startBroker: () => Promise<TestBroker>): SuiteTarget => ({
  startBroker,
  makeConnector: (port, will) => new MqttConnector({ url: `mqtt://127.0.0.1:${port}`, clientId: 'garage-1', backoff, will, connectTimeoutMs: 2_000 }),
  peerOptions: () => ({}),
  peerUrl: (b) => b.url,
});

connectorSuite('mqtt connector against the embedded broker (aedes)', plain(() => startAedes()));

// mosquitto suites run when the Debian package `mosquitto` is installed (CI installs it); the mutual-TLS ones
// also need `openssl` for the throwaway CA. Otherwise they are skipped with this message.
const haveMosquitto = mosquittoPath !== undefined;
if (!haveMosquitto) console.log('skipping the mosquitto connector suites: install the Debian package "mosquitto"');
if (!opensslAvailable) console.log('skipping the mutual-TLS connector suites: install the Debian package "openssl"');

describe.skipIf(!haveMosquitto)('with mosquitto installed', () => {
  connectorSuite('mqtt connector against mosquitto', plain(() => startMosquitto()));
});

describe.skipIf(!haveMosquitto || !opensslAvailable)('with mosquitto requiring client certificates from a throwaway CA', () => {
  let pki: ThrowawayPki;
  beforeAll(() => {
    pki = makeThrowawayPki('garage-1');
  });
  afterAll(() => pki.dispose());
  const tlsTarget = (make: (port: number, will: LastWill) => DeviceConnector): SuiteTarget => ({
    startBroker: () => startMosquitto({ tls: true, listenerLines: mutualTlsListenerLines(pki) }),
    makeConnector: make,
    peerOptions: () => ({ ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) }),
    peerUrl: (b) => b.url,
  });

  connectorSuite(
    'mqtt connector over mutual TLS',
    tlsTarget((port, will) => new MqttConnector({ url: `mqtts://127.0.0.1:${port}`, clientId: 'garage-1', backoff, will, connectTimeoutMs: 2_000, tls: { caPath: pki.caCert, certPath: pki.clientCert, keyPath: pki.clientKey } })),
  );

  connectorSuite(
    'aws-iot connector (aws-iot-device-sdk-v2) over mutual TLS',
    tlsTarget((port, will) => new AwsIotConnector({ endpoint: '127.0.0.1', port, clientId: 'garage-1', certPath: pki.clientCert, keyPath: pki.clientKey, caPath: pki.caCert, backoff, will, connectTimeoutMs: 2_000 })),
  );

  it('a device certificate from another CA is refused by the broker', async () => {
    const broker = await startMosquitto({ tls: true, listenerLines: mutualTlsListenerLines(pki) });
    const connector = new MqttConnector({ url: broker.url, clientId: 'garage-1', backoff, connectTimeoutMs: 2_000, tls: { caPath: pki.caCert, certPath: pki.strangerCert, keyPath: pki.strangerKey } });
    const statuses: ConnectorStatus[] = [];
    connector.onStatus((s) => statuses.push(s));
    await connector.start();
    await waitUntil(() => statuses.some((s) => s.type === 'reconnecting'), 10_000);
    expect(connector.connected).toBe(false);
    await connector.stop();
    await broker.stop();
  });
});
