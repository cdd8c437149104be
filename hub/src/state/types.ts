/**
 * Hub state that services share (devices, customers, grants, deliveries, idempotency keys). Async so a networked
 * store (PostgreSQL) fits behind the same interface; the embedded default is SQLite.
 */
export interface DeviceRecord {
  id: string;
  /** The customer whose garage this is. */
  customerId: string;
  /** Device vendor / fleet, for per-vendor isolation and rate limits. */
  vendor: string;
  /** SHA-256 of the device's MQTT password (the token itself is shown once, at provisioning). */
  tokenHash: string;
  createdAt: number;
  online: boolean;
  lastSeenAt: number | null;
  /** The last reported state (door, sensors, firmware, outbox depth), like a device shadow. */
  reported: Record<string, unknown> | null;
}

export interface CustomerRecord {
  id: string;
  webhookUrl: string | null;
  webhookSecret: string | null;
  createdAt: number;
}

export interface GrantRecord {
  id: string;
  deviceId: string;
  holder: string;
  deliveryId: string | null;
  validFrom: number;
  validUntil: number;
  actions: string[];
  maxUses: number;
  hasPin: boolean;
  token: string;
  createdAt: number;
  revokedAt: number | null;
  uses: number;
}

export const DELIVERY_STATES = ['scheduled', 'access-granted', 'courier-arrived', 'unlocking', 'door-open', 'package-placed', 'closing', 'completed', 'failed'] as const;

export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface TimelineEntry {
  at: number;
  step: string;
  detail?: Record<string, unknown>;
}

export interface DeliveryRecord {
  id: string;
  customerId: string;
  deviceId: string;
  courierId: string;
  windowStart: number;
  windowEnd: number;
  parcelRef: string | null;
  state: DeliveryState;
  grantId: string | null;
  /** The command in flight (open or close), so late results are matched to it. */
  commandId: string | null;
  closeAttempts: number;
  /** Close commands the device refused as busy and the hub sent again (not counted as attempts). */
  busyRetries?: number;
  failureReason: string | null;
  /** When the current step times out (door did not open / close), checked by a sweeper; durable across restarts. */
  deadline: number | null;
  /** Events of the last step not yet confirmed by the bus (a transactional outbox: no dual write is lost). */
  outbox: unknown[];
  /** Compare-and-set version: two writers never advance one delivery twice. */
  version: number;
  createdAt: number;
  updatedAt: number;
  timeline: TimelineEntry[];
}

export interface HubStateStore {
  init(): Promise<void>;
  close(): Promise<void>;

  putCustomer(customer: CustomerRecord): Promise<void>;
  getCustomer(id: string): Promise<CustomerRecord | undefined>;

  /** Stores a new device; false (and nothing written) when the id is already taken. */
  insertDevice(device: DeviceRecord): Promise<boolean>;
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  listDevices(page: { limit: number; after?: string }): Promise<DeviceRecord[]>;
  setDeviceOnline(id: string, online: boolean, at: number): Promise<void>;
  setDeviceReported(id: string, reported: Record<string, unknown>, at: number): Promise<void>;

  insertGrant(grant: GrantRecord): Promise<void>;
  getGrant(id: string): Promise<GrantRecord | undefined>;
  listGrants(filter: { deviceId?: string; deliveryId?: string }, page: { limit: number; after?: string }): Promise<GrantRecord[]>;
  revokeGrant(id: string, at: number): Promise<GrantRecord | undefined>;
  recordGrantUse(id: string): Promise<void>;

  insertDelivery(delivery: DeliveryRecord): Promise<void>;
  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  listDeliveries(filter: { deviceId?: string; state?: DeliveryState }, page: { limit: number; after?: string }): Promise<DeliveryRecord[]>;
  /** Writes `next` only when the stored version is `next.version - 1`; returns whether it did. */
  updateDelivery(next: DeliveryRecord): Promise<boolean>;

  /**
   * Claims an idempotency key before its request runs, atomically: `claimed` (run it, then complete or release the
   * key), `done` with the response of the run that finished, or `running` while another request holds the key. A
   * claim older than `staleMs` whose request never finished (its process died) is taken over.
   */
  claimIdempotent(scope: string, key: string, at: number, staleMs: number): Promise<IdempotencyClaim>;
  /** Stores the claimed request's response; later claims of the key get it. */
  completeIdempotent(scope: string, key: string, response: string): Promise<void>;
  /** Gives up a claim whose request failed, so that a retry with the key runs again. */
  releaseIdempotent(scope: string, key: string): Promise<void>;
  /** Forgets idempotency keys claimed before `before` (ms); returns how many. */
  purgeIdempotent(before: number): Promise<number>;

  /**
   * Keeps refused device events (a repeat of a seq replaces it), then trims the device's oldest past
   * MAX_REFUSED_PER_DEVICE; returns how many were trimmed.
   */
  keepRefusedEvents(rows: readonly RefusedEventRecord[]): Promise<number>;
  /** A device's refused events in seq order, after `after` (a seq). */
  listRefusedEvents(deviceId: string, page: { limit: number; after?: number }): Promise<RefusedEventRecord[]>;
  deleteRefusedEvents(deviceId: string, seqs: readonly number[]): Promise<void>;
}

/** A device event the hub refused for good (schema, id or permission), kept with its body so it is never lost. */
export interface RefusedEventRecord {
  deviceId: string;
  seq: number;
  code: string;
  message: string;
  /** The event as the device sent it (JSON). */
  payload: string;
  at: number;
}

/** Most refused events kept per device; past it the oldest go (a device sending only garbage must not fill the disk). */
export const MAX_REFUSED_PER_DEVICE = 10_000;

export type IdempotencyClaim = { kind: 'claimed' } | { kind: 'done'; response: string } | { kind: 'running' };

/** The response column's value while a claimed request runs (a finished one stores JSON, never empty). */
export const IDEMPOTENCY_RUNNING = '';
