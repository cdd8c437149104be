import type { KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import type { z } from 'zod';
import { ErrorCode, KeywayError } from '../errors.js';
import { CommandClaims, GrantClaims, RevocationClaims, TimeClaims, TokenType, type TokenKind } from './claims.js';

/** Why a token was refused; maps one to one onto AccessDenied / CommandRejected reasons. */
export type TokenRefusal = 'signature' | 'malformed' | 'wrong-device';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function sign(kind: TokenKind, payload: unknown, privateKey: KeyObject, kid?: string): Promise<string> {
  const header = { alg: 'EdDSA', typ: TokenType[kind], ...(kid === undefined ? {} : { kid }) };
  return new CompactSign(encoder.encode(JSON.stringify(payload))).setProtectedHeader(header).sign(privateKey);
}

function refuse(kind: TokenKind, reason: TokenRefusal, message: string, cause?: unknown): KeywayError {
  const code = kind === 'command' ? ErrorCode.CommandRejected : ErrorCode.GrantInvalid;
  return new KeywayError(code, message, { cause, details: { reason, kind } });
}

async function verify<S extends z.ZodType>(kind: TokenKind, schema: S, token: string, publicKey: KeyObject): Promise<z.infer<S>> {
  if (typeof token !== 'string' || token.length > 16_384) throw refuse(kind, 'malformed', `${kind} token is not a compact JWS string of at most 16 KiB`);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (cause) {
    throw refuse(kind, 'malformed', `${kind} token is not a compact JWS; ask the hub to re-issue it`, cause);
  }
  // The alg is pinned rather than read from the token: no `none`, no algorithm confusion.
  if (header.alg !== 'EdDSA') throw refuse(kind, 'signature', `${kind} token uses alg ${String(header.alg)}, only EdDSA is accepted`);
  if (header.typ !== TokenType[kind]) throw refuse(kind, 'malformed', `token typ ${String(header.typ)} is not ${TokenType[kind]}; a token of another kind cannot be used here`);
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(token, publicKey, { algorithms: ['EdDSA'] }));
  } catch (cause) {
    throw refuse(kind, 'signature', `${kind} token signature does not verify with the pinned hub key; it is forged or signed by another hub`, cause);
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(payload));
  } catch (cause) {
    throw refuse(kind, 'malformed', `${kind} token payload is not JSON`, cause);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw refuse(kind, 'malformed', `${kind} token claim ${issue?.path.join('.') || '(root)'} is invalid: ${issue?.message ?? 'unknown'}`);
  }
  return parsed.data;
}

function checkDevice(kind: TokenKind, aud: string | undefined, deviceId: string): void {
  if (aud !== undefined && aud !== deviceId) throw refuse(kind, 'wrong-device', `${kind} token is for device ${aud}, not ${deviceId}`);
}

export interface SignOptions {
  /** Key id of the hub key, so a device can tell which pinned key to use after a rotation. */
  kid?: string;
}

export async function signGrant(claims: GrantClaims, privateKey: KeyObject, options: SignOptions = {}): Promise<string> {
  return sign('grant', GrantClaims.parse(claims), privateKey, options.kid);
}

/**
 * Verifies signature, shape and device. Time windows, uses and revocation are the holder's to check
 * (the agent checks them against its trusted clock and its own durable counters).
 */
export async function verifyGrant(token: string, publicKey: KeyObject, options: { deviceId: string }): Promise<GrantClaims> {
  const claims = await verify('grant', GrantClaims, token, publicKey);
  checkDevice('grant', claims.aud, options.deviceId);
  return claims;
}

export async function signCommand(claims: CommandClaims, privateKey: KeyObject, options: SignOptions = {}): Promise<string> {
  return sign('command', CommandClaims.parse(claims), privateKey, options.kid);
}

/** Verifies signature, shape and device; expiry and replay are checked by the receiver against trusted time. */
export async function verifyCommand(token: string, publicKey: KeyObject, options: { deviceId: string }): Promise<CommandClaims> {
  const claims = await verify('command', CommandClaims, token, publicKey);
  checkDevice('command', claims.aud, options.deviceId);
  return claims;
}

/** Hub-signed time: `t` is the hub's clock in epoch milliseconds when it signed. */
export async function signTime(claims: TimeClaims, privateKey: KeyObject, options: SignOptions = {}): Promise<string> {
  return sign('time', TimeClaims.parse(claims), privateKey, options.kid);
}

export async function verifyTime(token: string, publicKey: KeyObject, options: { deviceId: string }): Promise<TimeClaims> {
  const claims = await verify('time', TimeClaims, token, publicKey);
  checkDevice('time', claims.aud, options.deviceId);
  return claims;
}

export async function signRevocations(claims: RevocationClaims, privateKey: KeyObject, options: SignOptions = {}): Promise<string> {
  return sign('revocations', RevocationClaims.parse(claims), privateKey, options.kid);
}

export async function verifyRevocations(token: string, publicKey: KeyObject, options: { deviceId: string }): Promise<RevocationClaims> {
  const claims = await verify('revocations', RevocationClaims, token, publicKey);
  checkDevice('revocations', claims.aud, options.deviceId);
  return claims;
}

/** Reads the refusal reason a verify* function attached to its error, or undefined for other errors. */
export function tokenRefusal(error: unknown): TokenRefusal | undefined {
  if (!(error instanceof KeywayError)) return undefined;
  const reason = error.details.reason;
  return reason === 'signature' || reason === 'malformed' || reason === 'wrong-device' ? reason : undefined;
}
