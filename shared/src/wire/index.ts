import { z } from 'zod';

/**
 * The device wire messages between agent and hub (documented in agent/src/sync/WIRE.md), in one place for both
 * programs. Every message carries `v`; parsers are non-strict so a newer peer's extra fields are ignored.
 */
export const WIRE_VERSION = 1;

/** The hub's default limits on one `up/events` batch; a device's batches stay within them by default. */
export const MAX_BATCH_EVENTS = 500;
export const MAX_BATCH_BYTES = 1024 * 1024;

/** `up/events`: one batch from the device's outbox. */
export const BatchMessage = z.object({
  v: z.literal(WIRE_VERSION),
  deviceId: z.string(),
  fromSeq: z.number().int().nonnegative(),
  toSeq: z.number().int().nonnegative(),
  /**
   * The device vouches that every sequence up to `acked` is acknowledged by the hub or dropped on purpose. A hub
   * acknowledges this batch only when `fromSeq` follows that (or what it acknowledged itself) directly: with shared
   * subscriptions an earlier batch may be on another replica that has not stored it yet. Absent from old agents.
   */
  acked: z.number().int().nonnegative().optional(),
  /** A random value the device made at start; the hub signs it into the time it sends back (TimeClaims.nonce). */
  timeNonce: z.string().max(64).optional(),
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
  /**
   * Hub-side addition: why a whole batch was refused (then `upTo` makes no progress). A BATCH_TOO_LARGE refusal
   * carries the hub's limits, and the device sends smaller batches from then on.
   */
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      limits: z.object({ maxEvents: z.number().int().positive(), maxBytes: z.number().int().positive() }).optional(),
    })
    .optional(),
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

/** `down/cmd`: `{ v, token }` carrying the compact JWS (keyway-cmd+jwt); a bare token is accepted too. */
export const CommandMessage = z.object({ v: z.literal(WIRE_VERSION), token: z.string().min(1) });
export type CommandMessage = z.infer<typeof CommandMessage>;

/** The command token of a `down/cmd` payload, or undefined when it is empty or malformed. */
export function decodeCommandMessage(payload: Buffer): string | undefined {
  const text = payload.toString('utf8').trim();
  if (!text.startsWith('{')) return text.length > 0 ? text : undefined;
  try {
    const parsed = CommandMessage.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data.token : undefined;
  } catch {
    return undefined;
  }
}

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

/** `state` (retained): the device shadow's reported state. The hub keeps it as given and checks only its frame. */
export const ReportedStateFrame = z.looseObject({ v: z.literal(WIRE_VERSION), at: z.string() });

/** What the agent reports in `state`. */
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

/** Parses JSON and a schema; undefined when either fails. */
export function parseJson<S extends z.ZodType>(schema: S, payload: Buffer): z.infer<S> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(payload.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
