import { ErrorCode, describeError, type Logger } from '@keyway/shared';
import type { PublishEntryResult } from '@keyway/shared/client';
import type { GatewayMetrics } from './metrics.js';
import type { GatewayBus } from './types.js';
import { BatchMessage, WIRE_VERSION, type AckMessage, type RejectedEvent } from '@keyway/shared/wire';
import type { RefusedEventRecord } from '../state/types.js';

/** Bus.publishAs takes at most this many entries per call (PutEvents' limit). */
const BUS_CHUNK = 10;

/** Rejections that mean "not stored, try again later"; everything else is refused for good. */
const TRANSIENT = new Set<string>([ErrorCode.Unavailable, ErrorCode.Internal, ErrorCode.Timeout]);

export interface BatchBridgeDeps {
  bus: GatewayBus;
  account: string;
  metrics: GatewayMetrics;
  log: Logger;
  maxBatchBytes: number;
  maxBatchEvents: number;
  /** Keeps events refused for good with their bodies; an event is acknowledged only once kept. */
  keepRefused: (rows: readonly RefusedEventRecord[]) => Promise<number>;
  /** Told the time nonce a well-formed batch carries, to sign into the hub times sent to its device. */
  timeNonce?: (nonce: string) => void;
  clock: () => number;
}

/** The refused event as JSON; one too deep to serialize is kept as a note of what it was (JSON.parse took it, stringify cannot). */
function bodyText(event: unknown): string {
  try {
    return JSON.stringify(event ?? null);
  } catch (error) {
    const { id, type } = (event ?? {}) as { id?: unknown; type?: unknown };
    return JSON.stringify({ unserializable: describeError(error), id, type });
  }
}

/** How many refused events a log line lists (a batch of 500 refused events made a 100 KB line). */
const LOGGED_REFUSALS = 5;

/** The ack to send for one batch, without its signed time. */
export type BatchOutcome = Omit<AckMessage, 'time'>;

function refusal(upTo: number, code: string, message: string, limits?: { maxEvents: number; maxBytes: number }): BatchOutcome {
  return { v: WIRE_VERSION, upTo, error: { code, message, ...(limits ? { limits } : {}) } };
}

function limitsOf(deps: BatchBridgeDeps): { maxEvents: number; maxBytes: number } {
  return { maxEvents: deps.maxBatchEvents, maxBytes: deps.maxBatchBytes };
}

/**
 * Bridges one `up/events` batch onto the bus. A batch that is too large, not JSON or not a batch is refused whole
 * (an ack without progress, carrying the reason). Otherwise every event is checked to speak for this device and
 * carry the id `<deviceId>-<seq>`, so the bus's source+id dedup is dedup by device and sequence; the events go to
 * the bus in order, ten at a time, and the ack covers a sequence only once everything before it is durable or
 * refused for good. A transient bus failure stops the ack at the last durable sequence; the device resends the rest.
 */
