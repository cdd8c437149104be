import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttConnector, type ConnectorStatus, type DeviceConnector } from '@keyway/agent/sync';
import { mosquittoPath, startAedes, startMosquitto, type TestBroker } from './support/brokers.js';

/** One suite, run unchanged against every broker a DeviceConnector must work with. */
function connectorSuite(brokerName: string, startBroker: (port?: number) => Promise<TestBroker>): void {
  describe(`DeviceConnector (mqtt.js) against ${brokerName}`, () => {
    let broker: TestBroker | undefined;
    const cleanups: Array<() => Promise<void>> = [];

    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
      await broker?.stop();
      broker = undefined;
    });

    function makeConnector(url: string, deviceId = 'garage-1'): { connector: DeviceConnector; statuses: ConnectorStatus[] } {
      const connector = new MqttConnector({
        url,
        clientId: `${deviceId}-${Math.random().toString(16).slice(2)}`,
        backoff: { baseMs: 50, capMs: 400 },
        will: { topic: `keyway/v1/d/${deviceId}/status`, payload: JSON.stringify({ v: 1, online: false }), qos: 1, retain: true },
        connectTimeoutMs: 2_000,
      });
      const statuses: ConnectorStatus[] = [];
      connector.onStatus((s) => statuses.push(s));
      cleanups.push(() => connector.stop());
      return { connector, statuses };
    }

    async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error('condition not met in time');
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    async function peer(url: string): Promise<mqtt.MqttClient> {
      const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
      cleanups.push(() => client.endAsync());
      return client;
    }

    it('connects, receives messages on its subscriptions, and publishes at QoS 1', async () => {
      broker = await startBroker();
      const { connector } = makeConnector(broker.url);
      const got: string[] = [];
      await connector.subscribe('keyway/v1/d/garage-1/down/#', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
      await connector.start();
      await until(() => connector.connected);
      const hub = await peer(broker.url);
      const upstream: string[] = [];
      hub.on('message', (_t, p) => upstream.push(p.toString()));
      await hub.subscribeAsync('keyway/v1/d/garage-1/up/events', { qos: 1 });
      await hub.publishAsync('keyway/v1/d/garage-1/down/ack', 'hello', { qos: 1 });
      await connector.publish('keyway/v1/d/garage-1/up/events', 'batch-1', { qos: 1 });
      await until(() => got.length === 1 && upstream.length === 1);
      expect(got).toEqual(['keyway/v1/d/garage-1/down/ack=hello']);
      expect(upstream).toEqual(['batch-1']);
    });

    it('refuses to publish while disconnected, so the caller keeps the message', async () => {
      broker = await startBroker();
      const port = broker.port;
      await broker.stop();
      broker = undefined;
      const { connector } = makeConnector(`mqtt://127.0.0.1:${port}`);
      await connector.start();
      await expect(connector.publish('keyway/v1/d/garage-1/up/events', 'x', { qos: 1 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    });

    it('when the broker goes away, reconnects with growing jittered delays and renews its subscriptions', async () => {
      broker = await startBroker();
      const port = broker.port;
      const { connector, statuses } = makeConnector(broker.url);
      const got: string[] = [];
      await connector.subscribe('keyway/v1/d/garage-1/down/cmd', (_t, p) => got.push(p.toString()));
      await connector.start();
      await until(() => connector.connected);
      await broker.stop();
      broker = undefined;
      await until(() => statuses.filter((s) => s.type === 'reconnecting').length >= 3);
      const delays = statuses.flatMap((s) => (s.type === 'reconnecting' ? [s.delayMs] : []));
      expect(delays[0]).toBeLessThanOrEqual(50);
      expect(Math.max(...delays)).toBeGreaterThan(delays[0]!);
      expect(Math.max(...delays)).toBeLessThanOrEqual(400);
      broker = await startBroker(port);
      await until(() => connector.connected, 5_000);
      const hub = await peer(broker.url);
      await hub.publishAsync('keyway/v1/d/garage-1/down/cmd', 'after-reconnect', { qos: 1 });
      await until(() => got.includes('after-reconnect'));
    });

    it('when the device vanishes without disconnecting, the broker publishes its retained offline Last Will', async () => {
      broker = await startBroker();
      const { connector } = makeConnector(broker.url);
      await connector.start();
      await until(() => connector.connected);
      await connector.stop({ graceful: false });
      const watcher = await peer(broker.url);
      const status: string[] = [];
      watcher.on('message', (_t, p) => status.push(p.toString()));
      await watcher.subscribeAsync('keyway/v1/d/garage-1/status', { qos: 1 });
      await until(() => status.length > 0);
      expect(JSON.parse(status[0]!)).toMatchObject({ online: false });
    });
  });
}

connectorSuite('the embedded broker (aedes)', (port) => startAedes(port));

// mosquitto runs when the Debian package `mosquitto` is installed (CI installs it); otherwise this suite is skipped.
if (!mosquittoPath) console.log('skipping the mosquitto connector suite: install the Debian package "mosquitto"');
describe.skipIf(!mosquittoPath)('with mosquitto installed', () => {
  connectorSuite('mosquitto', (port) => startMosquitto(port === undefined ? {} : { port }));
});
