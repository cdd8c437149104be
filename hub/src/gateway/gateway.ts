import {
  ErrorCode,
  KeywayError,
  createLogger,
  describeError,
  deviceTopic,
  isValidDeviceId,
  type DeviceTopic,
  type Logger,
} from '@keyway/shared';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import { bridgeBatch, type BatchBridgeDeps, type BatchOutcome } from './batch-bridge.js';
import { EmbeddedTransport } from './embedded-transport.js';
import { ExternalTransport } from './external-transport.js';
import { GatewayMetrics } from './metrics.js';
import { PresenceTracker, type PresenceChange } from './presence.js';
import { PresenceWriter } from './presence-writer.js';
import { gatewayEvent, publishOwn } from './own-events.js';
import { KeyedTokenBuckets } from './rate-limit.js';
import type { Detection, GatewayTransport, InboundMessage } from './transport.js';
import type { CommandResult, DeviceGatewayOptions } from './types.js';
import { KeyedSlots } from './keyed-slots.js';
import { LogThrottle } from './log-throttle.js';
import { CommandResultMessage, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, PresenceMessage, ReportedStateFrame, WIRE_VERSION, parseJson } from '@keyway/shared/wire';

/** A disconnect is reported only if no Last Will or new message explains it within this time. */
const DISCONNECT_GRACE_MS = 300;

/**
 * The hub's MQTT device gateway: authenticates devices and confines them to their own topics (embedded broker),
 * bridges their outbox batches onto the bus and acknowledges what is durable, tracks presence and reported state,
 * and carries commands and grants down. Constructor only stores; start() opens the transport; stop() releases
 * every timer, socket and listener after in-flight batches have settled.
 */
export class DeviceGateway {
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly metricsSet = new GatewayMetrics();
  private transport: GatewayTransport | undefined;
  private presence: PresenceTracker | undefined;
  private presenceWriter: PresenceWriter | undefined;
  private deviceBuckets: KeyedTokenBuckets | undefined;
  private vendorBuckets: KeyedTokenBuckets | undefined;
  private detectionBuckets: KeyedTokenBuckets | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly vendors = new Map<string, string>();
  private readonly acked = new Map<string, number>();
  /** Per device, the time nonce of its latest batch, signed into every hub time sent to it. */
  private readonly timeNonces = new Map<string, string>();
  /** Per-device tail of the batch chain, so one device's batches are stored and acked in order. */
  private readonly chains = new Map<string, { tail: Promise<void>; queued: number }>();
  /** Per vendor, how many of its batches are processed at once (limits.vendorConcurrency). */
  private readonly vendorSlots: KeyedSlots;
  private readonly logThrottle: LogThrottle;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private readonly resultListeners = new Set<(result: CommandResult) => void>();
  private running = false;

  constructor(private readonly options: DeviceGatewayOptions) {
    this.log = options.logger ?? createLogger('device-gateway');
    this.clock = options.clock ?? Date.now;
    this.vendorSlots = new KeyedSlots(Math.max(1, options.limits?.vendorConcurrency ?? 4));
    this.logThrottle = new LogThrottle(this.clock);
  }

  /** Prometheus metrics of the gateway, to merge into /metrics. */
  get metrics(): Registry {
    return this.metricsSet.registry;
  }

  /** The embedded broker's ports once started; undefined for an external broker. */
  get address(): { port: number; tlsPort?: number } | undefined {
    return this.transport instanceof EmbeddedTransport ? this.transport.address : undefined;
  }

  /** Clients connected to the embedded broker (undefined when external) and devices counted online. */
  stats(): { connectedClients: number | undefined; onlineDevices: number } {
    return { connectedClients: this.transport?.connectedClients(), onlineDevices: this.presence?.onlineCount ?? 0 };
  }

