// HMAC-SHA256 (RFC 2104) for HMACSHA256 keys: keyed hashes for /v1/synchronousHmac and their
// constant-time verification for the verifyHmacRequest form of /v1/verify (spec §4.2, §4.3).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';

export const HMAC_KEY_ALGORITHM = 'HMACSHA256';
export const HMAC_LENGTH = 32;

export function hmacSha256(secret: Buffer, payload: Buffer): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/** True only for the full 32-byte tag; a truncated or overlong tag is simply not valid. */
export function verifyHmacSha256(secret: Buffer, payload: Buffer, tag: Buffer): boolean {
  const expected = hmacSha256(secret, payload);
  // timingSafeEqual needs equal lengths; the length of a tag is not secret.
  return tag.length === expected.length && timingSafeEqual(expected, tag);
}

const ASYMMETRIC = new Set(['RSA', 'EC', 'ED', 'DSA']);

/**
 * The secret of an HMACSHA256 key. Other keys are refused: asymmetric keys with 613 (a secret key is
 * expected), other secret keys (AES, …) with 607 (the algorithm is not supported by that key).
 */
export function hmacSecretOf(key: { algorithm: string; material: { secret?: Buffer } }, label: string): Buffer {
  if (key.algorithm !== HMAC_KEY_ALGORITHM || !key.material.secret) {
    const code = ASYMMETRIC.has(key.algorithm) || !key.material.secret ? 613 : 607;
    throw new WardenError(code, `Key '${label}' is a ${key.algorithm} key; HMAC needs an ${HMAC_KEY_ALGORITHM} key`);
  }
  return key.material.secret;
}
