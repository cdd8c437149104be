import { createCipheriv, createDecipheriv, createHmac, hkdfSync, type KeyObject } from 'node:crypto';
import { ErrorCode, KeywayError } from '@keyway/shared';

const PREFIX = 'sealed:v1:';

/**
 * Seals a subscriber's webhook secret (and header values) for the stored declaration, so the subscriber resumes
 * delivering after a restart without the secret being readable from the database.
 *
 * AES-256-GCM with a synthetic IV (an HMAC of the plaintext): the same secret seals to the same text, so a repeated
 * declaration stays `unchanged` in the store. That reveals only whether two sealed values are equal.
 */
export class SecretBox {
  private readonly encKey: Buffer;
  private readonly ivKey: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new KeywayError(ErrorCode.ConfigInvalid, 'a secret box needs a key of at least 32 bytes');
    this.encKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'keyway secret box: encryption', 32));
    this.ivKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'keyway secret box: iv', 32));
  }

  /** A box keyed from the hub's signing key, which every replica of one deployment shares. */
  static fromSigningKey(privateKey: KeyObject): SecretBox {
    return new SecretBox(privateKey.export({ format: 'der', type: 'pkcs8' }));
  }

  seal(plain: string): string {
    const iv = createHmac('sha256', this.ivKey).update(plain).digest().subarray(0, 12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The sealed text's plaintext; CONFIG_INVALID when it was sealed with another key or altered. */
  open(sealed: string): string {
    const raw = sealed.startsWith(PREFIX) ? Buffer.from(sealed.slice(PREFIX.length), 'base64url') : Buffer.alloc(0);
    if (raw.length < 28) throw new KeywayError(ErrorCode.ConfigInvalid, 'not a sealed secret');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new KeywayError(ErrorCode.ConfigInvalid, 'the sealed secret does not open with this hub key (another key, or altered)');
    }
  }
}
