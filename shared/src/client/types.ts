import type { EventEnvelope } from '../envelope.js';
import type { ErrorCode } from '../errors.js';
import type { EventDataMap, EventType, EventVersionMap } from '../generated/events.js';

/** A typed Keyway event of the latest version of its type. */
export type KeywayEvent<T extends EventType = EventType> = EventEnvelope<T, EventDataMap[T]>;

/** A typed Keyway event of a given version. */
export type KeywayEventVersion<T extends EventType, V extends keyof EventVersionMap[T]> = EventEnvelope<
  T,
  EventVersionMap[T][V]
>;

/** Set on an entry published with a deprecated schema version: it is still accepted until its sunset. */
export interface DeprecationNotice {
  version: number;
  sunset: string;
  replacement?: string;
}

/** Per-entry outcome of a publish, like EventBridge PutEvents: one bad entry never fails the others. */
export type PublishEntryResult =
  | { status: 'accepted'; id: string; source: string; seq: number; deprecated?: DeprecationNotice }
  | { status: 'duplicate'; id: string; source: string; seq: number; deprecated?: DeprecationNotice }
  | { status: 'rejected'; id?: string; source?: string; error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };

export interface Publisher {
  /** Validates, authorizes and durably appends each event; resolves once every accepted entry is durable. */
  publish(events: readonly EventEnvelope[]): Promise<PublishEntryResult[]>;
}

export interface DeliveryContext {
  /** Name of the subscriber receiving the event. */
  subscriber: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Publishing account + `source` + `id` (NUL-separated): receivers use it to stay idempotent under at-least-once delivery. */
  dedupKey: string;
}

export type EventHandler<T extends EventType = EventType> = (
  event: KeywayEvent<T>,
  context: DeliveryContext,
) => Promise<void> | void;

export interface Subscription {
  readonly name: string;
  unsubscribe(): Promise<void>;
}

export interface Subscriber {
  /** Receives the events of `types` (and matching `pattern`, when given) at least once each. */
  subscribe<T extends EventType>(
    options: { name: string; types: readonly T[]; pattern?: Record<string, unknown> },
    handler: EventHandler<T>,
  ): Promise<Subscription>;
}
