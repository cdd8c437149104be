import mqtt, { type MqttClient } from 'mqtt';
import { parseDeviceTopic, type Logger } from '@keyway/shared';
import type { GatewayTransport, TransportSink } from './transport.js';

export interface ExternalTransportOptions {
  url: string;
  username?: string;
  password?: string;
  shareGroup?: string;
  clientId?: string;
  ca?: string | Buffer;
  log: Logger;
}

/** Work topics: with a share group each message reaches one replica, which validates, stores and acks it. */
const SHARED_FILTERS = ['keyway/v1/d/+/up/events', 'keyway/v1/d/+/state'];
/** Every replica must see presence and command results: presence answers isOnline, results go to local waiters. */
const BROADCAST_FILTERS = ['keyway/v1/d/+/status', 'keyway/v1/d/+/up/cmd-result'];

/**
 * The gateway as a client of an external broker (mosquitto, EMQX, NATS MQTT). The broker authenticates devices
 * and enforces their topic ACLs (see renderMosquittoAcl); the gateway still validates every payload itself.
 */
export class ExternalTransport implements GatewayTransport {
  private client: MqttClient | undefined;

  constructor(private readonly options: ExternalTransportOptions) {}

  async start(sink: TransportSink): Promise<void> {
    const o = this.options;
    const client = await mqtt.connectAsync(o.url, {
      clientId: o.clientId ?? `keyway-hub-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1_000,
      resubscribe: true,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    });
    this.client = client;
    // Acks and commands are small writes answered at once: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms each.
    const noDelay = (): void => (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    noDelay();
    client.on('connect', noDelay);
    client.on('message', (topic, payload) => {
      const parsed = parseDeviceTopic(topic);
      if (parsed) sink.message({ deviceId: parsed.deviceId, suffix: parsed.suffix, payload });
    });
    client.on('error', (error) => o.log.warn({ err: error.message }, 'external broker connection error'));
    const shared = o.shareGroup ? SHARED_FILTERS.map((f) => `$share/${o.shareGroup}/${f}`) : SHARED_FILTERS;
    const granted = await client.subscribeAsync([...shared, ...BROADCAST_FILTERS], { qos: 1 });
    const refused = granted.filter((g) => g.qos > 2);
    if (refused.length > 0) {
      o.log.error({ refused: refused.map((g) => g.topic) }, 'the external broker refused gateway subscriptions; check the hub account ACL');
    }
    o.log.info({ url: o.url, shareGroup: o.shareGroup }, 'connected to the external MQTT broker');
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      await client.endAsync();
      client.removeAllListeners();
    }
  }

  async publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('not connected to the external broker');
    await client.publishAsync(topic, payload, { qos: options.qos, retain: options.retain ?? false });
  }

  disconnect(): boolean {
    return false;
  }

  ready(): boolean {
    return this.client?.connected ?? false;
  }

  connectedClients(): undefined {
    return undefined;
  }
}
