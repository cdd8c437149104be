/** Connection status, as a discriminated union on `type` (like nats.js). */
export type ConnectorStatus =
  | { type: 'connected' }
  | { type: 'disconnected'; reason: string }
  | { type: 'reconnecting'; attempt: number; delayMs: number };

export type MessageHandler = (topic: string, payload: Buffer) => void;

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
}

/** The Last Will the broker publishes when the device vanishes without saying goodbye. */
export interface LastWill {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

/**
 * What the sync layer needs from a broker connection. Implementations: mqtt.js (any MQTT 3.1.1/5 broker).
 * Subscriptions are remembered and renewed on every (re)connect; reconnection with backoff is the
 * implementation's job, so callers only watch the status.
 */
export interface DeviceConnector {
  readonly name: string;
  readonly connected: boolean;
  /** Begins connecting and resolves at once; watch `onStatus` for `connected`. */
  start(): Promise<void>;
  /** Disconnects (without triggering the Last Will when `graceful`) and releases every timer and socket. */
  stop(options?: { graceful?: boolean }): Promise<void>;
  /** Resolves when the broker has the message (PUBACK for QoS 1); rejects when not connected. */
  publish(topic: string, payload: string | Buffer, options: PublishOptions): Promise<void>;
  subscribe(topicFilter: string, handler: MessageHandler): Promise<void>;
  onStatus(listener: (status: ConnectorStatus) => void): () => void;
}
