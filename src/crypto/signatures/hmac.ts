// HMAC-SHA256 (RFC 2104) for HMACSHA256 keys: keyed hashes for /v1/synchronousHmac and their
// constant-time verification for the verifyHmacRequest form of /v1/verify (spec §4.2, §4.3).
import { createHmac, timingSafeEqual } from 'node:crypto';

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
