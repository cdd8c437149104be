import { ErrorCode, createLogger, deviceTopic, type Logger } from '@keyway/shared';
import type { Outbox } from '../outbox/outbox.js';
import type { ConnectorStatus, DeviceConnector } from './connector.js';
import { AckMessage, MAX_BATCH_EVENTS, encodeBatch, parseJson } from './wire.js';

export interface SyncLoopOptions {
  deviceId: string;
  /** Most events per batch (default 500). */
  batchMaxEvents?: number;
  /** Most bytes per batch, about (default 256 KiB, AWS IoT Core's message limit is 128 KiB: lower it there). */
  batchMaxBytes?: number;
  /** Batches published but not yet acknowledged (default 8: keeps the link busy while the hub commits). */
  maxInFlight?: number;
  /** Resend from the last ack when no ack arrives this long after a batch (default 15 s). */
  ackTimeoutMs?: number;
  /**
   * Acknowledged rows are deleted in groups: at most this long after the ack (default 250 ms), or at once when
   * this many are pending (default 5000). Fewer, larger deletes rewrite each b-tree page once, not per batch.
   */
  deleteDelayMs?: number;
  deleteBatchRows?: number;
  /** After a delete of acknowledged rows fails (a full disk, say), try again this much later (default 5 s). */
  deleteRetryMs?: number;
  /** Hands the hub-signed time carried by an ack to whoever verifies it. */
  onHubTime?: (token: string) => void;
  /** Sent with every batch for the hub to sign into its time (see TrustedClock.timeNonce). */
  timeNonce?: string;
  now?: () => Date;
}

export interface SyncStatus {
  connected: boolean;
  ackedSeq: number;
  sentSeq: number;
  inFlight: number;
  lastSyncAt: string | null;
  batchesSent: number;
  acks: number;
}

interface InFlight {
  toSeq: number;
  sentAt: number;
}

/**
 * Moves the outbox to the hub: batches in sequence order at QoS 1, a window of batches in flight, rows deleted
 * only when `down/ack` covers them. On reconnect or ack timeout everything unacknowledged is sent again; the
 * hub deduplicates by device and sequence, so a redelivery has no double effect.
 */
export class SyncLoop {
  private readonly log: Logger;
  /** Lowered to the hub's limits when the hub refuses a batch as too large. */
  private batchMaxEvents: number;
  private batchMaxBytes: number;
  private readonly maxInFlight: number;
  private readonly ackTimeoutMs: number;
  private readonly eventsTopic: string;
  private ackedSeq = 0;
  private sentSeq = 0;
  /** Highest seq ever published in this process: an ack beyond it cannot be ours and must not delete rows. */
  private highestSent = 0;
  private inFlight: InFlight[] = [];
  private lastSyncAt: Date | null = null;
  private batchesSent = 0;
  private acks = 0;
  private pumpScheduled = false;
  private running = false;
  /**
   * The connector reported `connected` (its subscriptions renewed, so acks can arrive) and nothing since: the
   * connector's own flag turns true a little earlier, at CONNACK, before this loop has rewound.
   */
  private linkUp = false;
  /** The last delete of acknowledged rows failed; its retry is scheduled. */
  private deleteFailing = false;
  private timer: NodeJS.Timeout | undefined;
  private deleteTimer: NodeJS.Timeout | undefined;
  private deletedUpTo = 0;
  private readonly unsubscribers: Array<() => void> = [];

  constructor(
    private readonly outbox: Outbox,
    private readonly connector: DeviceConnector,
    private readonly options: SyncLoopOptions,
  ) {
    this.log = createLogger('agent.sync', { deviceId: options.deviceId });
    this.batchMaxEvents = options.batchMaxEvents ?? MAX_BATCH_EVENTS;
    this.batchMaxBytes = options.batchMaxBytes ?? 256 * 1024;
    this.maxInFlight = options.maxInFlight ?? 8;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 15_000;
    this.eventsTopic = deviceTopic(options.deviceId, 'up/events');
  }

  async start(): Promise<void> {
    this.running = true;
    this.unsubscribers.push(this.connector.onStatus((s) => this.onStatus(s)));
    this.unsubscribers.push(this.outbox.onAppend(() => this.schedulePump()));
    await this.connector.subscribe(deviceTopic(this.options.deviceId, 'down/ack'), (_t, payload) => this.onAck(payload));
    this.timer = setInterval(() => this.checkAckTimeout(), Math.min(1_000, this.ackTimeoutMs));
    this.timer.unref();
    this.schedulePump();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flushDeletes();
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    await Promise.resolve();
  }

  status(): SyncStatus {
    return {
      connected: this.connector.connected,
      ackedSeq: this.ackedSeq,
      sentSeq: this.sentSeq,
      inFlight: this.inFlight.length,
      lastSyncAt: this.lastSyncAt?.toISOString() ?? null,
      batchesSent: this.batchesSent,
      acks: this.acks,
    };
  }

  private onStatus(status: ConnectorStatus): void {
    // Everything not acknowledged goes again: the previous connection may have lost it.
    this.rewind();
    this.linkUp = status.type === 'connected';
    if (this.linkUp) this.schedulePump();
  }

