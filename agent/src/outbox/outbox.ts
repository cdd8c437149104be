import { createEvent } from '@keyway/shared/client';
import { LATEST_VERSION, type EventDataMap, type EventType } from '@keyway/shared/generated';
import { createLogger, type Logger } from '@keyway/shared';
import { durableTransaction, type AgentDatabase } from './database.js';
import { envelopeText } from './envelope-text.js';
import { Priority, priorityOf } from './priority.js';

export interface OutboxCaps {
  /** Most rows kept; telemetry is dropped, oldest first, to stay under it. */
  maxRows: number;
  /** Most payload bytes kept (sum of serialized envelopes). */
  maxBytes: number;
}

export interface OutboxOptions {
  deviceId: string;
  caps: OutboxCaps;
  /** The time stamped on events (the agent passes its trusted clock's best estimate). */
  now?: () => Date;
}

export interface OutboxRow {
  seq: number;
  type: string;
  priority: Priority;
  /** The serialized CloudEvents envelope, exactly as it will be sent. */
  payload: string;
  createdAt: number;
}

export interface OutboxStats {
  depth: number;
  bytes: number;
  firstSeq: number | undefined;
  lastSeq: number;
  droppedTotal: number;
}

export interface AppendInput<T extends EventType = EventType> {
  type: T;
  data: EventDataMap[T];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  ver INTEGER NOT NULL,
  data TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_telemetry ON outbox (seq) WHERE priority = 0;
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/**
 * The durable outbox: every event the agent produces is committed here before anything else happens with it.
 * Sequence numbers are per device, strictly increasing and never reused (the last one is persisted with each
 * commit, so they survive deletes and restarts). The database handle is shared and owned by the caller.
 */
export class Outbox {
  private readonly log: Logger;
  private lastSeq = 0;
  private depth = 0;
  private bytes = 0;
  private droppedTotal = 0;
  /** Highest seq handed to a reader; an EventsDropped row above it may still be updated in place. */
  private readCursor = 0;
  private pendingDropRow: { seq: number; count: number; fromSeq: number; toSeq: number } | undefined;
  private stmts: ReturnType<Outbox['prepare']> | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly db: AgentDatabase,
    private readonly options: OutboxOptions,
  ) {
    this.log = createLogger('agent.outbox', { deviceId: options.deviceId });
  }

  async start(): Promise<void> {
    this.db.exec(SCHEMA);
    this.stmts = this.prepare();
    const meta = this.stmts.getMeta.get('last_seq') as { value: number } | undefined;
    const max = this.stmts.maxSeq.get() as { m: number | null };
    this.lastSeq = Math.max(meta?.value ?? 0, max.m ?? 0);
    const totals = this.stmts.totals.get() as { n: number; b: number | null };
    this.depth = totals.n;
    this.bytes = totals.b ?? 0;
    this.droppedTotal = (this.stmts.getMeta.get('dropped_total') as { value: number } | undefined)?.value ?? 0;
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    this.stmts = undefined;
    await Promise.resolve();
  }

  /** Called after every append, so a sync loop can wake up. Returns the unsubscribe function. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Appends one event and returns its row once committed (fsynced for critical classes). */
  append<T extends EventType>(type: T, data: EventDataMap[T]): OutboxRow {
    const rows = this.appendMany([{ type, data }]);
    const row = rows[0];
    if (!row) throw new Error('unreachable: appendMany returned no row');
    return row;
  }

  /**
   * Appends several events in one transaction (group commit: one WAL write and at most one fsync for all).
   * Returns the rows in sequence order. When the caps are exceeded the oldest telemetry (possibly the row just
   * appended) is dropped in the same transaction and reported by an EventsDropped row.
   */
  appendMany(inputs: readonly AppendInput[]): OutboxRow[] {
    const stmts = this.requireStarted();
    const critical = inputs.some((i) => priorityOf(i.type) === Priority.critical);
    const run = (): OutboxRow[] => {
      const out: OutboxRow[] = [];
      for (const input of inputs) out.push(this.insert(stmts, input));
      this.makeRoom(stmts);
      stmts.setMeta.run('last_seq', this.lastSeq);
      return out;
    };
    const before = { lastSeq: this.lastSeq, depth: this.depth, bytes: this.bytes, dropped: this.droppedTotal, pending: this.pendingDropRow };
    let rows: OutboxRow[];
    try {
      rows = critical ? durableTransaction(this.db, run) : this.db.transaction(run).immediate();
    } catch (error) {
      // The transaction rolled back: so must the in-memory counters.
      this.lastSeq = before.lastSeq;
      this.depth = before.depth;
      this.bytes = before.bytes;
      this.droppedTotal = before.dropped;
      this.pendingDropRow = before.pending;
      throw error;
    }
    for (const listener of this.listeners) listener();
    return rows;
  }

