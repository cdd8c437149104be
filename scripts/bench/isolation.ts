/**
 * Vendor isolation at the device gateway: how long one vendor's device waits for its ack while another vendor's
 * devices flood the gateway with large batches of invalid events. Three processes, as in production: the hub, the
 * flooding devices, and the measuring device (this one).
 * Run: npm run bench:isolation   (BENCH_FLOODERS=<devices, default 30>, BENCH_SECONDS=<flood, default 20>)
 * Prints figures, then one line of JSON.
 */
import '../support/quiet-logs.js';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { Hub } from '@keyway/hub';

const FLOODERS = Number(process.env.BENCH_FLOODERS ?? 30);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
/** Each flooding device sends a batch this often: inside the default per-device (20/s) and per-vendor limits. */
const FLOOD_EVERY_MS = 50;
const PROBE_EVERY_MS = 250;

interface HubInfo {
  url: string;
  mqttUrl: string;
  admin: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function heartbeat(deviceId: string, seq: number, data?: Record<string, unknown>): Record<string, unknown> {
  const at = new Date().toISOString();
  return {
    specversion: '1.0',
    id: `${deviceId}-${seq}`,
    source: `keyway://device/${deviceId}`,
    type: 'keyway.device.Heartbeat',
    time: at,
    dataschema: 'https://keyway.dev/schemas/device/Heartbeat.v1.json',
    datacontenttype: 'application/json',
    subject: deviceId,
    data: data ?? { deviceId, uptimeS: seq, at },
  };
}

function batch(deviceId: string, from: number, to: number, acked: number, event: (seq: number) => Record<string, unknown>): string {
  const events = Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, event: event(from + i) }));
  return JSON.stringify({ v: 1, deviceId, fromSeq: from, toSeq: to, acked, events });
}

function connect(url: string, id: string, token: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId: id, username: id, password: token, reconnectPeriod: 0, connectTimeout: 5000 });
}

/** Child: the hub on ephemeral 127.0.0.1 ports and a temporary folder; says where it listens, runs until killed. */
async function runHub(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-bench-isolation-'));
  const hub = new Hub({ dataDir, http: { host: '127.0.0.1', port: 0 }, mqtt: { kind: 'embedded', host: '127.0.0.1', port: 0 } });
  await hub.start();
  process.send?.({ url: hub.httpUrl, mqttUrl: hub.mqttUrl, admin: hub.adminApiKey } satisfies HubInfo);
  process.on('SIGTERM', () => {
    void hub.stop().finally(() => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

/** Child: the flooding devices, each sending a 500-event batch of schema-invalid events every 50 ms. */
async function runFlooders(mqttUrl: string, devices: Array<{ id: string; token: string }>, seconds: number): Promise<void> {
  const clients = await Promise.all(devices.map((d) => connect(mqttUrl, d.id, d.token)));
  let sent = 0;
  let bytes = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, i) => {
      const id = devices[i]!.id;
      const junk = batch(id, 1, 500, 0, (seq) => heartbeat(id, seq, { deviceId: id, uptimeS: -1, at: 'not-a-time', pad: 'x'.repeat(300) }));
      while (performance.now() - started < seconds * 1000) {
        const t = performance.now();
        client.publish(`keyway/v1/d/${id}/up/events`, junk, { qos: 0 });
        sent += 1;
        bytes += junk.length;
        await sleep(Math.max(0, FLOOD_EVERY_MS - (performance.now() - t)));
      }
    }),
  );
  process.send?.({ sent, mbPerS: bytes / seconds / 1e6 });
  await Promise.all(clients.map((c) => c.endAsync()));
}

function percentile(sorted: number[], p: number): number {
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN) * 10) / 10;
}

function figures(samples: number[]): { n: number; p50Ms: number; p90Ms: number; maxMs: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50Ms: percentile(s, 0.5), p90Ms: percentile(s, 0.9), maxMs: percentile(s, 1) };
}

