import { describe, expect, expectTypeOf, it } from 'vitest';
import { ErrorCode, KeywayError } from '../errors.js';
import type { EventDataMap } from '../generated/events.js';
import { createEvent, createEventVersion } from './create-event.js';
import { parseEvent, serializeEvent } from './serialize.js';
import type { KeywayEvent } from './types.js';

const at = '2026-11-28T10:00:00.000Z';
const source = 'keyway://service/delivery';

function thrown(fn: () => unknown): KeywayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof KeywayError) return error;
    throw error;
  }
  throw new Error('expected a KeywayError');
}

describe('createEvent', () => {
  it('builds a CloudEvents 1.0 envelope naming the schema version', () => {
    const event = createEvent(
      'keyway.delivery.CourierArrived',
      { deliveryId: 'd-1', courierId: 'c-1', deviceId: 'garage-1', at },
      { source, subject: 'garage-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    );
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'keyway.delivery.CourierArrived',
      source,
      subject: 'garage-1',
      dataschema: 'https://keyway.dev/schemas/delivery/CourierArrived.v1.json',
      datacontenttype: 'application/json',
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(event.time)).not.toBeNaN();
    expectTypeOf(event.data).toEqualTypeOf<EventDataMap['keyway.delivery.CourierArrived']>();
  });

  it('uses the latest version by default and an earlier one on request', () => {
    const v2 = createEvent('keyway.device.DoorStateChanged', { deviceId: 'g', state: 'open', previous: 'opening', at, cause: { kind: 'wall-button' } }, { source });
    expect(v2.dataschema).toMatch(/DoorStateChanged\.v2\.json$/);
    const v1 = createEventVersion('keyway.device.DoorStateChanged', 1, { deviceId: 'g', state: 'open', previous: 'opening', at }, { source });
    expect(v1.dataschema).toMatch(/DoorStateChanged\.v1\.json$/);
  });

  it('does not compile with wrong fields for a type', () => {
    const build = (): void => {
      // @ts-expect-error courierId is missing and colour does not exist on CourierArrived
      createEvent('keyway.delivery.CourierArrived', { deliveryId: 'd', deviceId: 'g', at, colour: 'red' }, { source });
      // @ts-expect-error state must be one of the door states
      createEvent('keyway.device.DoorStateChanged', { deviceId: 'g', state: 'ajar', previous: 'open', at, cause: { kind: 'unknown' } }, { source });
      // @ts-expect-error there is no such event type
      createEvent('keyway.device.Teleported', {}, { source });
      // @ts-expect-error version 1 has no cause
      createEventVersion('keyway.device.DoorStateChanged', 1, { deviceId: 'g', state: 'open', previous: 'open', at, cause: { kind: 'unknown' } }, { source });
    };
    expect(typeof build).toBe('function');
  });

  it('refuses invalid data at run time, listing every violated path', () => {
    const error = thrown(() => createEvent('keyway.delivery.CourierArrived', { deliveryId: '', courierId: 'c', deviceId: 'bad id!', at: 'yesterday' }, { source }));
    expect(error.code).toBe(ErrorCode.ValidationFailed);
    expect((error.details.issues as { path: string }[]).map((i) => i.path)).toEqual(['/data/deliveryId', '/data/deviceId', '/data/at']);
  });

  it('refuses an event over 256 KB with a clear error naming the limit', () => {
    const ok = createEvent('keyway.delivery.DeliveryFailed', { deliveryId: 'd', deviceId: 'g', reason: 'cancelled', at }, { source });
    const huge = { ...ok, data: { ...ok.data, detail: 'x'.repeat(270_000) } } as KeywayEvent;
    const error = thrown(() => serializeEvent(huge));
    expect(error.code).toBe(ErrorCode.EventTooLarge);
    expect(error.message).toMatch(/limit is 262144 bytes/);
  });
});

describe('parseEvent', () => {
  const event = createEvent('keyway.device.Heartbeat', { deviceId: 'garage-1', uptimeS: 1, at }, { source: 'keyway://device/garage-1' });

  it('round-trips a valid event', () => {
    expect(parseEvent(serializeEvent(event))).toEqual(event);
  });

  it('turns malformed JSON, unknown types and versions, and invalid data into typed errors', () => {
    expect(thrown(() => parseEvent('not json')).code).toBe(ErrorCode.MalformedJson);
    expect(thrown(() => parseEvent(JSON.stringify({ ...event, type: 'keyway.device.Nope', dataschema: 'https://keyway.dev/schemas/device/Nope.v1.json' }))).code).toBe(ErrorCode.UnknownEventType);
    expect(thrown(() => parseEvent(JSON.stringify({ ...event, dataschema: event.dataschema.replace('.v1.', '.v7.') }))).code).toBe(ErrorCode.UnknownSchemaVersion);
    expect(thrown(() => parseEvent(JSON.stringify({ ...event, data: { deviceId: 'garage-1' } }))).message).toMatch(/\/data\/uptimeS/);
  });
});
