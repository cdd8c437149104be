/**
 * The bus's storage contract. Shaped for a relational store that several hub replicas share:
 * the dedup key is unique and checked in the same transaction as the append, and delivery rows
 * are claimed with a lease (`claimed_until`) instead of being held in one process's memory.
 * Every method is async so a networked backend (PostgreSQL) fits behind the same interface.
 */

/** One event to append, already validated and routed. */
export interface AppendInput {
  /** `source` + `id`; unique across the log for as long as the event is retained. */
  dedupKey: string;
  type: string;
  /** Ordering key (e.g. the device); null when the event has none. */
  subject: string | null;
  /** The publishing account. */
  account: string;
  /** The whole envelope as JSON text. */
  payload: string;
  /** Subscribers whose rules matched; a delivery row is queued for each in the same transaction. */
  subscribers: readonly string[];
}

export interface AppendOutcome {
  /** Log position of the event (of the original when this entry is a duplicate). */
  seq: number;
  duplicate: boolean;
  /** For a duplicate: the stored event's payload, which tells a redelivery from an id reused for another event. */
  original?: string;
}

export interface ClaimOptions {
  limit: number;
  now: number;
  /** How long the claim holds before another worker (or replica) may take the row again. */
  leaseMs: number;
  /** When true, a row is claimable only when no earlier live row of the same subject exists. */
  orderedBySubject: boolean;
}

export interface ClaimedDelivery {
  deliveryId: number;
  subscriber: string;
  seq: number;
  /** 1 for the first attempt; counted at claim time so a crash mid-delivery still counts. */
  attempt: number;
  /** When this row was (re)queued: the start of its maximum-age clock. */
  enqueuedAt: number;
  ingestedAt: number;
  dedupKey: string;
  type: string;
  subject: string | null;
  payload: string;
}

export interface DeadLetter {
  deliveryId: number;
  subscriber: string;
  seq: number;
  type: string;
  subject: string | null;
  dedupKey: string;
  attempts: number;
  lastError: string | null;
  deadAt: number;
  ingestedAt: number;
  payload: string;
}

/** Narrows DLQ inspection and redrive; every given field must match. */
export interface DlqFilter {
  type?: string;
  subject?: string;
  deliveryIds?: readonly number[];
}

/** Keyset pagination: rows with an id greater than `after`, at most `limit` of them. */
export interface Page {
  limit: number;
  after?: number;
}

export interface QueueStats {
  /** Live rows (waiting, retrying or in flight). */
  queued: number;
  /** Rows currently claimed under an unexpired lease. */
  inFlight: number;
  /** Dead-lettered rows. */
  dead: number;
  /** Enqueue time of the oldest live row, null when the queue is empty. */
  oldestEnqueuedAt: number | null;
}

export interface LogRecord {
  seq: number;
  dedupKey: string;
  type: string;
  subject: string | null;
  account: string;
  ingestedAt: number;
  payload: string;
}

export type SubscriberUpsert = 'created' | 'updated' | 'unchanged' | 'taken';

export interface SubscriberRecord {
  name: string;
  account: string;
  /** The declaration without in-process functions, as JSON text. */
  config: string;
  updatedAt: number;
}

export interface BusStore {
  /** Creates tables when missing. Safe to call on every start. */
  init(): Promise<void>;
  close(): Promise<void>;

  /** Appends entries in one durable transaction; a repeated dedup key is reported, not stored again. */
  appendBatch(entries: readonly AppendInput[], now: number): Promise<AppendOutcome[]>;
  /** Queues deliveries of already logged events to one subscriber (replay). Returns rows queued. */
  enqueue(subscriber: string, seqs: readonly number[], now: number): Promise<number>;

  claim(subscriber: string, options: ClaimOptions): Promise<ClaimedDelivery[]>;
  ack(deliveryIds: readonly number[]): Promise<void>;
  /** Ends a failed attempt; the row becomes claimable again at `nextAttemptAt`. */
  retryLater(deliveryId: number, nextAttemptAt: number, error: string): Promise<void>;
  /** Gives a claimed row back without counting the attempt (shutdown, open circuit). */
  release(deliveryIds: readonly number[], now: number): Promise<void>;
  deadLetter(deliveryId: number, error: string, now: number): Promise<void>;

  listDead(subscriber: string, filter: DlqFilter, page: Page): Promise<DeadLetter[]>;
  /** Moves matching dead letters back to the live queue with fresh attempts. Returns rows moved. */
  redrive(subscriber: string, filter: DlqFilter, now: number): Promise<number>;
  stats(subscriber: string, now: number): Promise<QueueStats>;

  /** The log in ingestion order, for replay and inspection. */
  readLog(fromMs: number, toMs: number, page: Page): Promise<LogRecord[]>;
  /** Deletes events ingested before `beforeMs` that no delivery row refers to. Returns events deleted. */
  purge(beforeMs: number): Promise<number>;

  putAccount(name: string, now: number): Promise<void>;
  /** Stores only a hash of the key; the key itself is never kept. */
  addApiKey(account: string, keyHash: string, now: number): Promise<void>;
  revokeApiKey(keyHash: string): Promise<void>;
  accountForKey(keyHash: string): Promise<string | undefined>;

  /**
   * Returns whether the record was new, changed, or already stored as given; `taken` (and nothing written) when the
   * name belongs to another account: a subscriber never changes hands.
   */
  upsertSubscriber(record: SubscriberRecord): Promise<SubscriberUpsert>;
  getSubscriber(name: string): Promise<SubscriberRecord | undefined>;
  listSubscribers(): Promise<SubscriberRecord[]>;
}
