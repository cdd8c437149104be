import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateHubKeyPair, hashPin, signCommand, signGrant, signRevocations, type GrantClaims } from '@keyway/shared/grants';
import { openAgentDatabase, type AgentDatabase } from '../outbox/database.js';
import type { ClockSources } from './clock-sources.js';
import { CommandGuard } from './command-guard.js';
import { GrantStore } from './grant-store.js';
import { TrustedClock } from './trusted-clock.js';

const hub = generateHubKeyPair();
const T0 = Date.parse('2026-11-28T10:00:00.000Z');
const S0 = T0 / 1000;
const HOUR = 3_600_000;

/** A board: wall clock, monotonic clock and boot id all under the test's control. */
class FakeBoard implements ClockSources {
  wall = T0;
  mono = 1_000;
  boot = 'boot-1';
  wallMs = () => this.wall;
  monoMs = () => this.mono;
  bootId = () => this.boot;
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
  /** Power cycle: a new boot, the monotonic clock restarts, the wall clock is wherever the missing RTC leaves it. */
  reboot(wallAfter: number): void {
    this.boot = `boot-${Math.random()}`;
    this.mono = 500;
    this.wall = wallAfter;
  }
}

const grantClaims = (over: Partial<GrantClaims> = {}): GrantClaims => ({
  jti: 'g-1',
  aud: 'garage-1',
  sub: 'courier-7',
  nbf: S0,
  exp: S0 + 2 * 3600,
  actions: ['open', 'close'],
  maxUses: 2,
  ...over,
});