  private insert(stmts: NonNullable<Outbox['stmts']>, input: AppendInput): OutboxRow {
    const seq = this.lastSeq + 1;
    const now = this.options.now?.() ?? new Date();
    const event = createEvent(input.type, input.data, {
      source: `keyway://device/${this.options.deviceId}`,
      id: `${this.options.deviceId}-${seq}`,
      // The device is the ordering key: subscribers that ask for per-subject order see its events in sequence.
      subject: this.options.deviceId,
      time: now,
    });
    const data = JSON.stringify(event.data);
    const version = LATEST_VERSION[input.type];
    const payload = envelopeText(this.options.deviceId, seq, input.type, version, now.getTime(), data);
    const bytes = Buffer.byteLength(payload);
    const priority = priorityOf(input.type);
    stmts.insert.run(seq, input.type, priority, version, data, bytes, now.getTime());
    this.lastSeq = seq;
    this.depth += 1;
    this.bytes += bytes;
    return { seq, type: input.type, priority, payload, createdAt: now.getTime() };
  }

  private overCap(): boolean {
    return this.depth > this.options.caps.maxRows || this.bytes > this.options.caps.maxBytes;
  }

  /** Drops the oldest telemetry until under the caps; critical and normal rows are never dropped. */
  private makeRoom(stmts: NonNullable<Outbox['stmts']>): void {
    // Two rounds: recording the drop may add one EventsDropped row, which may push the count over again.
    for (let round = 0; round < 2 && this.overCap(); round++) {
      const dropped = this.dropOldestTelemetry(stmts);
      if (dropped.count === 0) {
        this.log.warn({ depth: this.depth, bytes: this.bytes }, 'outbox over its cap with nothing droppable; keeping access and door events');
        return;
      }
      this.droppedTotal += dropped.count;
      stmts.setMeta.run('dropped_total', this.droppedTotal);
      this.recordDrop(stmts, dropped.count, dropped.fromSeq, dropped.toSeq);
    }
  }

  private dropOldestTelemetry(stmts: NonNullable<Outbox['stmts']>): { count: number; fromSeq: number; toSeq: number } {
    let count = 0;
    let fromSeq = Number.POSITIVE_INFINITY;
    let toSeq = 0;
    while (this.overCap()) {
      const victims = stmts.oldestTelemetry.all(Priority.telemetry, 64) as Array<{ seq: number; bytes: number }>;
      if (victims.length === 0) break;
      for (const v of victims) {
        if (!this.overCap()) break;
        stmts.deleteOne.run(v.seq);
        this.depth -= 1;
        this.bytes -= v.bytes;
        count += 1;
        fromSeq = Math.min(fromSeq, v.seq);
        toSeq = Math.max(toSeq, v.seq);
      }
    }
    return { count, fromSeq, toSeq };
  }

  /**
   * Reports drops as one EventsDropped event. While that event has not been handed to the sync loop yet it is
   * updated in place, so a long offline stretch yields one drop report per batch, not one per dropped heartbeat.
   */
  private recordDrop(stmts: NonNullable<Outbox['stmts']>, count: number, fromSeq: number, toSeq: number): void {
    const pending = this.pendingDropRow;
    const stillPresent = pending !== undefined && pending.seq > this.readCursor && stmts.exists.get(pending.seq) !== undefined;
    if (pending && stillPresent) {
      pending.count += count;
      pending.fromSeq = Math.min(pending.fromSeq, fromSeq);
      pending.toSeq = Math.max(pending.toSeq, toSeq);
      const old = stmts.getData.get(pending.seq) as { data: string; bytes: number };
      const data = JSON.stringify({ ...(JSON.parse(old.data) as Record<string, unknown>), count: pending.count, fromSeq: pending.fromSeq, toSeq: pending.toSeq });
      // The envelope grows by exactly the growth of its data.
      const bytes = old.bytes + Buffer.byteLength(data) - Buffer.byteLength(old.data);
      stmts.updateData.run(data, bytes, pending.seq);
      this.bytes += bytes - old.bytes;
      return;
    }
    const row = this.insert(stmts, {
      type: 'keyway.device.EventsDropped',
      data: { deviceId: this.options.deviceId, count, type: 'keyway.device.Heartbeat', fromSeq, toSeq, at: (this.options.now?.() ?? new Date()).toISOString() },
    });
    this.pendingDropRow = { seq: row.seq, count, fromSeq, toSeq };
    this.log.warn({ count, fromSeq, toSeq }, 'outbox full: dropped oldest heartbeats');
  }

