import { readFileSync } from 'node:fs';
import { deviceTopic } from '@keyway/shared';
import type { AgentConfig } from '../config/index.js';
import type { DeviceConnector, LastWill } from '../sync/connector.js';
import { MqttConnector } from '../sync/mqtt-connector.js';
import { WIRE_VERSION, type PresenceMessage } from '../sync/wire.js';

/** The connector the config asks for, with the Last Will on `status` (retained, offline). */
export async function createConnector(config: AgentConfig): Promise<DeviceConnector> {
  const b = config.broker;
  const offline: PresenceMessage = { v: WIRE_VERSION, online: false, at: new Date(0).toISOString() };
  const will: LastWill = { topic: deviceTopic(config.deviceId, 'status'), payload: JSON.stringify(offline), qos: 1, retain: true };
  if (config.connector === 'aws-iot') {
    const url = new URL(b.url);
    // Loaded on demand: aws-crt is a large native module the mqtt.js build never needs.
    const { AwsIotConnector } = await import('../sync/aws-iot-connector.js');
    return new AwsIotConnector({
      endpoint: url.hostname,
      port: url.port ? Number(url.port) : 8883,
      clientId: config.deviceId,
      certPath: b.certPath ?? '',
      keyPath: b.keyPath ?? '',
      ...(b.caPath ? { caPath: b.caPath } : {}),
      keepaliveS: b.keepaliveS,
      will,
    });
  }
  const tls = b.caPath || b.certPath || b.keyPath ? { ...(b.caPath ? { caPath: b.caPath } : {}), ...(b.certPath ? { certPath: b.certPath } : {}), ...(b.keyPath ? { keyPath: b.keyPath } : {}) } : undefined;
  return new MqttConnector({
    url: b.url,
    clientId: config.deviceId,
    protocolVersion: b.protocolVersion,
    keepaliveS: b.keepaliveS,
    will,
    ...(b.username ? { username: b.username } : {}),
    // Read once at start; never logged.
    ...(b.passwordFile ? { password: readFileSync(b.passwordFile, 'utf8').trim() } : {}),
    ...(tls ? { tls } : {}),
  });
}
