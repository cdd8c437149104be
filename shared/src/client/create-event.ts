import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { eventJson, MAX_EVENT_BYTES, schemaIdFor, type EventEnvelope } from '../envelope.js';
import { ErrorCode, KeywayError } from '../errors.js';
import { LATEST_VERSION, type EventDataMap, type EventType, type EventVersionMap } from '../generated/events.js';
import { dataValidators } from '../generated/validators.js';
import { parseEnvelope, zodIssues } from '../registry/envelope-shape.js';
import type { KeywayEvent, KeywayEventVersion } from './types.js';

export interface CreateEventOptions {
  /** e.g. `keyway://service/delivery` or `keyway://device/garage-1`. */
  source: string;
  /** Unique per source; a UUID when omitted. */
  id?: string;
  subject?: string;
  traceparent?: string;
  time?: Date | string;
}

function validatorFor(type: string, version: number): z.ZodType | undefined {
  const versions = (dataValidators as Record<string, Record<number, z.ZodType> | undefined>)[type];
  return versions?.[version];
}

/** Validates `data` for a type and version, listing every violated path; returns the data with defaults applied. */
export function validateData(type: string, version: number, data: unknown): unknown {
  const validator = validatorFor(type, version);
  if (!validator) {
    if (!(type in dataValidators)) throw new KeywayError(ErrorCode.UnknownEventType, `unknown event type ${JSON.stringify(type)}`, { details: { type } });
    throw new KeywayError(ErrorCode.UnknownSchemaVersion, `${type} has no version ${version}`, { details: { type, version } });
  }
  const result = validator.safeParse(data);
  if (!result.success) {
    const issues = zodIssues(result.error.issues, '/data');
    throw new KeywayError(ErrorCode.ValidationFailed, `${type} v${version} is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { details: { issues } });
  }
  return result.data;
}

function build(type: string, version: number, data: unknown, options: CreateEventOptions): EventEnvelope {
  const time = options.time === undefined ? new Date().toISOString() : typeof options.time === 'string' ? options.time : options.time.toISOString();
  const event: EventEnvelope = {
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source,
    type,
    time,
    dataschema: schemaIdFor(type, version),
    datacontenttype: 'application/json',
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
    data: validateData(type, version, data),
  };
  parseEnvelope(event);
  assertSize(event);
  return event;
}

/**
 * Builds a validated CloudEvents envelope for the latest version of `type`. Wrong fields do not compile; at run time
 * an invalid event throws VALIDATION_FAILED listing every violated path, so it never leaves the process.
 */
export function createEvent<T extends EventType>(type: T, data: EventDataMap[T], options: CreateEventOptions): KeywayEvent<T> {
  return build(type, LATEST_VERSION[type], data, options) as KeywayEvent<T>;
}

/** Like createEvent, for a named earlier version of the type. */
export function createEventVersion<T extends EventType, V extends keyof EventVersionMap[T] & number>(
  type: T,
  version: V,
  data: EventVersionMap[T][V],
  options: CreateEventOptions,
): KeywayEventVersion<T, V> {
  return build(type, version, data, options) as KeywayEventVersion<T, V>;
}

export function assertSize(event: EventEnvelope): number {
  const size = Buffer.byteLength(eventJson(event));
  if (size > MAX_EVENT_BYTES) {
    throw new KeywayError(ErrorCode.EventTooLarge, `the event is ${size} bytes; the limit is ${MAX_EVENT_BYTES} bytes (256 KB). Send large content by reference.`, {
      details: { size, limit: MAX_EVENT_BYTES },
    });
  }
  return size;
}