  /** For /readyz: the embedded broker is listening, or the external broker connection is up. */
  isReady(): boolean {
    return this.transport?.ready() ?? false;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const o = this.options;
    const limits = o.limits ?? {};
    this.deviceBuckets = new KeyedTokenBuckets(limits.perDevice ?? { perSecond: 20, burst: 60 }, this.clock);
    this.vendorBuckets = new KeyedTokenBuckets(limits.perVendor ?? { perSecond: 2_000, burst: 5_000 }, this.clock);
    this.detectionBuckets = new KeyedTokenBuckets(limits.detections ?? { perSecond: 0.1, burst: 3 }, this.clock);
    this.presence = new PresenceTracker({
      heartbeatIntervalMs: o.presence?.heartbeatIntervalMs ?? 30_000,
      missedHeartbeats: o.presence?.missedHeartbeats ?? 3,
      clock: this.clock,
      changed: (change) => this.logPresence(change),
    });
    this.presenceWriter = new PresenceWriter({ devices: o.devices, publish: (changes) => this.publishPresence(changes), log: this.log });
    const t = o.transport;
    this.transport =
      t.kind === 'embedded'
        ? new EmbeddedTransport({ port: t.port, host: t.host ?? '127.0.0.1', ...(t.tls ? { tls: t.tls } : {}), devices: o.devices, log: this.log.child({ part: 'broker' }) })
        : new ExternalTransport({ ...t, log: this.log.child({ part: 'broker' }) });
    this.running = true;
    try {
      await this.transport.start({
        message: (m) => this.track(this.onMessage(m)),
        alive: (deviceId) => this.presence?.seen(deviceId),
        disconnected: (deviceId) => this.onDisconnected(deviceId),
        detection: (d) => this.detect(d),
      });
    } catch (error) {
      this.running = false;
      await this.transport.stop().catch(() => undefined);
      this.transport = undefined;
      const problem =
        t.kind === 'embedded'
          ? `could not listen on ${t.host ?? '127.0.0.1'}:${t.port} (${describeError(error)}); free the port or choose another (KEYWAY_MQTT_PORT, KEYWAY_MQTT_TLS_PORT)`
          : `could not connect to ${t.url} (${describeError(error)}); check KEYWAY_MQTT_EXTERNAL_URL, the broker's credentials and that it is reachable`;
      throw new KeywayError(ErrorCode.Unavailable, `the device gateway ${problem}`, { cause: error });
    }
    this.presence.start();
    this.sweepTimer = setInterval(() => {
      this.deviceBuckets?.sweep();
      this.vendorBuckets?.sweep();
      this.detectionBuckets?.sweep();
      this.metricsSet.connected.set(this.transport?.connectedClients() ?? 0);
      this.metricsSet.online.set(this.presence?.onlineCount ?? 0);
    }, 5_000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
    this.presence?.stop();
    await Promise.allSettled([...this.inFlight]);
    await this.presenceWriter?.stop();
    await this.transport?.stop();
    this.transport = undefined;
    this.chains.clear();
    this.vendors.clear();
    this.resultListeners.clear();
  }

  // --- downlink ---------------------------------------------------------------------------------

  isOnline(deviceId: string): boolean {
    return this.presence?.isOnline(deviceId) ?? false;
  }

  /** Publishes a signed command (keyway-cmd+jwt) on `down/cmd`, QoS 1. */
  async sendCommand(deviceId: string, token: string): Promise<void> {
    await this.publishTo(deviceId, 'down/cmd', JSON.stringify({ v: WIRE_VERSION, token }));
  }

  /** Publishes grant tokens and/or the signed revocation list on `down/grants`, QoS 1, with hub time. */
  async sendGrants(deviceId: string, message: { grants?: string[]; revocations?: string }): Promise<void> {
    const time = await this.signedTime(deviceId);
    const body = {
      v: WIRE_VERSION,
      ...(message.grants ? { grants: message.grants } : {}),
      ...(message.revocations !== undefined ? { revocations: message.revocations } : {}),
      ...(time !== undefined ? { time } : {}),
    };
    await this.publishTo(deviceId, 'down/grants', JSON.stringify(body));
  }

  /**
   * Forgets what the gateway cached about a device and closes its connection to the embedded broker, e.g. after its
   * token was rotated or it was removed from the registry (a new CONNECT is checked against the registry again).
   * Returns false when it is not connected here; with an external broker, regenerate the broker's password file.
   */
  disconnectDevice(deviceId: string): boolean {
    this.vendors.delete(deviceId);
    this.acked.delete(deviceId);
    this.timeNonces.delete(deviceId);
    return this.transport?.disconnect(deviceId) ?? false;
  }

  /** Calls `listener` for every `up/cmd-result`; returns a function that removes it. */
  onCommandResult(listener: (result: CommandResult) => void): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
  }

