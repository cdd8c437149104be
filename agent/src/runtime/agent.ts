import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { createLogger, describeError, deviceTopic, type Logger } from '@keyway/shared';
import { importHubPublicKey, verifyTime } from '@keyway/shared/grants';
import { hubPublicKeyPem, type AgentConfig } from '../config/index.js';
import type { DoorController } from '../door/controller.js';
import { systemClockSources, type ClockSources } from '../grants/clock-sources.js';
import { CommandGuard } from '../grants/command-guard.js';
import { GrantStore } from '../grants/grant-store.js';
import { TrustedClock } from '../grants/trusted-clock.js';
import { openAgentDatabase, type AgentDatabase } from '../outbox/database.js';
import { Outbox } from '../outbox/outbox.js';
import type { ConnectorStatus, DeviceConnector } from '../sync/connector.js';
import { SyncLoop } from '../sync/sync-loop.js';
import { decodeCommandMessage, WIRE_VERSION, type PresenceMessage, type ReportedStateMessage } from '../sync/wire.js';
import { within } from '../sync/within.js';
import { AccessHandler } from './access-handler.js';
import { createConnector } from './connector-factory.js';
import { doorStateChanged, obstructionDetected, sensorFault } from './door-events.js';
import { writeStatus, type AgentStatusSnapshot } from './status-file.js';

/** Where PIN entries come from (the serial keypad driver, or a test). */
export interface KeypadSource {
  onEntry(listener: (pin: string) => void): () => void;
  /** Bell/LED feedback after the PIN was checked, when the keypad has any. */
  feedback?(accepted: boolean): Promise<void>;
}

export interface AgentOptions {
  config: AgentConfig;
  /** Defaults to an MqttConnector built from `config.broker`, with the Last Will on `status`. */
  connector?: DeviceConnector;
  /** The door controller (started and stopped by the agent). Without one, door commands are refused. */
  door?: DoorController;
  keypad?: KeypadSource;
  clockSources?: ClockSources;
  hubPublicKey?: KeyObject;
}

export interface AgentStatus {
  deviceId: string;
  door: string;
  connected: boolean;
  outboxDepth: number;
  lastSeq: number;
  droppedTotal: number;
  lastSyncAt: string | null;
  time: AgentStatusSnapshot['time'];
}

/** The running parts, for the CLI and tests. */
export interface AgentParts {
  outbox: Outbox;
  clock: TrustedClock;
  grants: GrantStore;
  guard: CommandGuard;
  sync: SyncLoop;
  connector: DeviceConnector;
  access: AccessHandler;
}

/** How long a graceful stop waits for the broker to take the `offline` message. */
const PRESENCE_ON_STOP_MS = 2000;

/** The edge agent: outbox, sync, trusted time, grants, commands, door and keypad wired together. */
export class Agent {
  readonly deviceId: string;
  private readonly log: Logger;
  private db: AgentDatabase | undefined;
  private parts: AgentParts | undefined;
  private readonly unsubscribers: Array<() => void> = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly startedAtMs = Date.now();
  private hubKey: KeyObject | undefined;

  constructor(private readonly options: AgentOptions) {
    this.deviceId = options.config.deviceId;
    this.log = createLogger('agent', { deviceId: this.deviceId });
  }

