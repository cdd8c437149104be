import { pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashDeviceToken, tokenMatches } from './device-auth.js';
import { mosquittoPasswordHash, renderMosquittoAcl, renderMosquittoPasswords } from './mosquitto.js';
import { KeyedTokenBuckets } from './rate-limit.js';
import { mayPublish, maySubscribe } from './topic-policy.js';

describe('device topic policy', () => {
  it('lets a device publish only its outbox, command results, presence and state under its own id', () => {
    for (const suffix of ['up/events', 'up/cmd-result', 'status', 'state']) {
      expect(mayPublish('garage-1', `keyway/v1/d/garage-1/${suffix}`)).toEqual({ allowed: true });
    }
    for (const topic of ['keyway/v1/d/garage-2/up/events', 'keyway/v1/d/garage-1/down/cmd', 'keyway/v1/d/garage-1/up/other', '$SYS/x', 'keyway/v1/d/garage-10/status', 'other/topic']) {
      expect(mayPublish('garage-1', topic).allowed).toBe(false);
    }
  });

  it('lets a device subscribe only to its own down topics, never to wildcards above its id or shared groups', () => {
    for (const filter of ['keyway/v1/d/garage-1/down/ack', 'keyway/v1/d/garage-1/down/#', 'keyway/v1/d/garage-1/down/+']) {
      expect(maySubscribe('garage-1', filter)).toEqual({ allowed: true });
    }
    for (const filter of ['keyway/v1/d/+/down/ack', 'keyway/v1/d/#', 'keyway/v1/d/garage-1/#', 'keyway/v1/d/garage-1/up/events', '$share/g/keyway/v1/d/garage-1/down/ack', '#']) {
      expect(maySubscribe('garage-1', filter).allowed).toBe(false);
    }
  });
});

describe('device tokens', () => {
  it('accepts the token whose SHA-256 is stored and refuses any other or a malformed hash', () => {
    const hash = hashDeviceToken('s3cret');
    expect(tokenMatches('s3cret', hash)).toBe(true);
    expect(tokenMatches('s3cres', hash)).toBe(false);
    expect(tokenMatches('s3cret', '')).toBe(false);
    expect(tokenMatches('s3cret', hash.slice(0, 10))).toBe(false);
  });
});

describe('token buckets', () => {
  it('allows a burst, then the sustained rate, per key', () => {
    let now = 0;
    const buckets = new KeyedTokenBuckets({ perSecond: 2, burst: 3 }, () => now);
    expect([1, 2, 3, 4].map(() => buckets.take('a'))).toEqual([true, true, true, false]);
    expect(buckets.take('b')).toBe(true);
    now = 500; // one token back
    expect([buckets.take('a'), buckets.take('a')]).toEqual([true, false]);
    now = 10_000;
    buckets.sweep();
    expect(buckets.size).toBe(0);
  });
});

describe('mosquitto configuration', () => {
  it("renders mosquitto's $7$ PBKDF2-SHA512 hash that mosquitto can verify", () => {
    const salt = Buffer.alloc(12, 7);
    const line = mosquittoPasswordHash('pw', salt);
    const [, seven, iterations, saltB64, keyB64] = line.split('$');
    expect([seven, iterations, saltB64]).toEqual(['7', '101', salt.toString('base64')]);
    expect(keyB64).toBe(pbkdf2Sync('pw', salt, 101, 64, 'sha512').toString('base64'));
  });

  it('renders per-device patterns and a hub account, and refuses ids mosquitto could not substitute safely', () => {
    const acl = renderMosquittoAcl([{ id: 'garage-1' }], { hubUser: 'keyway-hub' });
    expect(acl).toContain('pattern read keyway/v1/d/%u/down/#');
    expect(acl).toContain('pattern write keyway/v1/d/%u/up/#');
    expect(acl).toMatch(/user keyway-hub\ntopic readwrite keyway\/v1\/d\/#/);
    expect(() => renderMosquittoAcl([{ id: 'a/b' }], { hubUser: 'keyway-hub' })).toThrow(/not valid/);
    expect(() => renderMosquittoAcl([{ id: 'keyway-hub' }], { hubUser: 'keyway-hub' })).toThrow(/hub's username/);
    const passwords = renderMosquittoPasswords([{ id: 'garage-1', token: 't' }], { user: 'keyway-hub', password: 'p' }).trim().split('\n');
    expect(passwords.map((l) => l.split(':')[0])).toEqual(['keyway-hub', 'garage-1']);
    expect(() => renderMosquittoPasswords([{ id: 'garage-1', token: 'a\nb' }], { user: 'keyway-hub', password: 'p' })).toThrow(/multi-line/);
  });
});
