/** One message a device published under its own prefix. */
export interface InboundMessage {
  deviceId: string;
  /** The topic after `keyway/v1/d/<deviceId>/`, e.g. `up/events`. */
  suffix: string;
  payload: Buffer;
}

export interface Detection {
  kind: 'device-topic' | 'unknown-device';
  deviceId?: string;
  topic?: string;
  detail: string;
}

/** Callbacks a transport reports to; the gateway owns all policy beyond topic ACLs. */
export interface TransportSink {
  message(message: InboundMessage): void;
  /** A sign of life without a message (MQTT PINGREQ); embedded only. */
  alive(deviceId: string): void;
  /** The device's connection closed; embedded only (an external broker only tells us through the Last Will). */
  disconnected(deviceId: string): void;
  detection(detection: Detection): void;
}

/** How the gateway talks MQTT: an embedded broker or a client of an external one. */
export interface GatewayTransport {
  start(sink: TransportSink): Promise<void>;
  stop(): Promise<void>;
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  /** Closes a device's connection (embedded); false when it has none here or the broker is external. */
  disconnect(deviceId: string): boolean;
  /** Listening (embedded) or connected to the broker (external). */
  ready(): boolean;
  /** Clients connected right now (embedded), or undefined when the broker is external. */
  connectedClients(): number | undefined;
}
