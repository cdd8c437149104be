import fs from 'node:fs';
import path from 'node:path';
import { generateHubKeyPair, importHubPrivateKey, type HubKeyPair } from '@keyway/shared/grants';
import { createPublicKey } from 'node:crypto';

/**
 * The hub's Ed25519 signing key: from `KEYWAY_HUB_PRIVATE_KEY` (PEM) when set, else `<dataDir>/hub-key.pem`, created
 * on first start with mode 0600. Devices pin its public half at provisioning.
 */
export function loadOrCreateHubKey(dataDir: string, pemFromEnv?: string): HubKeyPair {
  const file = path.join(dataDir, 'hub-key.pem');
  let privatePem = pemFromEnv;
  if (!privatePem && fs.existsSync(file)) privatePem = fs.readFileSync(file, 'utf8');
  if (!privatePem) {
    const pair = generateHubKeyPair();
    fs.writeFileSync(file, pair.privateKeyPem, { mode: 0o600 });
    return pair;
  }
  const privateKey = importHubPrivateKey(privatePem);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, privateKeyPem: privatePem, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The administrator (platform) API key: from config, else `<dataDir>/admin-key`, created once with mode 0600. */
export function loadOrCreateAdminKey(dataDir: string, fromConfig: string | undefined, create: () => string): string {
  if (fromConfig) return fromConfig;
  const file = path.join(dataDir, 'admin-key');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const key = create();
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
