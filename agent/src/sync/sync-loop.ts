import { createLogger, deviceTopic, type Logger } from '@keyway/shared';
import type { Outbox } from '../outbox/outbox.js';
import type { ConnectorStatus, DeviceConnector } from './connector.js';
import { AckMessage, encodeBatch, parseJson } from './wire.js';

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
  /** Hands the hub-signed time carried by an ack to whoever verifies it. */
  onHubTime?: (token: string) => void;
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
  private readonly batchMaxEvents: number;
  private readonly batchMaxBytes: number;
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
    this.batchMaxEvents = options.batchMaxEvents ?? 500;
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
    if (status.type === 'connected') {
      // Everything not acknowledged goes again: the previous connection may have lost it.
      this.rewind();
      this.schedulePump();
    } else {
      this.inFlight = [];
    }
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
    while (this.running && this.connector.connected && this.inFlight.length < this.maxInFlight) {
      const rows = this.outbox.readBatch(this.sentSeq, this.batchMaxEvents, this.batchMaxBytes);
      const last = rows[rows.length - 1];
      if (!last) return;
      // With nothing in flight, every sequence before this batch is acknowledged or was dropped on purpose;
      // otherwise only what the hub acknowledged is vouched for (see BatchMessage.acked).
      const vouched = this.inFlight.length === 0 ? (rows[0]?.seq ?? 1) - 1 : this.ackedSeq;
      const payload = encodeBatch(this.options.deviceId, rows, vouched);
      this.sentSeq = last.seq;
      this.highestSent = Math.max(this.highestSent, last.seq);
      this.inFlight.push({ toSeq: last.seq, sentAt: Date.now() });
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
    const upTo = Math.min(ack.upTo, this.highestSent);
    if (upTo <= this.ackedSeq) return;
    // Rows up to ackedSeq are never sent again; deleting them may lag a little (a crash before the delete only
    // means a resend that the hub discards).
    const pendingRows = upTo - this.deletedUpTo;
    this.ackedSeq = upTo;
    if (pendingRows >= (this.options.deleteBatchRows ?? 5_000)) this.flushDeletes();
    else this.deleteTimer ??= setTimeout(() => this.flushDeletes(), this.options.deleteDelayMs ?? 250);
    if (this.sentSeq < upTo) this.sentSeq = upTo;
    this.inFlight = this.inFlight.filter((b) => b.toSeq > upTo);
    this.lastSyncAt = this.options.now?.() ?? new Date();
    this.acks += 1;
    this.schedulePump();
  }

  private flushDeletes(): void {
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    if (this.ackedSeq <= this.deletedUpTo) return;
    // Called from stop() before the outbox stops; never after (onAck ignores acks once stopped).
    this.outbox.ackUpTo(this.ackedSeq);
    this.deletedUpTo = this.ackedSeq;
  }

  private checkAckTimeout(): void {
    const oldest = this.inFlight[0];
    if (!oldest || Date.now() - oldest.sentAt < this.ackTimeoutMs) return;
    this.log.warn({ toSeq: oldest.toSeq }, 'no ack in time; resending from the last acknowledged sequence');
    this.rewind();
    this.schedulePump();
  }
}
