export { tokenRefusal, verifyCommand, type CommandClaims } from '@keyway/shared/grants';

/** The command id of a token that failed verification, for the CommandRejected event; never trusted for anything else. */
export function decodeCommandId(token: string): string {
  try {
    const payload = String(token).split('.')[1] ?? '';
    const jti = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti?: unknown }).jti;
    if (typeof jti === 'string' && jti.length > 0 && jti.length <= 128) return jti;
  } catch {
    // fall through: an undecodable token gets a placeholder id
  }
  return 'unknown';
}