  private rewind(): void {
    this.sentSeq = this.ackedSeq;
    this.inFlight = [];
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.running) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running && this.linkUp && this.connector.connected && this.inFlight.length < this.maxInFlight) {
      const rows = this.outbox.readBatch(this.sentSeq, this.batchMaxEvents, this.batchMaxBytes);
      const last = rows[rows.length - 1];
      if (!last) return;
      // When everything sent is acknowledged, every sequence before this batch is acknowledged or was dropped on
      // purpose; otherwise only what the hub acknowledged is vouched for (see BatchMessage.acked). Vouching for a
      // batch sent but not acknowledged would let the hub acknowledge past it, and the device delete it, unstored.
      const vouched = this.sentSeq === this.ackedSeq ? (rows[0]?.seq ?? 1) - 1 : this.ackedSeq;
      const payload = encodeBatch(this.options.deviceId, rows, vouched, this.options.timeNonce);
      this.sentSeq = last.seq;
      this.highestSent = Math.max(this.highestSent, last.seq);
      this.inFlight.push({ toSeq: last.seq, sentAt: performance.now() });
      this.batchesSent += 1;
      this.connector.publish(this.eventsTopic, payload, { qos: 1 }).catch((error: unknown) => {
        this.log.debug({ err: (error as Error).message, toSeq: last.seq }, 'batch publish failed; will resend after reconnect');
        this.rewind();
      });
    }
  }

  private onAck(payload: Buffer): void {
    // After stop() the outbox may already be closed; an ack arriving now is simply resent-and-acked next run.
    if (!this.running) return;
    const ack = parseJson(AckMessage, payload);
    if (!ack) {
      this.log.warn('ignoring a malformed ack');
      return;
    }
    if (ack.time && this.options.onHubTime) this.options.onHubTime(ack.time);
    if (ack.rejected?.length) this.log.error({ rejected: ack.rejected }, 'the hub refused events for good; they are dropped from the outbox');
    if (ack.error) {
      this.log.warn({ error: ack.error, upTo: ack.upTo }, 'the hub did not store a batch; it is sent again');
      const limits = ack.error.limits;
      if (ack.error.code === ErrorCode.BatchTooLarge && limits) this.shrinkBatches(limits.maxEvents, limits.maxBytes);
    }
    const upTo = Math.min(ack.upTo, this.highestSent);
    if (upTo <= this.ackedSeq) return;
    // Rows up to ackedSeq are never sent again; deleting them may lag a little (a crash before the delete only
    // means a resend that the hub discards).
    const pendingRows = upTo - this.deletedUpTo;
    this.ackedSeq = upTo;
    if (pendingRows >= (this.options.deleteBatchRows ?? 5_000) && !this.deleteFailing) this.flushDeletes();
    else this.deleteTimer ??= setTimeout(() => this.flushDeletes(), this.options.deleteDelayMs ?? 250);
    if (this.sentSeq < upTo) this.sentSeq = upTo;
    this.inFlight = this.inFlight.filter((b) => b.toSeq > upTo);
    this.lastSyncAt = this.options.now?.() ?? new Date();
    this.acks += 1;
    this.schedulePump();
  }

  /**
   * Sends batches within the hub's limits from now on, and everything unacknowledged again in such batches. The bytes
   * limit leaves room for the batch's own framing around the stored events (readBatch counts the events only).
   */
  private shrinkBatches(maxEvents: number, maxBytes: number): void {
    const events = Math.min(this.batchMaxEvents, maxEvents);
    const bytes = Math.max(1024, Math.min(this.batchMaxBytes, Math.floor(maxBytes * 0.9) - 1024));
    if (events === this.batchMaxEvents && bytes === this.batchMaxBytes) return;
    this.log.warn({ batchMaxEvents: events, batchMaxBytes: bytes, was: { batchMaxEvents: this.batchMaxEvents, batchMaxBytes: this.batchMaxBytes } }, "batches lowered to the hub's limits; lower sync.batchMaxEvents / batchMaxBytes in the config to match");
    this.batchMaxEvents = events;
    this.batchMaxBytes = bytes;
    this.rewind();
    this.schedulePump();
  }

  private flushDeletes(): void {
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    if (this.ackedSeq <= this.deletedUpTo) return;
    // Called from stop() before the outbox stops; never after (onAck ignores acks once stopped).
    try {
      this.outbox.ackUpTo(this.ackedSeq);
    } catch (error) {
      // A full disk (SQLITE_FULL) or a locked file: the rows stay, are never sent again (they are acknowledged), and
      // the delete is tried again. Nothing is lost; the agent keeps running.
      if (!this.deleteFailing) this.log.error({ err: (error as Error).message, upTo: this.ackedSeq }, 'could not delete acknowledged events from the outbox; retrying');
      this.deleteFailing = true;
      if (this.running) this.deleteTimer = setTimeout(() => this.flushDeletes(), this.options.deleteRetryMs ?? 5_000);
      return;
    }
    if (this.deleteFailing) this.log.info({ upTo: this.ackedSeq }, 'acknowledged events deleted from the outbox again');
    this.deleteFailing = false;
    this.deletedUpTo = this.ackedSeq;
  }

  private checkAckTimeout(): void {
    const oldest = this.inFlight[0];
    // Monotonic: a wall clock set back (NTP after a boot without RTC) must not hold back the resend.
    if (!oldest || performance.now() - oldest.sentAt < this.ackTimeoutMs) return;
    this.log.warn({ toSeq: oldest.toSeq }, 'no ack in time; resending from the last acknowledged sequence');
    this.rewind();
    this.schedulePump();
  }
}
