import { describe, expect, it } from 'vitest';
import { isKeywayError } from '../errors.js';
import {
  decideWindow,
  generateHubKeyPair,
  hashPin,
  importHubPublicKey,
  signCommand,
  signGrant,
  signTime,
  tokenRefusal,
  verifyCommand,
  verifyGrant,
  verifyPin,
  verifyTime,
  type GrantClaims,
} from './index.js';

const hub = generateHubKeyPair();
const nowS = Math.floor(Date.now() / 1000);
const grant: GrantClaims = { jti: 'g-1', aud: 'garage-1', sub: 'courier-7', deliveryId: 'd-1', nbf: nowS, exp: nowS + 3600, actions: ['open'], maxUses: 2 };

describe('grant tokens', () => {
  it('a grant signed by the hub verifies with the pinned public key imported from PEM', async () => {
    const token = await signGrant(grant, hub.privateKey);
    const claims = await verifyGrant(token, importHubPublicKey(hub.publicKeyPem), { deviceId: 'garage-1' });
    expect(claims).toMatchObject({ jti: 'g-1', sub: 'courier-7', actions: ['open'], maxUses: 2 });
  });

  it('a grant signed by another key is refused as a forgery', async () => {
    const other = generateHubKeyPair();
    const token = await signGrant(grant, other.privateKey);
    const error: unknown = await verifyGrant(token, hub.publicKey, { deviceId: 'garage-1' }).catch((e: unknown) => e);
    expect(tokenRefusal(error)).toBe('signature');
  });

  it('a grant whose payload was altered after signing is refused', async () => {
    const token = await signGrant(grant, hub.privateKey);
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...grant, maxUses: 1000 })).toString('base64url')}.${s}`;
    expect(tokenRefusal(await verifyGrant(forged, hub.publicKey, { deviceId: 'garage-1' }).catch((e: unknown) => e))).toBe('signature');
  });

  it('a grant for another device is refused as wrong-device', async () => {
    const token = await signGrant(grant, hub.privateKey);
    expect(tokenRefusal(await verifyGrant(token, hub.publicKey, { deviceId: 'garage-2' }).catch((e: unknown) => e))).toBe('wrong-device');
  });

  it('a command token cannot be presented as a grant', async () => {
    const cmd = await signCommand({ jti: 'c-1', aud: 'garage-1', iat: nowS, exp: nowS + 60, action: 'open', grantId: 'g-1' }, hub.privateKey);
    const error: unknown = await verifyGrant(cmd, hub.publicKey, { deviceId: 'garage-1' }).catch((e: unknown) => e);
    expect(tokenRefusal(error)).toBe('malformed');
    expect(isKeywayError(error)).toBe(true);
  });

  it('an open command without a grant reference cannot even be signed', async () => {
    await expect(signCommand({ jti: 'c-1', aud: 'garage-1', iat: nowS, exp: nowS + 60, action: 'open' }, hub.privateKey)).rejects.toThrow(/grant/);
  });

  it('commands and signed time round-trip', async () => {
    const cmd = await signCommand({ jti: 'c-2', aud: 'garage-1', iat: nowS, exp: nowS + 60, action: 'close' }, hub.privateKey);
    expect((await verifyCommand(cmd, hub.publicKey, { deviceId: 'garage-1' })).action).toBe('close');
    const time = await signTime({ t: 1_800_000_000_123, aud: 'garage-1' }, hub.privateKey);
    expect((await verifyTime(time, hub.publicKey, { deviceId: 'garage-1' })).t).toBe(1_800_000_000_123);
  });
});

describe('PIN hashes', () => {
  it('the right PIN matches and a wrong one does not, with a distinct salt per hash', async () => {
    const a = await hashPin('482913');
    const b = await hashPin('482913');
    expect(a).not.toBe(b);
    expect(await verifyPin('482913', a)).toBe(true);
    expect(await verifyPin('482914', a)).toBe(false);
    expect(await verifyPin('482913', 'md5$abc')).toBe(false);
  });
});

describe('validity windows against an uncertain now', () => {
  it('decides only when the whole interval falls on one side of each edge', () => {
    expect(decideWindow(1000, 2000, { lowMs: 1200, highMs: 1300 }, 0)).toBe('valid');
    expect(decideWindow(1000, 2000, { lowMs: 2100, highMs: 2200 }, 0)).toBe('expired');
    expect(decideWindow(1000, 2000, { lowMs: 2100, highMs: 2200 }, 200)).toBe('valid');
    expect(decideWindow(1000, 2000, { lowMs: 500, highMs: 600 }, 0)).toBe('not-yet-valid');
    expect(decideWindow(1000, 2000, { lowMs: 1500, highMs: Infinity }, 0)).toBe('undecidable');
  });
});
