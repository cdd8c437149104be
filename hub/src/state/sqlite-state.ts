import Database from 'better-sqlite3';
import { IDEMPOTENCY_RUNNING, MAX_REFUSED_PER_DEVICE, type RefusedEventRecord, type CustomerRecord, type DeliveryRecord, type DeliveryState, type DeviceRecord, type GrantRecord, type HubStateStore, type IdempotencyClaim } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS customers (
  id TEXT PRIMARY KEY, webhook_url TEXT, webhook_secret TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, vendor TEXT NOT NULL, token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL, online INTEGER NOT NULL DEFAULT 0, last_seen_at INTEGER, reported TEXT);
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY, device_id TEXT NOT NULL, holder TEXT NOT NULL, delivery_id TEXT,
  valid_from INTEGER NOT NULL, valid_until INTEGER NOT NULL, actions TEXT NOT NULL, max_uses INTEGER NOT NULL,
  has_pin INTEGER NOT NULL, token TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER, uses INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS grants_device ON grants(device_id);
CREATE TABLE IF NOT EXISTS deliveries (
  id TEXT PRIMARY KEY, device_id TEXT NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_device ON deliveries(device_id);
CREATE TABLE IF NOT EXISTS refused_events (
  device_id TEXT NOT NULL, seq INTEGER NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL, payload TEXT NOT NULL,
  at INTEGER NOT NULL, PRIMARY KEY (device_id, seq));
CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT NOT NULL, key TEXT NOT NULL, response TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (scope, key));
`;

interface DeviceRow {
  id: string;
  customer_id: string;
  vendor: string;
  token_hash: string;
  created_at: number;
  online: number;
  last_seen_at: number | null;
  reported: string | null;
}
interface GrantRow {
  id: string;
  device_id: string;
  holder: string;
  delivery_id: string | null;
  valid_from: number;
  valid_until: number;
  actions: string;
  max_uses: number;
  has_pin: number;
  token: string;
  created_at: number;
  revoked_at: number | null;
  uses: number;
}

const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  customerId: r.customer_id,
  vendor: r.vendor,
  tokenHash: r.token_hash,
  createdAt: r.created_at,
  online: r.online === 1,
  lastSeenAt: r.last_seen_at,
  reported: r.reported === null ? null : (JSON.parse(r.reported) as Record<string, unknown>),
});
const toGrant = (r: GrantRow): GrantRecord => ({
  id: r.id,
  deviceId: r.device_id,
  holder: r.holder,
  deliveryId: r.delivery_id,
  validFrom: r.valid_from,
  validUntil: r.valid_until,
  actions: JSON.parse(r.actions) as string[],
  maxUses: r.max_uses,
  hasPin: r.has_pin === 1,
  token: r.token,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  uses: r.uses,
});

/** Hub state in one SQLite file (WAL, synchronous=FULL: a delivery step is acknowledged only once durable). */
export class SqliteHubState implements HubStateStore {
  private db: Database.Database | undefined;

  constructor(private readonly path: string) {}

  init(): Promise<void> {
    const db = new Database(this.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    this.db = db;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
    return Promise.resolve();
  }

  private get conn(): Database.Database {
    if (!this.db) throw new Error('hub state store is not open: call init() first');
    return this.db;
  }

  putCustomer(c: CustomerRecord): Promise<void> {
    this.conn
      .prepare('INSERT INTO customers (id, webhook_url, webhook_secret, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET webhook_url = excluded.webhook_url, webhook_secret = excluded.webhook_secret')
      .run(c.id, c.webhookUrl, c.webhookSecret, c.createdAt);
    return Promise.resolve();
  }

  getCustomer(id: string): Promise<CustomerRecord | undefined> {
    const r = this.conn.prepare('SELECT * FROM customers WHERE id = ?').get(id) as
      | { id: string; webhook_url: string | null; webhook_secret: string | null; created_at: number }
      | undefined;
    return Promise.resolve(r && { id: r.id, webhookUrl: r.webhook_url, webhookSecret: r.webhook_secret, createdAt: r.created_at });
  }

  insertDevice(d: DeviceRecord): Promise<boolean> {
    const r = this.conn
      .prepare('INSERT INTO devices (id, customer_id, vendor, token_hash, created_at, online, last_seen_at, reported) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING')
      .run(d.id, d.customerId, d.vendor, d.tokenHash, d.createdAt, d.online ? 1 : 0, d.lastSeenAt, d.reported === null ? null : JSON.stringify(d.reported));
    return Promise.resolve(r.changes === 1);
  }

  getDevice(id: string): Promise<DeviceRecord | undefined> {
    const r = this.conn.prepare('SELECT * FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
    return Promise.resolve(r && toDevice(r));
  }

  listDevices(page: { limit: number; after?: string }): Promise<DeviceRecord[]> {
    const rows = this.conn.prepare('SELECT * FROM devices WHERE id > ? ORDER BY id LIMIT ?').all(page.after ?? '', page.limit) as DeviceRow[];
    return Promise.resolve(rows.map(toDevice));
  }

  setDeviceOnline(id: string, online: boolean, at: number): Promise<void> {
    this.conn.prepare('UPDATE devices SET online = ?, last_seen_at = ? WHERE id = ?').run(online ? 1 : 0, at, id);
    return Promise.resolve();
  }

  /** Many presence changes in one transaction: a connect storm costs one fsync, not one per device. */
  setDevicesOnline(changes: readonly { id: string; online: boolean; at: number }[]): Promise<void> {
    const stmt = this.conn.prepare('UPDATE devices SET online = ?, last_seen_at = ? WHERE id = ?');
    this.conn.transaction(() => {
      for (const c of changes) stmt.run(c.online ? 1 : 0, c.at, c.id);
    })();
    return Promise.resolve();
  }

  setDeviceReported(id: string, reported: Record<string, unknown>, at: number): Promise<void> {
    this.conn.prepare('UPDATE devices SET reported = ?, last_seen_at = ? WHERE id = ?').run(JSON.stringify(reported), at, id);
    return Promise.resolve();
  }

  insertGrant(g: GrantRecord): Promise<void> {
    this.conn
      .prepare(
        'INSERT INTO grants (id, device_id, holder, delivery_id, valid_from, valid_until, actions, max_uses, has_pin, token, created_at, revoked_at, uses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(g.id, g.deviceId, g.holder, g.deliveryId, g.validFrom, g.validUntil, JSON.stringify(g.actions), g.maxUses, g.hasPin ? 1 : 0, g.token, g.createdAt, g.revokedAt, g.uses);
    return Promise.resolve();
  }

  getGrant(id: string): Promise<GrantRecord | undefined> {
    const r = this.conn.prepare('SELECT * FROM grants WHERE id = ?').get(id) as GrantRow | undefined;
    return Promise.resolve(r && toGrant(r));
  }

  listGrants(filter: { deviceId?: string; deliveryId?: string }, page: { limit: number; after?: string }): Promise<GrantRecord[]> {
    const rows = this.conn
      .prepare('SELECT * FROM grants WHERE (@device IS NULL OR device_id = @device) AND (@delivery IS NULL OR delivery_id = @delivery) AND id > @after ORDER BY id LIMIT @limit')
      .all({ device: filter.deviceId ?? null, delivery: filter.deliveryId ?? null, after: page.after ?? '', limit: page.limit }) as GrantRow[];
    return Promise.resolve(rows.map(toGrant));
  }

  revokeGrant(id: string, at: number): Promise<GrantRecord | undefined> {
    this.conn.prepare('UPDATE grants SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(at, id);
    return this.getGrant(id);
  }

  recordGrantUse(id: string): Promise<void> {
    this.conn.prepare('UPDATE grants SET uses = uses + 1 WHERE id = ?').run(id);
    return Promise.resolve();
  }

  insertDelivery(d: DeliveryRecord): Promise<void> {
    this.conn.prepare('INSERT INTO deliveries (id, device_id, state, version, body) VALUES (?, ?, ?, ?, ?)').run(d.id, d.deviceId, d.state, d.version, JSON.stringify(d));
    return Promise.resolve();
  }

  getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    const r = this.conn.prepare('SELECT body FROM deliveries WHERE id = ?').get(id) as { body: string } | undefined;
    return Promise.resolve(r && (JSON.parse(r.body) as DeliveryRecord));
  }

  listDeliveries(filter: { deviceId?: string; state?: DeliveryState }, page: { limit: number; after?: string }): Promise<DeliveryRecord[]> {
    const rows = this.conn
      .prepare('SELECT body FROM deliveries WHERE (@device IS NULL OR device_id = @device) AND (@state IS NULL OR state = @state) AND id > @after ORDER BY id LIMIT @limit')
      .all({ device: filter.deviceId ?? null, state: filter.state ?? null, after: page.after ?? '', limit: page.limit }) as { body: string }[];
    return Promise.resolve(rows.map((r) => JSON.parse(r.body) as DeliveryRecord));
  }

  updateDelivery(next: DeliveryRecord): Promise<boolean> {
    const result = this.conn
      .prepare('UPDATE deliveries SET state = ?, version = ?, body = ? WHERE id = ? AND version = ?')
      .run(next.state, next.version, JSON.stringify(next), next.id, next.version - 1);
    return Promise.resolve(result.changes === 1);
  }

  claimIdempotent(scope: string, key: string, at: number, staleMs: number): Promise<IdempotencyClaim> {
    // One transaction: better-sqlite3 runs it synchronously, and the file lock serialises it with other processes.
    const claim = this.conn.transaction((): IdempotencyClaim => {
      const inserted = this.conn.prepare('INSERT INTO idempotency (scope, key, response, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(scope, key, IDEMPOTENCY_RUNNING, at);
      if (inserted.changes === 1) return { kind: 'claimed' };
      const row = this.conn.prepare('SELECT response, created_at FROM idempotency WHERE scope = ? AND key = ?').get(scope, key) as { response: string; created_at: number };
      if (row.response !== IDEMPOTENCY_RUNNING) return { kind: 'done', response: row.response };
      if (row.created_at > at - staleMs) return { kind: 'running' };
      this.conn.prepare('UPDATE idempotency SET created_at = ? WHERE scope = ? AND key = ?').run(at, scope, key);
      return { kind: 'claimed' };
    });
    return Promise.resolve(claim.immediate());
  }

  completeIdempotent(scope: string, key: string, response: string): Promise<void> {
    this.conn.prepare('UPDATE idempotency SET response = ? WHERE scope = ? AND key = ?').run(response, scope, key);
    return Promise.resolve();
  }

  releaseIdempotent(scope: string, key: string): Promise<void> {
    this.conn.prepare('DELETE FROM idempotency WHERE scope = ? AND key = ? AND response = ?').run(scope, key, IDEMPOTENCY_RUNNING);
    return Promise.resolve();
  }

  purgeIdempotent(before: number): Promise<number> {
    return Promise.resolve(this.conn.prepare('DELETE FROM idempotency WHERE created_at < ?').run(before).changes);
  }

  keepRefusedEvents(rows: readonly RefusedEventRecord[]): Promise<number> {
    const keep = this.conn.prepare(
      `INSERT INTO refused_events (device_id, seq, code, message, payload, at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id, seq) DO UPDATE SET code = excluded.code, message = excluded.message, payload = excluded.payload, at = excluded.at`,
    );
    const trim = this.conn.prepare(
      'DELETE FROM refused_events WHERE device_id = ? AND seq < (SELECT seq FROM refused_events WHERE device_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)',
    );
    const trimmed = this.conn.transaction(() => {
      for (const r of rows) keep.run(r.deviceId, r.seq, r.code, r.message, r.payload, r.at);
      let n = 0;
      for (const deviceId of new Set(rows.map((r) => r.deviceId))) n += trim.run(deviceId, deviceId, MAX_REFUSED_PER_DEVICE - 1).changes;
      return n;
    })();
    return Promise.resolve(trimmed);
  }

  listRefusedEvents(deviceId: string, page: { limit: number; after?: number }): Promise<RefusedEventRecord[]> {
    const rows = this.conn
      .prepare('SELECT device_id, seq, code, message, payload, at FROM refused_events WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?')
      .all(deviceId, page.after ?? -1, page.limit) as Array<{ device_id: string; seq: number; code: string; message: string; payload: string; at: number }>;
    return Promise.resolve(rows.map((r) => ({ deviceId: r.device_id, seq: r.seq, code: r.code, message: r.message, payload: r.payload, at: r.at })));
  }

  deleteRefusedEvents(deviceId: string, seqs: readonly number[]): Promise<void> {
    const del = this.conn.prepare('DELETE FROM refused_events WHERE device_id = ? AND seq = ?');
    this.conn.transaction(() => {
      for (const seq of seqs) del.run(deviceId, seq);
    })();
    return Promise.resolve();
  }
}
