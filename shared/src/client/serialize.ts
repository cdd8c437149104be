import { parseSchemaId, type EventEnvelope } from '../envelope.js';
import { ErrorCode, KeywayError } from '../errors.js';
import { parseEnvelope } from '../registry/envelope-shape.js';
import { assertSize, validateData } from './create-event.js';
import type { KeywayEvent } from './types.js';

/** Serializes an event, refusing one over 256 KB. */
export function serializeEvent(event: EventEnvelope): string {
  assertSize(event);
  return JSON.stringify(event);
}

/**
 * Parses and validates an event on the way in: malformed JSON, an invalid envelope, an unknown type or version and
 * invalid data are typed KeywayErrors, never crashes.
 */
export function parseEvent(json: string | Buffer): KeywayEvent {
  const text = typeof json === 'string' ? json : json.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new KeywayError(ErrorCode.MalformedJson, `the event is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const event = parseEnvelope(value);
  assertSize(event);
  const schema = parseSchemaId(event.dataschema);
  if (!schema || schema.type !== event.type) {
    throw new KeywayError(ErrorCode.UnknownSchemaVersion, `dataschema ${JSON.stringify(event.dataschema)} does not name a version of ${event.type}`, {
      details: { type: event.type, dataschema: event.dataschema },
    });
  }
  return { ...event, data: validateData(event.type, schema.version, event.data) } as KeywayEvent;
}
