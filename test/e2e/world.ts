import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { verifyWebhookSignature } from '@keyway/hub/bus';
import type { HubConfig } from '@keyway/hub';
import { startSimulatedSite, type SimulatedSite } from '../../scripts/support/simulated-site.js';
import { startTestHub, type TestHub } from '../hub/start-hub.js';
import { until } from '../../scripts/support/until.js';

export { until };

export interface Notification {
  kind: string;
  message: string;
  deliveryId?: string;
  signatureValid: boolean;
}

export interface World {
  t: TestHub;
  site: SimulatedSite;
  notifications: Notification[];
  deviceId: string;
  /** Restarts the hub on the same data folder and MQTT port (the site reconnects by itself). */
  restartHub(): Promise<void>;
  stop(): Promise<void>;
}

export const E2E_TIMINGS = { openTimeoutMs: 15_000, closeTimeoutMs: 10_000, leftOpenMs: 120_000, maxCloseAttempts: 2, obstructedRetryMs: 2000 };

/** A hub (embedded broker, SQLite), one simulated garage running the real agent, and a customer webhook receiver. */
export async function startWorld(overrides: Partial<HubConfig> = {}): Promise<World> {
  const secret = 'customer-webhook-secret';
  const notifications: Notification[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as Notification;
      notifications.push({ ...parsed, signatureValid: verifyWebhookSignature(secret, body, req.headers['x-keyway-signature'] as string | undefined) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverPort = (receiver.address() as { port: number }).port;

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-e2e-'));
  const hubDir = path.join(root, 'hub');
  const config: Partial<HubConfig> = { timings: E2E_TIMINGS, presence: { heartbeatIntervalMs: 5000, missedHeartbeats: 3 }, ...overrides };
  let t = await startTestHub(config, hubDir);
  const mqttPort = t.hub.internals.gateway.address!.port;
  const deviceId = 'garage-e2e';
  const site = await startSimulatedSite({
    hubUrl: t.url,
    adminKey: t.admin,
    broker: { host: '127.0.0.1', port: mqttPort },
    deviceId,
    customerId: 'customer-1',
    dataDir: path.join(root, 'agent'),
    travelMs: 1000,
    customerWebhook: { url: `http://127.0.0.1:${receiverPort}/notify`, secret },
  });
  const world: World = {
    get t() {
      return t;
    },
    site,
    notifications,
    deviceId,
    async restartHub() {
      await t.hub.stop();
      t = await startTestHub({ ...config, mqtt: { kind: 'embedded', host: '127.0.0.1', port: mqttPort }, http: { host: '127.0.0.1', port: Number(new URL(t.url).port) } }, hubDir);
    },
    async stop() {
      await site.stop();
      await t.hub.stop();
      await new Promise<void>((r) => receiver.close(() => r()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  await until('the garage to come online', async () => (await t.call('GET', `/v1/devices/${deviceId}`)).body.online === true);
  return world;
}

export async function delivery(w: World, id: string): Promise<any> {
  return (await w.t.call('GET', `/v1/deliveries/${id}`)).body;
}

export async function untilState(w: World, id: string, state: string, timeoutMs = 20_000): Promise<any> {
  return until(`delivery ${id} to be ${state}`, async () => {
    const d = await delivery(w, id);
    if (d.state === 'failed' && state !== 'failed') throw new Error(`delivery ${id} failed: ${d.failureReason} ${JSON.stringify(d.timeline)}`);
    return d.state === state ? d : undefined;
  }, timeoutMs);
}

export async function schedule(w: World, id: string, extra: Record<string, unknown> = {}): Promise<any> {
  const now = Date.now();
  const r = await w.t.call('POST', '/v1/deliveries', {
    id,
    customerId: 'customer-1',
    deviceId: w.deviceId,
    courierId: 'courier-7',
    windowStart: new Date(now - 60_000).toISOString(),
    windowEnd: new Date(now + 3600_000).toISOString(),
    ...extra,
  });
  if (r.status !== 201) throw new Error(`schedule answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function step(w: World, id: string, name: 'arrived' | 'unlock' | 'package-placed'): Promise<any> {
  const r = await w.t.call('POST', `/v1/deliveries/${id}/${name}`);
  if (r.status !== 200) throw new Error(`${name} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A delivery scheduled, the courier arrived and unlocked, and the door open: where most scenarios start. */
export async function openForCourier(w: World, id: string): Promise<any> {
  await schedule(w, id);
  await step(w, id, 'arrived');
  await step(w, id, 'unlock');
  return untilState(w, id, 'door-open');
}