  async start(): Promise<void> {
    const { config } = this.options;
    const sources = this.options.clockSources ?? systemClockSources;
    const hubKey = (this.hubKey = this.options.hubPublicKey ?? importHubPublicKey(hubPublicKeyPem(config)));
    const db = (this.db = openAgentDatabase(join(config.dataDir, 'agent.db')));
    const clock = new TrustedClock(db, { sources, driftPpm: config.time.driftPpm });
    await clock.start();
    const toleranceMs = config.time.toleranceS * 1000;
    const outbox = new Outbox(db, { deviceId: this.deviceId, caps: config.outbox, now: () => clock.now() });
    await outbox.start();
    const grants = new GrantStore(db, { deviceId: this.deviceId, hubPublicKey: hubKey, clock, sources, toleranceMs, lockout: { maxFailures: config.keypad.maxFailures, lockoutMs: config.keypad.lockoutS * 1000 } });
    await grants.start();
    const guard = new CommandGuard(db, { deviceId: this.deviceId, hubPublicKey: hubKey, clock, toleranceMs });
    guard.init();
    const connector = this.options.connector ?? (await createConnector(config));
    const sync = new SyncLoop(outbox, connector, {
      deviceId: this.deviceId,
      batchMaxEvents: config.sync.batchMaxEvents,
      batchMaxBytes: config.sync.batchMaxBytes,
      onHubTime: (token) => void this.acceptHubTime(token),
      timeNonce: clock.timeNonce,
      now: () => clock.now(),
    });
    const access = new AccessHandler({
      deviceId: this.deviceId,
      outbox,
      grants,
      guard,
      door: this.options.door,
      now: () => clock.now(),
      publishResult: (result) => this.publishQuietly(deviceTopic(this.deviceId, 'up/cmd-result'), JSON.stringify(result), false),
      acceptHubTime: (token) => this.acceptHubTime(token),
    });
    this.parts = { outbox, clock, grants, guard, sync, connector, access };

    this.wireDoor(outbox, clock);
    if (this.options.keypad) {
      const keypad = this.options.keypad;
      this.unsubscribers.push(
        keypad.onEntry((pin) => {
          access
            .handlePin(pin)
            .then((decision) => keypad.feedback?.(decision.ok))
            .catch((e: unknown) => this.log.error({ err: describeError(e) }, 'keypad entry failed'));
        }),
      );
    }
    await connector.subscribe(deviceTopic(this.deviceId, 'down/cmd'), (_t, payload) => {
      const token = decodeCommandMessage(payload);
      if (token === undefined) {
        this.log.warn('ignoring an empty or malformed down/cmd payload');
        return;
      }
      void access.handleCommand(token).catch((e: unknown) => this.log.error({ err: describeError(e) }, 'command handling failed'));
    });
    await connector.subscribe(deviceTopic(this.deviceId, 'down/grants'), (_t, payload) => {
      void access.handleGrants(payload).catch((e: unknown) => this.log.error({ err: describeError(e) }, 'grant sync failed'));
    });
    this.unsubscribers.push(connector.onStatus((s) => this.onConnectorStatus(s)));
    await sync.start();
    await this.options.door?.start();
    await connector.start();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), config.sync.heartbeatS * 1000);
    this.heartbeatTimer.unref();
    this.writeStatusFile();
    this.log.info({ depth: outbox.stats().depth }, 'agent started');
  }

  /** Graceful shutdown: relay released, `offline` published, database closed. */
  async stop(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    for (const u of this.unsubscribers.splice(0)) u();
    await this.options.door?.stop();
    const parts = this.parts;
    if (parts) {
      // Bounded: on a half-dead network the broker's ack never comes, and a stop must still finish.
      if (parts.connector.connected) await within(this.publishPresence(false), PRESENCE_ON_STOP_MS);
      await parts.sync.stop();
      await parts.connector.stop({ graceful: true });
      // Last status while the outbox can still be read: `keyway-agent status` then shows offline.
      this.writeStatusFile();
      await parts.grants.stop();
      await parts.outbox.stop();
      await parts.clock.stop();
    }
    this.parts = undefined;
    this.db?.close();
    this.db = undefined;
  }

  /** The parts, for the CLI and tests. */
  get internals(): AgentParts {
    if (!this.parts) throw new Error('agent is not started');
    return this.parts;
  }

  snapshot(): AgentStatusSnapshot {
    const p = this.internals;
    const stats = p.outbox.stats();
    const time = p.clock.status();
    return {
      deviceId: this.deviceId,
      pid: process.pid,
      door: this.options.door?.currentState ?? 'unknown',
      connected: p.connector.connected,
      outbox: { depth: stats.depth, bytes: stats.bytes, lastSeq: stats.lastSeq, droppedTotal: stats.droppedTotal },
      lastSyncAt: p.sync.status().lastSyncAt,
      time: { bounded: time.bounded, uncertaintyMs: time.uncertaintyMs, wallClockBehind: time.wallClockBehind },
      updatedAt: p.clock.now().toISOString(),
    };
  }

  /** What `keyway-agent status` reports: door, connectivity, outbox depth, last sync, trusted time. */
  status(): AgentStatus {
    const s = this.snapshot();
    return { deviceId: s.deviceId, door: s.door, connected: s.connected, outboxDepth: s.outbox.depth, lastSeq: s.outbox.lastSeq, droppedTotal: s.outbox.droppedTotal, lastSyncAt: s.lastSyncAt, time: s.time };
  }

  /** Appends a Heartbeat, checkpoints trusted time, purges expired grants and command ids, reports state. */
  heartbeat(): void {
    const p = this.parts;
    if (!p) return;
    try {
      p.outbox.append('keyway.device.Heartbeat', {
        deviceId: this.deviceId,
        uptimeS: Math.floor((Date.now() - this.startedAtMs) / 1000),
        outboxDepth: p.outbox.stats().depth,
        doorState: this.options.door?.currentState ?? 'unknown',
        at: p.clock.now().toISOString(),
      });
      p.clock.checkpoint();
      p.grants.purgeExpired();
      p.guard.purgeExpired();
      this.publishReportedState();
      this.writeStatusFile();
    } catch (error) {
      this.log.error({ err: describeError(error) }, 'heartbeat failed');
    }
  }

  private async acceptHubTime(token: string): Promise<void> {
    const p = this.parts;
    if (!p || !this.hubKey) return;
    try {
      const { t, nonce } = await verifyTime(token, this.hubKey, { deviceId: this.deviceId });
      p.clock.acceptHubTime(t, nonce);
    } catch (error) {
      this.log.warn({ err: describeError(error) }, 'ignoring a signed time that does not verify');
    }
  }

  private wireDoor(outbox: Outbox, clock: TrustedClock): void {
    const door = this.options.door;
    if (!door) return;
    const at = (): string => clock.now().toISOString();
    this.unsubscribers.push(
      door.events.on('stateChanged', (e) => {
        outbox.append('keyway.device.DoorStateChanged', doorStateChanged(this.deviceId, e, at()));
        this.publishReportedState();
      }),
      door.events.on('obstruction', (e) => {
        if (e.active) outbox.append('keyway.device.ObstructionDetected', obstructionDetected(this.deviceId, e, at()));
      }),
      door.events.on('fault', (e) => {
        outbox.append('keyway.device.SensorFault', sensorFault(this.deviceId, e, at()));
      }),
    );
  }

  private onConnectorStatus(status: ConnectorStatus): void {
    // `keyway-agent status` reads this file: connectivity changes should show without waiting for a heartbeat.
    if (status.type !== 'connected') {
      if (status.type === 'disconnected') this.writeStatusFile();
      return;
    }
    void this.publishPresence(true);
    this.publishReportedState();
    // A heartbeat on connect gives the hub something to ack, and the ack carries signed time.
    this.heartbeat();
  }

  private async publishPresence(online: boolean): Promise<void> {
    const message: PresenceMessage = { v: WIRE_VERSION, online, at: (this.parts?.clock.now() ?? new Date()).toISOString() };
    await this.parts?.connector.publish(deviceTopic(this.deviceId, 'status'), JSON.stringify(message), { qos: 1, retain: true }).catch(() => undefined);
  }

  private publishReportedState(): void {
    const p = this.parts;
    if (!p?.connector.connected) return;
    const snap = this.snapshot();
    const door = this.options.door;
    const state: ReportedStateMessage = {
      v: WIRE_VERSION,
      door: snap.door,
      sensors: door ? { obstructed: door.obstructed } : {},
      firmware: this.options.config.firmware,
      outboxDepth: snap.outbox.depth,
      lastSyncAt: snap.lastSyncAt,
      time: snap.time,
      at: snap.updatedAt,
    };
    this.publishQuietly(deviceTopic(this.deviceId, 'state'), JSON.stringify(state), true);
  }

  private publishQuietly(topic: string, payload: string, retain: boolean): void {
    const connector = this.parts?.connector;
    if (!connector?.connected) return;
    connector.publish(topic, payload, { qos: 1, retain }).catch((e: unknown) => this.log.debug({ topic, err: describeError(e) }, 'publish failed'));
  }

  private writeStatusFile(): void {
    if (!this.parts) return;
    try {
      writeStatus(this.options.config.dataDir, this.snapshot());
    } catch (error) {
      this.log.warn({ err: describeError(error) }, 'cannot write status.json');
    }
  }
}
