import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

// scrypt cost: N=2^14, r=8 takes ~50 ms on a Raspberry Pi 4, slow enough to make an offline guess
// against a leaked token costly, fast enough that a keypad entry checked against a few grants stays snappy.
const N = 16384;
const R = 8;
const P = 1;
const KEY_LEN = 32;

function scryptAsync(pin: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(pin, salt, KEY_LEN, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

/** `scrypt$N$r$p$<salt b64url>$<hash b64url>`, with a fresh random salt per grant. */
export async function hashPin(pin: string, salt: Buffer = randomBytes(16)): Promise<string> {
  const key = await scryptAsync(pin, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** True when `pin` matches `pinHash`; false for a wrong PIN or a hash in an unknown format. */
export async function verifyPin(pin: string, pinHash: string): Promise<boolean> {
  const parts = pinHash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const n = Number(parts[1]);
  const r = Number(parts[2]);
  const p = Number(parts[3]);
  // Bounds keep a hostile hash from making the device burn minutes or gigabytes.
  if (!Number.isInteger(n) || n < 1024 || n > 1 << 17 || !Number.isInteger(r) || r < 1 || r > 16 || !Number.isInteger(p) || p < 1 || p > 4) return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const expected = Buffer.from(parts[5] ?? '', 'base64url');
  if (salt.length < 8 || expected.length !== KEY_LEN) return false;
  const actual = await scryptAsync(pin, salt, n, r, p);
  return timingSafeEqual(actual, expected);
}
