import { iot, mqtt } from 'aws-iot-device-sdk-v2';
import { createLogger, describeError, ErrorCode, KeywayError, type Logger } from '@keyway/shared';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { ConnectorStatus, DeviceConnector, LastWill, MessageHandler, PublishOptions } from './connector.js';

export interface AwsIotConnectorOptions {
  /** The account's device data endpoint (`xxxx-ats.iot.<region>.amazonaws.com`), or any mutual-TLS MQTT host. */
  endpoint: string;
  /** 8883 (default) or 443 (the SDK then negotiates ALPN `x-amzn-mqtt-ca`). */
  port?: number;
  clientId: string;
  /** The device certificate and key registered with AWS IoT (PEM files). */
  certPath: string;
  keyPath: string;
  /** CA bundle to trust for the endpoint (e.g. AmazonRootCA1.pem); the system store when omitted. */
  caPath?: string;
  keepaliveS?: number;
  will?: LastWill;
  backoff?: BackoffPolicy;
  connectTimeoutMs?: number;
}

/**
 * Not exported from the sync index on purpose: aws-crt is a large native module, loaded only when the config
 * selects `aws-iot` (see runtime/connector-factory.ts).
 *
 * A DeviceConnector over aws-iot-device-sdk-v2 (MQTT 3.1.1 over mutual TLS, as AWS IoT Core speaks it).
 * The SDK's own reconnect is not used: a lost connection is closed and a new one is made after our capped,
 * jittered backoff, so both connectors behave alike and the fleet does not reconnect in lock-step.
 */
export class AwsIotConnector implements DeviceConnector {
  readonly name = 'aws-iot';
  private readonly client = new mqtt.MqttClient();
  private connection: mqtt.MqttClientConnection | undefined;
  private isConnected = false;
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly listeners = new Set<(status: ConnectorStatus) => void>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attemptNo = 0;
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly options: AwsIotConnectorOptions) {
    this.log = createLogger('agent.aws-iot', { clientId: options.clientId });
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async start(): Promise<void> {
    this.stopping = false;
    void this.attempt();
    await Promise.resolve();
  }

  /** Always graceful: the SDK sends DISCONNECT and offers no way to drop the socket (tests cut the network instead). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const connection = this.connection;
    this.connection = undefined;
    this.isConnected = false;
    if (connection) await connection.disconnect().catch((e: unknown) => this.log.debug({ err: describeError(e) }, 'disconnect failed'));
    this.listeners.clear();
    this.handlers.clear();
  }

  async publish(topic: string, payload: string | Buffer, options: PublishOptions): Promise<void> {
    const connection = this.connection;
    if (!connection || !this.isConnected) throw new KeywayError(ErrorCode.Unavailable, `not connected to ${this.options.endpoint}; the message stays in the outbox`);
    await connection.publish(topic, payload, options.qos === 1 ? mqtt.QoS.AtLeastOnce : mqtt.QoS.AtMostOnce, options.retain ?? false);
  }

  async subscribe(topicFilter: string, handler: MessageHandler): Promise<void> {
    this.handlers.set(topicFilter, handler);
    const connection = this.connection;
    if (connection && this.isConnected) await this.subscribeOne(connection, topicFilter);
  }

  onStatus(listener: (status: ConnectorStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private buildConfig(): mqtt.MqttConnectionConfig {
    const o = this.options;
    const builder = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(o.certPath, o.keyPath)
      .with_endpoint(o.endpoint)
      .with_port(o.port ?? 8883)
      .with_client_id(o.clientId)
      .with_clean_session(true)
      .with_keep_alive_seconds(o.keepaliveS ?? 30)
      .with_ping_timeout_ms(3_000)
      .with_timeout_ms(o.connectTimeoutMs ?? 10_000);
    if (o.caPath) builder.with_certificate_authority_from_path(undefined, o.caPath);
    if (o.will) builder.with_will(new mqtt.MqttWill(o.will.topic, o.will.qos === 1 ? mqtt.QoS.AtLeastOnce : mqtt.QoS.AtMostOnce, o.will.payload, o.will.retain));
    return builder.build();
  }

  private async attempt(): Promise<void> {
    if (this.stopping) return;
    let connection: mqtt.MqttClientConnection;
    try {
      connection = this.client.new_connection(this.buildConfig());
    } catch (error) {
      this.log.error({ err: describeError(error) }, 'cannot configure the AWS IoT connection; check the certificate paths');
      this.scheduleReconnect();
      return;
    }
    connection.on('error', (error) => this.log.warn({ err: describeError(error) }, 'aws-iot connection error'));
    connection.on('interrupt', () => this.onLost(connection, 'connection interrupted'));
    try {
      await connection.connect();
    } catch (error) {
      this.log.debug({ err: describeError(error) }, 'aws-iot connect failed');
      await connection.disconnect().catch(() => undefined);
      this.scheduleReconnect();
      return;
    }
    if (this.stopping) {
      await connection.disconnect().catch(() => undefined);
      return;
    }
    this.connection = connection;
    try {
      for (const filter of this.handlers.keys()) await this.subscribeOne(connection, filter);
    } catch (error) {
      this.onLost(connection, `subscribe failed: ${describeError(error)}`);
      return;
    }
    this.attemptNo = 0;
    this.isConnected = true;
    this.emit({ type: 'connected' });
  }

  private async subscribeOne(connection: mqtt.MqttClientConnection, filter: string): Promise<void> {
    await connection.subscribe(filter, mqtt.QoS.AtLeastOnce, (topic, payload) => this.dispatch(filter, topic, Buffer.from(payload)));
  }

  /** Drops the SDK connection (stopping its built-in reconnect) and reconnects on our schedule. */
  private onLost(connection: mqtt.MqttClientConnection, reason: string): void {
    if (connection !== this.connection || this.stopping) return;
    this.connection = undefined;
    this.isConnected = false;
    this.emit({ type: 'disconnected', reason });
    void connection.disconnect().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delayMs = backoffDelay(this.attemptNo, this.options.backoff ?? DEFAULT_BACKOFF);
    this.attemptNo += 1;
    this.emit({ type: 'reconnecting', attempt: this.attemptNo, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.attempt();
    }, delayMs);
  }

  private dispatch(filter: string, topic: string, payload: Buffer): void {
    const handler = this.handlers.get(filter);
    if (!handler) return;
    try {
      handler(topic, payload);
    } catch (error) {
      this.log.error({ topic, err: describeError(error) }, 'message handler failed');
    }
  }

  private emit(status: ConnectorStatus): void {
    for (const listener of this.listeners) listener(status);
  }
}
