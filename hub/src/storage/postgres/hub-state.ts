import {
  IDEMPOTENCY_RUNNING,
  MAX_REFUSED_PER_DEVICE,
  type RefusedEventRecord,
  type CustomerRecord,
  type DeliveryRecord,
  type DeliveryState,
  type DeviceRecord,
  type GrantRecord,
  type HubStateStore,
  type IdempotencyClaim,
} from '../../state/types.js';
import { PostgresConnection, type PostgresConnectionOptions } from './connection.js';

interface CustomerRow {
  id: string;
  webhook_url: string | null;
  webhook_secret: string | null;
  created_at: number;
}

interface DeviceRow {
  id: string;
  customer_id: string;
  vendor: string;
  token_hash: string;
  created_at: number;
  online: boolean;
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
  has_pin: boolean;
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
  online: r.online,
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
  hasPin: r.has_pin,
  token: r.token,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  uses: r.uses,
});

const GRANT_COLUMNS =
  'id, device_id, holder, delivery_id, valid_from, valid_until, actions, max_uses, has_pin, token, created_at, revoked_at, uses';

/**
 * Hub state (customers, devices, grants, parcel deliveries, idempotency keys) in PostgreSQL, shared
 * by every hub replica. A delivery advances by compare-and-set on its version, so two replicas
 * handling events of one delivery never both apply a step. Same schema and migrations as the bus
 * store; both may use one database and schema.
 */
export class PostgresHubState implements HubStateStore {
  private readonly db: PostgresConnection;

  constructor(options: PostgresConnectionOptions) {
    this.db = new PostgresConnection(options);
  }

