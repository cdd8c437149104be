import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '@keyway/shared';
import { AuditTrail, FileAuditStore, SchemaRegistry } from '@keyway/shared/registry';
import { signTime } from '@keyway/shared/grants';
import { buildApi } from './api/server.js';
import { Bus } from './bus/bus.js';
import { BusClient } from './bus/client.js';
import { declareSubscribersFromFile } from './bus/config-file.js';
import { DeviceGateway } from './gateway/gateway.js';
import type { GatewayLimits, PresenceOptions, TransportSpec } from './gateway/types.js';
import { loadOrCreateAdminKey, loadOrCreateHubKey } from './hub-keys.js';
import { AccessService } from './services/access.js';
import { DELIVERY_DEVICE_EVENT_TYPES, DeliveryService, type DeliveryDeviceEvent } from './services/delivery.js';
import type { WorkflowTimings } from './services/delivery-steps.js';
import { notificationSubscriber } from './services/notify.js';
import { SqliteHubState } from './state/sqlite-state.js';
import { SqliteBusStore } from './storage/sqlite-store.js';
import type { BusStore } from './storage/types.js';
import type { HubStateStore } from './state/types.js';

export const SERVICE_ACCOUNTS = ['platform', 'access', 'delivery', 'notify', 'device-gateway', 'ops'] as const;

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
  /** Storage backends; SQLite files in the data folder by default. */
  busStore?: BusStore;
  state?: HubStateStore;
  clock?: () => number;
}

/**
 * The hub in one process: the bus, the schema registry, the device gateway (embedded MQTT broker by default), the
 * access, delivery and notification services, and the HTTP API. Constructor only stores; start() brings the parts up
 * in dependency order; stop() takes them down in reverse.
 */
export class Hub {
  private readonly log: Logger = createLogger('hub');
  private parts: {
    bus: Bus;
    busStore: BusStore;
    state: HubStateStore;
    gateway: DeviceGateway;
    delivery: DeliveryService;
    access: AccessService;
    api: FastifyInstance;
    registry: SchemaRegistry;
  } | undefined;
  private admin = '';
  private publicKeyPem = '';

  constructor(private readonly config: HubConfig) {}

  async start(): Promise<void> {
    const { config } = this;
    fs.mkdirSync(config.dataDir, { recursive: true });
    const keys = loadOrCreateHubKey(config.dataDir, config.hubPrivateKeyPem);
    this.publicKeyPem = keys.publicKeyPem;
    const registry = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(path.join(config.dataDir, 'schema-audit.jsonl'))) });
    await registry.restore();

    const busStore = config.busStore ?? new SqliteBusStore({ path: path.join(config.dataDir, 'bus.db') });
    const bus = new Bus({ store: busStore, validator: registry, ...(config.clock ? { clock: config.clock } : {}) });
    await bus.start();
    for (const account of SERVICE_ACCOUNTS) await bus.createAccount(account);
    this.admin = loadOrCreateAdminKey(config.dataDir, config.adminApiKey, () => `kw_admin_${randomBytes(24).toString('base64url')}`);
    await bus.addApiKey('platform', this.admin);
    for (const [account, key] of Object.entries(config.apiKeys ?? {})) {
      await bus.createAccount(account);
      await bus.addApiKey(account, key);
    }

    const state = config.state ?? new SqliteHubState(path.join(config.dataDir, 'state.db'));
    await state.init();
    const gateway = new DeviceGateway({
      bus,
      devices: state,
      transport: config.mqtt,
      signTime: (t, aud) => signTime({ t, aud }, keys.privateKey),
      ...(config.gatewayLimits ? { limits: config.gatewayLimits } : {}),
      ...(config.presence ? { presence: config.presence } : {}),
      ...(config.clock ? { clock: config.clock } : {}),
    });
    await gateway.start();

    const access = new AccessService({ state, publisher: new BusClient(bus, 'access'), downlink: gateway, signingKey: keys.privateKey, publicKeyPem: keys.publicKeyPem, ...(config.clock ? { clock: config.clock } : {}) });
    const delivery = new DeliveryService({ state, publisher: new BusClient(bus, 'delivery'), access, downlink: gateway, ...(config.timings ? { timings: config.timings } : {}), ...(config.clock ? { clock: config.clock } : {}) });

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

    const api = await buildApi({
      bus,
      busStore,
      registry,
      state,
      access,
      delivery,
      metrics: [gateway.metrics],
      platformAccount: 'platform',
      ready: () => Promise.resolve({ ready: bus.isReady() && gateway.address !== undefined, checks: { bus: bus.isReady(), broker: gateway.address !== undefined } }),
    });
    await api.listen({ host: config.http.host, port: config.http.port });
    this.parts = { bus, busStore, state, gateway, delivery, access, api, registry };
    this.log.info({ http: this.httpUrl, mqtt: this.mqttUrl }, 'hub started');
  }

  async stop(): Promise<void> {
    const parts = this.parts;
    this.parts = undefined;
    if (!parts) return;
    await parts.api.close();
    await parts.delivery.stop();
    await parts.gateway.stop();
    await parts.bus.stop();
    await parts.state.close();
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
  get internals(): NonNullable<Hub['parts']> {
    if (!this.parts) throw new Error('the hub is not started');
    return this.parts;
  }
}
