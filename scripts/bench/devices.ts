/**
 * Device gateway capacity benchmark (not a timed test): how many simulated devices one hub (embedded aedes broker,
 * bus and hub state on SQLite) holds connected with heartbeats, and the hub process's RSS. The devices are mqtt.js
 * clients in child processes, so the RSS figure is the hub's alone. Each device logs in with its own token, publishes
 * `status` online, subscribes to its `down/#`, and sends one Heartbeat batch (QoS 1) every interval, which the hub
 * validates, stores durably and acks.
 * Run: npm run bench:devices -- [--devices 10000] [--workers 2] [--hold-s 40] [--interval-s 20] [--concurrency 200]
 *      [--registry sqlite|memory]   (memory: an in-process map instead of the hub state's SQLite file, to show what
 *      the per-device synchronous presence write costs; the bus stays on SQLite either way)
 */
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';

process.env.KEYWAY_LOG_LEVEL ??= 'error';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '2' },
    'hold-s': { type: 'string', default: '40' },
    'interval-s': { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '200' },
    registry: { type: 'string', default: 'sqlite' },
    worker: { type: 'string' },
    url: { type: 'string' },
  },
  allowPositionals: true,
});

const VENDORS = 10;
const deviceId = (i: number): string => `bench-${i}`;
const tokenOf = (i: number): string => `token-${i}-bench`;

interface WorkerReport {
  type: 'connected' | 'final';
  connected: number;
  failed: number;
  acks: number;
  heartbeats: number;
  connectMs: number;
}

// ------------------------------------------------------------------------------------------------
// Worker: a share of the simulated devices.
// ------------------------------------------------------------------------------------------------
async function runWorker(range: string, url: string): Promise<void> {
  const [from, to] = range.split('-').map(Number) as [number, number];
  const intervalMs = Number(args['interval-s']) * 1000;
  const concurrency = Number(args.concurrency);
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  let connected = 0;
  let failed = 0;
  let acks = 0;
  let heartbeats = 0;
  const started = performance.now();

  const connectOne = async (i: number): Promise<void> => {
    const id = deviceId(i);
    try {
      const client = await mqtt.connectAsync(url, {
        clientId: id,
        username: id,
        password: tokenOf(i),
        keepalive: 60,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
        will: { topic: `keyway/v1/d/${id}/status`, payload: Buffer.from('{"v":1,"online":false,"at":"1970-01-01T00:00:00.000Z"}'), qos: 1, retain: true },
      });
      clients.push(client);
      connected += 1;
      client.on('message', () => (acks += 1));
      client.on('error', () => undefined);
      await client.subscribeAsync(`keyway/v1/d/${id}/down/#`, { qos: 1 });
      await client.publishAsync(`keyway/v1/d/${id}/status`, JSON.stringify({ v: 1, online: true, at: new Date().toISOString() }), { qos: 1, retain: true });
      let seq = 0;
      const beat = (): void => {
        seq += 1;
        const at = new Date().toISOString();
        const event = {
          specversion: '1.0',
          id: `${id}-${seq}`,
          source: `keyway://device/${id}`,
          type: 'keyway.device.Heartbeat',
          time: at,
          dataschema: 'https://keyway.dev/schemas/device/Heartbeat.v1.json',
          datacontenttype: 'application/json',
          subject: id,
          data: { deviceId: id, uptimeS: seq, at },
        };
        heartbeats += 1;
        client.publish(`keyway/v1/d/${id}/up/events`, JSON.stringify({ v: 1, deviceId: id, fromSeq: seq, toSeq: seq, events: [{ seq, event }] }), { qos: 1 });
      };
      // Spread the first beat over the interval so heartbeats do not arrive in one wave.
      timers.push(setTimeout(() => {
        beat();
        timers.push(setInterval(beat, intervalMs));
      }, Math.random() * intervalMs));
    } catch {
      failed += 1;
    }
  };

  let next = from;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next <= to) await connectOne(next++);
    }),
  );
  const report = (type: WorkerReport['type']): WorkerReport => ({ type, connected, failed, acks, heartbeats, connectMs: performance.now() - started });
  process.send?.(report('connected'));
  process.on('message', (message: string) => {
    if (message !== 'stop') return;
    process.send?.(report('final'));
    for (const t of timers) clearTimeout(t);
    for (const c of clients) c.end(true);
    setTimeout(() => process.exit(0), 200);
  });
}

