// AES-256-GCM sealing of key material. The AAD is the canonical encoding of the row's metadata, so a
// row whose label, algorithm, attributes or policy was edited in the database no longer opens.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 1;
/** First byte of a row sealed by a PKCS#11 token's seal key (src/keystore/pkcs11/seal.ts), not by the master key. */
export const TOKEN_SEAL_VERSION = 2;

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

/** Deterministic JSON: object keys sorted, Buffers as base64, so the same metadata gives the same AAD. */
export function canonical(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonical(v)).join(',') + '}';
  }
  return JSON.stringify(value);
}

/** Layout: version(1) ‖ iv(12) ‖ ciphertext ‖ tag(16). */
export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, ct, cipher.getAuthTag()]);
}

export function unseal(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < 1 + 12 + 16 || sealed[0] !== VERSION) throw new SealError('sealed record has an unknown layout');
  const iv = sealed.subarray(1, 13);
  const tag = sealed.subarray(sealed.length - 16);
  const ct = sealed.subarray(13, sealed.length - 16);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new SealError('sealed record failed authentication');
  }
}
