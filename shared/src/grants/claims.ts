import { z } from 'zod';

/** JWS `typ` header per token kind, so a token of one kind can never be presented as another. */
export const TokenType = {
  grant: 'keyway-grant+jwt',
  command: 'keyway-cmd+jwt',
  time: 'keyway-time+jwt',
  revocations: 'keyway-revocations+jwt',
} as const;
export type TokenKind = keyof typeof TokenType;

const id = z.string().min(1).max(128);
const deviceId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);
const epochS = z.number().int().nonnegative();

export const GrantAction = z.enum(['open', 'close']);
export type GrantAction = z.infer<typeof GrantAction>;

/** An access grant: JWT claim names where JWT has one (jti, aud, sub, nbf, exp, iat), times in epoch seconds. */
export const GrantClaims = z
  .object({
    jti: id,
    aud: deviceId,
    sub: id,
    deliveryId: id.optional(),
    nbf: epochS,
    exp: epochS,
    iat: epochS.optional(),
    actions: z.array(GrantAction).min(1),
    maxUses: z.number().int().min(1).max(1000),
    pinHash: z.string().min(1).max(256).optional(),
  })
  .refine((c) => c.exp > c.nbf, { message: 'exp must be after nbf', path: ['exp'] });
export type GrantClaims = z.infer<typeof GrantClaims>;

export const CommandAction = z.enum(['open', 'close', 'stop']);
export type CommandAction = z.infer<typeof CommandAction>;

/** A command to one device; `open` must reference a grant (and may carry the grant token itself). */
export const CommandClaims = z
  .object({
    jti: id,
    aud: deviceId,
    iat: epochS,
    exp: epochS,
    action: CommandAction,
    grantId: id.optional(),
    grant: z.string().max(8192).optional(),
  })
  .refine((c) => c.action !== 'open' || c.grantId !== undefined, { message: 'an open command must reference a grant', path: ['grantId'] });
export type CommandClaims = z.infer<typeof CommandClaims>;

/** Hub-signed time in epoch milliseconds; `aud` binds it to one device when set. */
/**
 * `nonce` echoes the device's time nonce (BatchMessage.timeNonce): a device that restarted accepts its first hub time
 * only with the nonce it made at start, so a time token recorded earlier and replayed cannot pass for fresh.
 */
export const TimeClaims = z.object({ t: z.number().int().nonnegative(), aud: deviceId.optional(), nonce: z.string().max(64).optional() });
export type TimeClaims = z.infer<typeof TimeClaims>;

/** The complete list of revoked, not yet expired grants for one device; `iat` orders lists. */
export const RevocationClaims = z.object({
  aud: deviceId,
  iat: epochS,
  revoked: z.array(z.object({ jti: id, exp: epochS })).max(10_000),
});
export type RevocationClaims = z.infer<typeof RevocationClaims>;