// ------------------------------------------------------------------------------------------------
// Hub: bus + hub state + gateway, and the measurement.
// ------------------------------------------------------------------------------------------------
async function runHub(): Promise<void> {
  const { SchemaRegistry } = await import('@keyway/shared/registry');
  const { Bus } = await import('@keyway/hub/bus');
  const { SqliteBusStore } = await import('@keyway/hub/storage');
  const { SqliteHubState } = await import('@keyway/hub/state');
  const { DeviceGateway, hashDeviceToken } = await import('@keyway/hub/gateway');
  const { generateHubKeyPair, importHubPrivateKey, signTime } = await import('@keyway/shared/grants');

  const devices = Number(args.devices);
  const workers = Math.max(1, Number(args.workers));
  const holdS = Number(args['hold-s']);
  const intervalS = Number(args['interval-s']);
  const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

  const fdLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  const perWorker = Math.ceil(devices / workers);
  const fdWarning =
    Number.isFinite(fdLimit) && fdLimit < devices + 200
      ? `ulimit -n is ${fdLimit}, below the ${devices + 200} descriptors the hub needs for ${devices} devices; raise it (ulimit -n / LimitNOFILE) before the run`
      : Number.isFinite(fdLimit) && fdLimit < perWorker + 200
        ? `ulimit -n is ${fdLimit}, below what one worker needs (${perWorker + 200}); use more --workers`
        : undefined;
  console.log(`devices ${devices}, workers ${workers}, hold ${holdS} s, heartbeat every ${intervalS} s, ulimit -n ${fdLimit}`);
  if (fdWarning) console.log(`WARNING: ${fdWarning}`);

  const dir = mkdtempSync(join(tmpdir(), 'keyway-bench-devices-'));
  const bus = new Bus({ store: new SqliteBusStore({ path: join(dir, 'bus.db') }), validator: SchemaRegistry.fromEmbedded(), alarmIntervalMs: 60_000 });
  await bus.start();
  const sqliteState = new SqliteHubState(join(dir, 'state.db'));
  await sqliteState.init();
  const state = args.registry === 'memory' ? memoryRegistry() : sqliteState;
  let t = performance.now();
  for (let i = 0; i < devices; i += 1) {
    await state.insertDevice({ id: deviceId(i), customerId: 'c', vendor: `vendor-${i % VENDORS}`, tokenHash: hashDeviceToken(tokenOf(i)), createdAt: Date.now(), online: false, lastSeenAt: null, reported: null });
  }
  console.log(`registry: ${devices} devices inserted in ${Math.round(performance.now() - t)} ms`);
  const privateKey = importHubPrivateKey(generateHubKeyPair().privateKeyPem);
  const gateway = new DeviceGateway({
    bus,
    devices: state,
    transport: { kind: 'embedded', port: 0, host: '127.0.0.1' },
    signTime: (ts, aud, nonce) => signTime({ t: ts, aud, ...(nonce !== undefined ? { nonce } : {}) }, privateKey),
    presence: { heartbeatIntervalMs: intervalS * 1000, missedHeartbeats: 3 },
  });
  await gateway.start();
  const url = `mqtt://127.0.0.1:${gateway.address?.port ?? 0}`;
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  console.log(`hub RSS before devices: ${mb(rssBefore)} MiB`);

  t = performance.now();
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: workers }, (_, w) => {
    const from = w * perWorker;
    const to = Math.min(devices, from + perWorker) - 1;
    return fork(self, ['--worker', `${from}-${to}`, '--url', url, '--interval-s', String(intervalS), '--concurrency', args.concurrency], { execArgv: process.execArgv });
  });
  const reports = (type: WorkerReport['type']): Promise<WorkerReport[]> =>
    Promise.all(children.map((c) => new Promise<WorkerReport>((resolve) => {
      const on = (m: WorkerReport): void => {
        if (m.type !== type) return;
        c.off('message', on);
        resolve(m);
      };
      c.on('message', on);
    })));
  const connectedReports = await reports('connected');
  const connectMs = performance.now() - t;
  // The workers' own clocks leave out process start-up (tsx compiling this file).
  const clientConnectMs = Math.max(...connectedReports.map((r) => r.connectMs));
  const connected = connectedReports.reduce((s, r) => s + r.connected, 0);
  const failed = connectedReports.reduce((s, r) => s + r.failed, 0);
  console.log(`connected ${connected}/${devices} (${failed} failed) in ${Math.round(connectMs)} ms including worker start-up, ${Math.round(clientConnectMs)} ms from the first CONNECT (${Math.round((connected / clientConnectMs) * 1000)}/s)`);

  let peakRss = process.memoryUsage().rss;
  const holdUntil = performance.now() + holdS * 1000;
  let minConnected = Number.POSITIVE_INFINITY;
  while (performance.now() < holdUntil) {
    await new Promise((r) => setTimeout(r, 1_000));
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    minConnected = Math.min(minConnected, gateway.stats().connectedClients ?? 0);
  }
  const stats = gateway.stats();
  const rssHeld = process.memoryUsage().rss;
  const finalReportsP = reports('final');
  for (const c of children) c.send('stop');
  const finals = await finalReportsP;
  const heartbeats = finals.reduce((s, r) => s + r.heartbeats, 0);
  const acks = finals.reduce((s, r) => s + r.acks, 0);
  const metric = await gateway.metrics.getSingleMetric('keyway_gateway_rate_limited_total')?.get();
  const rateLimited = (metric?.values ?? []).reduce((s, v) => s + v.value, 0);

  console.log(`held ${holdS} s: broker clients ${stats.connectedClients} (min during hold ${minConnected}), online ${stats.onlineDevices}`);
  console.log(`heartbeat batches sent ${heartbeats}, acks received ${acks}, rate-limited drops ${rateLimited}`);
  console.log(`hub RSS: ${mb(rssHeld)} MiB held (peak ${mb(peakRss)} MiB, ${Math.round((rssHeld - rssBefore) / Math.max(1, connected) / 1024 * 10) / 10} KiB per device above the ${mb(rssBefore)} MiB baseline)`);

  await new Promise((r) => setTimeout(r, 500));
  await gateway.stop();
  await sqliteState.close();
  await bus.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      bench: 'devices',
      devices,
      connected,
      failed,
      registry: args.registry,
      connectMs: Math.round(connectMs),
      clientConnectMs: Math.round(clientConnectMs),
      connectPerS: Math.round((connected / clientConnectMs) * 1000),
      holdS,
      heartbeatIntervalS: intervalS,
      minConnectedDuringHold: minConnected,
      onlineAtEnd: stats.onlineDevices,
      heartbeatsSent: heartbeats,
      acksReceived: acks,
      rateLimited,
      rssBeforeMiB: mb(rssBefore),
      rssHeldMiB: mb(rssHeld),
      rssPeakMiB: mb(peakRss),
      fdLimit,
      ...(fdWarning ? { warning: fdWarning } : {}),
    }),
  );
}

