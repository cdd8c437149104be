import { z } from 'zod';

/**
 * Hub-side copy of the device wire messages. The source of truth for now is the agent's
 * `agent/src/sync/wire.ts` (the hub may not import `@keyway/agent`); keep the two in step until the lead moves
 * one copy into `shared/`. The one addition here is the optional `error` on `down/ack`, which the agent's
 * non-strict zod object accepts and ignores.
 */
export const WIRE_VERSION = 1;

/** `up/events`: one batch from the device's outbox. */
export const BatchMessage = z.object({
  v: z.literal(WIRE_VERSION),
  deviceId: z.string(),
  fromSeq: z.number().int().nonnegative(),
  toSeq: z.number().int().nonnegative(),
  events: z.array(z.object({ seq: z.number().int().nonnegative(), event: z.record(z.string(), z.unknown()) })),
});
export type BatchMessage = z.infer<typeof BatchMessage>;

export const RejectedEvent = z.object({ seq: z.number().int(), code: z.string(), message: z.string() });
export type RejectedEvent = z.infer<typeof RejectedEvent>;

/** `down/ack`: everything up to and including `upTo` is durably stored at the hub (or refused for good). */
export const AckMessage = z.object({
  v: z.literal(WIRE_VERSION),
  upTo: z.number().int().nonnegative(),
  /** Hub-signed time (keyway-time+jwt). */
  time: z.string().max(4096).optional(),
  rejected: z.array(RejectedEvent).optional(),
  /** Hub-side addition: why a whole batch was refused (then `upTo` makes no progress). */
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type AckMessage = z.infer<typeof AckMessage>;

/** `down/grants`. */
export const GrantsMessage = z.object({
  v: z.literal(WIRE_VERSION),
  grants: z.array(z.string().max(8192)).max(1000).optional(),
  revocations: z.string().max(1_000_000).optional(),
  time: z.string().max(4096).optional(),
});
export type GrantsMessage = z.infer<typeof GrantsMessage>;

/** `down/cmd`: `{ v, token }` carrying the compact JWS (keyway-cmd+jwt). */
export const CommandMessage = z.object({ v: z.literal(WIRE_VERSION), token: z.string().min(1) });
export type CommandMessage = z.infer<typeof CommandMessage>;

/** `up/cmd-result`. */
export const CommandResultMessage = z.discriminatedUnion('status', [
  z.object({
    v: z.literal(WIRE_VERSION),
    commandId: z.string().min(1).max(200),
    status: z.literal('ok'),
    data: z.object({ action: z.string(), outcome: z.string(), state: z.string() }),
    at: z.string(),
  }),
  z.object({
    v: z.literal(WIRE_VERSION),
    commandId: z.string().min(1).max(200),
    status: z.literal('error'),
    error: z.object({ code: z.string(), reason: z.string(), message: z.string() }),
    at: z.string(),
  }),
]);
export type CommandResultMessage = z.infer<typeof CommandResultMessage>;

/** `status` (retained; also the Last Will with online=false). */
export const PresenceMessage = z.object({ v: z.literal(WIRE_VERSION), online: z.boolean(), at: z.string() });
export type PresenceMessage = z.infer<typeof PresenceMessage>;

/** `state` (retained): the device shadow's reported state; kept as given, only its frame is checked. */
export const ReportedStateMessage = z.looseObject({ v: z.literal(WIRE_VERSION), at: z.string() });
export type ReportedStateMessage = z.infer<typeof ReportedStateMessage>;

/** Parses JSON and a schema; undefined when either fails. */
export function parseJson<S extends z.ZodType>(schema: S, payload: Buffer): z.infer<S> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(payload.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