export async function bridgeBatch(
  deps: BatchBridgeDeps,
  deviceId: string,
  payload: Buffer,
  ackedSoFar: number,
): Promise<BatchOutcome> {
  const { metrics } = deps;
  if (payload.length > deps.maxBatchBytes) {
    metrics.batches.inc({ result: 'too-large' });
    return refusal(ackedSoFar, ErrorCode.BatchTooLarge, `the batch is ${payload.length} bytes; send at most ${deps.maxBatchBytes} bytes per batch`, limitsOf(deps));
  }
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    metrics.batches.inc({ result: 'malformed' });
    return refusal(ackedSoFar, ErrorCode.MalformedJson, `the batch is not JSON (${describeError(error)}); send the outbox batch as UTF-8 JSON`);
  }
  const parsed = BatchMessage.safeParse(raw);
  if (!parsed.success) {
    metrics.batches.inc({ result: 'malformed' });
    const issue = parsed.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown';
    return refusal(ackedSoFar, ErrorCode.InvalidInput, `the batch does not match wire version ${WIRE_VERSION} (${where})`);
  }
  const batch = parsed.data;
  if (batch.deviceId !== deviceId) {
    metrics.batches.inc({ result: 'wrong-device' });
    return refusal(ackedSoFar, ErrorCode.Unauthorized, `the batch names device ${batch.deviceId} but arrived on ${deviceId}'s topic; a device speaks only for itself`);
  }
  if (batch.timeNonce !== undefined) deps.timeNonce?.(batch.timeNonce);
  const outside = batch.events.find((e) => e.seq < batch.fromSeq || e.seq > batch.toSeq);
  if (batch.toSeq < batch.fromSeq || outside) {
    metrics.batches.inc({ result: 'malformed' });
    return refusal(ackedSoFar, ErrorCode.InvalidInput, `every event seq must lie within fromSeq..toSeq (${batch.fromSeq}..${batch.toSeq})`);
  }
  if (batch.events.length > deps.maxBatchEvents) {
    metrics.batches.inc({ result: 'too-large' });
    return refusal(ackedSoFar, ErrorCode.BatchTooLarge, `the batch holds ${batch.events.length} events; send at most ${deps.maxBatchEvents} per batch`, limitsOf(deps));
  }

  const source = `keyway://device/${deviceId}`;
  const rejected: RejectedEvent[] = [];
  const bodies = new Map(batch.events.map((e) => [e.seq, e.event]));
  const toPublish: { seq: number; event: Record<string, unknown> }[] = [];
  let previous = -1;
  for (const item of batch.events) {
    if (item.seq <= previous) {
      metrics.batches.inc({ result: 'malformed' });
      return refusal(ackedSoFar, ErrorCode.InvalidInput, `sequences in a batch must increase; ${item.seq} follows ${previous}`);
    }
    previous = item.seq;
    const { source: eventSource, id } = item.event;
    if (eventSource !== source) {
      rejected.push({ seq: item.seq, code: ErrorCode.Unauthorized, message: `event source must be ${source}; a device cannot speak for another` });
    } else if (id !== `${deviceId}-${item.seq}`) {
      rejected.push({ seq: item.seq, code: ErrorCode.InvalidInput, message: `event id must be ${deviceId}-${item.seq} so the hub can deduplicate by sequence` });
    } else {
      toPublish.push(item);
    }
  }

  // The highest sequence below which everything is durable or refused for good.
  let durableUpTo = batch.toSeq;
  let transient: { code: string; message: string } | undefined;
  for (let i = 0; i < toPublish.length && !transient; i += BUS_CHUNK) {
    const chunk = toPublish.slice(i, i + BUS_CHUNK);
    let results: PublishEntryResult[];
    try {
      results = await deps.bus.publishAs(deps.account, chunk.map((c) => c.event));
    } catch (error) {
      results = chunk.map(() => ({ status: 'rejected' as const, error: { code: ErrorCode.Unavailable, message: describeError(error) } }));
    }
    for (let j = 0; j < chunk.length; j += 1) {
      const item = chunk[j]!;
      const r = results[j] ?? { status: 'rejected' as const, error: { code: ErrorCode.Internal, message: 'the bus returned no result' } };
      if (r.status === 'rejected' && TRANSIENT.has(r.error.code)) {
        transient = r.error;
        durableUpTo = Math.min(durableUpTo, item.seq - 1);
        break;
      }
      metrics.events.inc({ result: r.status });
      if (r.status === 'rejected') rejected.push({ seq: item.seq, code: r.error.code, message: r.error.message.slice(0, 500) });
    }
  }
  // A refused-for-good event after a transient failure is reported again on the resend, not now.
  let finalRejected = rejected.filter((r) => r.seq <= durableUpTo).sort((a, b) => a.seq - b.seq);
  if (finalRejected.length > 0) {
    // Refused, yet never lost: kept with its body (GET /v1/devices/{id}/refused, redrive) before the ack covers it.
    const at = deps.clock();
    try {
      const trimmed = await deps.keepRefused(finalRejected.map((r) => ({ deviceId, seq: r.seq, code: r.code, message: r.message, payload: bodyText(bodies.get(r.seq)), at })));
      if (trimmed > 0) deps.log.warn({ deviceId, trimmed }, "device's oldest refused events dropped: it keeps the newest only");
      deps.log.warn({ deviceId, refused: finalRejected.length, first: finalRejected.slice(0, LOGGED_REFUSALS) }, 'device events refused for good; kept for inspection and redrive');
    } catch (error) {
      // Not kept, so not acknowledged either: the device sends them again.
      deps.log.error({ deviceId, err: describeError(error) }, 'could not keep refused device events; they are not acknowledged');
      durableUpTo = Math.min(durableUpTo, (finalRejected[0]?.seq ?? durableUpTo + 1) - 1);
      transient ??= { code: ErrorCode.Unavailable, message: `refused events could not be kept (${describeError(error)})` };
      finalRejected = [];
    }
  }
  // A batch that does not follow on from what is known to be acknowledged (an earlier batch may sit, unstored, on
  // another replica) is stored but not acknowledged; the device resends it once the earlier one is acknowledged.
  const follows = batch.acked === undefined || batch.fromSeq <= Math.max(ackedSoFar, batch.acked) + 1;
  const upTo = !follows ? ackedSoFar : Math.max(ackedSoFar, durableUpTo < batch.fromSeq ? ackedSoFar : durableUpTo);
  if (!follows) deps.log.info({ deviceId, fromSeq: batch.fromSeq, acked: batch.acked, ackedSoFar }, 'batch stored but not acknowledged: an earlier batch is not acknowledged yet');
  metrics.batches.inc({ result: transient ? 'partial' : 'acked' });
  return {
    v: WIRE_VERSION,
    upTo,
    ...(finalRejected.length > 0 ? { rejected: finalRejected } : {}),
    ...(transient ? { error: { code: transient.code, message: `events from ${durableUpTo + 1} were not stored: ${transient.message}; resend them` } } : {}),
  };
}