  // --- inbound ----------------------------------------------------------------------------------

  private async onMessage(m: InboundMessage): Promise<void> {
    if (m.suffix.startsWith('down/')) return; // our own downlink, seen by the broker-side subscription
    const kind = m.suffix === 'up/events' ? 'batch' : m.suffix.replace('/', '-');
    this.metricsSet.inbound.inc({ kind });
    const vendor = await this.vendorOf(m.deviceId);
    if (vendor === undefined) {
      // Only reachable with an external broker whose password file is older than the registry.
      this.metricsSet.refusals.inc({ reason: 'unknown-device' });
      this.detect({ kind: 'unknown-device', deviceId: m.deviceId, detail: `message from unregistered device ${m.deviceId} via the external broker` });
      return;
    }
    if (!this.deviceBuckets!.take(m.deviceId)) {
      this.metricsSet.rateLimited.inc({ scope: 'device' });
      this.warnOnce(`rate:${m.deviceId}`, { deviceId: m.deviceId, topic: m.suffix }, 'device over its message rate; message dropped');
      return;
    }
    if (!this.vendorBuckets!.take(vendor)) {
      this.deviceBuckets!.refund(m.deviceId);
      this.metricsSet.rateLimited.inc({ scope: 'vendor' });
      this.warnOnce(`vendor:${vendor}`, { deviceId: m.deviceId, vendor, topic: m.suffix }, 'vendor fleet over its message rate; message dropped');
      return;
    }
    switch (m.suffix) {
      case 'up/events':
        this.presence?.seen(m.deviceId);
        this.enqueueBatch(m.deviceId, vendor, m.payload);
        return;
      case 'status':
        return this.onStatus(m.deviceId, m.payload);
      case 'state':
        this.presence?.seen(m.deviceId);
        return this.onState(m.deviceId, m.payload);
      case 'up/cmd-result':
        this.presence?.seen(m.deviceId);
        return this.onCommandResultMessage(m.deviceId, m.payload);
      default:
        this.metricsSet.refusals.inc({ reason: 'unknown-topic' });
        this.warnOnce(`topic:${m.deviceId}`, { deviceId: m.deviceId, topic: m.suffix }, 'message on an unknown device topic ignored');
    }
  }

