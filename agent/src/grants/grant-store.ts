import type { KeyObject } from 'node:crypto';
import { createLogger, type Logger } from '@keyway/shared';
import type { AccessDeniedV1Data } from '@keyway/shared/generated';
import { decideWindow, tokenRefusal, verifyGrant, verifyPin, verifyRevocations, type GrantAction, type GrantClaims } from '@keyway/shared/grants';
import { durableTransaction, type AgentDatabase } from '../outbox/database.js';
import type { ClockSources } from './clock-sources.js';
import { PinLockout, type LockoutPolicy } from './pin-lockout.js';
import type { TrustedClock } from './trusted-clock.js';

export type DenyReason = AccessDeniedV1Data['reason'];

export type AccessDecision =
  | { ok: true; grant: GrantClaims; usesRemaining: number }
  | { ok: false; reason: DenyReason; detail: string; grantId?: string; holder?: string };

export interface GrantStoreOptions {
  deviceId: string;
  hubPublicKey: KeyObject;
  clock: TrustedClock;
  sources: ClockSources;
  /** Clock-skew tolerance at both edges of a grant's window. */
  toleranceMs: number;
  lockout: LockoutPolicy;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS grants (
  jti TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  holder TEXT NOT NULL,
  nbf_ms INTEGER NOT NULL,
  exp_ms INTEGER NOT NULL,
  max_uses INTEGER NOT NULL,
  uses INTEGER NOT NULL DEFAULT 0,
  has_pin INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (jti TEXT PRIMARY KEY, exp_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revocation_list (id INTEGER PRIMARY KEY CHECK (id = 1), iat INTEGER NOT NULL);
`;

/**
 * Grants held by the device and checked offline: signature (at intake), device, window against trusted time,
 * allowed actions, revocations and remaining uses. A use is committed with fsync before the door moves, so a
 * crash can waste a use but never grant an extra one.
 */
export class GrantStore {
  private readonly log: Logger;
  private readonly lockout: PinLockout;
  /** The PIN check in progress, so the next waits for it (see checkPin). */
  private pinQueue: Promise<unknown> = Promise.resolve();
  private readonly claimsCache = new Map<string, GrantClaims>();

  constructor(
    private readonly db: AgentDatabase,
    private readonly options: GrantStoreOptions,
  ) {
    this.log = createLogger('agent.grants', { deviceId: options.deviceId });
    this.lockout = new PinLockout(db, options.sources, options.lockout);
  }

  async start(): Promise<void> {
    this.db.exec(SCHEMA);
    this.lockout.init();
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    this.claimsCache.clear();
    await Promise.resolve();
  }

  /** Verifies and stores a grant token; a re-delivered grant keeps its use count. */
  async addGrant(token: string): Promise<GrantClaims> {
    const claims = await verifyGrant(token, this.options.hubPublicKey, { deviceId: this.options.deviceId });
    const inserted = this.db
      .prepare('INSERT INTO grants (jti, token, holder, nbf_ms, exp_ms, max_uses, has_pin) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(jti) DO NOTHING')
      .run(claims.jti, token, claims.sub, claims.nbf * 1000, claims.exp * 1000, claims.maxUses, claims.pinHash ? 1 : 0).changes;
    if (inserted === 0) {
      // A grant id is held once: the first token stored stays the grant (its uses are counted against it), so a
      // re-sent token with other claims must not change the window, actions, PIN or use limit in memory only.
      const stored = await this.claimsOf(claims.jti);
      if (stored !== undefined) return stored;
    }
    this.claimsCache.set(claims.jti, claims);
    return claims;
  }

  /** Replaces the revocation list with a newer signed one; an older list (replayed) is ignored. */
  async applyRevocations(token: string): Promise<number> {
    const list = await verifyRevocations(token, this.options.hubPublicKey, { deviceId: this.options.deviceId });
    return durableTransaction(this.db, () => {
      const current = this.db.prepare('SELECT iat FROM revocation_list WHERE id = 1').get() as { iat: number } | undefined;
      if (current && current.iat > list.iat) return 0;
      // The list is complete, but entries we hold are kept too: a revocation must never be undone by omission.
      const insert = this.db.prepare('INSERT OR IGNORE INTO revocations (jti, exp_ms) VALUES (?, ?)');
      for (const r of list.revoked) insert.run(r.jti, r.exp * 1000);
      this.db.prepare('INSERT INTO revocation_list (id, iat) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET iat = excluded.iat').run(list.iat);
      return list.revoked.length;
    });
  }

  /** Checks a grant for an action and, when allowed, durably consumes one use. */
  async authorize(grantId: string, action: GrantAction): Promise<AccessDecision> {
    const claims = await this.claimsOf(grantId);
    if (!claims) return { ok: false, reason: 'unknown-grant', detail: `no grant ${grantId} on this device; the hub must sync it first`, grantId };
    const deny = (reason: DenyReason, detail: string): AccessDecision => ({ ok: false, reason, detail, grantId, holder: claims.sub });
    if (this.isRevoked(grantId)) return deny('revoked', 'the grant was revoked by the hub');
    if (!claims.actions.includes(action)) return deny('action-not-allowed', `the grant allows ${claims.actions.join(', ')}, not ${action}`);
    const now = this.options.clock.interval();
    const decision = decideWindow(claims.nbf * 1000, claims.exp * 1000, now, this.options.toleranceMs);
    switch (decision) {
      case 'expired':
        return deny('expired', `valid until ${new Date(claims.exp * 1000).toISOString()}`);
      case 'not-yet-valid':
        return deny('not-yet-valid', `valid from ${new Date(claims.nbf * 1000).toISOString()}`);
      case 'undecidable':
        return deny(
          'time-uncertain',
          Number.isFinite(now.highMs)
            ? `trusted time is known only to ±${Math.round((now.highMs - now.lowMs) / 2000)} s, more than the tolerance allows at the window's edge`
            : 'no hub-signed time since boot; the window cannot be decided until the device reconnects',
        );
      case 'valid':
        break;
    }
    const consumed = durableTransaction(this.db, () =>
      this.db.prepare('UPDATE grants SET uses = uses + 1 WHERE jti = ? AND uses < max_uses RETURNING max_uses - uses AS remaining').get(grantId),
    ) as { remaining: number } | undefined;
    if (!consumed) return deny('exhausted', `all ${claims.maxUses} uses are spent`);
    return { ok: true, grant: claims, usesRemaining: consumed.remaining };
  }

  /**
   * Checks a keypad PIN against the PIN hashes of the grants that allow `open`, with lockout after repeated
   * wrong entries. The PIN itself is never stored or logged.
   */
  checkPin(pin: string): Promise<AccessDecision> {
    // One PIN at a time: each is checked against the lockout only after the one before it has counted. Checked
    // concurrently, a burst of PINs in one serial read all passed the lockout check before the slow hash
    // comparisons, and a right PIN at its end opened the door after dozens of wrong ones.
    const decided = this.pinQueue.then(() => this.checkPinNow(pin));
    this.pinQueue = decided.catch(() => undefined);
    return decided;
  }

  private async checkPinNow(pin: string): Promise<AccessDecision> {
    const left = this.lockout.remainingMs();
    if (left > 0) return { ok: false, reason: 'pin-locked-out', detail: `keypad locked for ${Math.ceil(left / 1000)} s after repeated wrong PINs` };
    const low = this.options.clock.interval().lowMs;
    const candidates = this.db.prepare('SELECT jti FROM grants WHERE has_pin = 1 AND exp_ms + ? >= ? ORDER BY nbf_ms').all(this.options.toleranceMs, low) as Array<{ jti: string }>;
    let refused: AccessDecision | undefined;
    let undecidable: AccessDecision | undefined;
    for (const { jti } of candidates) {
      const claims = await this.claimsOf(jti);
      if (!claims?.pinHash || !claims.actions.includes('open')) continue;
      if (!(await verifyPin(pin, claims.pinHash))) continue;
      const decision = await this.authorize(jti, 'open');
      // Only a PIN that opens clears the count: the PIN of a spent, revoked or expired grant counts as a wrong one,
      // or knowing one old courier PIN would allow unlimited guessing between its uses.
      if (decision.ok) {
        this.lockout.recordSuccess();
        return decision;
      }
      if (decision.reason === 'time-uncertain') undecidable ??= decision;
      else refused ??= decision;
    }
    // The right PIN of a grant whose window cannot be decided yet (no hub time since a reboot) is not a wrong PIN: a
    // courier retrying it must not lock the keypad. It does not clear the count either.
    if (undecidable) return undecidable;
    const locked = this.lockout.recordFailure();
    if (locked) return { ok: false, reason: 'pin-locked-out', detail: 'too many wrong PINs; the keypad is now locked' };
    return refused ?? { ok: false, reason: 'pin-wrong', detail: 'the PIN matches no active grant' };
  }

  /** Forgets grants and revocations that expired beyond the tolerance by trusted time. */
  purgeExpired(): number {
    const cutoff = this.options.clock.interval().lowMs - this.options.toleranceMs;
    const removed = this.db.prepare('DELETE FROM grants WHERE exp_ms < ?').run(cutoff).changes;
    this.db.prepare('DELETE FROM revocations WHERE exp_ms < ?').run(cutoff);
    this.claimsCache.clear();
    return removed;
  }

  list(): Array<{ grantId: string; holder: string; validFrom: string; validUntil: string; uses: number; maxUses: number; revoked: boolean }> {
    const rows = this.db.prepare('SELECT jti, holder, nbf_ms, exp_ms, uses, max_uses FROM grants ORDER BY nbf_ms').all() as Array<{
      jti: string;
      holder: string;
      nbf_ms: number;
      exp_ms: number;
      uses: number;
      max_uses: number;
    }>;
    return rows.map((r) => ({
      grantId: r.jti,
      holder: r.holder,
      validFrom: new Date(r.nbf_ms).toISOString(),
      validUntil: new Date(r.exp_ms).toISOString(),
      uses: r.uses,
      maxUses: r.max_uses,
      revoked: this.isRevoked(r.jti),
    }));
  }

  private isRevoked(grantId: string): boolean {
    return this.db.prepare('SELECT 1 AS x FROM revocations WHERE jti = ?').get(grantId) !== undefined;
  }

  /** Claims of a stored grant, re-verified from its token once per process (the file could be tampered with). */
  private async claimsOf(grantId: string): Promise<GrantClaims | undefined> {
    const cached = this.claimsCache.get(grantId);
    if (cached) return cached;
    const row = this.db.prepare('SELECT token FROM grants WHERE jti = ?').get(grantId) as { token: string } | undefined;
    if (!row) return undefined;
    try {
      const claims = await verifyGrant(row.token, this.options.hubPublicKey, { deviceId: this.options.deviceId });
      this.claimsCache.set(grantId, claims);
      return claims;
    } catch (error) {
      this.log.error({ grantId, reason: tokenRefusal(error) }, 'stored grant no longer verifies; ignoring it');
      return undefined;
    }
  }
}
