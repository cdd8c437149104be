import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 hex of a device token, as the hub's device registry stores it. */
export function hashDeviceToken(token: string | Buffer): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Compares a presented token with a stored hash in constant time (for equal-length hashes). */
export function tokenMatches(presented: string | Buffer, storedHash: string): boolean {
  const a = Buffer.from(hashDeviceToken(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  if (a.length !== b.length || b.length === 0) return false;
  return timingSafeEqual(a, b);
}