describe('grants, trusted time and commands on an offline device', () => {
  let dir: string;
  let db: AgentDatabase;
  let board: FakeBoard;
  let clock: TrustedClock;
  let store: GrantStore;
  let guard: CommandGuard;

  async function boot(): Promise<void> {
    clock = new TrustedClock(db, { sources: board, syncErrorMs: 1_000, driftPpm: 200 });
    await clock.start();
    store = new GrantStore(db, { deviceId: 'garage-1', hubPublicKey: hub.publicKey, clock, sources: board, toleranceMs: 60_000, lockout: { maxFailures: 3, lockoutMs: 300_000 } });
    await store.start();
    guard = new CommandGuard(db, { deviceId: 'garage-1', hubPublicKey: hub.publicKey, clock, toleranceMs: 60_000 });
    guard.init();
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyway-grants-'));
    db = openAgentDatabase(join(dir, 'agent.db'));
    board = new FakeBoard();
    await boot();
  });
  afterEach(async () => {
    await store.stop();
    await clock.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stamps events with the hub time advanced by the monotonic clock, not ahead of it when the floor is close', () => {
    clock.raiseFloor(T0 - 200);
    clock.acceptHubTime(T0, clock.timeNonce);
    board.advance(5_000);
    expect(clock.now().getTime()).toBe(T0 + 5_000);
    clock.raiseFloor(T0 + 5_100);
    expect(clock.now().getTime()).toBe(T0 + 5_100);
  });

  it('with hub time synced, a valid grant opens and its uses are counted down to exhaustion', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims(), hub.privateKey));
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: true, usesRemaining: 1 });
    expect(await store.authorize('g-1', 'close')).toMatchObject({ ok: true, usesRemaining: 0 });
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'exhausted' });
  });

  it('uses survive a restart: a re-delivered grant does not get its uses back', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    const token = await signGrant(grantClaims({ maxUses: 1 }), hub.privateKey);
    await store.addGrant(token);
    expect((await store.authorize('g-1', 'open')).ok).toBe(true);
    await boot();
    await store.addGrant(token);
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'exhausted' });
  });

  it('a grant id is held once: a re-sent token with other claims changes neither the use limit nor the actions, before or after a restart', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ maxUses: 1, actions: ['open'] }), hub.privateKey));
    expect((await store.authorize('g-1', 'open')).ok).toBe(true);
    const resent = await store.addGrant(await signGrant(grantClaims({ maxUses: 3, actions: ['open', 'close'] }), hub.privateKey));
    expect(resent).toMatchObject({ maxUses: 1, actions: ['open'] });
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'exhausted', detail: 'all 1 uses are spent' });
    expect(await store.authorize('g-1', 'close')).toMatchObject({ ok: false, reason: 'action-not-allowed' });
    await boot();
    expect(await store.authorize('g-1', 'close')).toMatchObject({ ok: false, reason: 'action-not-allowed' });
  });

  it('refuses forged and other-device grants at intake, and unknown, revoked or disallowed ones at use', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    const forger = generateHubKeyPair();
    await expect(store.addGrant(await signGrant(grantClaims(), forger.privateKey))).rejects.toMatchObject({ details: { reason: 'signature' } });
    await expect(store.addGrant(await signGrant(grantClaims({ aud: 'garage-2' }), hub.privateKey))).rejects.toMatchObject({ details: { reason: 'wrong-device' } });
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'unknown-grant' });
    await store.addGrant(await signGrant(grantClaims({ jti: 'g-2', actions: ['close'] }), hub.privateKey));
    expect(await store.authorize('g-2', 'open')).toMatchObject({ ok: false, reason: 'action-not-allowed' });
    await store.addGrant(await signGrant(grantClaims({ jti: 'g-3' }), hub.privateKey));
    await store.applyRevocations(await signRevocations({ aud: 'garage-1', iat: S0, revoked: [{ jti: 'g-3', exp: S0 + 7200 }] }, hub.privateKey));
    expect(await store.authorize('g-3', 'open')).toMatchObject({ ok: false, reason: 'revoked' });
    // An older list replayed later cannot un-revoke.
    await store.applyRevocations(await signRevocations({ aud: 'garage-1', iat: S0 - 10, revoked: [] }, hub.privateKey));
    expect(await store.authorize('g-3', 'open')).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('offline in the same boot, trusted time advances with the monotonic clock and the grant expires on time', async () => {
    clock.acceptHubTime(T0, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ maxUses: 10 }), hub.privateKey));
    board.advance(HOUR);
    expect((await store.authorize('g-1', 'open')).ok).toBe(true);
    board.advance(HOUR + 5 * 60_000);
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('after a reboot without network with the wall clock set back, the old time is refused and no grant is accepted', async () => {
    clock.acceptHubTime(T0 + HOUR, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ maxUses: 10 }), hub.privateKey));
    clock.checkpoint();
    board.reboot(T0 - 24 * HOUR);
    await boot();
    const status = clock.status();
    expect(status.bounded).toBe(false);
    expect(status.wallClockBehind).toBe(true);
    expect(clock.now().getTime()).toBeGreaterThanOrEqual(T0 + HOUR);
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'time-uncertain' });
  });

  it('after a reboot without network with the wall clock set forward, an expired grant stays expired and a live one is undecidable', async () => {
    await store.addGrant(await signGrant(grantClaims({ jti: 'old', nbf: S0 - 7200, exp: S0 - 3600 }), hub.privateKey));
    await store.addGrant(await signGrant(grantClaims({ maxUses: 10 }), hub.privateKey));
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    board.reboot(T0 + 30 * 24 * HOUR);
    await boot();
    expect(clock.status().wallClockBehind).toBe(false);
    expect(await store.authorize('old', 'open')).toMatchObject({ ok: false, reason: 'expired' });
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'time-uncertain' });
    // Reconnecting brings a signed time, and the grant can be decided again.
    clock.acceptHubTime(T0 + 2 * 60_000, clock.timeNonce);
    expect((await store.authorize('g-1', 'open')).ok).toBe(true);
  });

  it('after a reboot, a time recorded before and replayed is refused: the first time of a boot must carry its nonce', async () => {
    // The grant ends 30 minutes after the last time the device saw; then it is off for 6 hours.
    clock.acceptHubTime(T0, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ maxUses: 10, exp: S0 + 1800 }), hub.privateKey));
    const before = clock.timeNonce;
    clock.checkpoint();
    board.reboot(T0 + 6 * HOUR);
    await boot();
    expect(clock.timeNonce).not.toBe(before);
    // Someone on the path replays the last time token the device received (signed for the old nonce, or none).
    expect(clock.acceptHubTime(T0, before)).toBe(false);
    expect(clock.acceptHubTime(T0)).toBe(false);
    expect(clock.status().bounded).toBe(false);
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'time-uncertain' });
    // The hub's answer to this boot's nonce is the fresh time: the grant is expired.
    expect(clock.acceptHubTime(T0 + 6 * HOUR, clock.timeNonce)).toBe(true);
    expect(await store.authorize('g-1', 'open')).toMatchObject({ ok: false, reason: 'expired' });
    // Later in the same boot, times come without the nonce check's need: older ones still fall below the floor.
    board.advance(60_000);
    expect(clock.acceptHubTime(T0 + 6 * HOUR + 60_000)).toBe(true);
  });

  it('with a hub older than time nonces, times without one are taken (a restarted device is not left without time)', async () => {
    expect(clock.acceptHubTime(T0)).toBe(true);
    clock.checkpoint();
    board.reboot(T0 + HOUR);
    await boot();
    expect(clock.acceptHubTime(T0 + HOUR)).toBe(true);
    expect(clock.status().bounded).toBe(true);
    // Once a time with a nonce has come (the hub was upgraded), a reboot requires this start's nonce.
    expect(clock.acceptHubTime(T0 + HOUR + 1_000, 'some-nonce')).toBe(true);
    clock.checkpoint();
    board.reboot(T0 + 2 * HOUR);
    await boot();
    expect(clock.acceptHubTime(T0 + 2 * HOUR)).toBe(false);
    expect(clock.acceptHubTime(T0 + 2 * HOUR, clock.timeNonce)).toBe(true);
  });

  it('a replayed older signed time cannot move trusted time backwards', () => {
    clock.acceptHubTime(T0 + HOUR, clock.timeNonce);
    expect(clock.acceptHubTime(T0, clock.timeNonce)).toBe(false);
    expect(clock.interval().lowMs).toBeGreaterThan(T0 + HOUR - 2_000);
  });

  it('a keypad PIN opens offline against the grant PIN hash, and repeated wrong PINs lock the keypad, even across a restart', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ maxUses: 5, pinHash: await hashPin('482913') }), hub.privateKey));
    expect(await store.checkPin('482913')).toMatchObject({ ok: true, grant: { jti: 'g-1' } });
    expect(await store.checkPin('000000')).toMatchObject({ ok: false, reason: 'pin-wrong' });
    expect(await store.checkPin('111111')).toMatchObject({ ok: false, reason: 'pin-wrong' });
    expect(await store.checkPin('222222')).toMatchObject({ ok: false, reason: 'pin-locked-out' });
    await boot();
    expect(await store.checkPin('482913')).toMatchObject({ ok: false, reason: 'pin-locked-out' });
    board.advance(301_000);
    expect(await store.checkPin('482913')).toMatchObject({ ok: true });
  });

  it('after a reboot without hub time, a right PIN retried is undecidable but never locks the keypad, and opens once time comes', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ maxUses: 5, pinHash: await hashPin('482913') }), hub.privateKey));
    clock.checkpoint();
    board.reboot(T0 + 10 * 60_000);
    await boot();
    for (let i = 0; i < 5; i++) expect(await store.checkPin('482913')).toMatchObject({ ok: false, reason: 'time-uncertain' });
    // Wrong PINs still count.
    expect(await store.checkPin('000000')).toMatchObject({ ok: false, reason: 'pin-wrong' });
    clock.acceptHubTime(T0 + 11 * 60_000, clock.timeNonce);
    expect(await store.checkPin('482913')).toMatchObject({ ok: true, grant: { jti: 'g-1' } });
  });

  it('a burst of PINs (one serial read) is checked one at a time: a right PIN after the lock is locked out too', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ maxUses: 5, pinHash: await hashPin('482913') }), hub.privateKey));
    const burst = ['700001', '700002', '700003', '700004', '700005', '482913'];
    const decisions = await Promise.all(burst.map((pin) => store.checkPin(pin)));
    expect(decisions.map((d) => (d.ok ? 'open' : d.reason))).toEqual(['pin-wrong', 'pin-wrong', 'pin-locked-out', 'pin-locked-out', 'pin-locked-out', 'pin-locked-out']);
  });

  it('the PIN of a spent grant counts as a wrong PIN: it neither opens nor resets the lockout count', async () => {
    clock.acceptHubTime(T0 + 60_000, clock.timeNonce);
    await store.addGrant(await signGrant(grantClaims({ jti: 'g-spent', maxUses: 1, pinHash: await hashPin('111111') }), hub.privateKey));
    await store.addGrant(await signGrant(grantClaims({ jti: 'g-live', maxUses: 5, pinHash: await hashPin('482913') }), hub.privateKey));
    expect(await store.checkPin('111111')).toMatchObject({ ok: true, grant: { jti: 'g-spent' } });
    expect(await store.checkPin('700001')).toMatchObject({ ok: false, reason: 'pin-wrong' });
    expect(await store.checkPin('111111')).toMatchObject({ ok: false, reason: 'exhausted', grantId: 'g-spent' });
    expect(await store.checkPin('700002')).toMatchObject({ ok: false, reason: 'pin-locked-out' });
    expect(await store.checkPin('482913')).toMatchObject({ ok: false, reason: 'pin-locked-out' });
  });

  it('refuses forged, expired, replayed and other-device commands, and remembers executed ids across a restart', async () => {
    clock.acceptHubTime(T0, clock.timeNonce);
    const good = { jti: 'c-1', aud: 'garage-1', iat: S0, exp: S0 + 60, action: 'open' as const, grantId: 'g-1' };
    const forger = generateHubKeyPair();
    expect(await guard.admit(await signCommand(good, forger.privateKey))).toMatchObject({ ok: false, reason: 'forged', commandId: 'c-1' });
    expect(await guard.admit(await signCommand({ ...good, aud: 'garage-2' }, hub.privateKey))).toMatchObject({ ok: false, reason: 'wrong-device' });
    expect(await guard.admit(await signCommand({ ...good, jti: 'c-old', iat: S0 - 600, exp: S0 - 300 }, hub.privateKey))).toMatchObject({ ok: false, reason: 'expired' });
    expect(await guard.admit('not.a.token')).toMatchObject({ ok: false, reason: 'malformed' });
    const token = await signCommand(good, hub.privateKey);
    expect(await guard.admit(token)).toMatchObject({ ok: true, command: { jti: 'c-1' } });
    expect(await guard.admit(token)).toMatchObject({ ok: false, reason: 'replayed' });
    await boot();
    expect(await guard.admit(token)).toMatchObject({ ok: false, reason: 'replayed' });
  });
});