  /** A warn line for a repeated event, written the first time and then once a minute per key with the count left out. */
  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    const skipped = this.logThrottle.admit(key);
    if (skipped !== undefined) this.log.warn({ ...fields, ...(skipped > 0 ? { alsoSinceLastLine: skipped } : {}) }, message);
  }

  private enqueueBatch(deviceId: string, vendor: string, payload: Buffer): void {
    const max = this.options.limits?.maxQueuedBatches ?? 8;
    let chain = this.chains.get(deviceId);
    if (!chain) this.chains.set(deviceId, (chain = { tail: Promise.resolve(), queued: 0 }));
    if (chain.queued >= max) {
      this.metricsSet.rateLimited.inc({ scope: 'queue' });
      this.warnOnce(`queue:${deviceId}`, { deviceId, queued: chain.queued }, 'too many batches queued for one device; batch dropped (the device resends after its ack timeout)');
      return;
    }
    chain.queued += 1;
    const c = chain;
    const next = c.tail.then(() => this.vendorSlots.run(vendor, () => this.handleBatch(deviceId, payload))).finally(() => {
      c.queued -= 1;
      if (c.queued === 0 && this.chains.get(deviceId) === c) this.chains.delete(deviceId);
    });
    c.tail = next;
    this.track(next);
  }

  private async handleBatch(deviceId: string, payload: Buffer): Promise<void> {
    const limits = this.options.limits ?? {};
    const deps: BatchBridgeDeps = {
      bus: this.options.bus,
      account: this.options.account ?? 'device-gateway',
      metrics: this.metricsSet,
      log: this.log,
      maxBatchBytes: limits.maxBatchBytes ?? MAX_BATCH_BYTES,
      maxBatchEvents: limits.maxBatchEvents ?? MAX_BATCH_EVENTS,
      keepRefused: (rows) => this.options.devices.keepRefusedEvents(rows),
      timeNonce: (nonce) => this.timeNonces.set(deviceId, nonce),
      clock: this.clock,
    };
    let outcome: BatchOutcome;
    try {
      outcome = await bridgeBatch(deps, deviceId, payload, this.acked.get(deviceId) ?? 0);
    } catch (error) {
      this.log.error({ deviceId, err: describeError(error) }, 'bridging a device batch failed');
      outcome = { v: WIRE_VERSION, upTo: this.acked.get(deviceId) ?? 0, error: { code: ErrorCode.Internal, message: 'the hub failed to process the batch; resend it' } };
    }
    if (outcome.error) this.log.warn({ deviceId, error: outcome.error, upTo: outcome.upTo }, 'device batch refused or partly stored');
    if (outcome.upTo > (this.acked.get(deviceId) ?? 0)) this.acked.set(deviceId, outcome.upTo);
    const time = await this.signedTime(deviceId);
    const ack = { ...outcome, ...(time !== undefined ? { time } : {}) };
    try {
      await this.publishTo(deviceId, 'down/ack', JSON.stringify(ack));
    } catch (error) {
      this.log.warn({ deviceId, err: describeError(error) }, 'ack not sent; the device will resend and be acked again');
    }
  }

  private async onStatus(deviceId: string, payload: Buffer): Promise<void> {
    const status = this.parseSmall(PresenceMessage, deviceId, payload, 'status');
    if (!status) return;
    if (status.online) this.presence?.seen(deviceId);
    else this.presence?.offline(deviceId, 'last-will');
    await Promise.resolve();
  }

  private async onState(deviceId: string, payload: Buffer): Promise<void> {
    const state = this.parseSmall(ReportedStateFrame, deviceId, payload, 'state');
    if (!state) return;
    try {
      await this.options.devices.setDeviceReported(deviceId, state, this.clock());
    } catch (error) {
      this.log.error({ deviceId, err: describeError(error) }, 'storing the reported state failed');
    }
  }

  private async onCommandResultMessage(deviceId: string, payload: Buffer): Promise<void> {
    const message = this.parseSmall(CommandResultMessage, deviceId, payload, 'cmd-result');
    if (!message) return;
    const { v: _v, ...result } = message;
    for (const listener of this.resultListeners) {
      try {
        listener({ deviceId, result });
      } catch (error) {
        this.log.error({ deviceId, err: describeError(error) }, 'a command result listener failed');
      }
    }
    await Promise.resolve();
  }

  private parseSmall<S extends z.ZodType>(schema: S, deviceId: string, payload: Buffer, what: string): z.infer<S> | undefined {
    const max = this.options.limits?.maxMessageBytes ?? 64 * 1024;
    const parsed = payload.length <= max ? parseJson(schema, payload) : undefined;
    if (parsed === undefined) {
      this.metricsSet.refusals.inc({ reason: `malformed-${what}` });
      this.log.warn({ deviceId, bytes: payload.length }, `malformed or oversized ${what} message ignored`);
    }
    return parsed;
  }

  private onDisconnected(deviceId: string): void {
    if (!this.running) return;
    const at = this.clock();
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      // A Last Will or a reconnect in the meantime already told the story.
      if (this.presence?.isOnline(deviceId) && (this.presence.lastSeenAt(deviceId) ?? 0) <= at) this.presence.offline(deviceId, 'disconnect');
    }, DISCONNECT_GRACE_MS);
    this.graceTimers.add(timer);
  }

  // --- presence, detections ---------------------------------------------------------------------

  private logPresence(change: PresenceChange): void {
    this.metricsSet.online.set(this.presence?.onlineCount ?? 0);
    this.log.info({ deviceId: change.deviceId, online: change.online, ...(change.online ? {} : { reason: change.reason }) }, 'device presence changed');
    this.presenceWriter?.add(change);
  }

  private async publishPresence(changes: readonly PresenceChange[]): Promise<void> {
    const events = changes.map((change) => {
      const at = new Date(change.at).toISOString();
      const data = change.online
        ? { deviceId: change.deviceId, at, ...(change.firmware !== undefined ? { firmware: change.firmware } : {}) }
        : { deviceId: change.deviceId, reason: change.reason, at };
      return gatewayEvent(change.online ? 'keyway.device.DeviceOnline' : 'keyway.device.DeviceOffline', data, change.deviceId, this.clock());
    });
    await publishOwn(this.options.bus, this.log, this.options.account ?? 'device-gateway', events);
  }

  private detect(d: Detection): void {
    this.metricsSet.refusals.inc({ reason: d.kind });
    this.log.warn({ detection: d }, `unauthorized exchange detected: ${d.detail}`);
    // Per device and overall, so a storm of refusals (or of invented device ids) cannot flood the bus.
    if (!this.detectionBuckets?.take(d.deviceId ?? '?') || !this.detectionBuckets.take('\u0000all', 0.01)) return;
    const data = {
      kind: d.kind,
      ...(d.deviceId !== undefined ? { deviceId: d.deviceId.slice(0, 128) } : {}),
      ...(d.topic !== undefined ? { topic: d.topic.slice(0, 512) } : {}),
      detail: d.detail.slice(0, 500),
      at: new Date(this.clock()).toISOString(),
    };
    const event = gatewayEvent('keyway.platform.UnauthorizedExchangeDetected', data, d.deviceId, this.clock());
    this.track(publishOwn(this.options.bus, this.log, this.options.platformAccount ?? 'platform', [event]));
  }

  // --- helpers ----------------------------------------------------------------------------------

  private async vendorOf(deviceId: string): Promise<string | undefined> {
    const known = this.vendors.get(deviceId);
    if (known !== undefined) return known;
    const device = await this.options.devices.getDevice(deviceId);
    if (!device) return undefined;
    if (this.vendors.size > 200_000) this.vendors.clear();
    this.vendors.set(deviceId, device.vendor);
    return device.vendor;
  }

  private async signedTime(deviceId: string): Promise<string | undefined> {
    if (!this.options.signTime) return undefined;
    try {
      return await this.options.signTime(this.clock(), deviceId, this.timeNonces.get(deviceId));
    } catch (error) {
      this.log.error({ deviceId, err: describeError(error) }, 'signing hub time failed; message sent without it');
      return undefined;
    }
  }

  private async publishTo(deviceId: string, topic: DeviceTopic, payload: string): Promise<void> {
    if (!isValidDeviceId(deviceId)) {
      throw new KeywayError(ErrorCode.InvalidInput, `${JSON.stringify(deviceId)} is not a device id; use the id the device was provisioned with`);
    }
    const transport = this.transport;
    if (!transport) {
      throw new KeywayError(ErrorCode.Unavailable, 'the device gateway is not started; retry once the hub is ready');
    }
    try {
      await transport.publish(deviceTopic(deviceId, topic), payload, { qos: 1 });
    } catch (error) {
      throw new KeywayError(ErrorCode.Unavailable, `could not publish to device ${deviceId}: ${describeError(error)}; retry later`, { cause: error });
    }
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((error: unknown) => this.log.error({ err: describeError(error) }, 'gateway task failed')).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}
