import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateHubKeyPair } from '@keyway/shared/grants';
import { SecretBox } from './secret-box.js';

describe('SecretBox', () => {
  it('opens what it sealed, seals the same secret to the same text, and hides the secret', () => {
    const box = SecretBox.fromSigningKey(generateHubKeyPair().privateKey);
    const sealed = box.seal('webhook-secret-123');
    expect(sealed).toMatch(/^sealed:v1:/);
    expect(sealed).not.toContain('webhook-secret');
    expect(box.seal('webhook-secret-123')).toBe(sealed);
    expect(box.seal('webhook-secret-124')).not.toBe(sealed);
    expect(box.open(sealed)).toBe('webhook-secret-123');
  });

  it('refuses a text sealed with another key, an altered one and one that is not sealed, as CONFIG_INVALID', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal('s');
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow(/does not open with this hub key/);
    const altered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => box.open(altered)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => box.open('plain')).toThrow(/not a sealed secret/);
    expect(() => new SecretBox(randomBytes(16))).toThrow(/at least 32 bytes/);
  });
});