  init(): Promise<void> {
    return this.db.open();
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** For readiness (/readyz): resolves when the server answers, rejects with UNAVAILABLE when not. */
  ping(): Promise<void> {
    return this.db.ping();
  }

  async putCustomer(c: CustomerRecord): Promise<void> {
    await this.db.query(
      'store a customer',
      `INSERT INTO customers (id, webhook_url, webhook_secret, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET webhook_url = excluded.webhook_url, webhook_secret = excluded.webhook_secret`,
      [c.id, c.webhookUrl, c.webhookSecret, c.createdAt],
    );
  }

  async getCustomer(id: string): Promise<CustomerRecord | undefined> {
    const r = await this.db.query<CustomerRow>('read a customer', 'SELECT * FROM customers WHERE id = $1', [id]);
    const row = r.rows[0];
    return (
      row && { id: row.id, webhookUrl: row.webhook_url, webhookSecret: row.webhook_secret, createdAt: row.created_at }
    );
  }

  async insertDevice(d: DeviceRecord): Promise<boolean> {
    const r = await this.db.query(
      'store a device',
      `INSERT INTO devices (id, customer_id, vendor, token_hash, created_at, online, last_seen_at, reported)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
      [
        d.id,
        d.customerId,
        d.vendor,
        d.tokenHash,
        d.createdAt,
        d.online,
        d.lastSeenAt,
        d.reported === null ? null : JSON.stringify(d.reported),
      ],
    );
    return r.rowCount === 1;
  }

  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    const r = await this.db.query<DeviceRow>('read a device', 'SELECT * FROM devices WHERE id = $1', [id]);
    const row = r.rows[0];
    return row && toDevice(row);
  }

  async listDevices(page: { limit: number; after?: string }): Promise<DeviceRecord[]> {
    const r = await this.db.query<DeviceRow>(
      'list devices',
      'SELECT * FROM devices WHERE id > $1 ORDER BY id LIMIT $2',
      [page.after ?? '', page.limit],
    );
    return r.rows.map(toDevice);
  }

  async setDeviceOnline(id: string, online: boolean, at: number): Promise<void> {
    await this.db.query('mark a device online', 'UPDATE devices SET online = $1, last_seen_at = $2 WHERE id = $3', [
      online,
      at,
      id,
    ]);
  }

  async setDeviceReported(id: string, reported: Record<string, unknown>, at: number): Promise<void> {
    await this.db.query(
      "store a device's reported state",
      'UPDATE devices SET reported = $1, last_seen_at = $2 WHERE id = $3',
      [JSON.stringify(reported), at, id],
    );
  }

  async insertGrant(g: GrantRecord): Promise<void> {
    await this.db.query(
      'store a grant',
      `INSERT INTO grants (${GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [
        g.id,
        g.deviceId,
        g.holder,
        g.deliveryId,
        g.validFrom,
        g.validUntil,
        JSON.stringify(g.actions),
        g.maxUses,
        g.hasPin,
        g.token,
        g.createdAt,
        g.revokedAt,
        g.uses,
      ],
    );
  }

  async getGrant(id: string): Promise<GrantRecord | undefined> {
    const r = await this.db.query<GrantRow>('read a grant', `SELECT ${GRANT_COLUMNS} FROM grants WHERE id = $1`, [id]);
    const row = r.rows[0];
    return row && toGrant(row);
  }

  async listGrants(
    filter: { deviceId?: string; deliveryId?: string },
    page: { limit: number; after?: string },
  ): Promise<GrantRecord[]> {
    const r = await this.db.query<GrantRow>(
      'list grants',
      `SELECT ${GRANT_COLUMNS} FROM grants
       WHERE ($1::text IS NULL OR device_id = $1) AND ($2::text IS NULL OR delivery_id = $2) AND id > $3
       ORDER BY id LIMIT $4`,
      [filter.deviceId ?? null, filter.deliveryId ?? null, page.after ?? '', page.limit],
    );
    return r.rows.map(toGrant);
  }

  /** The first revocation time stays; revoking again changes nothing. */
  async revokeGrant(id: string, at: number): Promise<GrantRecord | undefined> {
    const r = await this.db.query<GrantRow>(
      'revoke a grant',
      `UPDATE grants SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING ${GRANT_COLUMNS}`,
      [at, id],
    );
    const row = r.rows[0];
    return row && toGrant(row);
  }

  async recordGrantUse(id: string): Promise<void> {
    await this.db.query('count a grant use', 'UPDATE grants SET uses = uses + 1 WHERE id = $1', [id]);
  }

  async insertDelivery(d: DeliveryRecord): Promise<void> {
    await this.db.query(
      'store a delivery',
      'INSERT INTO parcel_deliveries (id, device_id, state, version, body) VALUES ($1, $2, $3, $4, $5)',
      [d.id, d.deviceId, d.state, d.version, JSON.stringify(d)],
    );
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    const r = await this.db.query<{ body: string }>(
      'read a delivery',
      'SELECT body FROM parcel_deliveries WHERE id = $1',
      [id],
    );
    const row = r.rows[0];
    return row && (JSON.parse(row.body) as DeliveryRecord);
  }

  async listDeliveries(
    filter: { deviceId?: string; state?: DeliveryState },
    page: { limit: number; after?: string },
  ): Promise<DeliveryRecord[]> {
    const r = await this.db.query<{ body: string }>(
      'list deliveries',
      `SELECT body FROM parcel_deliveries
       WHERE ($1::text IS NULL OR device_id = $1) AND ($2::text IS NULL OR state = $2) AND id > $3
       ORDER BY id LIMIT $4`,
      [filter.deviceId ?? null, filter.state ?? null, page.after ?? '', page.limit],
    );
    return r.rows.map((row) => JSON.parse(row.body) as DeliveryRecord);
  }

  /** Compare-and-set: the row lock makes a concurrent writer re-check the version after this commits. */
  async updateDelivery(next: DeliveryRecord): Promise<boolean> {
    const r = await this.db.query(
      'advance a delivery',
      'UPDATE parcel_deliveries SET state = $1, version = $2, body = $3 WHERE id = $4 AND version = $5',
      [next.state, next.version, JSON.stringify(next), next.id, next.version - 1],
    );
    return r.rowCount === 1;
  }

  /**
   * The INSERT waits for another replica's insert of the same key in flight; the takeover of a stale claim is a
   * compare-and-set on created_at, so two replicas cannot both take it over.
   */
  async claimIdempotent(scope: string, key: string, at: number, staleMs: number): Promise<IdempotencyClaim> {
    const inserted = await this.db.query(
      'claim an idempotency key',
      'INSERT INTO idempotency (scope, key, response, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [scope, key, IDEMPOTENCY_RUNNING, at],
    );
    if (inserted.rowCount === 1) return { kind: 'claimed' };
    const r = await this.db.query<{ response: string; created_at: string }>(
      'read an idempotency key',
      'SELECT response, created_at FROM idempotency WHERE scope = $1 AND key = $2',
      [scope, key],
    );
    const row = r.rows[0];
    // Released between the two statements: the caller's retry claims it.
    if (row === undefined) return { kind: 'running' };
    if (row.response !== IDEMPOTENCY_RUNNING) return { kind: 'done', response: row.response };
    if (Number(row.created_at) > at - staleMs) return { kind: 'running' };
    const taken = await this.db.query(
      'take over a stale idempotency key',
      'UPDATE idempotency SET created_at = $1 WHERE scope = $2 AND key = $3 AND response = $4 AND created_at = $5',
      [at, scope, key, IDEMPOTENCY_RUNNING, row.created_at],
    );
    return taken.rowCount === 1 ? { kind: 'claimed' } : { kind: 'running' };
  }

  async completeIdempotent(scope: string, key: string, response: string): Promise<void> {
    await this.db.query('complete an idempotency key', 'UPDATE idempotency SET response = $1 WHERE scope = $2 AND key = $3', [response, scope, key]);
  }

  async purgeIdempotent(before: number): Promise<number> {
    const r = await this.db.query('purge idempotency keys', 'DELETE FROM idempotency WHERE created_at < $1', [before]);
    return r.rowCount ?? 0;
  }

  async keepRefusedEvents(rows: readonly RefusedEventRecord[]): Promise<number> {
    if (rows.length === 0) return 0;
    await this.db.query(
      'keep refused device events',
      `INSERT INTO refused_events (device_id, seq, code, message, payload, at)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])
       ON CONFLICT (device_id, seq) DO UPDATE SET code = excluded.code, message = excluded.message, payload = excluded.payload, at = excluded.at`,
      [rows.map((r) => r.deviceId), rows.map((r) => r.seq), rows.map((r) => r.code), rows.map((r) => r.message), rows.map((r) => r.payload), rows.map((r) => r.at)],
    );
    let trimmed = 0;
    for (const deviceId of new Set(rows.map((r) => r.deviceId))) {
      const r = await this.db.query(
        'trim refused device events',
        'DELETE FROM refused_events WHERE device_id = $1 AND seq < (SELECT seq FROM refused_events WHERE device_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)',
        [deviceId, MAX_REFUSED_PER_DEVICE - 1],
      );
      trimmed += r.rowCount ?? 0;
    }
    return trimmed;
  }

  async listRefusedEvents(deviceId: string, page: { limit: number; after?: number }): Promise<RefusedEventRecord[]> {
    const r = await this.db.query<{ device_id: string; seq: string; code: string; message: string; payload: string; at: string }>(
      'list refused device events',
      'SELECT device_id, seq, code, message, payload, at FROM refused_events WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [deviceId, page.after ?? -1, page.limit],
    );
    return r.rows.map((x) => ({ deviceId: x.device_id, seq: Number(x.seq), code: x.code, message: x.message, payload: x.payload, at: Number(x.at) }));
  }

  async deleteRefusedEvents(deviceId: string, seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.db.query('delete refused device events', 'DELETE FROM refused_events WHERE device_id = $1 AND seq = ANY($2::bigint[])', [deviceId, [...seqs]]);
  }

  async releaseIdempotent(scope: string, key: string): Promise<void> {
    await this.db.query('release an idempotency key', 'DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND response = $3', [scope, key, IDEMPOTENCY_RUNNING]);
  }
}
