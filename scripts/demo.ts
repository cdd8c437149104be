/**
 * `npm run demo`: a whole in-garage delivery on the embedded default, with the network cut while the courier is
 * inside, printed as a readable timeline (each event with its ingestion-to-subscriber latency). Starts its own hub
 * and simulated garage on free ports in a temporary folder, and exits 0 when the delivery completes.
 */
import './support/quiet-logs.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EventEnvelope } from '@keyway/shared';
import { Hub } from '@keyway/hub';
import { startSimulatedSite } from './support/simulated-site.js';
import { until } from './support/until.js';

const t0 = Date.now();
const clock = (): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;
const say = (line: string): void => console.log(`${clock()}  ${line}`);

function describe(event: EventEnvelope): string {
  const d = event.data as Record<string, unknown>;
  const cause = d.cause as { kind?: string } | undefined;
  switch (event.type) {
    case 'keyway.device.DoorStateChanged':
      return `door ${String(d.previous)} -> ${String(d.state)} (${cause?.kind ?? 'unknown'})`;
    case 'keyway.access.GrantUsed':
      return `grant used to ${String(d.action)} via ${String(d.via)}`;
    case 'keyway.device.KeypadEntry':
      return `keypad PIN ${String(d.result)}`;
    case 'keyway.device.DeviceOnline':
    case 'keyway.device.DeviceOffline':
      return `garage ${event.type.endsWith('Online') ? 'online' : `offline (${String(d.reason)})`}`;
    default:
      return Object.entries(d)
        .filter(([k]) => ['deliveryId', 'reason', 'action', 'commandId', 'grantId'].includes(k))
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-demo-'));
  const hub = new Hub({ dataDir: path.join(dir, 'hub'), http: { host: '127.0.0.1', port: 0 }, mqtt: { kind: 'embedded', host: '127.0.0.1', port: 0 }, presence: { heartbeatIntervalMs: 5000 } });
  await hub.start();
  const { bus } = hub.internals;
  const latencies: number[] = [];
  let finished = false; // after the summary, shutting the garage down (its last will) is not part of the story
  await bus.declareSubscriber({
    name: 'ops.demo-timeline',
    account: 'ops',
    types: ['keyway.delivery.DeliveryScheduled', 'keyway.delivery.CourierArrived', 'keyway.delivery.UnlockRequested', 'keyway.delivery.PackagePlaced', 'keyway.delivery.DeliveryCompleted', 'keyway.delivery.DeliveryFailed', 'keyway.device.DoorStateChanged', 'keyway.access.GrantUsed', 'keyway.access.GrantIssued', 'keyway.device.KeypadEntry', 'keyway.device.DeviceOnline', 'keyway.device.DeviceOffline', 'keyway.device.CommandAccepted'],
    orderedBySubject: true,
    target: {
      kind: 'handler',
      handler: (event) => {
        if (finished) return;
        const latency = Date.now() - Date.parse(event.time);
        const fromDevice = event.source.startsWith('keyway://device/');
        // A device stamps events with its trusted clock, which may run slightly ahead of the hub's.
        const when = latency >= 0 ? `${String(latency).padStart(5)} ms after it happened` : `  (device clock ${-latency} ms ahead)`;
        if (!fromDevice) latencies.push(latency);
        say(`${event.type.replace('keyway.', '').padEnd(26)} ${describe(event).padEnd(48)} ${when}${fromDevice ? ' [device]' : ''}`);
      },
    },
  });
  const call = async (method: string, route: string, body?: unknown): Promise<any> => {
    const r = await fetch(`${hub.httpUrl}${route}`, { method, headers: { 'x-api-key': hub.adminApiKey, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const json: any = await r.json();
    if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };

  console.log(`Keyway demo: hub at ${hub.httpUrl}, broker at ${hub.mqttUrl}, data in ${dir}\n`);
  const mqtt = new URL(hub.mqttUrl);
  const site = await startSimulatedSite({ hubUrl: hub.httpUrl, adminKey: hub.adminApiKey, broker: { host: mqtt.hostname, port: Number(mqtt.port) }, deviceId: 'garage-1', customerId: 'customer-1', dataDir: path.join(dir, 'garage-1'), travelMs: 2000 });
  await until('the garage to come online', async () => (await call('GET', '/v1/devices/garage-1')).online === true, 30_000);

  const now = Date.now();
  say('delivery scheduled for garage-1; the courier gets a grant for the next hour');
  await call('POST', '/v1/deliveries', { id: 'demo-1', customerId: 'customer-1', deviceId: 'garage-1', courierId: 'courier-7', windowStart: new Date(now - 60_000).toISOString(), windowEnd: new Date(now + 3600_000).toISOString(), pin: '246810' });
  say('courier arrives');
  await call('POST', '/v1/deliveries/demo-1/arrived');
  say('courier taps "unlock"');
  await call('POST', '/v1/deliveries/demo-1/unlock');
  await until('the door to open', () => site.garage.door.position === 1 && !site.door.isBusy, 30_000);
  say('*** network cut while the courier is inside: the garage keeps working and buffers its events ***');
  site.network.cut();
  await until('the hub to see the garage offline', async () => (await call('GET', '/v1/devices/garage-1')).online === false, 15_000);
  say('courier places the parcel and closes the door with the wall button');
  site.garage.door.pressWallButton();
  await until('the door to close', () => site.garage.door.position === 0, 15_000);
  say(`the garage holds ${site.agent.snapshot().outbox.depth} buffered events; network restored`);
  site.network.restore();
  await until('the delivery to complete', async () => (await call('GET', '/v1/deliveries/demo-1')).state === 'completed', 30_000);
  await new Promise((r) => setTimeout(r, 300));
  finished = true;

  const d = await call('GET', '/v1/deliveries/demo-1/timeline');
  console.log('\nThe delivery, as the hub recorded it:');
  for (const e of d.timeline) console.log(`  ${e.time}  ${e.step}`);
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  console.log(`\nService events: ${latencies.length}, from publish to this subscriber p50 ${pct(50)} ms, p90 ${pct(90)} ms. Device events count the time they waited in the garage's outbox.`);
  console.log(`Delivery ${d.state} in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
  await site.stop();
  await hub.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(d.state === 'completed' ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
