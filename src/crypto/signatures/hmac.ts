// HMAC-SHA256 (RFC 2104) for HMACSHA256 keys: keyed hashes for /v1/synchronousHmac and their
// constant-time verification for the verifyHmacRequest form of /v1/verify (spec §4.2, §4.3).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import type { TokenKey } from '../token.ts';

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
/** HMAC-SHA256 with an HMACSHA256 key: on its PKCS#11 token when it lives there, else in software. */
export async function hmacWith(key: { algorithm: string; material: { secret?: Buffer; token?: TokenKey } }, label: string, payload: Buffer): Promise<Buffer> {
  if (key.material.token) {
    if (key.algorithm !== HMAC_KEY_ALGORITHM) throw new WardenError(ASYMMETRIC.has(key.algorithm) ? 613 : 607, `Key '${label}' is a ${key.algorithm} key; HMAC needs an ${HMAC_KEY_ALGORITHM} key`);
    return key.material.token.sign({ name: 'HMAC', hash: 'sha256' }, payload);
  }
  return hmacSha256(hmacSecretOf(key, label), payload);
}

/** Constant-time check of a full 32-byte tag, computed where the key lives (hmacWith). */
export async function verifyHmacWith(key: { algorithm: string; material: { secret?: Buffer; token?: TokenKey } }, label: string, payload: Buffer, tag: Buffer): Promise<boolean> {
  const expected = await hmacWith(key, label, payload);
  return tag.length === expected.length && timingSafeEqual(expected, tag);
}

export function hmacSecretOf(key: { algorithm: string; material: { secret?: Buffer } }, label: string): Buffer {
  if (key.algorithm !== HMAC_KEY_ALGORITHM || !key.material.secret) {
    const code = ASYMMETRIC.has(key.algorithm) || !key.material.secret ? 613 : 607;
    throw new WardenError(code, `Key '${label}' is a ${key.algorithm} key; HMAC needs an ${HMAC_KEY_ALGORITHM} key`);
  }
  return key.material.secret;
}
