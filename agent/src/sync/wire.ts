import { WIRE_VERSION } from '@keyway/shared/wire';
import type { OutboxRow } from '../outbox/outbox.js';

export * from '@keyway/shared/wire';

/**
 * `up/events`: builds the batch by splicing stored envelopes into the JSON text, so a batch of 500 events is
 * not parsed and re-serialized on a small CPU.
 */
export function encodeBatch(deviceId: string, rows: readonly OutboxRow[], acked?: number, timeNonce?: string): string {
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (!first || !last) throw new Error('encodeBatch needs at least one row');
  const items = rows.map((r) => `{"seq":${r.seq},"event":${r.payload}}`).join(',');
  const ackedField = acked === undefined ? '' : `"acked":${acked},`;
  const nonceField = timeNonce === undefined ? '' : `"timeNonce":${JSON.stringify(timeNonce)},`;
  return `{"v":${WIRE_VERSION},"deviceId":${JSON.stringify(deviceId)},"fromSeq":${first.seq},"toSeq":${last.seq},${ackedField}${nonceField}"events":[${items}]}`;
}
