import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import mqtt, { type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '@keyway/shared';
import { AuditTrail, FileAuditStore, SchemaRegistry, type AuditStore } from '@keyway/shared/registry';
import { signTime } from '@keyway/shared/grants';
import { buildApi } from './api/server.js';
import { Bus } from './bus/bus.js';
import { BusClient } from './bus/client.js';
import { declareSubscribersFromFile } from './bus/config-file.js';
import { SecretBox } from './bus/secret-box.js';
import { DeviceGateway } from './gateway/gateway.js';
import type { GatewayLimits, PresenceOptions, TransportSpec } from './gateway/types.js';
import { loadOrCreateAdminKey, loadOrCreateHubKey } from './hub-keys.js';
import { AccessService } from './services/access.js';
import { DELIVERY_DEVICE_EVENT_TYPES, DeliveryService, type DeliveryDeviceEvent } from './services/delivery.js';
import type { WorkflowTimings } from './services/delivery-steps.js';
import { notificationSubscriber } from './services/notify.js';
import { SqliteHubState } from './state/sqlite-state.js';
import { SqliteBusStore } from './storage/sqlite-store.js';
import { PostgresAuditStore, PostgresBusStore, PostgresHubState, type PostgresConnectionOptions } from './storage/postgres/index.js';
import type { BusStore } from './storage/types.js';
import type { HubStateStore } from './state/types.js';
import type { DeviceDownlink } from './services/downlink.js';

export const SERVICE_ACCOUNTS = ['platform', 'access', 'delivery', 'notify', 'device-gateway', 'ops'] as const;

/** How often a replica on PostgreSQL applies schema changes made through the other replicas. */
/** How often a replica on PostgreSQL picks up schema versions and subscribers that another replica changed. */
export const SHARED_REFRESH_MS = 2000;
/** How long an Idempotency-Key answers retries with its stored response. */
export const IDEMPOTENCY_KEEP_MS = 24 * 3600_000;
const IDEMPOTENCY_PURGE_EVERY_MS = 3600_000;

export interface HubConfig {
  /** Where SQLite files, the hub key and the admin key live. */
  dataDir: string;
  http: { host: string; port: number };
  mqtt: TransportSpec;
  /** The platform (administrator) API key; generated into the data folder when absent. */
  adminApiKey?: string;
  /** Extra `account: key` pairs to accept, e.g. for the services' own apps. */
  apiKeys?: Record<string, string>;
  /** PEM; generated into the data folder when absent. */
  hubPrivateKeyPem?: string;
  /** A JSON file of subscriber declarations loaded at start. */
  subscribersFile?: string;
  timings?: Partial<WorkflowTimings>;
  gatewayLimits?: GatewayLimits;
  presence?: PresenceOptions;
  /**
   * Scale-out profile: bus log, queues, hub state and the registry's audit chain in this PostgreSQL database, shared
   * by every replica (`busStore`/`state` given explicitly still win). Absent: SQLite files in the data folder.
   */
  postgres?: PostgresConnectionOptions;
  /** How long a replica holds a claimed bus delivery before another may take it (default 30 s): a killed replica's claims wait this long. */
  busLeaseMs?: number;
  /** Storage backends; SQLite files in the data folder by default. */
  busStore?: BusStore;
  state?: HubStateStore;
  clock?: () => number;
}

/** The running parts of a hub, for tests and the demo. */
export interface HubParts {
  bus: Bus;
  busStore: BusStore;
  state: HubStateStore;
  gateway: DeviceGateway;
  /** The registry's audit chain store: a file, or PostgreSQL in the scale-out profile. */
  audit: AuditStore;
  /** What services use to reach devices: the gateway, or with an external broker the gateway plus shared presence. */
  downlink: DeviceDownlink;
  delivery: DeliveryService;
  access: AccessService;
  api: FastifyInstance;
  registry: SchemaRegistry;
}

/**
 * The hub in one process: the bus, the schema registry, the device gateway (embedded MQTT broker by default), the
 * access, delivery and notification services, and the HTTP API. Constructor only stores; start() brings the parts up
 * in dependency order; stop() takes them down in reverse.
 */
export class Hub {
  private readonly log: Logger = createLogger('hub');
  private parts: HubParts | undefined;
  private brokerProbe: BrokerProbe | undefined;
  private sharedPresence: SharedPresenceDownlink | undefined;
  private sharedRefresh: NodeJS.Timeout | undefined;
  private idempotencyPurge: NodeJS.Timeout | undefined;
  private admin = '';
  private publicKeyPem = '';

  constructor(private readonly config: HubConfig) {}

  async start(): Promise<void> {
    // What is up so far, taken down in reverse when a later part fails to start (no pool or socket is left open).
    const undo: (() => Promise<void> | void)[] = [];
    try {
      await this.bringUp(undo);
    } catch (error) {
      for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined);
      this.brokerProbe = undefined;
      this.sharedPresence = undefined;
      throw error;
    }
  }

  private async bringUp(undo: (() => Promise<void> | void)[]): Promise<void> {
    const { config } = this;
    fs.mkdirSync(config.dataDir, { recursive: true });
    const keys = loadOrCreateHubKey(config.dataDir, config.hubPrivateKeyPem);
    this.publicKeyPem = keys.publicKeyPem;
    const pgOptions = config.postgres;
    let audit: AuditStore;
    if (pgOptions) {
      const pgAudit = new PostgresAuditStore(pgOptions);
      await pgAudit.init();
      undo.push(() => pgAudit.close());
      audit = pgAudit;
    } else {
      audit = new FileAuditStore(path.join(config.dataDir, 'schema-audit.jsonl'));
    }
    const registry = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(audit) });
    await registry.restore();
    const busStore = config.busStore ?? (pgOptions ? new PostgresBusStore(pgOptions) : new SqliteBusStore({ path: path.join(config.dataDir, 'bus.db') }));
    const secretBox = SecretBox.fromSigningKey(keys.privateKey);
    const bus = new Bus({ store: busStore, validator: registry, secretBox, ...(config.busLeaseMs !== undefined ? { leaseMs: config.busLeaseMs } : {}), ...(config.clock ? { clock: config.clock } : {}) });
    await bus.start();
    undo.push(() => bus.stop());
    if (pgOptions) {
      // Replicas share the audit trail and the subscriber records: what another replica registered, deprecated or
      // declared is picked up here (types first, so a subscriber to a type just registered elsewhere is allowed).
      this.sharedRefresh = setInterval(() => void this.refreshShared(registry, bus), SHARED_REFRESH_MS);
      this.sharedRefresh.unref();
      undo.push(() => this.stopSharedRefresh());
    }
    for (const account of SERVICE_ACCOUNTS) await bus.createAccount(account);
    this.admin = loadOrCreateAdminKey(config.dataDir, config.adminApiKey, () => `kw_admin_${randomBytes(24).toString('base64url')}`);
    await bus.addApiKey('platform', this.admin);
    for (const [account, key] of Object.entries(config.apiKeys ?? {})) {
      await bus.createAccount(account);
      await bus.addApiKey(account, key);
    }

    const state = config.state ?? (pgOptions ? new PostgresHubState(pgOptions) : new SqliteHubState(path.join(config.dataDir, 'state.db')));
    await state.init();
    undo.push(() => state.close());
    // Idempotency keys answer retries for a day, as Stripe's do; then they go.
    this.idempotencyPurge = setInterval(() => {
      state.purgeIdempotent((config.clock ?? Date.now)() - IDEMPOTENCY_KEEP_MS).catch((error: unknown) => this.log.warn({ err: error }, 'could not purge old idempotency keys'));
    }, IDEMPOTENCY_PURGE_EVERY_MS);
    this.idempotencyPurge.unref();
    undo.push(() => clearInterval(this.idempotencyPurge));
    const gateway = new DeviceGateway({
      bus,
      devices: state,
      transport: config.mqtt,
      signTime: (t, aud, nonce) => signTime({ t, aud, ...(nonce !== undefined ? { nonce } : {}) }, keys.privateKey),
      ...(config.gatewayLimits ? { limits: config.gatewayLimits } : {}),
      ...(config.presence ? { presence: config.presence } : {}),
      ...(config.clock ? { clock: config.clock } : {}),
    });
    await gateway.start();
    undo.push(() => gateway.stop());
    // The gateway does not expose its broker client; with an external broker a light probe client answers /readyz.
    const brokerProbe = config.mqtt.kind === 'external' ? new BrokerProbe(config.mqtt) : undefined;
    this.brokerProbe = brokerProbe;
    await brokerProbe?.start();
    undo.push(() => brokerProbe?.stop());
    // With shared subscriptions a replica sees only part of the device traffic, so presence is read from the shared
    // device records (kept by every replica's presence writer) as well as from this replica's own view.
    const sharedPresence = config.mqtt.kind === 'external' ? new SharedPresenceDownlink(gateway, state) : undefined;
    this.sharedPresence = sharedPresence;
    await sharedPresence?.start();
    undo.push(() => sharedPresence?.stop());
    const downlink: DeviceDownlink = sharedPresence ?? gateway;

    const access = new AccessService({ state, publisher: new BusClient(bus, 'access'), downlink, signingKey: keys.privateKey, publicKeyPem: keys.publicKeyPem, ...(config.clock ? { clock: config.clock } : {}) });
    const delivery = new DeliveryService({ state, publisher: new BusClient(bus, 'delivery'), access, downlink, ...(config.timings ? { timings: config.timings } : {}), ...(config.clock ? { clock: config.clock } : {}) });

    // Each service reads the bus through its own subscriber: its own queue, retries and DLQ.
    await bus.declareSubscriber({
      name: 'delivery.device-events',
      account: 'delivery',
      types: DELIVERY_DEVICE_EVENT_TYPES,
      orderedBySubject: true,
      concurrency: 16,
      target: { kind: 'handler', handler: async (event) => void (await delivery.onDeviceEvent(event as DeliveryDeviceEvent)) },
    });
    await bus.declareSubscriber({
      name: 'access.device-sync',
      account: 'access',
      types: ['keyway.device.DeviceOnline', 'keyway.access.GrantUsed'],
      target: {
        kind: 'handler',
        handler: async (event) => {
          const data = event.data as { deviceId: string; grantId?: string };
          if (event.type === 'keyway.device.DeviceOnline') await access.syncDevice(data.deviceId);
          else if (data.grantId) await access.recordUse(data.grantId);
        },
      },
    });
    await bus.declareSubscriber(notificationSubscriber({ state }));
    if (config.subscribersFile) await declareSubscribersFromFile(bus, config.subscribersFile);
    await delivery.start();
    undo.push(() => delivery.stop());

    const api = await buildApi({
      bus,
      busStore,
      registry,
      state,
      access,
      delivery,
      metrics: [gateway.metrics],
      platformAccount: 'platform',
      secretBox,
      ready: async () => {
        const checks: Record<string, boolean> = {
          bus: bus.isReady(),
          broker: brokerProbe ? brokerProbe.connected : gateway.address !== undefined,
        };
        const stores = [busStore, state, audit].filter((s): s is typeof s & Pingable => typeof (s as Partial<Pingable>).ping === 'function');
        if (stores.length > 0) checks.postgres = (await Promise.all(stores.map((s) => pingWithin(s, 2000)))).every(Boolean);
        return { ready: Object.values(checks).every(Boolean), checks };
      },
    });
    undo.push(() => api.close());
    await api.listen({ host: config.http.host, port: config.http.port });
    this.parts = { bus, busStore, state, gateway, audit, downlink, delivery, access, api, registry };
    this.log.info({ http: this.httpUrl, mqtt: this.mqttUrl }, 'hub started');
  }

  async stop(): Promise<void> {
    const parts = this.parts;
    this.parts = undefined;
    if (!parts) return;
    await this.stopSharedRefresh();
    clearInterval(this.idempotencyPurge);
    await parts.api.close();
    await parts.delivery.stop();
    this.sharedPresence?.stop();
    this.sharedPresence = undefined;
    await this.brokerProbe?.stop();
    this.brokerProbe = undefined;
    await parts.gateway.stop();
    await parts.bus.stop();
    await parts.state.close();
    if (parts.audit instanceof PostgresAuditStore) await parts.audit.close();
  }

  /** The shared refresh running now, if any: stop() waits for it before closing what it reads. */
  private refreshing: Promise<void> | undefined;

  private refreshShared(registry: SchemaRegistry, bus: Bus): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        await registry.refresh().catch((error: unknown) => this.log.error({ err: error }, 'could not refresh the schema registry from the shared audit trail'));
        await bus.refreshSubscribers().catch((error: unknown) => this.log.error({ err: error }, 'could not refresh subscribers from the shared store'));
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async stopSharedRefresh(): Promise<void> {
    clearInterval(this.sharedRefresh);
    this.sharedRefresh = undefined;
    await this.refreshing;
  }

  get httpUrl(): string {
    const address = this.parts?.api.server.address();
    if (!address || typeof address === 'string') return '';
    return `http://${this.config.http.host}:${address.port}`;
  }

  get mqttUrl(): string {
    const port = this.parts?.gateway.address?.port;
    const host = this.config.mqtt.kind === 'embedded' ? (this.config.mqtt.host ?? '127.0.0.1') : '';
    return this.config.mqtt.kind === 'embedded' && port !== undefined ? `mqtt://${host}:${port}` : this.config.mqtt.kind === 'external' ? this.config.mqtt.url : '';
  }

  get adminApiKey(): string {
    return this.admin;
  }

  get hubPublicKeyPem(): string {
    return this.publicKeyPem;
  }

  /** The running parts, for tests and the demo. */
  get internals(): HubParts {
    if (!this.parts) throw new Error('the hub is not started');
    return this.parts;
  }
}

