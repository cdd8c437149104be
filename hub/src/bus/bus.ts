import { randomBytes, randomUUID } from 'node:crypto';
import {
  ErrorCode,
  KeywayError,
  createLogger,
  describeError,
  schemaIdFor,
  type EventEnvelope,
  type Logger,
} from '@keyway/shared';
import type { PublishEntryResult } from '@keyway/shared/client';
import type { Registry } from 'prom-client';
import type { BusStore, DeadLetter, DlqFilter, Page, QueueStats } from '../storage/types.js';
import { AlarmMonitor } from './alarms.js';
import type { CircuitState } from './circuit-breaker.js';
import { GroupCommit } from './group-commit.js';
import { Ingest, hashApiKey, type Detection } from './ingest.js';
import { BusMetrics } from './metrics.js';
import { SubscriberSet } from './subscribers.js';
import type { MqttPublish } from './targets.js';
import type { EventValidator, SubscriberDeclaration } from './types.js';
import type { SecretBox } from './secret-box.js';
import { sunsetTime } from '@keyway/shared/registry';

export interface BusOptions {
  store: BusStore;
  /** Usually `SchemaRegistry.fromEmbedded()`. */
  validator: EventValidator;
  /** Needed only for MQTT targets. */
  mqttPublish?: MqttPublish;
  /** How often an idle worker looks for due retries. Default 50 ms. */
  pollIntervalMs?: number;
  /** How long a claimed delivery is held before another worker may take it. Default 30 s. */
  leaseMs?: number;
  /** How long events stay in the log for replay and dedup. Default 7 days. */
  retentionMs?: number;
  /** Default 60 s. */
  purgeIntervalMs?: number;
  /** Default 1 s. */
  alarmIntervalMs?: number;
  /** Receives every alarm raise and clear (POST, JSON). */
  alarmWebhookUrl?: string;
  /**
   * Seals webhook secrets in stored declarations so webhook subscribers resume after a restart (the hub keys it from
   * its signing key). Without one they route, and queue, but deliver only once declared again.
   */
  secretBox?: SecretBox;
  /** The account the bus publishes its own events as. Default `platform`. */
  platformAccount?: string;
  clock?: () => number;
  random?: () => number;
  logger?: Logger;
}

export interface SubscriberStats extends QueueStats {
  name: string;
  oldestAgeMs: number;
  circuit: CircuitState;
}

const BUS_SOURCE = 'keyway://service/bus';

/**
 * The hub's event bus: durable ingest (auth, validation, dedup, group-committed append), routing
 * by pattern, and one isolated delivery worker per subscriber. Constructor only stores; start()
 * opens the store and workers; stop() releases every timer, worker and the store.
 */
export class Bus {
  private readonly store: BusStore;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly busMetrics: BusMetrics;
  private readonly subscribers: SubscriberSet;
  private readonly ingest: Ingest;
  private readonly alarms: AlarmMonitor;
  private readonly platform: string;
  private purgeTimer: NodeJS.Timeout | undefined;
  private readonly emitting = new Set<Promise<void>>();
  private started = false;

  constructor(private readonly options: BusOptions) {
    this.store = options.store;
    this.clock = options.clock ?? Date.now;
    this.log = options.logger ?? createLogger('bus');
    this.platform = options.platformAccount ?? 'platform';
    this.busMetrics = new BusMetrics(() => this.allStats(), this.clock);
    this.subscribers = new SubscriberSet({
      store: this.store,
      validator: options.validator,
      metrics: this.busMetrics,
      log: this.log.child({ part: 'delivery' }),
      clock: this.clock,
      random: options.random ?? Math.random,
      pollIntervalMs: options.pollIntervalMs ?? 50,
      leaseMs: options.leaseMs ?? 30_000,
      mqttPublish: options.mqttPublish,
      secretBox: options.secretBox,
      detect: (d) => this.detect(d),
    });
    this.ingest = new Ingest({
      store: this.store,
      validator: options.validator,
      commit: new GroupCommit(this.store, this.clock),
      metrics: this.busMetrics,
      log: this.log.child({ part: 'ingest' }),
      clock: this.clock,
      route: (e) => this.subscribers.route(e),
      detect: (d) => this.detect(d),
      appended: (names) => this.subscribers.wake(names),
    });
    this.alarms = new AlarmMonitor({
      store: this.store,
      subscribers: this.subscribers,
      metrics: this.busMetrics,
      log: this.log.child({ part: 'alarms' }),
      clock: this.clock,
      intervalMs: options.alarmIntervalMs ?? 1_000,
      webhookUrl: options.alarmWebhookUrl,
      emit: async (data) => {
        await this.emit('keyway.platform.AlarmRaised', data, data.subscriber);
      },
    });
  }

