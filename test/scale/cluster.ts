/**
 * Hub replicas for the scale-out tests: in this process (`Hub` instances) or as child processes running the hub's real
 * entry point (hub/src/main.ts through tsx, configured only by KEYWAY_* variables, so they can be SIGKILLed). All share
 * one PostgreSQL database, one mosquitto, one hub signing key and one admin key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hub, type HubConfig } from '@keyway/hub';
import { HUB_PASSWORD, HUB_USER } from './broker.js';
import { until } from '../../scripts/support/until.js';

export { until };

export interface ClusterSecrets {
  adminKey: string;
  hubKeyPem: string;
  hubKeyFile: string;
  root: string;
}

export function clusterSecrets(): ClusterSecrets {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-scale-'));
  const hubKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const hubKeyFile = path.join(root, 'hub-key.pem');
  fs.writeFileSync(hubKeyFile, hubKeyPem, { mode: 0o600 });
  return { adminKey: `kw_admin_${randomBytes(24).toString('base64url')}`, hubKeyPem, hubKeyFile, root };
}

export interface Replica {
  name: string;
  url: string;
  call(method: string, route: string, body?: unknown, key?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

async function call(url: string, admin: string, method: string, route: string, body?: unknown, key = admin): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

export interface ReplicaOptions {
  name: string;
  databaseUrl: string;
  brokerUrl: string;
  secrets: ClusterSecrets;
  /** Bus claim lease; short in tests so a killed replica's claims are retried within the test. */
  busLeaseMs?: number;
  /** Subscriber declarations every replica applies at start (KEYWAY_SUBSCRIBERS_FILE). */
  subscribersFile?: string;
  overrides?: Partial<HubConfig>;
}

export type InProcessReplica = Replica & { hub: Hub };

export async function startReplica(o: ReplicaOptions): Promise<InProcessReplica> {
  const hub = new Hub({
    dataDir: path.join(o.secrets.root, o.name),
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { kind: 'external', url: o.brokerUrl, username: HUB_USER, password: HUB_PASSWORD, shareGroup: 'keyway', clientId: `keyway-${o.name}` },
    postgres: { connectionString: o.databaseUrl, poolSize: 5, statementTimeoutMs: 3000, connectTimeoutMs: 2000 },
    adminApiKey: o.secrets.adminKey,
    hubPrivateKeyPem: o.secrets.hubKeyPem,
    ...(o.busLeaseMs !== undefined ? { busLeaseMs: o.busLeaseMs } : {}),
    ...(o.subscribersFile ? { subscribersFile: o.subscribersFile } : {}),
    ...o.overrides,
  });
  await hub.start();
  const url = hub.httpUrl;
  return { name: o.name, url, hub, call: (m, r, b, k) => call(url, o.secrets.adminKey, m, r, b, k), stop: () => hub.stop() };
}

const MAIN = path.resolve(import.meta.dirname, '../../hub/src/main.ts');

export interface ProcessReplica extends Replica {
  child: ChildProcess;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts hub/src/main.ts in a child process with tsx, configured by environment variables as in a container. */
export async function spawnReplica(o: ReplicaOptions): Promise<ProcessReplica> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KEYWAY_DATA_DIR: path.join(o.secrets.root, o.name),
    KEYWAY_HTTP_HOST: '127.0.0.1',
    KEYWAY_HTTP_PORT: '0',
    KEYWAY_DATABASE_URL: o.databaseUrl,
    KEYWAY_DATABASE_POOL_SIZE: '5',
    KEYWAY_MQTT_EXTERNAL_URL: o.brokerUrl,
    KEYWAY_MQTT_EXTERNAL_USERNAME: HUB_USER,
    KEYWAY_MQTT_EXTERNAL_PASSWORD: HUB_PASSWORD,
    KEYWAY_MQTT_SHARE_GROUP: 'keyway',
    KEYWAY_ADMIN_API_KEY: o.secrets.adminKey,
    KEYWAY_HUB_PRIVATE_KEY_FILE: o.secrets.hubKeyFile,
    ...(o.busLeaseMs !== undefined ? { KEYWAY_BUS_LEASE_MS: String(o.busLeaseMs) } : {}),
    ...(o.subscribersFile ? { KEYWAY_SUBSCRIBERS_FILE: o.subscribersFile } : {}),
    KEYWAY_LOG_LEVEL: 'info',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${o.name} did not start in 30 s:\n${output.slice(-3000)}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /"api":"(http:\/\/[^"]+)"/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`replica ${o.name} exited with ${code}:\n${output.slice(-3000)}`));
    });
  });
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  return {
    name: o.name,
    url,
    child,
    call: (m, r, b, k) => call(url, o.secrets.adminKey, m, r, b, k),
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

