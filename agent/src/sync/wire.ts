import { z } from 'zod';
import type { OutboxRow } from '../outbox/outbox.js';

/** Version of every wire message below; see WIRE.md. */
export const WIRE_VERSION = 1;

/**
 * `up/events`: builds the batch by splicing stored envelopes into the JSON text, so a batch of 500 events is
 * not parsed and re-serialized on a small CPU.
 */
export function encodeBatch(deviceId: string, rows: readonly OutboxRow[]): string {
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (!first || !last) throw new Error('encodeBatch needs at least one row');
  const items = rows.map((r) => `{"seq":${r.seq},"event":${r.payload}}`).join(',');
  return `{"v":${WIRE_VERSION},"deviceId":${JSON.stringify(deviceId)},"fromSeq":${first.seq},"toSeq":${last.seq},"events":[${items}]}`;
}

export const BatchMessage = z.object({
  v: z.literal(WIRE_VERSION),
  deviceId: z.string(),
  fromSeq: z.number().int().nonnegative(),
  toSeq: z.number().int().nonnegative(),
  events: z.array(z.object({ seq: z.number().int().nonnegative(), event: z.record(z.string(), z.unknown()) })),
});
export type BatchMessage = z.infer<typeof BatchMessage>;

/** `down/ack`: everything up to and including `upTo` is durably stored at the hub. */
export const AckMessage = z.object({
  v: z.literal(WIRE_VERSION),
  upTo: z.number().int().nonnegative(),
  /** Hub-signed time (keyway-time+jwt), so the device learns trusted time with every ack. */
  time: z.string().max(4096).optional(),
  /** Sequences the hub refused for good (e.g. schema-invalid); they are deleted too, and logged. */
  rejected: z.array(z.object({ seq: z.number().int(), code: z.string(), message: z.string() })).optional(),
});
export type AckMessage = z.infer<typeof AckMessage>;

/** `down/grants`: grant tokens to store, and/or the device's complete signed revocation list. */
export const GrantsMessage = z.object({
  v: z.literal(WIRE_VERSION),
  grants: z.array(z.string().max(8192)).max(1000).optional(),
  revocations: z.string().max(1_000_000).optional(),
  time: z.string().max(4096).optional(),
});
export type GrantsMessage = z.infer<typeof GrantsMessage>;

/** `down/cmd`: the compact JWS itself (keyway-cmd+jwt), or `{ v, token }`. */
export const CommandMessage = z.union([z.string().min(1), z.object({ v: z.literal(WIRE_VERSION), token: z.string().min(1) })]);

export function decodeCommandMessage(payload: Buffer): string | undefined {
  const text = payload.toString('utf8').trim();
  if (!text.startsWith('{')) return text.length > 0 ? text : undefined;
  try {
    const parsed = CommandMessage.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    return typeof parsed.data === 'string' ? parsed.data : parsed.data.token;
  } catch {
    return undefined;
  }
}

/** `up/cmd-result`: zigbee2mqtt-style `{status: ok, data} | {status: error, error}` with the command id. */
export type CommandResultMessage =
  | { v: typeof WIRE_VERSION; commandId: string; status: 'ok'; data: { action: string; outcome: string; state: string }; at: string }
  | { v: typeof WIRE_VERSION; commandId: string; status: 'error'; error: { code: string; reason: string; message: string }; at: string };

/** `status` (retained; also the Last Will with online=false). */
export interface PresenceMessage {
  v: typeof WIRE_VERSION;
  online: boolean;
  at: string;
}

/** `state` (retained): the device shadow's reported state. */
export interface ReportedStateMessage {
  v: typeof WIRE_VERSION;
  door: string;
  sensors: Record<string, boolean | string>;
  firmware: string;
  outboxDepth: number;
  lastSyncAt: string | null;
  time: { bounded: boolean; uncertaintyMs: number | null; wallClockBehind: boolean };
  at: string;
}

export function parseJson<S extends z.ZodType>(schema: S, payload: Buffer): z.infer<S> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(payload.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