  /** The bus's Prometheus registry (served by the API at /metrics). */
  get metrics(): Registry {
    return this.busMetrics.registry;
  }

  async start(): Promise<void> {
    if (this.started) return;
    await this.store.init();
    await this.store.putAccount(this.platform, this.clock());
    await this.subscribers.syncStored();
    this.subscribers.start();
    this.alarms.start();
    const retention = this.options.retentionMs ?? 7 * 24 * 3600_000;
    this.purgeTimer = setInterval(() => void this.purgeExpired(retention), this.options.purgeIntervalMs ?? 60_000);
    this.started = true;
  }

  /**
   * Applies subscribers declared or changed through another replica since the last call (replicas sharing a store call it
   * periodically): this replica then routes events to them, and runs workers for webhook and MQTT ones.
   */
  refreshSubscribers(): Promise<void> {
    this.assertStarted();
    return this.subscribers.syncStored();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.purgeTimer);
    this.purgeTimer = undefined;
    await this.alarms.stop();
    await this.subscribers.stop();
    await Promise.allSettled([...this.emitting]);
    await this.store.close();
  }

  isReady(): boolean {
    return this.started;
  }

  // --- accounts -------------------------------------------------------------------------------

  async createAccount(name: string): Promise<void> {
    this.assertStarted();
    await this.store.putAccount(name, this.clock());
  }

  /** Registers a caller-chosen key (from configuration) for an account. */
  async addApiKey(account: string, key: string): Promise<void> {
    this.assertStarted();
    await this.store.addApiKey(account, hashApiKey(key), this.clock());
  }

  /** Creates a random key for an account; only its hash is stored, so show it to the caller once. */
  async issueApiKey(account: string): Promise<string> {
    const key = `kw_${randomBytes(24).toString('base64url')}`;
    await this.addApiKey(account, key);
    return key;
  }

  async revokeApiKey(key: string): Promise<void> {
    this.assertStarted();
    await this.store.revokeApiKey(hashApiKey(key));
    this.ingest.forgetKey(key);
  }

  // --- publish --------------------------------------------------------------------------------

  /** PutEvents: up to 10 entries / 256 KB, each a JSON string or object; one result per entry. */
  publish(apiKey: string, entries: readonly unknown[]): Promise<PublishEntryResult[]> {
    if (!this.started) return Promise.resolve(this.unavailable(entries));
    return this.ingest.publish(apiKey, entries);
  }

  /** Publishes as an account already authenticated in-process (typed clients, services). */
  publishAs(account: string, entries: readonly unknown[]): Promise<PublishEntryResult[]> {
    if (!this.started) return Promise.resolve(this.unavailable(entries));
    return this.ingest.publishAs(account, entries);
  }

  // --- subscribers ----------------------------------------------------------------------------

  /** Checks permissions, provisions the queue and starts delivery; idempotent for the same declaration. */
  declareSubscriber(declaration: SubscriberDeclaration): Promise<'created' | 'updated' | 'unchanged'> {
    this.assertStarted();
    return this.subscribers.declare(declaration);
  }

  /** Stops this process delivering to the subscriber; its queue keeps filling until it is declared again. */
  removeSubscriber(name: string): Promise<boolean> {
    return this.subscribers.remove(name);
  }

  async subscriberStats(name: string): Promise<SubscriberStats> {
    this.assertStarted();
    const active = this.subscribers.get(name);
    if (!active && !(await this.store.getSubscriber(name))) {
      throw new KeywayError(ErrorCode.NotFound, `no subscriber named ${name} has been declared`);
    }
    const now = this.clock();
    const s = await this.store.stats(name, now);
    return {
      name,
      ...s,
      oldestAgeMs: s.oldestEnqueuedAt === null ? 0 : now - s.oldestEnqueuedAt,
      circuit: active?.worker.breaker.state ?? 'closed',
    };
  }

  listDlq(subscriber: string, filter: DlqFilter = {}, page: Page = { limit: 100 }): Promise<DeadLetter[]> {
    this.assertStarted();
    return this.store.listDead(subscriber, filter, { ...page, limit: Math.min(Math.max(page.limit, 1), 1000) });
  }

  /** Moves dead letters (all, or those matching the filter) back to the live queue. */
  async redrive(subscriber: string, filter: DlqFilter = {}): Promise<number> {
    this.assertStarted();
    const moved = await this.store.redrive(subscriber, filter, this.clock());
    this.log.info({ subscriber, filter, moved }, 'dead letters redriven');
    this.subscribers.wake([subscriber]);
    return moved;
  }

  /** Delivers again, to one subscriber, the logged events of [fromMs, toMs] that match its rules. */
  async replay(subscriber: string, fromMs: number, toMs: number): Promise<number> {
    this.assertStarted();
    if (!this.subscribers.get(subscriber)) {
      throw new KeywayError(
        ErrorCode.NotFound,
        `subscriber ${subscriber} is not declared in this hub; declare it before replaying`,
      );
    }
    let after = 0;
    let queued = 0;
    for (;;) {
      const page = await this.store.readLog(fromMs, toMs, { limit: 1000, after });
      if (page.length === 0) break;
      after = page[page.length - 1]!.seq;
      const seqs = page
        .filter((r) => this.subscribers.route(JSON.parse(r.payload) as EventEnvelope).includes(subscriber))
        .map((r) => r.seq);
      queued += await this.store.enqueue(subscriber, seqs, this.clock());
    }
    this.log.info({ subscriber, fromMs, toMs, queued }, 'replay queued');
    this.subscribers.wake([subscriber]);
    return queued;
  }

  /** Deletes logged events older than the retention that nothing still needs. */
  async purgeExpired(retentionMs: number): Promise<number> {
    try {
      return await this.store.purge(this.clock() - retentionMs);
    } catch (error) {
      this.log.error({ err: describeError(error) }, 'retention purge failed');
      return 0;
    }
  }

  /** Runs one alarm evaluation now (tests, and the API after a redrive). */
  evaluateAlarms(): Promise<void> {
    return this.alarms.evaluate();
  }

  // --- internals ------------------------------------------------------------------------------

  private detect(d: Detection): void {
    this.busMetrics.unauthorized.inc({ kind: d.kind, account: d.account ?? 'unknown' });
    this.log.warn({ detection: d }, `unauthorized exchange detected: ${d.detail}`);
    const data = {
      kind: d.kind,
      ...(d.account !== undefined ? { account: d.account.slice(0, 128) } : {}),
      ...(d.eventType !== undefined ? { eventType: d.eventType.slice(0, 200) } : {}),
      detail: d.detail.slice(0, 500),
      at: new Date(this.clock()).toISOString(),
    };
    const p = this.emit('keyway.platform.UnauthorizedExchangeDetected', data, d.account).finally(() =>
      this.emitting.delete(p),
    );
    this.emitting.add(p);
  }

  /**
   * Tells subscribers (ops, the teams that consume the type) that a schema version was deprecated: a
   * keyway.platform.SchemaDeprecated event, published as the platform account, with the type as its subject.
   */
  async announceDeprecation(d: { eventType: string; version: number; sunset: string; replacement?: string; actor: string }): Promise<void> {
    const sunset = new Date(sunsetTime(d.sunset));
    const data = {
      eventType: d.eventType,
      version: d.version,
      ...(Number.isNaN(sunset.getTime()) ? {} : { sunset: sunset.toISOString() }),
      ...(d.replacement ? { replacement: d.replacement } : {}),
      actor: d.actor.slice(0, 128),
      at: new Date(this.clock()).toISOString(),
    };
    await this.emit('keyway.platform.SchemaDeprecated', data, d.eventType);
  }

  /** Publishes one of the bus's own events as the platform account. */
  private async emit(type: string, data: unknown, subject: string | undefined): Promise<void> {
    if (!this.started) return;
    const event: EventEnvelope = {
      specversion: '1.0',
      id: randomUUID(),
      source: BUS_SOURCE,
      type,
      time: new Date(this.clock()).toISOString(),
      dataschema: schemaIdFor(type, 1),
      datacontenttype: 'application/json',
      ...(subject !== undefined ? { subject } : {}),
      data,
    };
    try {
      const [result] = await this.ingest.publishAs(this.platform, [event]);
      if (result?.status === 'rejected')
        this.log.error({ type, error: result.error }, 'the bus could not publish its own event');
    } catch (error) {
      this.log.error({ type, err: describeError(error) }, 'the bus could not publish its own event');
    }
  }

  private async allStats(): Promise<Map<string, QueueStats & { circuitOpen: boolean }>> {
    const out = new Map<string, QueueStats & { circuitOpen: boolean }>();
    if (!this.started) return out;
    const now = this.clock();
    for (const name of this.subscribers.names()) {
      const s = await this.store.stats(name, now);
      out.set(name, { ...s, circuitOpen: this.subscribers.get(name)?.worker.breaker.state !== 'closed' });
    }
    return out;
  }

  private unavailable(entries: readonly unknown[]): PublishEntryResult[] {
    return entries.map(() => ({
      status: 'rejected' as const,
      error: { code: ErrorCode.Unavailable, message: 'the bus is not started; retry when /readyz answers' },
    }));
  }

  private assertStarted(): void {
    if (!this.started) throw new KeywayError(ErrorCode.Unavailable, 'the bus is not started; call start() first');
  }
}
