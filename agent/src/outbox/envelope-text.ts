import { schemaIdFor } from '@keyway/shared';

const schemaIds = new Map<string, string>();

/**
 * The CloudEvents envelope of an outbox row, rebuilt from what the row stores. Only `data` is stored: the
 * envelope fields are derivable, and leaving them out halves the bytes written to the SD card per event.
 * Produces exactly `JSON.stringify(createEvent(...))` (same keys, same order).
 */
export function envelopeText(deviceId: string, seq: number, type: string, version: number, timeMs: number, data: string): string {
  const key = `${type}\u0000${version}`;
  let schemaId = schemaIds.get(key);
  if (schemaId === undefined) schemaIds.set(key, (schemaId = schemaIdFor(type, version)));
  return `{"specversion":"1.0","id":"${deviceId}-${seq}","source":"keyway://device/${deviceId}","type":${JSON.stringify(type)},"time":"${new Date(timeMs).toISOString()}","dataschema":${JSON.stringify(schemaId)},"datacontenttype":"application/json","subject":"${deviceId}","data":${data}}`;
}
