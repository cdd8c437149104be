import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-keyway-signature';

/** `t=<unix ms>,v1=<hex HMAC-SHA256 of "<t>.<body>">`; the timestamp lets receivers refuse replays. */
export function signWebhook(secret: string, body: string, timestampMs: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}.${body}`).digest('hex');
  return `t=${timestampMs},v1=${mac}`;
}

/** For receivers: true when the header was made with `secret` over `body` within `toleranceMs` of `nowMs`. */
export function verifyWebhookSignature(
  secret: string,
  body: string,
  header: string | undefined,
  nowMs: number = Date.now(),
  toleranceMs = 5 * 60_000,
): boolean {
  if (!header) return false;
  const parts = new Map(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const given = parts.get('v1');
  if (!Number.isFinite(t) || !given || Math.abs(nowMs - t) > toleranceMs) return false;
  const expected = Buffer.from(signWebhook(secret, body, t).split('v1=')[1] ?? '', 'hex');
  const actual = Buffer.from(given, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
