import { ErrorCode, KeywayError } from './errors.js';

/**
 * The CloudEvents 1.0 envelope (structured JSON mode) every Keyway event travels in.
 * `source` + `id` is the deduplication key everywhere.
 */
export interface EventEnvelope<TType extends string = string, TData = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: TType;
  time: string;
  /** The schema's id, carrying its version, e.g. `https://keyway.dev/schemas/device/DoorStateChanged.v2.json`. */
  dataschema: string;
  datacontenttype: 'application/json';
  subject?: string;
  traceparent?: string;
  data: TData;
}

/** EventBridge's limit for one event, which Keyway keeps. */
export const MAX_EVENT_BYTES = 256 * 1024;

/**
 * An event's JSON text. A value JSON.stringify cannot serialize (data nested deeper than it can recurse, some
 * thousands of levels; a cycle or a BigInt from an in-process caller) is refused as VALIDATION_FAILED, a permanent
 * and typed refusal, instead of escaping as a RangeError or TypeError that callers would report as an internal (and
 * so retryable) failure.
 */
export function eventJson(event: unknown): string {
  try {
    return JSON.stringify(event) ?? '';
  } catch (cause) {
    const problem = cause instanceof RangeError ? 'is nested too deeply to be serialized; flatten its data' : `cannot be serialized as JSON (${(cause as Error).message})`;
    throw new KeywayError(ErrorCode.ValidationFailed, `the event ${problem}`, { cause, details: { issues: [{ path: '/', message: problem }] } });
  }
}

export const SCHEMA_ID_BASE = 'https://keyway.dev/schemas';

/** `keyway.device.DoorStateChanged` + 2 -> `https://keyway.dev/schemas/device/DoorStateChanged.v2.json` */
export function schemaIdFor(type: string, version: number): string {
  const parts = type.split('.');
  const domain = parts[1];
  const name = parts[2];
  if (parts.length !== 3 || parts[0] !== 'keyway' || !domain || !name) {
    throw new Error(`event type ${JSON.stringify(type)} is not of the form keyway.<domain>.<EventName>`);
  }
  return `${SCHEMA_ID_BASE}/${domain}/${name}.v${version}.json`;
}

/** Inverse of schemaIdFor; undefined when the id is not a Keyway schema id. */
export function parseSchemaId(id: string): { type: string; version: number } | undefined {
  const m = /^https:\/\/keyway\.dev\/schemas\/([a-z][a-z0-9-]*)\/([A-Z][A-Za-z0-9]*)\.v([1-9][0-9]*)\.json$/.exec(id);
  if (!m) return undefined;
  return { type: `keyway.${m[1]}.${m[2]}`, version: Number(m[3]) };
}

/** The key under which an event is deduplicated. */
export function dedupKey(event: Pick<EventEnvelope, 'source' | 'id'>): string {
  return `${event.source}\u0000${event.id}`;
}
