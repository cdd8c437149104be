import type { EventEnvelope } from '@keyway/shared';
import type { DeliveryContext } from '@keyway/shared/client';

/** What the bus needs from the schema registry; `SchemaRegistry` satisfies it as is. */
export interface EventValidator {
  /** Throws KeywayError (MALFORMED_JSON, UNKNOWN_EVENT_TYPE, VALIDATION_FAILED, ...) for a bad event. */
  validateEvent(
    input: unknown,
    now?: Date,
  ): { event: EventEnvelope; schema: { version: number; meta: { owner: string; status?: string; sunset?: string; replacement?: string } }; deprecated: boolean };
  /** Accounts that may consume the type; empty for an unknown type. */
  consumers(type: string): string[];
  owner(type: string): string | undefined;
}

/** Delivery context for bus targets: the client library's context plus the transformed input. */
export interface BusDeliveryContext extends DeliveryContext {
  /** The input transformer's output, or the event itself when the subscriber has no transformer. */
  input: unknown;
  /** Aborted when the attempt times out; long handlers should stop work. */
  signal: AbortSignal;
}

export type BusHandler = (event: EventEnvelope, context: BusDeliveryContext) => Promise<void> | void;

export type TargetSpec =
  | { kind: 'handler'; handler: BusHandler }
  /** POSTs the input as JSON, signed with HMAC-SHA256 in `x-keyway-signature`. */
  | { kind: 'webhook'; url: string; secret: string; headers?: Record<string, string> }
  /** Publishes the input as JSON; `{subject}` and `{type}` in the topic are filled from the event. */
  | { kind: 'mqtt'; topic: string };

/** EventBridge-style input transformer: pick fields by path, place them into a template. */
export interface InputTransformer {
  /** Name -> path into the event, e.g. `{ device: '$.data.deviceId' }`. */
  inputPaths: Record<string, string>;
  /** A string with `<name>` placeholders, or a JSON value whose strings may hold them. */
  template: unknown;
}

export interface RetryPolicy {
  /** Attempts before dead-lettering, first included. Default 8. */
  maxAttempts?: number;
  /** Maximum age of an event in the queue before it is dead-lettered. Default 24 h. */
  maxAgeMs?: number;
  /** First backoff cap; each retry doubles it up to `maxDelayMs`. Default 100 ms. */
  baseDelayMs?: number;
  /** Upper bound of one backoff. Default 60 s. */
  maxDelayMs?: number;
}

export interface CircuitPolicy {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe is let through. Default 5 s. */
  openMs?: number;
}

/** Per-subscriber alarm thresholds; an alarm raises above its threshold and clears at or below it. */
export interface AlarmThresholds {
  dlqDepth?: number;
  queueDepth?: number;
  oldestAgeMs?: number;
  /** Failed attempts / all attempts over the last evaluation window, 0..1. */
  failureRate?: number;
  p90LatencyMs?: number;
  /** Called (POST, JSON) on every raise and clear, besides the AlarmRaised event. */
  webhookUrl?: string;
}

export interface SubscriberDeclaration {
  /** Unique name; also the name of its queue, metrics and alarms. */
  name: string;
  /** The consuming account; it must be listed as a consumer of every type. */
  account: string;
  types: readonly string[];
  /** Extra EventBridge patterns; an event must match one of them (and one of `types`). */
  patterns?: readonly Record<string, unknown>[];
  target: TargetSpec;
  transform?: InputTransformer;
  /** In-flight deliveries at most. Default 8. */
  concurrency?: number;
  /** Deliver events of one `subject` one at a time, in log order. Default false. */
  orderedBySubject?: boolean;
  /** Time limit of one attempt. Default 10 s. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  circuit?: CircuitPolicy;
  alarms?: AlarmThresholds;
}