async function main(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const hubProcess = fork(self, ['--hub'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const info = await new Promise<HubInfo>((resolve, reject) => {
    hubProcess.once('message', (m) => resolve(m as HubInfo));
    hubProcess.once('exit', (code) => reject(new Error(`the hub exited with ${code}`)));
  });
  try {
    const call = async (route: string, body: unknown): Promise<{ mqtt: { password: string } }> => {
      const r = await fetch(`${info.url}${route}`, { method: 'POST', headers: { 'x-api-key': info.admin, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (r.status !== 201) throw new Error(`${route}: ${r.status} ${await r.text()}`);
      return (await r.json()) as { mqtt: { password: string } };
    };
    const flooders: Array<{ id: string; token: string }> = [];
    for (let i = 0; i < FLOODERS; i++) {
      const id = `bulk-${String(i).padStart(3, '0')}`;
      flooders.push({ id, token: (await call('/v1/devices', { deviceId: id, customerId: 'c', vendor: 'vendor-bulk' })).mqtt.password });
    }
    const victimToken = (await call('/v1/devices', { deviceId: 'victim', customerId: 'c', vendor: 'vendor-other' })).mqtt.password;
    const victim = await connect(info.mqttUrl, 'victim', victimToken);
    await victim.subscribeAsync('keyway/v1/d/victim/down/ack', { qos: 1 });
    let seq = 0;
    let onAck: (() => void) | undefined;
    victim.on('message', () => onAck?.());
    const probe = async (): Promise<number> => {
      seq += 1;
      const started = performance.now();
      const acked = new Promise<void>((resolve) => (onAck = resolve));
      await victim.publishAsync('keyway/v1/d/victim/up/events', batch('victim', seq, seq, seq - 1, (s) => heartbeat('victim', s)), { qos: 1 });
      const timedOut = await Promise.race([acked.then(() => false), sleep(60_000).then(() => true)]);
      return timedOut ? Number.POSITIVE_INFINITY : performance.now() - started;
    };

    const idle: number[] = [];
    for (let i = 0; i < 12; i++) {
      idle.push(await probe());
      await sleep(PROBE_EVERY_MS);
    }
    console.log(`${FLOODERS} devices of one vendor flood for ${SECONDS} s; one device of another vendor sends a 1-event batch every ${PROBE_EVERY_MS} ms`);
    const idleFigures = figures(idle);
    console.log(`its ack time, gateway idle:    p50 ${idleFigures.p50Ms} ms, p90 ${idleFigures.p90Ms} ms, max ${idleFigures.maxMs} ms (${idleFigures.n} batches)`);

    const flooderProcess = fork(self, ['--flooders', info.mqttUrl, JSON.stringify(flooders), String(SECONDS)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const flood = new Promise<{ sent: number; mbPerS: number }>((resolve) => flooderProcess.once('message', (m) => resolve(m as { sent: number; mbPerS: number })));
    await sleep(3_000); // the flooders connect
    const during: number[] = [];
    const started = performance.now();
    while (performance.now() - started < (SECONDS - 4) * 1000) {
      during.push(await probe());
      await sleep(PROBE_EVERY_MS);
    }
    const floodFigures = await flood;
    const duringFigures = figures(during);
    console.log(`its ack time, during the flood: p50 ${duringFigures.p50Ms} ms, p90 ${duringFigures.p90Ms} ms, max ${duringFigures.maxMs} ms (${duringFigures.n} batches)`);
    console.log(`the flood: ${floodFigures.sent} batches of 500 invalid events, ${floodFigures.mbPerS.toFixed(1)} MB/s; load average ${os.loadavg()[0]?.toFixed(2)}`);
    await victim.endAsync();
    console.log(
      JSON.stringify({
        flooders: FLOODERS,
        seconds: SECONDS,
        idle: idleFigures,
        duringFlood: duringFigures,
        floodBatches: floodFigures.sent,
        floodMbPerS: Math.round(floodFigures.mbPerS * 10) / 10,
        loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
      }),
    );
  } finally {
    hubProcess.kill('SIGTERM');
    await new Promise((r) => hubProcess.once('exit', r));
  }
}

const role = process.argv[2];
if (role === '--hub') await runHub();
else if (role === '--flooders') {
  await runFlooders(process.argv[3] ?? '', JSON.parse(process.argv[4] ?? '[]') as Array<{ id: string; token: string }>, Number(process.argv[5]));
  process.exit(0);
} else {
  await main();
  process.exit(0);
}
