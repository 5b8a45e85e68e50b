// Shared plumbing for asymmetric families backed by node:crypto KeyObjects (RSA, EC, Ed25519, DSA):
// DER import with type checks, and the canonical PKCS#8 / SPKI export the keystore seals.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import type { KeyMaterial } from './types.ts';

export type NodeKeyType = 'rsa' | 'ec' | 'ed25519' | 'dsa';

export function materialFromPrivate(key: KeyObject): KeyMaterial {
  return {
    privateKey: key.export({ type: 'pkcs8', format: 'der' }),
    publicKey: createPublicKey(key).export({ type: 'spki', format: 'der' }),
  };
}

function parsePrivate(der: Buffer, type: NodeKeyType): KeyObject {
  const attempts: Array<'pkcs8' | 'pkcs1' | 'sec1'> = type === 'rsa' ? ['pkcs8', 'pkcs1'] : type === 'ec' ? ['pkcs8', 'sec1'] : ['pkcs8'];
  for (const fmt of attempts) {
    try {
      return createPrivateKey({ key: der, format: 'der', type: fmt });
    } catch {
      // try the next encoding
    }
  }
  throw new WardenError(407, `privateKey is not a DER-encoded ${type.toUpperCase()} private key (PKCS#8${type === 'rsa' ? ' or PKCS#1' : ''})`);
}

function parsePublic(der: Buffer): KeyObject {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new WardenError(407, 'publicKey is not a DER-encoded SubjectPublicKeyInfo');
  }
}

/** Imports private and/or public DER for one node key type; the two must belong together. */
export function importNodeKey(
  input: { privateKey?: Buffer; publicKey?: Buffer; secret?: Buffer },
  type: NodeKeyType,
  label: string,
): { key: KeyObject; material: KeyMaterial } {
  if (input.secret) throw new WardenError(600, `secretKey must be empty for ${label} keys`);
  if (input.privateKey) {
    const key = parsePrivate(input.privateKey, type);
    if (key.asymmetricKeyType !== type) throw new WardenError(613, `privateKey is a ${key.asymmetricKeyType} key, not ${label}`);
    const material = materialFromPrivate(key);
    if (input.publicKey) {
      const pub = parsePublic(input.publicKey).export({ type: 'spki', format: 'der' });
      if (!pub.equals(material.publicKey as Buffer)) throw new WardenError(625, 'publicKey does not belong to privateKey');
    }
    return { key, material };
  }
  if (input.publicKey) {
    const key = parsePublic(input.publicKey);
    if (key.asymmetricKeyType !== type) throw new WardenError(613, `publicKey is a ${key.asymmetricKeyType} key, not ${label}`);
    return { key, material: { publicKey: key.export({ type: 'spki', format: 'der' }) } };
  }
  throw new WardenError(600, `a privateKey, publicKey or certificate is required to import a ${label} key`);
}