/** The DeviceDirectory in a Map, for --registry memory. */
function memoryRegistry(): {
  getDevice(id: string): Promise<{ id: string; tokenHash: string; vendor: string } | undefined>;
  setDeviceOnline(id: string, online: boolean, at: number): Promise<void>;
  setDeviceReported(id: string, reported: Record<string, unknown>, at: number): Promise<void>;
  insertDevice(d: { id: string; tokenHash: string; vendor: string; customerId: string; createdAt: number; online: boolean; lastSeenAt: number | null; reported: null }): Promise<void>;
  keepRefusedEvents(): Promise<number>;
} {
  const rows = new Map<string, { id: string; tokenHash: string; vendor: string; online?: boolean }>();
  return {
    getDevice: (id) => Promise.resolve(rows.get(id)),
    setDeviceOnline: (id, online) => {
      const row = rows.get(id);
      if (row) row.online = online;
      return Promise.resolve();
    },
    setDeviceReported: () => Promise.resolve(),
    // Heartbeats are never refused; were one refused, it would stay unacknowledged and be sent again.
    keepRefusedEvents: () => Promise.reject(new Error('the in-memory registry keeps no refused events')),
    insertDevice: (d) => {
      rows.set(d.id, { id: d.id, tokenHash: d.tokenHash, vendor: d.vendor });
      return Promise.resolve();
    },
  };
}

if (args.worker !== undefined && args.url !== undefined) await runWorker(args.worker, args.url);
else await runHub();
