import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ErrorCode, KeywayError } from '../errors.js';

/** An Ed25519 key pair for the hub; the public half is pinned on every device at provisioning. */
export interface HubKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM of the public key: the form written into the agent's config. */
  publicKeyPem: string;
  /** PKCS#8 PEM of the private key: the form the hub keeps in its secret store. */
  privateKeyPem: string;
}

export function generateHubKeyPair(): HubKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Imports the pinned hub public key (SPKI PEM); refuses anything but Ed25519 so a config typo cannot weaken checks. */
export function importHubPublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (cause) {
    throw new KeywayError(ErrorCode.ConfigInvalid, 'hub public key is not a PEM public key; paste the SPKI PEM the hub printed at provisioning', { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeywayError(ErrorCode.ConfigInvalid, `hub public key is ${String(key.asymmetricKeyType)}, expected ed25519; provision the hub's Ed25519 key`);
  }
  return key;
}

export function importHubPrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new KeywayError(ErrorCode.ConfigInvalid, 'hub private key is not a PKCS#8 PEM private key', { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeywayError(ErrorCode.ConfigInvalid, `hub private key is ${String(key.asymmetricKeyType)}, expected ed25519`);
  }
  return key;
}
