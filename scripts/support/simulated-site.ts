/**
 * One simulated garage running the real agent code (outbox, sync, grants, door controller) against the hardware
 * simulator, provisioned through the hub's API and connected to its broker through a cuttable TCP proxy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { deviceTopic } from '@keyway/shared';
import { Agent, MqttConnector, validateConfig, type KeypadSource } from '@keyway/agent';
import { DoorController } from '@keyway/agent/door';
import { createSimulatedGarage, type SimulatedGarage } from '@keyway/hardware-sim';
import { TcpProxy } from './tcp-proxy.js';

export interface SiteOptions {
  hubUrl: string;
  adminKey: string;
  /** host:port of the hub's MQTT broker. */
  broker: { host: string; port: number };
  deviceId: string;
  customerId: string;
  dataDir: string;
  /** Full door travel. Default 3 s (a real door takes about 12 s). */
  travelMs?: number;
  /** Warning before an unattended close; at least 5 s. Default 5 s. */
  warningMs?: number;
  /** A customer webhook for notifications. */
  customerWebhook?: { url: string; secret: string };
}

export interface SimulatedSite {
  agent: Agent;
  garage: SimulatedGarage;
  door: DoorController;
  network: TcpProxy;
  /** Type a PIN on the (simulated) keypad. */
  enterPin(pin: string): void;
  stop(): Promise<void>;
}

class KeypadFeed implements KeypadSource {
  private readonly listeners = new Set<(pin: string) => void>();
  onEntry(listener: (pin: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  enter(pin: string): void {
    for (const l of this.listeners) l(pin);
  }
}

async function api(url: string, key: string, route: string, body: unknown): Promise<any> {
  const response = await fetch(`${url}${route}`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json: unknown = await response.json();
  if (!response.ok) throw new Error(`${route} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

export async function startSimulatedSite(o: SiteOptions): Promise<SimulatedSite> {
  fs.mkdirSync(o.dataDir, { recursive: true });
  const passwordFile = path.join(o.dataDir, 'mqtt-password');
  const keyFile = path.join(o.dataDir, 'hub-public-key.pem');
  // A garage provisioned on an earlier run keeps its credentials and its outbox.
  if (!fs.existsSync(passwordFile) || !fs.existsSync(keyFile)) {
    const webhook = o.customerWebhook ? { webhookUrl: o.customerWebhook.url, webhookSecret: o.customerWebhook.secret } : {};
    await api(o.hubUrl, o.adminKey, '/v1/customers', { id: o.customerId, ...webhook });
    const provisioned = await api(o.hubUrl, o.adminKey, '/v1/devices', { deviceId: o.deviceId, customerId: o.customerId, vendor: 'keyway-sim' });
    fs.writeFileSync(passwordFile, provisioned.mqtt.password, { mode: 0o600 });
    fs.writeFileSync(keyFile, provisioned.hubPublicKeyPem);
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  const network = new TcpProxy(o.broker);
  const proxyPort = await network.start();
  const result = validateConfig({
    version: 1,
    deviceId: o.deviceId,
    dataDir: o.dataDir,
    broker: { url: `mqtt://127.0.0.1:${proxyPort}`, username: o.deviceId, passwordFile },
    hubPublicKeyPath: keyFile,
    gpio: { binding: 'sim' },
    door: { warningMs: o.warningMs ?? 5000, pulseMs: 300 },
    sync: { heartbeatS: 5 },
  });
  if (!result.ok) throw new Error(`simulated site config is invalid: ${JSON.stringify(result.problems)}`);
  const config = result.config;
  fs.writeFileSync(path.join(o.dataDir, 'agent.json'), JSON.stringify(config, null, 2));

  const garage = createSimulatedGarage({ travelMs: o.travelMs ?? 3000 });

  const travelMs = o.travelMs ?? 3000;
  // Verification timeouts scaled to the simulated door's travel, so a stuck door is given up on in seconds.
  const timing = { startTimeoutMs: 1000, travelTimeoutMs: Math.max(1000, travelMs * 3) };
  const door = new DoorController({
    io: garage.openIo(),
    config: { pulseMs: config.door.pulseMs, warningMs: config.door.warningMs, ...timing },
  });
  const keypad = new KeypadFeed();
  const connector = new MqttConnector({
    url: config.broker.url,
    clientId: o.deviceId,
    username: o.deviceId,
    password,
    // Reconnect quickly after a cut in demos; the default backoff caps at 60 s.
    backoff: { baseMs: 200, capMs: 1000 },
    will: {
      topic: deviceTopic(o.deviceId, 'status'),
      payload: JSON.stringify({ v: 1, online: false, at: new Date(0).toISOString() }),
      qos: 1,
      retain: true,
    },
  });
  const agent = new Agent({ config, door, keypad, connector });
  await agent.start();
  return {
    agent,
    garage,
    door,
    network,
    enterPin: (pin) => keypad.enter(pin),
    async stop() {
      await agent.stop();
      await garage.dispose();
      await network.stop();
    },
  };
}