  /** Reads up to `maxEvents` rows (and about `maxBytes`) after `afterSeq`, in sequence order. */
  readBatch(afterSeq: number, maxEvents: number, maxBytes = Number.POSITIVE_INFINITY): OutboxRow[] {
    const stmts = this.requireStarted();
    const raw = stmts.readAfter.all(afterSeq, maxEvents) as Array<{ seq: number; type: string; priority: Priority; ver: number; data: string; bytes: number; created_at: number }>;
    const out: OutboxRow[] = [];
    let total = 0;
    for (const r of raw) {
      if (out.length > 0 && total + r.bytes > maxBytes) break;
      total += r.bytes;
      out.push({ seq: r.seq, type: r.type, priority: r.priority, payload: envelopeText(this.options.deviceId, r.seq, r.type, r.ver, r.created_at, r.data), createdAt: r.created_at });
    }
    const last = out[out.length - 1];
    if (last && last.seq > this.readCursor) this.readCursor = last.seq;
    return out;
  }

  /** Deletes every row with seq <= `seq` (the hub has them). Returns how many were removed. */
  ackUpTo(seq: number): number {
    const stmts = this.requireStarted();
    const removed = this.db.transaction(() => {
      const sums = stmts.sumUpTo.get(seq) as { n: number; b: number | null };
      stmts.deleteUpTo.run(seq);
      return sums;
    })();
    this.depth -= removed.n;
    this.bytes -= removed.b ?? 0;
    return removed.n;
  }

  /** Counters kept in memory: cheap enough to call on every heartbeat, even with a million rows buffered. */
  stats(): OutboxStats {
    const stmts = this.requireStarted();
    const first = stmts.minSeq.get() as { m: number | null };
    return { depth: this.depth, bytes: this.bytes, firstSeq: first.m ?? undefined, lastSeq: this.lastSeq, droppedTotal: this.droppedTotal };
  }

  /** Rows per priority class: a full scan, for inspection and tests, not for hot paths. */
  countByPriority(): Record<keyof typeof Priority, number> {
    const stmts = this.requireStarted();
    const byPriority = { telemetry: 0, normal: 0, critical: 0 };
    for (const r of stmts.countByPriority.all() as Array<{ priority: number; n: number }>) {
      if (r.priority === Priority.telemetry) byPriority.telemetry = r.n;
      else if (r.priority === Priority.normal) byPriority.normal = r.n;
      else byPriority.critical = r.n;
    }
    return byPriority;
  }

  get size(): number {
    return this.depth;
  }

  private requireStarted(): NonNullable<Outbox['stmts']> {
    if (!this.stmts) throw new Error('Outbox used before start() or after stop()');
    return this.stmts;
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare('INSERT INTO outbox (seq, type, priority, ver, data, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      getMeta: db.prepare('SELECT value FROM outbox_meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO outbox_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      maxSeq: db.prepare('SELECT max(seq) AS m FROM outbox'),
      minSeq: db.prepare('SELECT min(seq) AS m FROM outbox'),
      totals: db.prepare('SELECT count(*) AS n, sum(bytes) AS b FROM outbox'),
      countByPriority: db.prepare('SELECT priority, count(*) AS n FROM outbox GROUP BY priority'),
      oldestTelemetry: db.prepare('SELECT seq, bytes FROM outbox WHERE priority = ? ORDER BY seq LIMIT ?'),
      deleteOne: db.prepare('DELETE FROM outbox WHERE seq = ?'),
      exists: db.prepare('SELECT 1 AS x FROM outbox WHERE seq = ?'),
      getData: db.prepare('SELECT data, bytes FROM outbox WHERE seq = ?'),
      updateData: db.prepare('UPDATE outbox SET data = ?, bytes = ? WHERE seq = ?'),
      readAfter: db.prepare('SELECT seq, type, priority, ver, data, bytes, created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      sumUpTo: db.prepare('SELECT count(*) AS n, sum(bytes) AS b FROM outbox WHERE seq <= ?'),
      deleteUpTo: db.prepare('DELETE FROM outbox WHERE seq <= ?'),
    };
  }
}
