import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger, ErrorCode, KeywayError, type Logger } from '@keyway/shared';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { ConnectorStatus, DeviceConnector, LastWill, MessageHandler, PublishOptions } from './connector.js';
import { within } from './within.js';

export interface MqttConnectorOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL. */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** PEM file paths for TLS: the CA that signed the broker, and the device's client certificate and key. */
  tls?: { caPath?: string; certPath?: string; keyPath?: string; rejectUnauthorized?: boolean };
  /** 4 (3.1.1, which NATS's MQTT listener and AWS IoT speak) or 5. Default 4. */
  protocolVersion?: 4 | 5;
  keepaliveS?: number;
  will?: LastWill;
  backoff?: BackoffPolicy;
  connectTimeoutMs?: number;
}

/** A DeviceConnector over mqtt.js, with our own capped, jittered reconnect instead of mqtt.js's fixed period. */
export class MqttConnector implements DeviceConnector {
  readonly name = 'mqtt';
  private client: MqttClient | undefined;
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly listeners = new Set<(status: ConnectorStatus) => void>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly options: MqttConnectorOptions) {
    this.log = createLogger('agent.mqtt', { clientId: options.clientId });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    this.stopping = false;
    const o = this.options;
    const tls = o.tls;
    const clientOptions: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: o.protocolVersion ?? 4,
      clean: true,
      keepalive: o.keepaliveS ?? 30,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      resubscribe: false,
      // mqtt-packet otherwise pre-builds a Buffer for every 16-bit number (65,536 of them, about 6 MB of
      // heap) on the first write: a third of an idle agent's JS heap, to save allocating two bytes.
      writeCache: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.will ? { will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos, retain: o.will.retain } } : {}),
      ...(tls
        ? {
            ...(tls.caPath ? { ca: readFileSync(tls.caPath) } : {}),
            ...(tls.certPath ? { cert: readFileSync(tls.certPath) } : {}),
            ...(tls.keyPath ? { key: readFileSync(tls.keyPath) } : {}),
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
          }
        : {}),
    };
    const client = mqtt.connect(o.url, clientOptions);
    this.client = client;
    client.on('connect', () => {
      this.attempt = 0;
      // Batches and command results are small writes the hub answers at once: without TCP_NODELAY, Nagle and delayed
      // ACKs add ~40 ms to each round trip.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      void this.renewSubscriptions(client).then(() => this.emit({ type: 'connected' }));
    });
    client.on('message', (topic, payload) => this.dispatch(topic, payload));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'mqtt error'));
    client.on('close', () => {
      if (this.stopping) return;
      this.emit({ type: 'disconnected', reason: 'connection closed' });
      this.scheduleReconnect();
    });
    await Promise.resolve();
  }

  async stop(options: { graceful?: boolean } = {}): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) {
      // force=true closes the socket without DISCONNECT, so the broker publishes the Last Will (used in tests
      // to simulate a power cut); a graceful stop sends DISCONNECT after publishing `offline` itself.
      // A graceful end waits for in-flight QoS 1 acks; a broker that is gone never sends them, so it is bounded.
      await endWithin(client, options.graceful === false, 3000);
      client.removeAllListeners();
      // A connect attempt already under way may still fail after the end; it must not become an unhandled error.
      client.on('error', () => undefined);
    }
    this.listeners.clear();
    this.handlers.clear();
  }

  async publish(topic: string, payload: string | Buffer, options: PublishOptions): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new KeywayError(ErrorCode.Unavailable, `not connected to ${this.options.url}; the message stays in the outbox`);
    await client.publishAsync(topic, payload, { qos: options.qos, retain: options.retain ?? false });
  }

  async subscribe(topicFilter: string, handler: MessageHandler): Promise<void> {
    this.handlers.set(topicFilter, handler);
    const client = this.client;
    if (client?.connected) await client.subscribeAsync(topicFilter, { qos: 1 });
  }

  onStatus(listener: (status: ConnectorStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async renewSubscriptions(client: MqttClient): Promise<void> {
    const filters = [...this.handlers.keys()];
    if (filters.length === 0) return;
    try {
      await client.subscribeAsync(filters, { qos: 1 });
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'subscribe failed; reconnecting');
      client.end(true);
    }
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delayMs = backoffDelay(this.attempt, this.options.backoff ?? DEFAULT_BACKOFF);
    this.attempt += 1;
    this.emit({ type: 'reconnecting', attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, delayMs);
  }

  private dispatch(topic: string, payload: Buffer): void {
    for (const [filter, handler] of this.handlers) {
      if (!matches(filter, topic)) continue;
      try {
        handler(topic, payload);
      } catch (error) {
        // One failing handler must not break the connection or the other handlers.
        this.log.error({ topic, err: (error as Error).message }, 'message handler failed');
      }
    }
  }

  private emit(status: ConnectorStatus): void {
    for (const listener of this.listeners) listener(status);
  }
}

/** MQTT topic filter match with `+` and `#`. */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Ends the client. A graceful end waits for in-flight QoS 1 acks, at most `ms`; then the socket is
 * closed anyway. mqtt.js ignores a second end() while a graceful one is waiting (it only calls the
 * callback), so the forced end first clears that state: otherwise the socket, and its keepalive
 * pings, outlive stop() and the process never exits.
 */
async function endWithin(client: MqttClient, force: boolean, ms: number): Promise<void> {
  if (force) return client.endAsync(true);
  if (await within(client.endAsync(false), ms)) return;
  client.disconnecting = false;
  await client.endAsync(true);
}
