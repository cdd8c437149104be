import { randomUUID } from 'node:crypto';
import { describeError, isValidDeviceId, schemaIdFor, type EventEnvelope, type Logger } from '@keyway/shared';
import type { GatewayBus } from './types.js';

const GATEWAY_SOURCE = 'keyway://service/device-gateway';

/** An event of the gateway's own (presence, detections), schema version 1, about one device when `subject` is set. */
export function gatewayEvent(type: string, data: unknown, subject: string | undefined, now: number): EventEnvelope {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: GATEWAY_SOURCE,
    type,
    time: new Date(now).toISOString(),
    dataschema: schemaIdFor(type, 1),
    datacontenttype: 'application/json',
    ...(subject !== undefined && isValidDeviceId(subject) ? { subject } : {}),
    data,
  };
}

/** Publishes the gateway's own events (at most 10); failures are logged, never thrown. */
export async function publishOwn(bus: GatewayBus, log: Logger, account: string, events: readonly EventEnvelope[]): Promise<void> {
  try {
    const results = await bus.publishAs(account, events);
    for (const [i, result] of results.entries()) {
      if (result.status === 'rejected') log.error({ type: events[i]?.type, error: result.error }, 'the gateway could not publish its own event');
    }
  } catch (error) {
    log.error({ types: events.map((e) => e.type), err: describeError(error) }, 'the gateway could not publish its own events');
  }
}
