import { ErrorCode, KeywayError, type EventEnvelope } from '@keyway/shared';
import type { Publisher } from '@keyway/shared/client';

/** Publishes events and throws the first rejection, so a service never believes an unstored event was sent. */
export async function publishAll(publisher: Publisher, events: readonly EventEnvelope[]): Promise<void> {
  const results = await publisher.publish(events);
  for (const result of results) {
    if (result.status === 'rejected') {
      throw new KeywayError(result.error.code ?? ErrorCode.Internal, `the bus refused ${result.id ?? 'an event'}: ${result.error.message}`, {
        details: result.error.details ?? {},
      });
    }
  }
}