interface Pingable {
  ping(): Promise<void>;
}

/** A store's ping within `ms`: false when it rejects or does not answer in time (a stalled server must not stall /readyz). */
function pingWithin(store: Pingable, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const ping = store.ping().then(
    () => true,
    () => false,
  );
  return Promise.race([ping, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A second, idle MQTT client on the external broker, with the hub's credentials, whose connection state answers the
 * broker check of /readyz (the gateway's own client is not exposed). It reconnects by itself, so readiness returns
 * once the broker is back.
 */
class BrokerProbe {
  private client: MqttClient | undefined;

  constructor(private readonly spec: Extract<TransportSpec, { kind: 'external' }>) {}

  async start(): Promise<void> {
    const s = this.spec;
    const client = mqtt.connect(s.url, {
      clientId: `keyway-hub-probe-${randomUUID().slice(0, 8)}`,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      ...(s.username !== undefined ? { username: s.username } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
    });
    // Errors are reflected in `connected`; without a listener mqtt.js would throw them.
    client.on('error', () => undefined);
    this.client = client;
    await new Promise<void>((resolve) => {
      if (client.connected) resolve();
      else client.once('connect', () => resolve());
      setTimeout(resolve, 5000).unref();
    });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(true);
  }
}

/**
 * Presence for replicas behind shared subscriptions: a device counts as online when this replica's gateway has seen
 * it, or when the shared device record says so (every replica's presence writer keeps it). The records are read
 * into memory every `refreshMs` because services ask synchronously.
 */
class SharedPresenceDownlink implements DeviceDownlink {
  private readonly shared = new Map<string, boolean>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;

  constructor(
    private readonly gateway: DeviceGateway,
    private readonly state: HubStateStore,
    private readonly refreshMs = 1000,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  isOnline(deviceId: string): boolean {
    return this.gateway.isOnline(deviceId) || this.shared.get(deviceId) === true;
  }

  sendCommand(deviceId: string, token: string): Promise<void> {
    return this.gateway.sendCommand(deviceId, token);
  }

  sendGrants(deviceId: string, message: { grants?: string[]; revocations?: string }): Promise<void> {
    return this.gateway.sendGrants(deviceId, message);
  }

  private async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const seen = new Map<string, boolean>();
      let after: string | undefined;
      for (;;) {
        const page = await this.state.listDevices({ limit: 1000, ...(after !== undefined ? { after } : {}) });
        for (const d of page) seen.set(d.id, d.online);
        const last = page[page.length - 1];
        if (page.length < 1000 || !last) break;
        after = last.id;
      }
      this.shared.clear();
      for (const [id, online] of seen) this.shared.set(id, online);
    } catch {
      // Store unreachable: keep the last view; /readyz reports the outage.
    } finally {
      this.refreshing = false;
    }
  }
}
