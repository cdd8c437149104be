import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { EventEnvelope } from '@keyway/shared';
import { generateHubKeyPair, importHubPrivateKey, importHubPublicKey, signTime } from '@keyway/shared/grants';
import { DeviceGateway, hashDeviceToken, type DeviceGatewayOptions } from '@keyway/hub/gateway';
import { SqliteHubState } from '@keyway/hub/state';
import { startBus, waitFor, type TestHub } from '../bus/helpers.js';

export { waitFor };

/** Device event types the test subscriber collects (as the `ops` account, a consumer of all of them). */
const OBSERVED = [
  'keyway.device.Heartbeat',
  'keyway.device.DoorStateChanged',
  'keyway.device.DeviceOnline',
  'keyway.device.DeviceOffline',
  'keyway.platform.UnauthorizedExchangeDetected',
];

export interface GatewayHub {
  hub: TestHub;
  state: SqliteHubState;
  gateway: DeviceGateway;
  /** Every event the bus delivered to the `ops` subscriber, in delivery order. */
  seen: EventEnvelope[];
  publicKey: ReturnType<typeof importHubPublicKey>;
  url: string;
  provision(id: string, vendor?: string): Promise<string>;
  ofType(type: string): EventEnvelope[];
  close(): Promise<void>;
}

/** A started bus and hub state on temp SQLite files, and a gateway with an embedded broker on an ephemeral port. */
export async function startGatewayHub(options: Partial<DeviceGatewayOptions> = {}): Promise<GatewayHub> {
  const hub = await startBus();
  const state = new SqliteHubState(join(hub.dir, 'state.db'));
  await state.init();
  const seen: EventEnvelope[] = [];
  await hub.bus.declareSubscriber({
    name: 'ops-watch',
    account: 'ops',
    types: OBSERVED,
    target: { kind: 'handler', handler: (event) => void seen.push(event) },
  });
  const keys = generateHubKeyPair();
  const privateKey = importHubPrivateKey(keys.privateKeyPem);
  const gateway = new DeviceGateway({
    bus: hub.bus,
    devices: state,
    transport: { kind: 'embedded', port: 0, host: '127.0.0.1' },
    signTime: (t, aud, nonce) => signTime({ t, aud, ...(nonce !== undefined ? { nonce } : {}) }, privateKey),
    ...options,
  });
  await gateway.start();
  const port = gateway.address?.port ?? 0;
  return {
    hub,
    state,
    gateway,
    seen,
    publicKey: importHubPublicKey(keys.publicKeyPem),
    url: `mqtt://127.0.0.1:${port}`,
    provision: async (id, vendor = 'acme') => {
      const token = randomBytes(24).toString('base64url');
      await state.insertDevice({
        id,
        customerId: 'cust-1',
        vendor,
        tokenHash: hashDeviceToken(token),
        createdAt: Date.now(),
        online: false,
        lastSeenAt: null,
        reported: null,
      });
      return token;
    },
    ofType: (type) => seen.filter((e) => e.type === type),
    close: async () => {
      await gateway.stop();
      await state.close();
      await hub.close();
    },
  };
}

/** Connects an mqtt.js client as a device; rejects when the broker refuses the CONNECT. */
export async function connectDevice(url: string, id: string, token: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    clientId: id,
    username: id,
    password: token,
    reconnectPeriod: 0,
    connectTimeout: 3_000,
    will: { topic: `keyway/v1/d/${id}/status`, payload: Buffer.from(JSON.stringify({ v: 1, online: false, at: new Date().toISOString() })), qos: 1, retain: true },
    ...extra,
  });
}

/** The envelope the agent's outbox stores for a heartbeat with sequence `seq`. */
export function heartbeat(deviceId: string, seq: number): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: `${deviceId}-${seq}`,
    source: `keyway://device/${deviceId}`,
    type: 'keyway.device.Heartbeat',
    time: new Date().toISOString(),
    dataschema: 'https://keyway.dev/schemas/device/Heartbeat.v1.json',
    datacontenttype: 'application/json',
    subject: deviceId,
    data: { deviceId, uptimeS: seq, at: new Date().toISOString() },
  };
}

/** An `up/events` batch as the agent's encodeBatch writes it. */
export function batch(deviceId: string, seqs: readonly number[], event: (seq: number) => Record<string, unknown> = (s) => heartbeat(deviceId, s)): string {
  return JSON.stringify({
    v: 1,
    deviceId,
    fromSeq: seqs[0],
    toSeq: seqs[seqs.length - 1],
    events: seqs.map((seq) => ({ seq, event: event(seq) })),
  });
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Collects JSON messages a device receives on one of its topics. */
export async function collect(client: MqttClient, topic: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  client.on('message', (t, payload) => {
    if (t === topic) out.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return out;
}
